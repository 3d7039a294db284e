'use strict';
// The drift monitor's R step against the real MLflow on loopback: MinIO, the provisioning Job and
// MLflow from dist/, dist/'s iris training Job (its bundle carries the training reference, through
// the artifact proxy into MinIO), then `rmlops::monitor_main()` as the ModelMonitor CronJob's R
// step runs it, on folders of JSONL written as the payload sink writes them: an unshifted window
// raises no alarm, a window with Petal.Length shifted raises that alarm only, and each run is a
// monitoring run in MLflow. The executor -> sink -> MinIO -> monitor path is issue 22 §4 (c).
// Lines starting "drift monitor:" are figures for the CI summary.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { Stack, contract } = require('./lib/stack');
const { rLibFor } = require('./lib/local');
const { ROOT } = require('./lib/env');

const ENV = contract.env;
const MENV = contract.monitorEnv;
const M = contract.metrics;
const EVENTS = contract.payloadEventTypes;
const FEATURES = ['Sepal.Length', 'Sepal.Width', 'Petal.Length', 'Petal.Width'];

function rng(seed) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// n single-row predictions bootstrapped from iris: request, response (the species) and feedback.
function windowLines(rows, n, seed, shift) {
  const next = rng(seed);
  const received = new Date(Date.now() - 60000).toISOString();
  const lines = [];
  for (let i = 0; i < n; i++) {
    const row = rows[Math.floor(next() * rows.length)];
    const values = row.slice(0, 4).map((v, j) => (shift && FEATURES[j] === shift.feature ? v + shift.by : v));
    const puid = `puid-${seed}-${i}`;
    const base = { puid, namespace: 'rmlops-iris', inferenceService: 'iris', endpoint: 'default', component: 'model', received };
    lines.push(JSON.stringify({ ...base, id: `req-${puid}`, reqType: EVENTS.request, payload: { data: { names: FEATURES, ndarray: [values] } } }));
    lines.push(JSON.stringify({ ...base, id: `res-${puid}`, reqType: EVENTS.response, payload: { data: { names: ['prediction'], ndarray: [row[4]] } } }));
    lines.push(JSON.stringify({ ...base, id: `fb-${puid}`, reqType: EVENTS.feedback, payload: { reward: 1, truth: { data: { ndarray: [[row[4]]] } } } }));
  }
  return lines;
}

function series(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('drift monitor: monitor_main() with the reference from the real MLflow', () => {
  let stack;
  let target;
  let rLib;
  let iris;

  before(async () => {
    stack = await new Stack({ name: 'e2e-monitor', echo: !!process.env.RMLOPS_E2E_ECHO }).init();
    rLib = rLibFor(path.join(ROOT, 'r'));
    const rows = spawnSync('Rscript', ['-e', 'cat(jsonlite::toJSON(datasets::iris, dataframe = "values"))'], { encoding: 'utf8' });
    iris = JSON.parse(rows.stdout);
    await stack.startArtifactStore();
    for (const r of await stack.provision()) assert.equal(r.code, 0, r.output);
    await stack.startTracking();
    const job = stack.trainingJobs().find((j) => stack.trainingTarget(j).model === 'iris');
    assert.ok(job, 'dist/ has a training Job for the registered model iris');
    target = stack.trainingTarget(job);
    const res = await stack.train(job);
    assert.equal(res.code, 0, res.output.slice(-4000));
  });

  after(async () => {
    if (stack) await stack.down();
  });

  async function monitor(name, lines, extra = {}) {
    const dir = path.join(stack.dir, name);
    fs.mkdirSync(path.join(dir, 'payloads'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'payloads', 'segment.jsonl'), `${lines.join('\n')}\n`);
    const metricsFile = path.join(dir, 'metrics.prom');
    const proc = spawn('Rscript', ['-e', 'quit(status = rmlops::monitor_main(), save = "no")'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH, HOME: dir, LANG: 'C.UTF-8', TMPDIR: stack.dir, R_LIBS: rLib,
        [MENV.payloadDir]: path.join(dir, 'payloads'), [MENV.metricsFile]: metricsFile, [MENV.windowSeconds]: '3600',
        [MENV.minRows]: '200', [MENV.psiThreshold]: '0.25', [MENV.ksThreshold]: '0.2', [MENV.chisqPThreshold]: '0.001',
        [MENV.deployment]: 'iris', [MENV.predictor]: 'default',
        [ENV.trackingUri]: `http://127.0.0.1:${stack.mlflow.port}`, [ENV.registeredModelName]: target.model,
        [ENV.modelAlias]: target.alias, [ENV.mlflowWaitSeconds]: '60',
        ...extra,
      },
    });
    let output = '';
    proc.stdout.on('data', (d) => { output += d; });
    proc.stderr.on('data', (d) => { output += d; });
    const started = Date.now();
    const timer = setTimeout(() => proc.kill('SIGKILL'), 180000);
    const status = await new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    clearTimeout(timer);
    const text = fs.existsSync(metricsFile) ? fs.readFileSync(metricsFile, 'utf8') : '';
    return { status, output, text, seconds: (Date.now() - started) / 1000 };
  }

  const alarms = (text) => Object.fromEntries(FEATURES.map((f) => [f, series(text, `${M.monitorDriftAlarm}{feature="${f}"}`)]));

  it('the registered version carries the training reference in MLflow\'s artifact store', async () => {
    const alias = await stack.mlflowApi('GET', 'registered-models/alias', { query: { name: target.model, alias: target.alias } });
    assert.equal(alias.status, 200, JSON.stringify(alias.json));
    const version = alias.json.model_version.version;
    const uri = await stack.mlflowApi('GET', 'model-versions/get-download-uri', { query: { name: target.model, version } });
    const root = uri.json.artifact_uri.replace(/^mlflow-artifacts:(\/\/[^/]*)?\/*/, '');
    const list = await require('./lib/stack').request(stack.mlflow.port, 'GET',
      `/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(`${root}/${contract.monitor.referenceDir}`)}`, { timeoutMs: 30000 });
    const names = (JSON.parse(list.body).files || []).map((f) => path.basename(f.path)).sort();
    assert.deepEqual(names, ['sample.csv', 'summary.json']);
  });

  it('an unshifted window: no alarm, accuracy from feedback, a monitoring run in MLflow', async () => {
    const r = await monitor('unshifted', windowLines(iris, 300, 1));
    assert.equal(r.status, 0, r.output);
    assert.deepEqual(alarms(r.text), { 'Sepal.Length': 0, 'Sepal.Width': 0, 'Petal.Length': 0, 'Petal.Width': 0 });
    assert.equal(series(r.text, M.monitorWindowEvents), 300);
    assert.equal(series(r.text, `${M.monitorPerformance}{metric="accuracy"}`), 1);
    const exp = await stack.mlflowApi('GET', 'experiments/get-by-name', { query: { experiment_name: `${target.model}-monitoring` } });
    assert.equal(exp.status, 200, JSON.stringify(exp.json));
    const runs = await stack.mlflowApi('POST', 'runs/search', { body: { experiment_ids: [exp.json.experiment.experiment_id], max_results: 10 } });
    assert.equal(runs.json.runs.length, 1);
    const run = runs.json.runs[0];
    const tags = Object.fromEntries(run.data.tags.map((t) => [t.key, t.value]));
    const metrics = Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value]));
    assert.equal(run.info.status, 'FINISHED');
    assert.equal(tags['rmlops.model_name'], target.model);
    assert.equal(tags['rmlops.deployment'], 'iris');
    assert.match(tags['rmlops.model_version'], /^\d+$/);
    assert.equal(metrics.window_events, 300);
    assert.equal(metrics.alarms, 0);
    assert.equal(typeof metrics['drift.Petal.Length.psi'], 'number');
    console.log(`drift monitor: unshifted window of 300 predictions against the real MLflow: 0 alarms, exit 0 in ${r.seconds.toFixed(1)} s (R start, reference download, figures, MLflow run)`);
  });

  it('Petal.Length shifted by 1.5: its alarm only', async () => {
    const r = await monitor('shifted', windowLines(iris, 300, 2, { feature: 'Petal.Length', by: 1.5 }));
    assert.equal(r.status, 0, r.output);
    assert.deepEqual(alarms(r.text), { 'Sepal.Length': 0, 'Sepal.Width': 0, 'Petal.Length': 1, 'Petal.Width': 0 });
    const psi = series(r.text, `${M.monitorDrift}{feature="Petal.Length",statistic="psi"}`);
    console.log(`drift monitor: Petal.Length shifted by 1.5 in 300 predictions: its alarm only (psi ${psi.toFixed(2)}), exit 0 in ${r.seconds.toFixed(1)} s`);
  });
});
