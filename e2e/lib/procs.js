'use strict';
// Processes the harness starts: each in its own process group, so it and whatever it forks
// (MLflow's workers, the R server's loader) are stopped together, by that group's id only.
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');

const started = new Set();

// `promise`, or 'timeout' after `ms`; the timer is cleared either way so that no pending timer
// keeps the test process alive after its work is done.
function within(promise, ms) {
  let timer;
  const t = new Promise((r) => {
    timer = setTimeout(r, ms, 'timeout');
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

// Last resort when the harness itself exits: nothing it started may outlive it.
process.on('exit', () => {
  for (const p of started) if (p.running) killGroup(p.pid, 'SIGKILL');
});

class Proc {
  constructor(name, spec, { logDir, logFile, echo = false }) {
    this.name = name;
    this.spec = spec;
    this.echo = echo;
    this.logFile = logFile || path.join(logDir, `${name.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${Date.now()}.log`);
    this.tail = '';
    this.exitCode = undefined;
    this.signal = undefined;
  }

  start() {
    const [cmd, ...args] = this.spec.command;
    const env = { ...this.spec.env };
    env.PATH = [...(this.spec.pathDirs || []), process.env.PATH || '/usr/bin:/bin'].join(':');
    env.LANG = env.LANG || 'C.UTF-8';
    const out = fs.openSync(this.logFile, 'a');
    this.child = spawn(cmd, args, { cwd: this.spec.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.child.pid;
    this.running = true;
    started.add(this);
    const onData = (d) => {
      fs.writeSync(out, d);
      this.tail = (this.tail + d).slice(-20000);
      if (this.echo) {
        for (const line of String(d).split('\n')) if (line.trim()) process.stderr.write(`[${this.name}] ${line}\n`);
      }
    };
    this.child.stdout.on('data', onData);
    this.child.stderr.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        onData(`spawn error: ${err.message}\n`);
        this.running = false;
        this.exitCode = 127;
        resolve(127);
      });
      this.child.on('close', (code, signal) => {
        this.running = false;
        this.exitCode = code;
        this.signal = signal;
        started.delete(this);
        fs.closeSync(out);
        resolve(code);
      });
    });
    return this;
  }

  output() {
    return this.tail;
  }

  // Waits for exit within `ms`; kills the group if it is still running then.
  async wait(ms) {
    const res = await within(this.exited, ms);
    if (res === 'timeout') {
      await this.stop({ signal: 'SIGKILL' });
      throw new Error(`${this.name} still running after ${ms / 1000} s: stopped it. Output:\n${this.tail.slice(-4000)}`);
    }
    return res;
  }

  async stop({ signal = 'SIGTERM', graceMs = 10000 } = {}) {
    if (!this.running) return this.exitCode;
    killGroup(this.pid, signal);
    const res = await within(this.exited, graceMs);
    if (res === 'timeout') {
      killGroup(this.pid, 'SIGKILL');
      await within(this.exited, 5000);
    }
    // Children that left the group leader behind (e.g. MLflow's workers) go too.
    killGroup(this.pid, 'SIGKILL');
    return this.exitCode;
  }

  pause() {
    return killGroup(this.pid, 'SIGSTOP');
  }

  resume() {
    return killGroup(this.pid, 'SIGCONT');
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `check` until it returns a truthy value: bounded in time and in attempts.
async function waitFor(what, check, { timeoutMs = 60000, intervalMs = 200, proc } = {}) {
  const deadline = Date.now() + timeoutMs;
  const maxAttempts = Math.ceil(timeoutMs / intervalMs) + 1;
  let last;
  for (let i = 0; i < maxAttempts && Date.now() <= deadline; i++) {
    if (proc && !proc.running) {
      throw new Error(`${what}: ${proc.name} exited (${proc.exitCode ?? proc.signal}) first. Output:\n${proc.output().slice(-4000)}`);
    }
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`${what}: not after ${timeoutMs / 1000} s (last: ${last && last.message ? last.message : JSON.stringify(last)})${proc ? `\n${proc.name} output:\n${proc.output().slice(-3000)}` : ''}`);
}

// One HTTP exchange to 127.0.0.1. Resolves { status, headers, body } (body as text); rejects on
// connection errors and on `timeoutMs`.
function request(port, method, urlPath, { body, headers = {}, agent = false, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const h = { ...headers };
    if (data) {
      h['content-length'] = data.length;
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${urlPath} on ${port}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

module.exports = { Proc, waitFor, request, sleep, within };
