'use strict';
// Figure (c) of issue 22 on loopback, every part real and driven by dist/: the iris model served
// by the R server behind Seldon's executor with the graph logger dist/ writes, the payload sink
// (sink/) uploading to MinIO, then the drift monitor's CronJob (dist/'s iris-monitor) run as its
// manifest says: mc fetches the window, `Rscript -e 'rmlops::monitor_main()'` compares it with
// the training reference and logs a monitoring run to MLflow, mc uploads the figures; the sink
// fetches them and serves them on its /metrics.
//   unshifted: rows sampled from iris             -> no feature's rmlops_monitor_drift_alarm is 1;
//   shifted:   the same, Sepal.Width + SHIFT cm   -> Sepal.Width's alarm is 1, the others' 0.
// Each phase starts from an empty payload folder, so each window holds one stream only. Lines
// starting "payload logging: (c)" are copied into the CI summary.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const YAML = require('yaml');
const { BIN, executor, isExecutable } = require('./lib/env');
const { Stack, contract, waitFor, request } = require('./lib/stack');
const ck = require('./lib/checks');

require('../scripts/register');
const { METRICS, SINK_ENV } = require('../lib/contract.ts');

const N = Number(process.env.RMLOPS_MONITOR_N || 400);
const SHIFTED = 'Sepal.Width';
const SHIFT = 1.5; // cm: about 3.5 standard deviations of Sepal.Width in iris
const SINK = path.join(BIN, 'payload-sink');
const PROMTOOL = path.join(BIN, 'promtool');
const promtoolMissing = isExecutable(PROMTOOL) ? false : `promtool not built (${PROMTOOL}: run \`bash scripts/real/install-promtool.sh\`)`;

const missing = [];
if (!executor().path) missing.push(`Seldon's executor (${executor().reason})`);
if (!isExecutable(SINK)) missing.push(`the payload sink (${SINK}: run \`npm run real:install\`)`);
const skip = missing.length ? `not built: ${missing.join('; ')}` : false;

// N rows of iris's features, sampled with replacement (seeded), from R's own copy of the data
// the model was trained on; `shift` is added to SHIFTED.
function irisRows(seed, shift) {
  const r = spawnSync('Rscript', ['-e', [
    `set.seed(${seed}); d <- datasets::iris[sample.int(150, ${N}, replace = TRUE), 1:4]`,
    `d[["${SHIFTED}"]] <- d[["${SHIFTED}"]] + ${shift}`,
    'write.csv(d, stdout(), row.names = FALSE)',
  ].join('; ')], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  const [head, ...lines] = r.stdout.trim().split('\n');
  const names = head.split(',').map((s) => JSON.parse(s));
  return { names, rows: lines.map((l) => l.split(',').map(Number)) };
}

// Every row as one prediction through the executor, 4 keep-alive connections.
async function drive(port, names, rows) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let next = 0;
  let ok = 0;
  const failed = [];
  try {
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= rows.length) return;
        const res = await request(port, 'POST', contract.paths.predictions, {
          body: { data: { names, ndarray: [rows[i]] } }, headers: { 'seldon-puid': crypto.randomUUID() }, agent, timeoutMs: 30000,
        });
        if (res.status === 200) ok++;
        else failed.push(`${res.status} ${res.body.slice(0, 200)}`);
      }
    }));
  } finally {
    agent.destroy();
  }
  return { ok, failed };
}

async function scrape(sink) {
  const res = await request(sink.metricsPort, 'GET', contract.payloadSink.metricsPath, { timeoutMs: 3000 });
  assert.equal(res.status, 200);
  return res.body;
}

const { promSamples: samples, promSum: sinkCounter } = ck;
const fmt = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

describe('drift monitor (figure c): executor -> payload sink -> MinIO -> the ModelMonitor CronJob -> the sink\'s /metrics', { skip }, () => {
  let stack;
  let sdep;
  let cron;
  let sink;
  let ex;
  let bucket;
  let folder;
  let uploaded = 0;
  const results = {};

  before(async () => {
    stack = await new Stack({ name: 'e2e-monitor', echo: !!process.env.RMLOPS_E2E_ECHO }).init();
    await stack.startArtifactStore();
    const [p] = await stack.provision();
    assert.equal(p.code, 0, p.output);
    await stack.startTracking();
    const job = stack.trainingJobs().find((j) => {
      const t = stack.trainingTarget(j);
      return t.model === 'iris' && t.alias === 'champion';
    });
    const tr = await stack.train(job);
    assert.equal(tr.code, 0, tr.output.slice(-3000));
    sdep = stack.manifests.seldonDeployments().find((s) => s.metadata.name === 'iris');
    cron = stack.manifests.monitors().find((c) => c.metadata.name === 'iris-monitor');
    assert.ok(sdep && cron, 'dist/ has the iris SeldonDeployment and its monitor');
    await stack.startModel(sdep, { predictor: 'default' });
    // What dist/ says, except how often the sink re-reads the figures (60 s there) and batches.
    sink = await stack.startPayloadSink(sdep, { predictor: 'default', env: { [SINK_ENV.monitorPollSeconds]: '1', [SINK_ENV.batchSeconds]: '1' } });
    ex = await stack.startExecutor(sdep, { predictor: 'default' });
    const env = Object.fromEntries(sink.spec.container.env.map((e) => [e.name, e.value]));
    bucket = env[SINK_ENV.s3Bucket];
    const fetch = cron.spec.jobTemplate.spec.template.spec.initContainers.find((c) => c.name === 'fetch');
    folder = fetch.env.find((e) => e.name === 'PAYLOAD_FOLDER').value;
    assert.equal(env[SINK_ENV.monitorKey], cron.spec.jobTemplate.spec.template.spec.containers[0].env.find((e) => e.name === 'METRICS_KEY').value,
      'the sink reads the key the monitor uploads to');
  });

  after(async () => {
    if (stack) await stack.down();
  });

  // One phase: an empty payload folder, N predictions, the sink's upload, one monitor run, the
  // figures on the sink's /metrics.
  async function phase(label, seed, shift) {
    const rm = stack.mc(['rm', '--recursive', '--force', `e2e/${bucket}/${folder}/`]);
    assert.ok(rm.code === 0 || /does not exist|Object does not exist/.test(rm.out), rm.out);
    const { names, rows } = irisRows(seed, shift);
    const load = await drive(ex.port, names, rows);
    assert.deepEqual(load.failed, []);
    await waitFor(`${label}: every event uploaded`, async () => {
      const m = await scrape(sink);
      return sinkCounter(m, 'rmlops_sink_events_uploaded_total') >= uploaded + 2 * N && sinkCounter(m, 'rmlops_sink_spool_segments') === 0;
    }, { timeoutMs: 120000, intervalMs: 500, proc: sink.proc });
    uploaded += 2 * N;
    const started = Date.now() / 1000;
    const run = await stack.runCronJob(cron, { name: `iris-monitor-${label}` });
    const runSeconds = Date.now() / 1000 - started;
    const out = run.steps.map((s) => `--- ${s.name} (exit ${s.code})\n${s.output.slice(-3000)}`).join('\n');
    assert.ok(run.ok, out);
    const text = await waitFor(`${label}: the sink serves the new figures`, async () => {
      const m = await scrape(sink);
      const last = samples(m, METRICS.monitorLastSuccess)[0];
      return last && last.value >= started - 1 && m;
    }, { timeoutMs: 30000, intervalMs: 250, proc: sink.proc });
    const alarms = Object.fromEntries(samples(text, METRICS.monitorDriftAlarm).map((s) => [s.labels.feature, s.value]));
    const drift = samples(text, METRICS.monitorDrift);
    const stat = (f, s) => (drift.find((d) => d.labels.feature === f && d.labels.statistic === s) || {}).value;
    const events = (samples(text, METRICS.monitorWindowEvents)[0] || {}).value;
    const predictionShift = (samples(text, METRICS.monitorPredictionShift)[0] || {}).value;
    // The MLflow monitoring run of this window (experiment <model>-monitoring).
    const exp = await ck.api(stack, 'GET', 'experiments/get-by-name', { query: { experiment_name: 'iris-monitoring' } });
    const runs = await ck.api(stack, 'POST', 'runs/search', {
      body: { experiment_ids: [exp.experiment.experiment_id], order_by: ['attributes.start_time DESC'], max_results: 1 },
    });
    const mlRun = runs.runs[0];
    const metrics = Object.fromEntries((mlRun.data.metrics || []).map((m) => [m.key, m.value]));
    const tags = Object.fromEntries((mlRun.data.tags || []).map((t) => [t.key, t.value]));
    results[label] = { alarms, stat, events, mlRun, metrics, tags, names, steps: run.steps, started, text };
    const figures = names.map((f) => `${f} psi ${fmt(stat(f, 'psi'))} ks ${fmt(stat(f, 'ks'))} alarm ${alarms[f]}`).join('; ');
    console.log(`payload logging: (c) ${label}: ${N} predictions -> window of ${events} request events; ${figures}; prediction shift psi ${fmt(predictionShift)}; MLflow run ${mlRun.info.run_id} (${mlRun.info.status}) in iris-monitoring, ${Object.keys(metrics).length} metrics; the CronJob's three steps took ${fmt(runSeconds, 1)} s (load ${os.loadavg()[0].toFixed(1)})`);
    return results[label];
  }

  it('(c) an unshifted stream raises no alarm; the figures reach the sink\'s /metrics and an MLflow monitoring run', async () => {
    const r = await phase('unshifted', 1, 0);
    assert.equal(r.events, N);
    assert.deepEqual(Object.keys(r.alarms).sort(), [...r.names].sort(), 'an alarm gauge for every feature');
    for (const f of r.names) assert.equal(r.alarms[f], 0, `${f}: psi ${r.stat(f, 'psi')} ks ${r.stat(f, 'ks')}`);
    assert.equal(r.mlRun.info.status, 'FINISHED');
    assert.equal(r.tags['rmlops.model_name'], 'iris');
    assert.equal(r.tags['rmlops.deployment'], 'iris');
    assert.equal(r.tags['rmlops.predictor'], 'default');
    assert.equal(r.metrics.alarms, 0);
    assert.equal(r.metrics[`drift.${SHIFTED}.psi`], r.stat(SHIFTED, 'psi'));
  });

  it(`(c) a stream with ${SHIFTED} shifted by ${SHIFT} raises that feature's alarm only`, async () => {
    const r = await phase('shifted', 2, SHIFT);
    assert.equal(r.events, N);
    assert.equal(r.alarms[SHIFTED], 1, `${SHIFTED}: psi ${r.stat(SHIFTED, 'psi')} ks ${r.stat(SHIFTED, 'ks')}`);
    for (const f of r.names.filter((n) => n !== SHIFTED)) assert.equal(r.alarms[f], 0, `${f}: psi ${r.stat(f, 'psi')} ks ${r.stat(f, 'ks')}`);
    assert.equal(r.metrics.alarms, 1);
    assert.equal(r.metrics[`drift_alarm.${SHIFTED}`], 1);
    assert.notEqual(r.mlRun.info.run_id, results.unshifted && results.unshifted.mlRun.info.run_id);
  });

  // The alert half of (c): dist/'s own iris PrometheusRule, evaluated by Prometheus's promtool on
  // the figures the sink served in each window. The series get the labels the PodMonitor's
  // relabeling gives them (namespace, deployment, predictor; docs/monitoring.md), and are held
  // constant for `for:` plus 5 minutes of evaluation.
  it('(c) the alerts: dist/\'s iris PrometheusRule, evaluated by promtool on those figures, fires the drift alert for the shifted feature only, and nothing on the unshifted window', { skip: promtoolMissing }, () => {
    assert.ok(results.unshifted && results.shifted, 'both windows ran');
    const rule = stack.manifests.of('PrometheusRule').find((o) => o.metadata.name === 'iris-alerts');
    assert.ok(rule, 'dist/ has the iris-alerts PrometheusRule');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-c-alerts-'));
    try {
      // promtool compares annotations verbatim; they are templates (scripts/rules-test.js checks them).
      const groups = rule.spec.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations, ...r }) => r) }));
      fs.writeFileSync(path.join(dir, 'rules.yaml'), YAML.stringify({ groups }));
      const alerts = groups.flatMap((g) => g.rules.filter((r) => r.alert));
      const drift = alerts.find((r) => r.alert === 'RmlopsModelFeatureDrift');
      assert.ok(drift, 'the rule has RmlopsModelFeatureDrift');
      const minutes = (d) => { const m = /^(\d+)([smh])$/.exec(d || '0s'); return m ? Number(m[1]) * { s: 1 / 60, m: 1, h: 60 }[m[2]] : 0; };
      const evalMinutes = Math.ceil(Math.max(...alerts.map((r) => minutes(r.for)))) + 5;
      const target = { namespace: sdep.metadata.namespace, deployment: sdep.metadata.name, predictor: 'default' };
      const series = (text) => text.split('\n').filter((l) => l.startsWith('rmlops_monitor_')).map((l) => {
        const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(l);
        assert.ok(m, `a sample line: ${l}`);
        const extra = Object.entries(target).map(([k, v]) => `${k}="${v}"`).join(',');
        return { series: `${m[1]}{${[m[3], extra].filter(Boolean).join(',')}}`, values: `${m[4]}x${evalMinutes + 1}` };
      });
      const expected = (label) => (label === 'shifted'
        ? [{ exp_labels: { ...target, feature: SHIFTED, severity: drift.labels.severity } }] : []);
      const tests = ['unshifted', 'shifted'].map((label) => ({
        name: label,
        interval: '1m',
        input_series: series(results[label].text),
        alert_rule_test: alerts.map((r) => ({
          eval_time: `${evalMinutes}m`, alertname: r.alert, exp_alerts: r.alert === drift.alert ? expected(label) : [],
        })),
      }));
      for (const t of tests) assert.ok(t.input_series.length > 8, `${t.name}: the monitor's series`);
      fs.writeFileSync(path.join(dir, 'test.yaml'), YAML.stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }));
      const res = spawnSync(PROMTOOL, ['test', 'rules', path.join(dir, 'test.yaml')], { encoding: 'utf8', timeout: 60000 });
      assert.equal(res.status, 0, `promtool test rules:\n${res.stdout}\n${res.stderr}`);
      console.log(`payload logging: (c) alerts: promtool on dist/'s iris-alerts with the sink's figures: unshifted fires none of ${alerts.length} alerts; shifted fires ${drift.alert}{feature="${SHIFTED}"} only (evaluated at ${evalMinutes} min)`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
