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

// The TCP sockets a process listens on, from /proc: its socket inodes matched against the kernel's
// tables. Linux only, and no dependency on ss or lsof being installed.
function listeners(pid) {
  const inodes = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // the descriptor closed while we looked
    }
  }
  const out = [];
  for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]]) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.trim().split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '0A' || !inodes.has(f[9])) continue; // 0A: LISTEN
      const [hex, portHex] = f[1].split(':');
      out.push({ address: v6 ? ipv6(hex) : ipv4(hex), port: parseInt(portHex, 16) });
    }
  }
  return out;
}

// /proc/net/tcp holds addresses as host-order (little-endian) 32-bit words.
function ipv4(hex) {
  return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
}

function ipv6(hex) {
  const bytes = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (const i of [6, 4, 2, 0]) bytes.push(parseInt(word.slice(i, i + 2), 16));
  }
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255) return bytes.slice(12).join('.');
  if (bytes.every((b) => b === 0)) return '::';
  if (bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1) return '::1';
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return groups.join(':');
}

module.exports = { start, stop, tail, listeners };
