#!/usr/bin/env node
// `npm run bench`: synth speed and R serving speed, each against a baseline measured in the same
// run. Prints a markdown table and writes it to bench/results.md. Asserts nothing about time.
'use strict';
const { spawn, spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { summarize } = require('./lib/stats');
const { load } = require('./lib/http-load');
const { benchRServer, reportRServer } = require('./r-server');

const ROOT = path.join(__dirname, '..');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-bench-'));
const children = new Set();
const quick = process.argv.includes('--quick');

// ---------- helpers ----------

function timeCommand(cmd, args, opts = {}) {
  const started = process.hrtime.bigint();
  const res = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', ...opts });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (res.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${res.status}):\n${res.stdout}\n${res.stderr}`);
  }
  return { ms, stdout: res.stdout };
}

function repeat(times, fn) {
  return Array.from({ length: times }, (_, i) => fn(i));
}

function fmt(x, digits = 1) {
  if (!Number.isFinite(x)) return 'n/a';
  return x >= 100 ? x.toFixed(0) : x.toFixed(digits);
}

const { freePort } = require('../e2e/lib/net');

function get(port, urlPath) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
  });
}

async function startServer(name, args, env, port, readyPath) {
  const child = spawn(args[0], args.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited early (${child.exitCode}):\n${stderr}`);
    if ((await get(port, readyPath)) === 200) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} was not ready on port ${port} after 90 s:\n${stderr}`);
}

function stopServer(child) {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      children.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function killAll() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

function machine() {
  const r = spawnSync('Rscript', ['-e', 'cat(R.version$major, R.version$minor, sep=".")'], { encoding: 'utf8' });
  const pkg = (p) =>
    spawnSync('Rscript', ['-e', `cat(as.character(packageVersion("${p}")))`], { encoding: 'utf8' }).stdout;
  return {
    date: new Date().toISOString().slice(0, 10),
    cpu: `${os.cpus().length} × ${os.cpus()[0].model.trim()}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    r: r.status === 0 ? `R ${r.stdout}, plumber ${pkg('plumber')}, httpuv ${pkg('httpuv')}, randomForest ${pkg('randomForest')}` : 'R not found',
  };
}

// ---------- 1 & 2: synth ----------

function benchSynthCold() {
  const runs = quick ? 3 : 7;
  const stockRuns = quick ? 1 : 3;
  const cacheDir = path.join(ROOT, 'node_modules', '.cache', 'rmlops-esbuild');
  // First synth after `npm ci`: the esbuild cache is empty.
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const first = timeCommand('npm', ['run', '-s', 'synth']).ms;
  const ours = repeat(runs, () => timeCommand('npm', ['run', '-s', 'synth']).ms);
  const cliFast = repeat(quick ? 1 : 3, (i) =>
    timeCommand('npx', ['cdk8s', 'synth', '--output', path.join(TMP, `cli-fast-${i}`)]).ms,
  );
  const stock = repeat(stockRuns, (i) =>
    timeCommand('npx', ['cdk8s', 'synth', '--app', 'npx ts-node main.ts', '--output', path.join(TMP, `stock-${i}`)]).ms,
  );
  return { first, ours: summarize(ours), cliFast: summarize(cliFast), stock: summarize(stock) };
}

function benchSynthScaling() {
  const sizes = [1, 10, 50, 200];
  const runs = quick ? 1 : 3;
  // One untimed run fills the esbuild cache for bench/scale-app.ts.
  runScale(1, 'warm');
  return sizes.map((n) => {
    const results = repeat(runs, (i) => runScale(n, `${n}-${i}`));
    return {
      n,
      objects: results[0].objects,
      wall: summarize(results.map((r) => r.ms)),
      peakRssMiB: Math.max(...results.map((r) => r.peakRssMiB)),
    };
  });
}

function runScale(n, tag) {
  const outdir = path.join(TMP, `scale-${tag}`);
  fs.mkdirSync(outdir, { recursive: true });
  const { ms, stdout } = timeCommand('node', ['-r', './scripts/register.js', 'bench/scale-app.ts', String(n), outdir]);
  return { ms, ...JSON.parse(stdout.trim().split('\n').pop()) };
}

// ---------- 3, 4, 5: R serving ----------

const NAIVE_PLUMBER = `
# The hand-written style this project replaces: parse, predict, return.
library(randomForest)
model <- readRDS(file.path(Sys.getenv("BUNDLE_DIR"), "model.rds"))

#* @post /predict
function(req) {
  body <- jsonlite::fromJSON(req$postBody)
  x <- as.data.frame(body$data$ndarray)
  names(x) <- body$data$names
  list(data = list(names = list("prediction"), ndarray = as.character(predict(model, x))))
}
`;

function requestBody(rows) {
  const names = ['Sepal.Length', 'Sepal.Width', 'Petal.Length', 'Petal.Width'];
  const base = [
    [5.1, 3.5, 1.4, 0.2],
    [6.4, 3.2, 4.5, 1.5],
    [6.3, 3.3, 6.0, 2.5],
  ];
  const ndarray = Array.from({ length: rows }, (_, i) => base[i % base.length]);
  return JSON.stringify({ data: { names, ndarray } });
}

async function benchServing() {
  const bundle = path.join(TMP, 'bundle');
  execFileSync('Rscript', ['r/train.R'], { cwd: ROOT, env: { ...process.env, MODEL_DIR: bundle }, stdio: 'ignore' });
  const features = JSON.parse(fs.readFileSync(path.join(bundle, 'prototype.json'), 'utf8')).features.map((f) => f.name);
  if (features.join() !== 'Sepal.Length,Sepal.Width,Petal.Length,Petal.Width') {
    throw new Error(`unexpected bundle features: ${features}`);
  }
  const floor = JSON.parse(
    execFileSync('Rscript', [path.join(__dirname, 'r', 'inprocess.R'), bundle, quick ? '50' : '200'], { encoding: 'utf8' }),
  );

  const single = requestBody(1);
  const n = quick ? 500 : 3000;
  const out = { floor };

  // Ours.
  const port = await freePort();
  const ours = await startServer(
    'r/serve.R',
    ['Rscript', 'r/serve.R'],
    { MODEL_URI: `file://${bundle}`, PREDICTIVE_UNIT_HTTP_SERVICE_PORT: String(port) },
    port,
    '/health/status',
  );
  try {
    const answer = (await load({ port, path: '/predict', body: single, requests: 1, warmup: 0 })).latencies;
    if (answer.length !== 1) throw new Error('no answer from r/serve.R');
    out.oursSingle = await load({ port, path: '/predict', body: single, requests: n, warmup: 100 });
    out.oursBatch100 = await load({ port, path: '/predict', body: requestBody(100), requests: quick ? 50 : 300, warmup: 10 });
    out.oursBatch1000 = await load({ port, path: '/predict', body: requestBody(1000), requests: quick ? 30 : 200, warmup: 5 });
    out.oursConc4 = await load({ port, path: '/predict', body: single, requests: n, connections: 4, warmup: 40 });
  } finally {
    await stopServer(ours);
  }

  // Naive plumber on the same bundle.
  const naiveFile = path.join(TMP, 'naive-plumber.R');
  fs.writeFileSync(naiveFile, NAIVE_PLUMBER);
  const naivePort = await freePort();
  const naive = await startServer(
    'naive plumber',
    ['Rscript', '-e', `plumber::pr_run(plumber::pr("${naiveFile}"), host = "127.0.0.1", port = ${naivePort})`],
    { BUNDLE_DIR: bundle },
    naivePort,
    '/__docs__/',
  );
  try {
    out.naiveSingle = await load({ port: naivePort, path: '/predict', body: single, requests: quick ? 50 : 200, warmup: 5 });
  } finally {
    await stopServer(naive);
  }
  return out;
}

// ---------- report ----------

function report(m, cold, scaling, serving) {
  const lines = [];
  const row = (...cells) => lines.push(`| ${cells.join(' | ')} |`);
  lines.push(`# rmlops-cdk8s benchmark`, '');
  lines.push(`${m.date} · ${m.cpu} · ${m.memory} · ${m.os} · Node ${m.node} · ${m.r}`, '');
  lines.push('Medians over repeated runs; spread is the interquartile range (IQR). Ratios compare against the');
  lines.push('baseline measured in the same run on the same machine.', '');

  lines.push('## 1. Synth, default pipeline, cold process', '');
  row('what', 'median ms', 'IQR ms', 'runs', 'vs stock');
  row('---', '---:', '---:', '---:', '---:');
  row('`npm run synth` (esbuild, cached transpile)', fmt(cold.ours.p50), fmt(cold.ours.iqr), cold.ours.n, `${fmt(cold.stock.p50 / cold.ours.p50)}× faster`);
  row('`npm run synth`, first run after `npm ci` (empty cache)', fmt(cold.first), '–', 1, `${fmt(cold.stock.p50 / cold.first)}× faster`);
  row('`cdk8s synth` with this repo\'s cdk8s.yaml', fmt(cold.cliFast.p50), fmt(cold.cliFast.iqr), cold.cliFast.n, `${fmt(cold.stock.p50 / cold.cliFast.p50)}× faster`);
  row('baseline: `cdk8s synth --app "npx ts-node main.ts"`', fmt(cold.stock.p50), fmt(cold.stock.iqr), cold.stock.n, '1×');
  lines.push('');

  lines.push('## 2. Synth scaling (n SeldonRModels, each with its RTrainingJob; one process per run)', '');
  row('models', 'objects', 'median ms', 'IQR ms', 'peak RSS MiB', 'vs 1 model', 'ms per extra model');
  row('---:', '---:', '---:', '---:', '---:', '---:', '---:');
  const one = scaling[0].wall.p50;
  for (const s of scaling) {
    const per = s.n > 1 ? (s.wall.p50 - one) / (s.n - 1) : NaN;
    row(s.n, s.objects, fmt(s.wall.p50), fmt(s.wall.iqr), fmt(s.peakRssMiB), `${fmt(s.wall.p50 / one, 2)}×`, fmt(per, 2));
  }
  lines.push('');
  // The R server's section comes from bench/r-server.js (reportRServer).
  if (!serving) return lines.join('\n');

  const lat = (r) => summarize(r.latencies);
  const os1 = lat(serving.oursSingle);
  const nv = lat(serving.naiveSingle);
  const b100 = lat(serving.oursBatch100);
  const b1000 = lat(serving.oursBatch1000);
  const c4 = lat(serving.oursConc4);
  const f = serving.floor;

  lines.push('## 3. R server, single row, one keep-alive connection', '');
  row('what', 'p50 ms', 'p99 ms', 'IQR ms', 'req/s', 'requests', 'sockets', 'ratio');
  row('---', '---:', '---:', '---:', '---:', '---:', '---:', '---:');
  row('`r/serve.R`', fmt(os1.p50, 2), fmt(os1.p99, 2), fmt(os1.iqr, 2), fmt(serving.oursSingle.rps), os1.n, serving.oursSingle.sockets, `${fmt(nv.p50 / os1.p50)}× faster than naive (p50)`);
  row('baseline (a): naive plumber endpoint', fmt(nv.p50, 2), fmt(nv.p99, 2), fmt(nv.iqr, 2), fmt(serving.naiveSingle.rps), nv.n, serving.naiveSingle.sockets, '1×');
  row('baseline (b): in-process `predict()`, 1 row', fmt(f.rows_1, 2), '–', '–', fmt(1000 / f.rows_1), '–', '–', `server p50 = ${fmt(os1.p50 / f.rows_1, 2)}× the floor`);
  lines.push('');

  lines.push('## 4. R server, batch (one keep-alive connection)', '');
  row('rows per request', 'server p50 ms', 'server p99 ms', 'in-process `predict()` ms', 'server / in-process');
  row('---:', '---:', '---:', '---:', '---:');
  row(100, fmt(b100.p50, 2), fmt(b100.p99, 2), fmt(f.rows_100, 2), `${fmt(b100.p50 / f.rows_100, 2)}×`);
  row(1000, fmt(b1000.p50, 2), fmt(b1000.p99, 2), fmt(f.rows_1000, 2), `${fmt(b1000.p50 / f.rows_1000, 2)}×`);
  lines.push('');

  lines.push('## 5. Concurrency: 4 keep-alive connections, one R process, single-row requests', '');
  row('connections', 'req/s', 'p50 ms', 'p99 ms', 'vs 1 connection (req/s)');
  row('---:', '---:', '---:', '---:', '---:');
  row(1, fmt(serving.oursSingle.rps), fmt(os1.p50, 2), fmt(os1.p99, 2), '1×');
  row(4, fmt(serving.oursConc4.rps), fmt(c4.p50, 2), fmt(c4.p99, 2), `${fmt(serving.oursConc4.rps / serving.oursSingle.rps, 2)}×`);
  lines.push('');
  lines.push('One R process answers one request at a time: extra connections queue, so throughput stays flat');
  lines.push('and latency grows with the number of concurrent callers. Scale with replicas, not connections.');
  lines.push('');
  return lines.join('\n');
}

// Section 6 needs `npm run real:install`; without it the section says so instead of failing the bench.
async function realSection() {
  const { missingComponents } = require('../e2e/lib/env');
  const { benchReal, reportReal, MARK_START, MARK_END } = require('./real');
  const missing = missingComponents();
  if (missing.length) {
    return `${MARK_START}\n## 6. Real components on loopback\n\nSkipped: not installed: ${missing.join(', ')} (run \`npm run real:install\`).\n${MARK_END}\n`;
  }
  return `${reportReal(await benchReal({ quick }))}\n`;
}

async function main() {
  const m = machine();
  console.error('bench: synth, cold process…');
  const cold = benchSynthCold();
  console.error('bench: synth scaling…');
  const scaling = benchSynthScaling();
  console.error('bench: R serving…');
  const serving = await benchRServer({ quick, log: (l) => console.error(l) });
  console.error('bench: real components (MLflow, MinIO, executor)…');
  const md = `${report(m, cold, scaling)}\n${reportRServer(serving)}\n\n${await realSection()}`;
  if (!quick) fs.writeFileSync(path.join(__dirname, 'results.md'), md + '\n');
  console.log(md);
}

main()
  .catch((err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exitCode = 1;
  })
  .finally(() => {
    killAll();
    fs.rmSync(TMP, { recursive: true, force: true });
  });
