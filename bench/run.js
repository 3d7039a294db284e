#!/usr/bin/env node
// `npm run bench`: synth speed and R serving speed, each against a baseline measured in the same
// run. Prints a markdown table and writes it to bench/results.md. Asserts nothing about time.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { summarize } = require('./lib/stats');
const { benchRServer, reportRServer } = require('./r-server');

const ROOT = path.join(__dirname, '..');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-bench-'));
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
    r: r.status === 0 ? `R ${r.stdout}, Rserve ${pkg('Rserve')}, randomForest ${pkg('randomForest')}` : 'R not found',
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
  // The KServe variant loads a second generated validator (the full InferenceService schema).
  const kserve = repeat(runs, () => timeCommand('npm', ['run', '-s', 'synth', '--', '--target', 'kserve']).ms);
  const cliFast = repeat(quick ? 1 : 3, (i) =>
    timeCommand('npx', ['cdk8s', 'synth', '--output', path.join(TMP, `cli-fast-${i}`)]).ms,
  );
  const stock = repeat(stockRuns, (i) =>
    timeCommand('npx', ['cdk8s', 'synth', '--app', 'npx ts-node main.ts', '--output', path.join(TMP, `stock-${i}`)]).ms,
  );
  return { first, ours: summarize(ours), kserve: summarize(kserve), cliFast: summarize(cliFast), stock: summarize(stock) };
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

// ---------- report ----------

function report(m, cold, scaling) {
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
  row('`npm run synth -- --target kserve` (the KServe variant, dist-kserve/)', fmt(cold.kserve.p50), fmt(cold.kserve.iqr), cold.kserve.n, `${fmt(cold.stock.p50 / cold.kserve.p50)}× faster`);
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
    fs.rmSync(TMP, { recursive: true, force: true });
  });
