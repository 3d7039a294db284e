'use strict';
// Processes of the control plane: started and stopped by e2e/lib/procs.js (each in its own
// process group, stopped by that group's id), and the sockets they listen on.
const fs = require('fs');
const { Proc } = require('../lib/procs');

// The control plane's processes, on the harness's own process manager.
function start(name, cmd, args, { env, logFile, cwd }) {
  return new Proc(name, { command: [cmd, ...args], env, cwd }, { logFile }).start();
}

function stop(proc, graceMs = 10000) {
  return proc ? proc.stop({ graceMs }) : undefined;
}

function tail(proc, lines = 40) {
  return proc.output().trimEnd().split('\n').slice(-lines).join('\n') || '(no output)';
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
