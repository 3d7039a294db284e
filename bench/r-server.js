'use strict';
// The R model server's benchmark (issue 10): worker processes vs connections, Rserve's HTTP
// server as a baseline on the same model, single-row latency, a 1000-row batch against
// in-process predict(), and RSS per worker over a long run. Standalone: `node bench/r-server.js
// [--quick] [--write]` prints the markdown section (and with --write replaces it in
// bench/results.md); bench/run.js calls benchRServer() and reportRServer().
const { spawn, spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { summarize } = require('./lib/stats');
const { load } = require('./lib/http-load');

const ROOT = path.join(__dirname, '..');
const MARK_START = '<!-- r-server:start -->';
const MARK_END = '<!-- r-server:end -->';
const FEATURES = ['Sepal.Length', 'Sepal.Width', 'Petal.Length', 'Petal.Width'];

const { freePort } = require('../e2e/lib/net');

// wrk (C, Debian package `wrk`) as a second load generator: on 2 cores the Node one above takes a
// large share of the CPU that the servers need, so it caps the multi-connection figures.
function wrkAvailable() {
  return spawnSync('wrk', ['--version'], { encoding: 'utf8' }).error === undefined;
}

function wrkLoad({ port, path: urlPath, body: payload, connections, seconds, tmp }) {
  const lua = path.join(tmp, `wrk-${connections}.lua`);
  fs.writeFileSync(lua, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(payload)}\nwrk.headers["Content-Type"] = "application/json"\n`);
  const run = spawnSync('wrk', ['-t', String(Math.min(connections, 2)), '-c', String(connections), '-d', `${seconds}s`,
    '-s', lua, '--latency', `http://127.0.0.1:${port}${urlPath}`], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const text = `${run.stdout}${run.stderr}`;
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (run.status !== 0 || !rps || /Non-2xx/.test(text)) throw new Error(`wrk against ${urlPath} failed:\n${text}`);
  const ms = (q) => {
    const m = new RegExp(`\\s${q}%\\s+([\\d.]+)(us|ms|s)\\b`).exec(text);
    return m ? Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]] : NaN;
  };
  return { rps: Number(rps[1]), p50: ms(50), p99: ms(99) };
}

function get(port, urlPath) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.setTimeout(2000, () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

function body(rows) {
  const base = [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.3, 3.3, 6.0, 2.5]];
  return JSON.stringify({ data: { names: FEATURES, ndarray: Array.from({ length: rows }, (_, i) => base[i % base.length]) } });
}

function v2Body() {
  return JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] });
}

/** The rmlops package installed from the working tree into a private library. */
function installPackage(tmp) {
  const src = path.join(tmp, 'src', 'rmlops');
  for (const d of ['DESCRIPTION', 'NAMESPACE', 'R', 'inst', 'man', 'src']) {
    fs.cpSync(path.join(ROOT, 'r', d), path.join(src, d), { recursive: true, filter: (f) => !/\.(o|so)$/.test(f) });
  }
  const lib = path.join(tmp, 'lib');
  fs.mkdirSync(lib, { recursive: true });
  execFileSync('R', ['CMD', 'INSTALL', '--no-test-load', '-l', lib, src], { stdio: 'ignore' });
  return lib;
}

// The servers' stdout (one log line per request) goes to /dev/null, as a container runtime
// would take it: read by this process, it would compete with the load generator for its thread.
function startProcess(args, env) {
  const child = spawn(args[0], args.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  child.stderr.on('data', (d) => { out = (out + d).slice(-20000); });
  child.output = () => out;
  return child;
}

async function waitReady(child, port, urlPath, what) {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited early (${child.exitCode}):\n${child.output().slice(-2000)}`);
    if ((await get(port, urlPath)) === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready on ${port} after 90 s`);
}

function stop(child) {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// The supervisor's children (Rscript runs R in the same process, so child.pid is the supervisor).
function workerPids(child) {
  try {
    return fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Runs every measurement; `log` receives progress lines. */
async function benchRServer({ quick = false, log = () => undefined } = {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-bench-r-'));
  const started = [];
  const loadBefore = os.loadavg();
  try {
    log('r-server: installing the package and training the iris example…');
    const lib = installPackage(tmp);
    const bundle = path.join(tmp, 'iris');
    execFileSync('Rscript', [path.join(ROOT, 'r', 'train.R')], {
      cwd: tmp, stdio: 'ignore',
      env: { ...process.env, R_LIBS: lib, TRAINING_SCRIPT: path.join(ROOT, 'examples', 'iris', 'train.R'), MODEL_DIR: bundle },
    });
    const floor = JSON.parse(execFileSync('Rscript', [path.join(__dirname, 'r', 'inprocess.R'), bundle, quick ? '50' : '200'], { encoding: 'utf8' }));
    const n = quick ? 1000 : 4000;
    const out = { floor, quick };

    const serve = async (workers) => {
      const port = await freePort();
      const child = startProcess(['Rscript', path.join(ROOT, 'r', 'serve.R')], {
        R_LIBS: lib, MODEL_URI: bundle, PREDICTIVE_UNIT_HTTP_SERVICE_PORT: String(port),
        PREDICTIVE_UNIT_METRICS_SERVICE_PORT: String(await freePort()), RMLOPS_WORKERS: String(workers), TMPDIR: tmp,
      });
      started.push(child);
      await waitReady(child, port, '/health/status', `r/serve.R (${workers} workers)`);
      return { port, child };
    };

    for (const workers of [1, 2]) {
      log(`r-server: ${workers} worker(s)…`);
      const { port, child } = await serve(workers);
      try {
        const r = {};
        await load({ port, path: '/predict', body: body(1), requests: 200, connections: 4, warmup: 50 });
        r.single = await load({ port, path: '/predict', body: body(1), requests: n, warmup: 100 });
        r.conc4 = await load({ port, path: '/predict', body: body(1), requests: 2 * n, connections: 4, warmup: 40 });
        if (workers === 2) {
          r.batch1000 = await load({ port, path: '/predict', body: body(1000), requests: quick ? 40 : 200, warmup: 10 });
          r.batch100 = await load({ port, path: '/predict', body: body(100), requests: quick ? 100 : 400, warmup: 10 });
          r.v2single = await load({ port, path: '/v2/models/iris/infer', body: v2Body(), requests: n, warmup: 100 });
          const pids = workerPids(child);
          const soak = quick ? 2000 : 20000;
          log(`r-server: RSS over ${soak} requests…`);
          r.rssBefore = pids.map(rssMiB);
          r.supervisorRss = rssMiB(child.pid);
          const first = await load({ port, path: '/predict', body: body(1), requests: soak / 2, connections: 4, warmup: 0 });
          r.rssMid = pids.map(rssMiB);
          const second = await load({ port, path: '/predict', body: body(1), requests: soak / 2, connections: 4, warmup: 0 });
          r.rssAfter = pids.map(rssMiB);
          r.soak = { requests: first.latencies.length + second.latencies.length, rps: [first.rps, second.rps] };
        }
        if (workers === 2 && wrkAvailable()) {
          const secs = quick ? 3 : 10;
          r.wrk = { c1: wrkLoad({ port, path: '/predict', body: body(1), connections: 1, seconds: secs, tmp }),
            c4: wrkLoad({ port, path: '/predict', body: body(1), connections: 4, seconds: secs, tmp }) };
        }
        out[`w${workers}`] = r;
      } finally {
        await stop(child);
      }
    }

    log('r-server: Rserve baseline…');
    const rport = await freePort();
    const rserve = startProcess(['Rscript', path.join(__dirname, 'r', 'rserve.R'), bundle, String(rport)], {});
    started.push(rserve);
    try {
      await waitReady(rserve, rport, '/health', 'Rserve');
      await load({ port: rport, path: '/predict', body: body(1), requests: 100, connections: 4, warmup: 20 });
      out.rserve = {
        single: await load({ port: rport, path: '/predict', body: body(1), requests: n, warmup: 50 }),
        conc4: await load({ port: rport, path: '/predict', body: body(1), requests: 2 * n, connections: 4, warmup: 20 }),
        batch1000: await load({ port: rport, path: '/predict', body: body(1000), requests: quick ? 40 : 200, warmup: 5 }),
      };
      if (wrkAvailable()) {
        const secs = quick ? 3 : 10;
        out.rserve.wrk = { c1: wrkLoad({ port: rport, path: '/predict', body: body(1), connections: 1, seconds: secs, tmp }),
          c4: wrkLoad({ port: rport, path: '/predict', body: body(1), connections: 4, seconds: secs, tmp }) };
      }
    } finally {
      await stop(rserve);
    }
    out.loadavg = { before: loadBefore, after: os.loadavg() };
    out.rserveVersion = spawnSync('Rscript', ['-e', 'cat(as.character(packageVersion("Rserve")))'], { encoding: 'utf8' }).stdout;
    return out;
  } finally {
    for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(d)) : 'n/a');

function reportRServer(r) {
  const lines = [];
  const row = (...c) => lines.push(`| ${c.join(' | ')} |`);
  const lat = (x) => summarize(x.latencies);
  const w1 = r.w1;
  const w2 = r.w2;
  const la = (l) => l.map((x) => x.toFixed(2)).join(' / ');
  lines.push(MARK_START);
  lines.push('## 3. R model server (r/serve.R): workers, batches, memory, Rserve baseline', '');
  lines.push(`${os.cpus().length} cores (${os.cpus()[0].model.trim()}), shared with other work: load average (1/5/15 min) ${la(r.loadavg.before)} before,`);
  lines.push(`${la(r.loadavg.after)} after. Rserve ${r.rserveVersion}. Model: the iris example (randomForest). Single-row`);
  lines.push('Seldon messages on keep-alive connections; each connection sends its next request when the last is answered.', '');
  row('server', 'workers', 'connections', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'vs 1 connection');
  row('---', '---:', '---:', '---:', '---:', '---:', '---:', '---:');
  for (const [name, x, workers] of [['`r/serve.R`', w1, 1], ['`r/serve.R`', w2, 2], ['baseline: Rserve HTTP (fork per connection)', r.rserve, 'per conn.']]) {
    const s = lat(x.single);
    const c = lat(x.conc4);
    row(name, workers, 1, fmt(x.single.rps), fmt(s.p50, 2), fmt(s.p99, 2), s.n, '1×');
    row(name, workers, 4, fmt(x.conc4.rps), fmt(c.p50, 2), fmt(c.p99, 2), c.n, `${fmt(x.conc4.rps / x.single.rps, 2)}×`);
  }
  lines.push('');
  lines.push(`At 4 connections, \`r/serve.R\` with 2 workers answers ${fmt(w2.conc4.rps / r.rserve.conc4.rps, 2)}× Rserve's requests per second.`, '');
  if (w2.wrk && r.rserve.wrk) {
    lines.push('The same single-row requests from wrk (a C load generator, 10 s per row), which leaves more of the 2 cores to the servers:', '');
    row('server', 'workers', 'connections', 'req/s', 'p50 ms', 'p99 ms', 'vs 1 connection');
    row('---', '---:', '---:', '---:', '---:', '---:', '---:');
    for (const [name, x, workers] of [['`r/serve.R`', w2.wrk, 2], ['baseline: Rserve HTTP', r.rserve.wrk, 'per conn.']]) {
      row(name, workers, 1, fmt(x.c1.rps), fmt(x.c1.p50, 2), fmt(x.c1.p99, 2), '1×');
      row(name, workers, 4, fmt(x.c4.rps), fmt(x.c4.p50, 2), fmt(x.c4.p99, 2), `${fmt(x.c4.rps / x.c1.rps, 2)}×`);
    }
    lines.push('', `With wrk, at 4 connections \`r/serve.R\` answers ${fmt(w2.wrk.c4.rps / r.rserve.wrk.c4.rps, 2)}× Rserve's requests per second.`, '');
  }
  const b1 = lat(w2.batch1000);
  const b100 = lat(w2.batch100);
  const rb = lat(r.rserve.batch1000);
  const v2 = lat(w2.v2single);
  row('request', 'server p50 ms', 'p99 ms', 'in-process `predict()` ms', 'server / in-process');
  row('---', '---:', '---:', '---:', '---:');
  row('1 row, Seldon `/predict`', fmt(lat(w2.single).p50, 2), fmt(lat(w2.single).p99, 2), fmt(r.floor.rows_1, 2), `${fmt(lat(w2.single).p50 / r.floor.rows_1, 2)}×`);
  row('1 row, OIP v2 `/v2/models/iris/infer`', fmt(v2.p50, 2), fmt(v2.p99, 2), fmt(r.floor.rows_1, 2), `${fmt(v2.p50 / r.floor.rows_1, 2)}×`);
  row('100 rows', fmt(b100.p50, 2), fmt(b100.p99, 2), fmt(r.floor.rows_100, 2), `${fmt(b100.p50 / r.floor.rows_100, 2)}×`);
  row('1000 rows', fmt(b1.p50, 2), fmt(b1.p99, 2), fmt(r.floor.rows_1000, 2), `${fmt(b1.p50 / r.floor.rows_1000, 2)}×`);
  row('1000 rows, Rserve baseline', fmt(rb.p50, 2), fmt(rb.p99, 2), fmt(r.floor.rows_1000, 2), `${fmt(rb.p50 / r.floor.rows_1000, 2)}×`);
  lines.push('');
  // Issue 19: the same model over both protocols, one row, one connection, 2 workers (target: v2 within 1.2×).
  lines.push(`Same model, 1 row, 1 connection, 2 workers: Seldon v1 ${fmt(w2.single.rps)} req/s (p99 ${fmt(lat(w2.single).p99, 2)} ms), `
    + `OIP v2 ${fmt(w2.v2single.rps)} req/s (p99 ${fmt(v2.p99, 2)} ms): v1/v2 throughput ${fmt(w2.single.rps / w2.v2single.rps, 2)}× (target ≤ 1.2×).`, '');
  row('process', 'RSS MiB after warm-up', `after ${w2.soak.requests / 2}`, `after ${w2.soak.requests}`, 'growth, second half');
  row('---', '---:', '---:', '---:', '---:');
  w2.rssBefore.forEach((b, i) => row(`worker ${i + 1}`, fmt(b), fmt(w2.rssMid[i]), fmt(w2.rssAfter[i]), `${fmt(w2.rssAfter[i] - w2.rssMid[i], 2)} MiB`));
  row('supervisor (metrics, no requests)', fmt(w2.supervisorRss), '–', '–', '–');
  lines.push('');
  lines.push(`The ${w2.soak.requests} requests ran on 4 connections at ${w2.soak.rps.map((x) => fmt(x)).join(' and ')} req/s (first and second half).`);
  lines.push('RSS counts pages shared with the supervisor after the fork (the loaded model) in every worker.');
  lines.push(MARK_END);
  return lines.join('\n');
}

/** Replaces the section between the markers in bench/results.md (appends it if absent). */
function writeSection(md) {
  const file = path.join(__dirname, 'results.md');
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const a = text.indexOf(MARK_START);
  const b = text.indexOf(MARK_END);
  const next = a >= 0 && b > a ? text.slice(0, a) + md + text.slice(b + MARK_END.length) : `${text.trimEnd()}\n\n${md}\n`;
  fs.writeFileSync(file, next);
}

module.exports = { benchRServer, reportRServer, writeSection, MARK_START, MARK_END };

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  benchRServer({ quick, log: (l) => console.error(l) })
    .then((r) => {
      const md = reportRServer(r);
      if (process.argv.includes('--write')) writeSection(md);
      fs.writeFileSync(path.join(os.tmpdir(), 'rmlops-bench-r-server.json'), JSON.stringify(r, (k, v) => (k === 'latencies' ? summarize(v) : v), 2));
      console.log(md);
    })
    .catch((e) => {
      console.error(e && e.stack ? e.stack : e);
      process.exitCode = 1;
    });
}
