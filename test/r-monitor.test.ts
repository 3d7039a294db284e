// The drift monitor's R step end to end, against a fake MLflow (test/support/r-fake-mlflow.ts):
// train.R trains the iris example (its bundle now carries the training reference), then
// `rmlops::monitor_main()` runs as the ModelMonitor CronJob's R step does, on folders of JSONL
// written as the payload sink writes them (docs/payload-logging.md): an unshifted window raises
// no alarm, a window with one feature shifted raises that feature's alarm only. The real MLflow
// and the real sink are exercised by the loopback e2e, not here.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describeR, EXAMPLES_DIR, freePort, R_DIR, rPackageEnv, RSCRIPT, startR } from './support/r-env';
import { FakeMlflow } from './support/r-fake-mlflow';

const contract = JSON.parse(fs.readFileSync(path.join(R_DIR, 'contract.json'), 'utf8'));
const ENV = contract.env as Record<string, string>;
const MENV = contract.monitorEnv as Record<string, string>;
const M = contract.metrics as Record<string, string>;
const EVENTS = contract.payloadEventTypes as Record<'request' | 'response' | 'feedback', string>;
const FEATURES = ['Sepal.Length', 'Sepal.Width', 'Petal.Length', 'Petal.Width'];

type Row = { values: number[]; species: string };

function irisRows(): Row[] {
  const run = spawnSync(RSCRIPT ?? 'Rscript', ['-e', 'cat(jsonlite::toJSON(datasets::iris, dataframe = "values"))'], { encoding: 'utf8' });
  return (JSON.parse(run.stdout) as [number, number, number, number, string][]).map((r) => ({ values: r.slice(0, 4) as number[], species: r[4] }));
}

// A seeded generator (mulberry32): the windows are the same on every run.
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` single-row predictions bootstrapped from iris, as the sink's records: a request (Seldon
 * ndarray with names), its response (the class) and a feedback carrying the truth, linked by puid.
 * `shift` adds to one feature. The response is the row's species, as the model answers nearly always.
 */
function windowLines(rows: Row[], n: number, seed: number, shift?: { feature: string; by: number }): string[] {
  const next = rng(seed);
  const received = new Date(Date.now() - 60_000).toISOString();
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const row = rows[Math.floor(next() * rows.length)];
    const values = row.values.map((v, j) => (shift && FEATURES[j] === shift.feature ? v + shift.by : v));
    const puid = `puid-${seed}-${i}`;
    const base = { puid, namespace: 'rmlops-iris', inferenceService: 'iris', endpoint: 'default', component: 'model', contentType: 'application/json', received };
    lines.push(JSON.stringify({ ...base, id: `req-${puid}`, reqType: EVENTS.request, payload: { data: { names: FEATURES, ndarray: [values] } } }));
    lines.push(JSON.stringify({ ...base, id: `res-${puid}`, reqType: EVENTS.response, payload: { data: { names: ['prediction'], ndarray: [row.species] }, meta: { puid } } }));
    lines.push(JSON.stringify({ ...base, id: `fb-${puid}`, reqType: EVENTS.feedback, payload: { reward: 1, truth: { data: { ndarray: [[row.species]] } } } }));
  }
  return lines;
}

function series(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describeR('drift monitor: rmlops::monitor_main() on payload-log windows, reference from a fake MLflow', () => {
  let tmp: string;
  let fake: FakeMlflow;
  let port: number;
  let rows: Row[];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-monitor-'));
    port = await freePort();
    fake = new FakeMlflow();
    await fake.listen(port);
    rows = irisRows();
    const train = startR('train.R', {
      [ENV.trackingUri]: `http://127.0.0.1:${port}`, [ENV.experimentName]: 'iris', [ENV.registeredModelName]: 'iris-rf',
      [ENV.modelAlias]: 'champion', [ENV.qualityMetric]: 'accuracy', [ENV.qualityThreshold]: '0.8', [ENV.mlflowWaitSeconds]: '30',
      [ENV.trainingScript]: path.join(EXAMPLES_DIR, 'iris', 'train.R'), TMPDIR: tmp,
    });
    const code = await train.exited;
    if (code !== 0) throw new Error(`train.R failed:\n${train.output()}`);
  }, 120000);

  afterAll(async () => {
    await fake.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /**
   * Runs the monitor as the CronJob's R step does; returns its exit status, output and figures.
   * Asynchronously: the fake MLflow answers from this process's event loop.
   */
  async function monitor(name: string, lines: string[], extra: Record<string, string> = {}) {
    const dir = path.join(tmp, name);
    // The fetch step copies each day's objects into one folder; two objects here.
    fs.mkdirSync(path.join(dir, 'payloads'), { recursive: true });
    const half = Math.floor(lines.length / 2);
    fs.writeFileSync(path.join(dir, 'payloads', '0001-a.jsonl'), `${lines.slice(0, half).join('\n')}\n`);
    fs.writeFileSync(path.join(dir, 'payloads', '0002-b.jsonl'), `${lines.slice(half).join('\n')}\n`);
    const metricsFile = path.join(dir, 'metrics.prom');
    const proc = spawn(RSCRIPT ?? 'Rscript', ['-e', 'quit(status = rmlops::monitor_main(), save = "no")'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '', HOME: tmp, LANG: 'C.UTF-8', TMPDIR: tmp, ...rPackageEnv(),
        [MENV.payloadDir]: path.join(dir, 'payloads'), [MENV.metricsFile]: metricsFile, [MENV.windowSeconds]: '3600',
        [MENV.minRows]: '100', [MENV.psiThreshold]: '0.25', [MENV.ksThreshold]: '0.2', [MENV.chisqPThreshold]: '0.001',
        [MENV.deployment]: 'iris', [MENV.predictor]: 'default',
        [ENV.trackingUri]: `http://127.0.0.1:${port}`, [ENV.registeredModelName]: 'iris-rf', [ENV.modelAlias]: 'champion',
        [ENV.mlflowWaitSeconds]: '30',
        ...extra,
      },
    });
    let output = '';
    proc.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    proc.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 120000);
    const status = await new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    clearTimeout(timer);
    const text = fs.existsSync(metricsFile) ? fs.readFileSync(metricsFile, 'utf8') : '';
    return { status, output, text, dir };
  }

  const alarm = (text: string, f: string) => series(text, `${M.monitorDriftAlarm}{feature="${f}"}`);

  test('an unshifted window: figures for every feature, no alarm, accuracy from feedback; a monitoring run in MLflow', async () => {
    const before = new Set(fake.runs.keys());
    const r = await monitor('unshifted', windowLines(rows, 300, 1));
    expect({ status: r.status, output: r.status === 0 ? '' : r.output }).toEqual({ status: 0, output: '' });
    for (const f of FEATURES) {
      expect(alarm(r.text, f)).toBe(0);
      for (const s of ['psi', 'ks']) expect(series(r.text, `${M.monitorDrift}{feature="${f}",statistic="${s}"}`)).toEqual(expect.any(Number));
    }
    expect(series(r.text, M.monitorWindowEvents)).toBe(300);
    expect(series(r.text, `${M.monitorPerformance}{metric="accuracy"}`)).toBe(1);
    expect(series(r.text, `${M.monitorPredictionShift}{statistic="psi"}`)).toBeLessThan(0.25);
    expect(Math.abs(series(r.text, M.monitorLastSuccess)! - Date.now() / 1000)).toBeLessThan(600);
    // Only the metrics file is left beside the payloads: it was renamed into place.
    expect(fs.readdirSync(r.dir).sort()).toEqual(['metrics.prom', 'payloads']);

    expect(fake.violations).toEqual([]);
    const runs = [...fake.runs.values()].filter((x) => !before.has(x.info.run_id));
    expect(runs).toHaveLength(1);
    const [run] = runs;
    expect(fake.experiments.get('iris-rf-monitoring')).toBe(run.info.experiment_id);
    expect(run.info.status).toBe('FINISHED');
    expect(run.tags).toMatchObject({
      'rmlops.model_name': 'iris-rf', 'rmlops.model_version': '1', 'rmlops.deployment': 'iris', 'rmlops.predictor': 'default',
      'rmlops.window_seconds': '3600', 'rmlops.status': 'ok',
    });
    expect(run.tags['rmlops.window_end']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(run.params).toMatchObject({ psi_threshold: '0.25', ks_threshold: '0.2', chisq_p_threshold: '0.001', min_rows: '100' });
    expect(run.metrics).toMatchObject({ window_events: 300, window_rows: 300, bad_records: 0, alarms: 0, 'performance.accuracy': 1 });
    expect(run.metrics['drift.Petal.Length.psi']).toEqual(expect.any(Number));
    expect(fake.artifacts.get(`${run.info.experiment_id}/${run.info.run_id}/artifacts/monitoring/metrics.prom`)?.toString('utf8')).toBe(r.text);
  }, 120000);

  test('one feature shifted: that feature\'s alarm only', async () => {
    const r = await monitor('shifted', windowLines(rows, 300, 2, { feature: 'Petal.Length', by: 1.5 }));
    expect({ status: r.status, output: r.status === 0 ? '' : r.output }).toEqual({ status: 0, output: '' });
    expect(Object.fromEntries(FEATURES.map((f) => [f, alarm(r.text, f)]))).toEqual({
      'Sepal.Length': 0, 'Sepal.Width': 0, 'Petal.Length': 1, 'Petal.Width': 0,
    });
    expect(series(r.text, `${M.monitorDrift}{feature="Petal.Length",statistic="psi"}`)).toBeGreaterThan(1);
    expect(fake.violations).toEqual([]);
  }, 120000);

  test('exit statuses: 1 while the alias does not exist, 2 for a bad setting; no metrics file then', async () => {
    const noAlias = await monitor('no-alias', windowLines(rows, 10, 3), { [ENV.registeredModelName]: 'no-such-model' });
    expect(noAlias.status).toBe(1);
    expect(noAlias.text).toBe('');
    const bad = await monitor('bad-setting', windowLines(rows, 10, 3), { [MENV.ksThreshold]: 'strict' });
    expect(bad.status).toBe(contract.trainingConfigErrorExitCode);
    expect(bad.output).toContain(`${MENV.ksThreshold} must be a number`);
    expect(bad.text).toBe('');
  }, 120000);
});
