'use strict';
// The README's cluster walkthrough, as the scenario runs it: the fenced block after the marker
// `<!-- walkthrough -->` in README.md is parsed into numbered steps (`# N. title` lines), and
// e2e/node/dist.test.js runs each step's commands exactly as written, with bash, from the
// repository root. The README and the scenario cannot drift apart: there is one copy of the
// commands, and the scenario fails unless it ran every step, in order.
//
// A command ending in `&` (kubectl port-forward) is started in a process group of its own and
// stopped by that group's id when the scenario ends; the next command starts once it printed its
// first line (port-forward prints "Forwarding from" once it listens). `export NAME=value` sets
// NAME for the following commands, as it would in the user's shell.
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { ROOT } = require('../lib/env');

const MARKER = '<!-- walkthrough -->';

// [{ n, title, commands: [{ text, background }] }] from the README's text.
function parseWalkthrough(readme) {
  const at = readme.indexOf(MARKER);
  if (at < 0) throw new Error(`README.md has no ${MARKER} marker before the walkthrough's code block`);
  const open = readme.indexOf('```sh\n', at);
  const close = readme.indexOf('\n```', open + 1);
  if (open < 0 || close < 0) throw new Error(`no \`\`\`sh block after ${MARKER} in README.md`);
  const lines = readme.slice(open + '```sh\n'.length, close).split('\n');
  const steps = [];
  let pending = '';
  for (const raw of lines) {
    const heading = /^# (\d+)\. (.*)$/.exec(raw);
    if (heading) {
      steps.push({ n: Number(heading[1]), title: heading[2], commands: [] });
      continue;
    }
    if (!pending && (/^\s*#/.test(raw) || !raw.trim())) continue;
    const line = pending ? `${pending}\n${raw}` : raw;
    if (/\\$/.test(raw)) {
      pending = line;
      continue;
    }
    pending = '';
    if (!steps.length) throw new Error(`README walkthrough: a command before the first "# 1." step: ${line}`);
    const text = line.replace(/\s+#[^'"]*$/, '').trimEnd();
    const background = /&$/.test(text);
    steps[steps.length - 1].commands.push({ text: background ? text.replace(/\s*&$/, '') : text, background });
  }
  steps.forEach((s, i) => {
    if (s.n !== i + 1) throw new Error(`README walkthrough: step ${s.n} where ${i + 1} was expected`);
    if (!s.commands.length) throw new Error(`README walkthrough: step ${s.n} has no command`);
  });
  return steps;
}

function readWalkthrough(file = path.join(ROOT, 'README.md')) {
  return parseWalkthrough(fs.readFileSync(file, 'utf8'));
}

// Runs the steps in order; keeps the environment `export` builds up and the background groups.
class Walkthrough {
  constructor(steps, env) {
    this.steps = steps;
    this.env = { ...env };
    this.ran = [];
    this.background = [];
  }

  step(n) {
    const s = this.steps.find((x) => x.n === n);
    if (!s) throw new Error(`the README walkthrough has no step ${n}`);
    return s;
  }

  // Resolves with [{ text, stdout, stderr, ms }] of the step's commands; throws on the first
  // failing one (with its output), as `set -e` would.
  async run(n, { timeoutMs = 900000, log = () => {} } = {}) {
    const s = this.step(n);
    const last = this.ran[this.ran.length - 1] || 0;
    if (n !== last + 1) throw new Error(`README step ${n} run after step ${last}: the scenario must follow the README's order`);
    const out = [];
    for (const c of s.commands) {
      log(`README step ${n}: ${c.text.split('\n')[0]}${c.text.includes('\n') ? ' …' : ''}${c.background ? ' &' : ''}`);
      const t0 = Date.now();
      if (c.background) {
        out.push({ text: c.text, ...(await this.startBackground(c.text)), ms: Date.now() - t0 });
        continue;
      }
      const m = /^export ([A-Z_][A-Z0-9_]*)=/.exec(c.text);
      const script = m ? `${c.text}\nprintf '%s' "$${m[1]}"` : c.text;
      const r = await this.bash(script, timeoutMs);
      if (r.code !== 0) throw new Error(`README step ${n} failed (exit ${r.code}): ${c.text}\n${r.stderr}${r.stdout}`.slice(0, 4000));
      if (m) this.env[m[1]] = r.stdout;
      out.push({ text: c.text, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 });
    }
    this.ran.push(n);
    return out;
  }

  bash(script, timeoutMs) {
    return new Promise((resolve) => {
      const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, env: this.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      // Bounded: the whole group (bash and what it started) is stopped at the deadline.
      const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
      });
    });
  }

  // Starts a command in a group of its own; resolves with its first line of output.
  startBackground(text) {
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-euo', 'pipefail', '-c', `exec ${text}`], { cwd: ROOT, env: this.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      this.background.push(child);
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => reject(new Error(`${text}: no output within 30 s\n${stderr}`)), 30000);
      child.stdout.on('data', (d) => {
        stdout += d;
        if (stdout.includes('\n')) { clearTimeout(timer); resolve({ stdout, stderr: '' }); }
      });
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${text} exited (${code}) before it printed a line: ${stderr}`)); });
    });
  }

  // Stops every background group this walkthrough started (by its own process group id).
  stop() {
    for (const child of this.background) {
      if (child.exitCode === null && child.signalCode === null) {
        try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
      }
    }
    this.background = [];
  }
}

module.exports = { parseWalkthrough, readWalkthrough, Walkthrough, MARKER };
