'use strict';
// Processes this harness starts. Each runs in its own process group and is stopped through that
// group's id, so nothing it forks outlives it and nothing else on the machine is touched.
const { spawn } = require('child_process');
const fs = require('fs');

const running = new Set();

function signalGroup(pid, sig) {
  try {
    process.kill(-pid, sig);
    return true;
  } catch {
    return false;
  }
}

// If the test process dies between start and stop, the children must not linger.
process.on('exit', () => {
  for (const p of running) signalGroup(p.pid, 'SIGKILL');
});

function start(name, cmd, args, { env, logFile, cwd }) {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { env, cwd, detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const proc = { name, pid: child.pid, logFile, exitCode: undefined };
  proc.exited = new Promise((resolve) => {
    child.on('error', (err) => {
      fs.appendFileSync(logFile, `spawn error: ${err.message}\n`);
      proc.exitCode = 127;
      running.delete(proc);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      proc.exitCode = code === null ? `signal ${signal}` : code;
      running.delete(proc);
      resolve(proc.exitCode);
    });
  });
  running.add(proc);
  return proc;
}

async function stop(proc, graceMs = 10000) {
  if (!proc || proc.exitCode !== undefined) return;
  signalGroup(proc.pid, 'SIGTERM');
  const timer = new Promise((r) => setTimeout(r, graceMs, 'timeout'));
  if ((await Promise.race([proc.exited, timer])) === 'timeout') {
    signalGroup(proc.pid, 'SIGKILL');
    await proc.exited;
  }
}

function tail(proc, lines = 40) {
  try {
    return fs.readFileSync(proc.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

module.exports = { start, stop, tail };
