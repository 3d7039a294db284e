// Contract test against MLflow's documented REST API, with a fake MLflow: the R training program
// and the model server talk to an in-test server (test/support/r-fake-mlflow.ts) that checks
// every request and answers as MLflow does. The real MLflow is exercised elsewhere.
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { describeR, EXAMPLES_DIR, freePort, getWithin, R_DIR, request, RProcess, silentServer, startR, startServe, waitFor } from './support/r-env';
import { FakeMlflow } from './support/r-fake-mlflow';

const contract = JSON.parse(fs.readFileSync(path.join(R_DIR, 'contract.json'), 'utf8'));
const ENV = contract.env as Record<string, string>;
const P = contract.paths as Record<string, string>;

function trainEnv(port: number, tmp: string, threshold: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    [ENV.trackingUri]: `http://127.0.0.1:${port}`,
    [ENV.experimentName]: 'iris-contract',
    [ENV.registeredModelName]: 'iris-rf',
    [ENV.modelAlias]: 'champion',
    [ENV.qualityMetric]: 'accuracy',
    [ENV.qualityThreshold]: threshold,
    [ENV.mlflowWaitSeconds]: '60',
    [ENV.trainingScript]: path.join(EXAMPLES_DIR, 'iris', 'train.R'),
    TMPDIR: tmp,
    ...extra,
  };
}

// A 64 KiB tmpfs, filled: writes there fail with ENOSPC. Undefined where mounting is not allowed.
function fullDisk(): { dir: string; unmount(): void } | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-full-'));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]).status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  spawnSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'filler')}`, 'bs=4096']);
  return { dir, unmount: () => { spawnSync('umount', [dir]); fs.rmSync(dir, { recursive: true, force: true }); } };
}

describeR('contract test against MLflow\'s documented REST API (fake MLflow)', () => {
  let tmp: string;
  const fakes: FakeMlflow[] = [];
  const procs: RProcess[] = [];

  beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-mlflow-')); });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(fakes.map((f) => f.close()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function train(port: number, threshold: string, extra: Record<string, string> = {}) {
    const proc = startR('train.R', trainEnv(port, tmp, threshold, extra));
    procs.push(proc);
    return { code: await proc.exited, output: proc.output() };
  }

  /** A fake MLflow on a free port, listening, closed after the suite; `setup` runs before listen. */
  async function listeningFake(setup: (fake: FakeMlflow) => void = () => undefined) {
    const port = await freePort();
    const fake = new FakeMlflow();
    fakes.push(fake);
    setup(fake);
    await fake.listen(port);
    return { port, fake };
  }

  test('train.R (iris example script) waits for an unreachable fake MLflow, logs, uploads, registers and moves the alias; serve.R loads it by alias', async () => {
    const port = await freePort();
    const fake = new FakeMlflow();
    fakes.push(fake);
    // MLflow is not listening yet: the trainer must back off and retry, not fail. The fake
    // starts once the trainer says it is waiting (a fixed delay raced the training on a busy
    // machine), or after 60 s, when the assertion below fails.
    const proc = startR('train.R', trainEnv(port, tmp, '0.8'));
    procs.push(proc);
    for (let i = 0; i < 600 && !/waiting for MLflow/.test(proc.output()); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const waited = /waiting for MLflow/.test(proc.output());
    await fake.listen(port);
    const code = await proc.exited;
    expect(waited).toBe(true);
    expect(code).toBe(0);
    expect(fake.violations).toEqual([]);
    const [run] = [...fake.runs.values()];
    expect(run.info.status).toBe('FINISHED');
    // Named after the registered model, not after iris.
    expect(run.info.run_name).toBe('train-iris-rf');
    expect(run.metrics.accuracy).toBeGreaterThan(0.8);
    expect(Object.keys(run.metrics)).toEqual(expect.arrayContaining(['f1_macro', 'kappa', 'oob_error', 'precision_macro', 'recall_macro']));
    expect(run.params.ntree).toBe('100');
    const prefix = `${run.info.experiment_id}/${run.info.run_id}/artifacts/model/`;
    // The bundle, and the drift monitor's training reference (the example returns its training rows).
    expect([...fake.artifacts.keys()].sort()).toEqual(['MLmodel', 'bundle.json', 'model.rds', `${contract.monitor.referenceDir}/sample.csv`, `${contract.monitor.referenceDir}/summary.json`].map((f) => prefix + f));
    expect(JSON.parse(fake.artifacts.get(`${prefix}bundle.json`)!.toString('utf8'))).toMatchObject({ format_version: 1, packages: { randomForest: expect.any(String) } });
    const [version] = fake.versions.get('iris-rf')!;
    expect(version.source).toBe(`${run.info.artifact_uri}/model`);
    expect(version.run_id).toBe(run.info.run_id);
    expect(fake.calls.filter((c) => c.endsWith('model-versions/get')).length).toBeGreaterThanOrEqual(2);
    expect(fake.aliases.get('iris-rf@champion')).toBe('1');
    // The artifact store was checked before the run was created.
    expect(fake.calls.indexOf('GET /api/2.0/mlflow-artifacts/artifacts')).toBeLessThan(fake.calls.indexOf('POST /api/2.0/mlflow/runs/create'));

    // Serving: resolve the alias, download the bundle through the artifact proxy, serve it.
    const servePort = await freePort();
    const server = await startServe({
      [ENV.trackingUri]: `http://127.0.0.1:${port}`, [ENV.modelUri]: 'models:/iris-rf@champion',
      [ENV.httpPort]: String(servePort), TMPDIR: tmp,
    });
    procs.push(server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await waitFor(async () => (await request(servePort, 'GET', P.healthStatus, undefined, agent)).status === 200, 30000, 'model loaded from MLflow');
      expect(fake.calls).toContain('GET /api/2.0/mlflow/registered-models/alias');
      expect(fake.calls).toContain('GET /api/2.0/mlflow/model-versions/get-download-uri');
      const md = (await request(servePort, 'GET', P.metadata, undefined, agent)).json();
      expect(md).toMatchObject({ name: 'iris-rf', versions: ['1'], custom: { run_id: run.info.run_id } });
      const res = await request(servePort, 'POST', P.modelPredict, JSON.stringify({ data: { ndarray: [[6.3, 3.3, 6.0, 2.5]] } }), agent);
      expect(res.json().data.ndarray).toEqual(['virginica']);
      expect(res.json().meta.tags).toMatchObject({ model_name: 'iris-rf', model_version: '1' });
      expect(fake.violations).toEqual([]);
    } finally {
      agent.destroy();
      await server.stop();
    }
  }, 60000);

  test('the alias is not moved when the holdout metric is below the threshold (fake MLflow)', async () => {
    const { port, fake } = await listeningFake();
    const { code, output } = await train(port, '1.01');
    expect(code).toBe(0);
    expect(output).toMatch(/"alias_moved":false/);
    expect(fake.violations).toEqual([]);
    expect(fake.versions.get('iris-rf')?.map((v) => v.status)).toEqual(['READY']);
    expect(fake.aliases.size).toBe(0);
    expect(fake.calls).not.toContain('POST /api/2.0/mlflow/registered-models/alias');
    expect([...fake.runs.values()][0].info.status).toBe('FINISHED');
  }, 60000);

  test('a failed artifact upload to the fake MLflow marks the run FAILED and train.R exits non-zero', async () => {
    const { port, fake } = await listeningFake((f) => { f.failUploads = true; });
    const { code, output } = await train(port, '0.5');
    // Not a configuration error: the Job may retry it.
    expect(code).toBe(1);
    expect(output).toMatch(/artifact upload/);
    expect(fake.violations).toEqual([]);
    expect([...fake.runs.values()][0].info.status).toBe('FAILED');
    expect(fake.versions.size).toBe(0);
    expect(fake.aliases.size).toBe(0);
  }, 60000);

  test('serve.R stays alive but not ready while the alias does not exist in the fake MLflow', async () => {
    const { port, fake } = await listeningFake();
    const servePort = await freePort();
    const server = await startServe({
      [ENV.trackingUri]: `http://127.0.0.1:${port}`, [ENV.modelUri]: 'models:/missing@champion',
      [ENV.httpPort]: String(servePort), [ENV.mlflowWaitSeconds]: '60', TMPDIR: tmp,
    });
    procs.push(server);
    await waitFor(async () => (await request(servePort, 'GET', P.healthPing)).status === 200, 20000, 'serve.R to listen');
    await waitFor(async () => fake.calls.includes('GET /api/2.0/mlflow/registered-models/alias'), 20000, 'alias lookup');
    expect((await request(servePort, 'GET', P.healthStatus)).status).toBe(503);
    expect(fake.violations).toEqual([]);
    await server.stop();
  }, 60000);

  test('a lower-is-better metric moves the alias when under the threshold, not when above it (fake MLflow)', async () => {
    const { port, fake } = await listeningFake();
    const lower = { [ENV.qualityMetric]: 'oob_error', [ENV.qualityDirection]: 'lower' };
    const under = await train(port, '0.5', lower);
    expect(under.code).toBe(0);
    expect(under.output).toMatch(/"alias_moved":true/);
    expect(fake.aliases.get('iris-rf@champion')).toBe('1');
    const above = await train(port, '0', lower);
    expect(above.code).toBe(0);
    expect(above.output).toMatch(/"alias_moved":false/);
    expect(fake.versions.get('iris-rf')).toHaveLength(2);
    expect(fake.aliases.get('iris-rf@champion')).toBe('1');
    expect(fake.violations).toEqual([]);
  }, 60000);

  test.each([
    ['an unknown metric', { [ENV.qualityMetric]: 'acuracy' }, /quality metric 'acuracy' is not one of .*accuracy.*oob_error/],
    ['an unknown direction', { [ENV.qualityDirection]: 'up' }, /quality direction 'up' is not one of: higher, lower/],
    ['a threshold that is not a number', { [ENV.qualityThreshold]: 'high' }, /QUALITY_THRESHOLD must be a number, got 'high'/],
  ])('%s fails fast: the configuration-error exit code, nothing created in the fake MLflow', async (_name, extra, message) => {
    const { port, fake } = await listeningFake();
    const { code, output } = await train(port, '0.5', extra);
    // The training Job's podFailurePolicy fails the Job at once on this code.
    expect(code).toBe(contract.trainingConfigErrorExitCode);
    expect(code).not.toBe(1);
    expect(output).toMatch(message);
    expect(fake.runs.size).toBe(0);
    expect(fake.versions.size).toBe(0);
    expect(fake.calls.filter((c) => c.startsWith('POST'))).toEqual([]);
  }, 60000);

  test('training waits for the fake MLflow\'s artifact store (bucket not provisioned yet) and creates exactly one run', async () => {
    const { port, fake } = await listeningFake((f) => { f.failArtifactLists = 3; });
    const { code, output } = await train(port, '0.5');
    expect(code).toBe(0);
    expect(output).toMatch(/waiting for the MLflow artifact store/);
    expect(fake.failArtifactLists).toBe(0);
    expect(fake.runs.size).toBe(1);
    expect(fake.calls.filter((c) => c === 'POST /api/2.0/mlflow/runs/create')).toHaveLength(1);
    expect([...fake.runs.values()][0].info.status).toBe('FINISHED');
    expect(fake.violations).toEqual([]);
  }, 60000);

  test('serve.R loads a version whose source is an MLflow 3 logged model (models:/m-<id>) through get-download-uri of the fake MLflow', async () => {
    const { port, fake } = await listeningFake();
    expect((await train(port, '0.5')).code).toBe(0);
    const [run] = [...fake.runs.values()];
    const prefix = `${run.info.experiment_id}/${run.info.run_id}/artifacts/model/`;
    const files = new Map([...fake.artifacts].filter(([k]) => k.startsWith(prefix)).map(([k, b]) => [k.slice(prefix.length), b]));
    const v = fake.addLoggedModelVersion('iris-rf', files, run.info.experiment_id);
    expect(v.source).toMatch(/^models:\/m-/);
    fake.aliases.set('iris-rf@python', v.version);
    const servePort = await freePort();
    const server = await startServe({
      [ENV.trackingUri]: `http://127.0.0.1:${port}`, [ENV.modelUri]: 'models:/iris-rf@python',
      [ENV.httpPort]: String(servePort), TMPDIR: tmp,
    });
    procs.push(server);
    try {
      await waitFor(async () => (await request(servePort, 'GET', P.healthStatus)).status === 200, 30000, 'logged model loaded');
      expect((await request(servePort, 'GET', P.metadata)).json()).toMatchObject({ name: 'iris-rf', versions: [v.version] });
      expect(fake.calls).toContain('GET /api/2.0/mlflow/model-versions/get-download-uri');
      expect(fake.violations).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 60000);

  test('serve.R answers liveness while MLflow (a silent TCP server) accepts connections and never answers, and gives up after its wait', async () => {
    const port = await freePort();
    const hung = await silentServer(port);
    const servePort = await freePort();
    const server = await startServe({
      [ENV.trackingUri]: `http://127.0.0.1:${port}`, [ENV.modelUri]: 'models:/iris-rf@champion',
      [ENV.httpPort]: String(servePort), [ENV.mlflowWaitSeconds]: '8', TMPDIR: tmp,
    });
    procs.push(server);
    try {
      await waitFor(async () => (await request(servePort, 'GET', P.healthPing)).status === 200, 20000, 'serve.R to listen');
      // Kubernetes' liveness probe has a few seconds per try: every ping must answer in time.
      for (let i = 0; i < 8; i++) {
        expect((await getWithin(servePort, P.healthPing, 2000)).status).toBe(200);
        expect((await getWithin(servePort, P.healthStatus, 2000)).status).toBe(503);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(await server.exited).toBe(1);
      expect(server.output()).toMatch(/could not load the model/);
    } finally {
      await server.stop();
      await hung.close();
    }
  }, 60000);

  test('the mtcars regression example trains through the fake MLflow with a lower-is-better rmse gate, and serve.R serves numbers by alias', async () => {
    const { port, fake } = await listeningFake();
    const { code, output } = await train(port, '4', {
      [ENV.trainingScript]: path.join(EXAMPLES_DIR, 'mtcars', 'train.R'), [ENV.registeredModelName]: 'mtcars-lm',
      [ENV.experimentName]: 'mtcars', [ENV.qualityMetric]: 'rmse', [ENV.qualityDirection]: 'lower',
    });
    expect(output).toMatch(/"alias_moved":true/);
    expect(code).toBe(0);
    expect(fake.violations).toEqual([]);
    const [run] = [...fake.runs.values()];
    expect(run.info.run_name).toBe('train-mtcars-lm');
    expect(Object.keys(run.metrics)).toEqual(expect.arrayContaining(['rmse', 'r_squared']));
    expect(run.params.model).toBe('lm');
    expect(fake.aliases.get('mtcars-lm@champion')).toBe('1');
    const servePort = await freePort();
    const server = await startServe({
      [ENV.trackingUri]: `http://127.0.0.1:${port}`, [ENV.modelUri]: 'models:/mtcars-lm@champion',
      [ENV.httpPort]: String(servePort), TMPDIR: tmp,
    });
    procs.push(server);
    try {
      await waitFor(async () => (await request(servePort, 'GET', P.healthStatus)).status === 200, 30000, 'regression model loaded from the fake MLflow');
      const res = await request(servePort, 'POST', P.modelPredict,
        JSON.stringify({ data: { names: ['wt', 'hp', 'cyl', 'manual'], ndarray: [[2.62, 110, '6', true]] } }));
      expect(res.status).toBe(200);
      expect(res.json().data.names).toEqual(['prediction']);
      expect(typeof res.json().data.ndarray[0]).toBe('number');
      expect(res.json().meta.tags).toMatchObject({ model_name: 'mtcars-lm', model_version: '1' });
    } finally {
      await server.stop();
    }
  }, 90000);

  const scriptErrors: Array<[string, () => Record<string, string>, RegExp]> = [
    ['TRAINING_SCRIPT unset', () => ({ [ENV.trainingScript]: '' }), /TRAINING_SCRIPT is not set/],
    ['a missing script file', () => ({ [ENV.trainingScript]: path.join(tmp, 'nope.R') }), /training script .*nope\.R not found/],
    ['a script without train()', () => ({ [ENV.trainingScript]: writeScript('no-train.R', 'fit <- function() 1') }), /does not define a function train\(\)/],
    ['train() returning the wrong shape', () => ({ [ENV.trainingScript]: writeScript('shape.R', 'train <- function() list(model = lm(dist ~ speed, cars))') }),
      /train\(\) returned no metrics, example/],
    ['train() returning a non-numeric metric', () => ({
      [ENV.trainingScript]: writeScript('metric.R', 'train <- function() list(model = lm(dist ~ speed, cars), metrics = list(accuracy = "high"), example = cars[1, "speed", drop = FALSE])'),
    }), /metrics with accuracy: each must be one finite number/],
  ];

  function writeScript(name: string, text: string): string {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, `${text}\n`);
    return file;
  }

  test.each(scriptErrors)('user script error (%s): exit code 2 with a clear message, nothing created in the fake MLflow', async (_name, env, message) => {
    const { port, fake } = await listeningFake();
    const { code, output } = await train(port, '0.5', env());
    expect(code).toBe(contract.trainingConfigErrorExitCode);
    expect(output).toMatch(message);
    expect(output).toMatch(/"error_class":"training_script_error","config_error":true/);
    expect(fake.calls.filter((c) => c.startsWith('POST'))).toEqual([]);
    expect(fake.runs.size).toBe(0);
  }, 60000);

  test('an unwritable MODEL_DIR is a configuration error (exit 2): no run, nothing uploaded or registered in the fake MLflow', async () => {
    const { port, fake } = await listeningFake();
    fs.writeFileSync(path.join(tmp, 'a-file'), 'not a folder');
    const { code, output } = await train(port, '0.5', { [ENV.modelDir]: path.join(tmp, 'a-file', 'model') });
    expect(code).toBe(contract.trainingConfigErrorExitCode);
    expect(output).toMatch(/"error_class":"bundle_dir_error"/);
    expect(fake.calls).toEqual([]);
    expect(fake.artifacts.size).toBe(0);
    expect(fake.versions.size).toBe(0);
  }, 60000);

  test('a full disk (a filled 64 KiB tmpfs; skipped where mount is not allowed) is retryable (exit 1): no partial bundle, nothing in the fake MLflow', async () => {
    const disk = fullDisk();
    if (!disk) {
      // eslint-disable-next-line no-console
      console.warn('SKIPPED: cannot mount a tmpfs here (needs root); the testthat tests inject the failure instead');
      return;
    }
    try {
      const { port, fake } = await listeningFake();
      const { code, output } = await train(port, '0.5', { [ENV.modelDir]: path.join(disk.dir, 'model') });
      expect(code).toBe(1);
      expect(output).toMatch(/"error_class":"bundle_io_error","config_error":false,"retryable":true/);
      expect(output).toMatch(/No space left on device|disk full/);
      expect(fs.readdirSync(disk.dir)).toEqual(['filler']);
      expect(fake.calls).toEqual([]);
    } finally {
      disk.unmount();
    }
  }, 60000);
});
