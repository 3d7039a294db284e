'use strict';
// A keep-alive load loop: `connections` clients, each sending its requests one after another on
// one persistent connection, as the Seldon executor does. Returns per-request latencies in ms.
const http = require('http');

function postOnce(agent, port, path, body) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          if (res.statusCode !== 200) {
            reject(new Error(`HTTP ${res.statusCode} from ${path}: ${Buffer.concat(chunks).toString().slice(0, 200)}`));
          } else {
            resolve({ ms, body: Buffer.concat(chunks).toString() });
          }
        });
      },
    );
    // A server that stops answering must not hang the bench.
    req.setTimeout(30000, () => req.destroy(new Error(`no answer from ${path} on ${port} in 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function load({ port, path, body, requests, connections = 1, warmup = 20 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  try {
    for (let i = 0; i < warmup; i++) await postOnce(agent, port, path, body);
    const latencies = [];
    const perClient = Math.ceil(requests / connections);
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: connections }, async () => {
        for (let i = 0; i < perClient; i++) latencies.push((await postOnce(agent, port, path, body)).ms);
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { latencies, rps: latencies.length / seconds, sockets: countSockets(agent) };
  } finally {
    agent.destroy();
  }
}

// How many distinct sockets the agent opened: proves the loop really reused connections.
function countSockets(agent) {
  let n = 0;
  for (const list of Object.values(agent.freeSockets)) n += list.length;
  for (const list of Object.values(agent.sockets)) n += list.length;
  return n;
}

module.exports = { load, postOnce };
