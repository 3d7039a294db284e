// Contract test against MLflow's documented REST API: the R training program and the model
// server talk to an in-test server that checks every request and answers as MLflow does.
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { describeR, freePort, R_DIR, request, RProcess, startR, waitFor } from './support/r-env';
import { FakeMlflow } from './support/r-fake-mlflow';

const contract = JSON.parse(fs.readFileSync(path.join(R_DIR, 'contract.json'), 'utf8'));
const ENV = contract.env as Record<string, string>;
const P = contract.paths as Record<string, string>;

function trainEnv(port: number, tmp: string, threshold: string): Record<string, string> {
  return {
    [ENV.trackingUri]: `http://127.0.0.1:${port}`,
    [ENV.experimentName]: 'iris-contract',
    [ENV.registeredModelName]: 'iris-rf',
    [ENV.modelAlias]: 'champion',
    [ENV.qualityMetric]: 'accuracy',
    [ENV.qualityThreshold]: threshold,
    [ENV.mlflowWaitSeconds]: '60',
    TMPDIR: tmp,
  };
}

describeR('contract test against MLflow\'s documented REST API', () => {
  let tmp: string;
  const fakes: FakeMlflow[] = [];
  const procs: RProcess[] = [];

  beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-mlflow-')); });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(fakes.map((f) => f.close()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function train(port: number, threshold: string) {
    const proc = startR('train.R', trainEnv(port, tmp, threshold));
    procs.push(proc);
    return { code: await proc.exited, output: proc.output() };
  }

  test('train.R waits for an unreachable MLflow, logs, uploads, registers and moves the alias; serve.R loads it by alias', async () => {
    const port = await freePort();
    const fake = new FakeMlflow();
    fakes.push(fake);
    // MLflow is not listening yet: the trainer must back off and retry, not fail.
    const late = new Promise<void>((resolve) => setTimeout(() => fake.listen(port).then(resolve), 2000));
    const [{ code, output }] = await Promise.all([train(port, '0.8'), late]);
    expect(output).toMatch(/waiting for MLflow/);
    expect(code).toBe(0);
    expect(fake.violations).toEqual([]);
    const [run] = [...fake.runs.values()];
    expect(run.info.status).toBe('FINISHED');
    expect(run.metrics.accuracy).toBeGreaterThan(0.8);
    expect(Object.keys(run.metrics)).toEqual(expect.arrayContaining(['f1_macro', 'kappa', 'oob_error', 'precision_macro', 'recall_macro']));
    expect(run.params.ntree).toBe('100');
    const prefix = `${run.info.experiment_id}/${run.info.run_id}/artifacts/model/`;
    expect([...fake.artifacts.keys()].sort()).toEqual(['MLmodel', 'metadata.json', 'model.rds', 'prototype.json'].map((f) => prefix + f));
    const [version] = fake.versions.get('iris-rf')!;
    expect(version.source).toBe(`${run.info.artifact_uri}/model`);
    expect(version.run_id).toBe(run.info.run_id);
    expect(fake.calls.filter((c) => c.endsWith('model-versions/get')).length).toBeGreaterThanOrEqual(2);
    expect(fake.aliases.get('iris-rf@champion')).toBe('1');

    // Serving: resolve the alias, download the bundle through the artifact proxy, serve it.
    const servePort = await freePort();
    const server = startR('serve.R', {
      [ENV.trackingUri]: `http://127.0.0.1:${port}`, [ENV.modelUri]: 'models:/iris-rf@champion',
      [ENV.httpPort]: String(servePort), TMPDIR: tmp,
    });
    procs.push(server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await waitFor(async () => (await request(servePort, 'GET', P.healthStatus, undefined, agent)).status === 200, 30000, 'model loaded from MLflow');
      expect(fake.calls).toContain('GET /api/2.0/mlflow/registered-models/alias');
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

  test('the alias is not moved when the holdout metric is below the threshold', async () => {
    const port = await freePort();
    const fake = new FakeMlflow();
    fakes.push(fake);
    await fake.listen(port);
    const { code, output } = await train(port, '1.01');
    expect(code).toBe(0);
    expect(output).toMatch(/"alias_moved":false/);
    expect(fake.violations).toEqual([]);
    expect(fake.versions.get('iris-rf')?.map((v) => v.status)).toEqual(['READY']);
    expect(fake.aliases.size).toBe(0);
    expect(fake.calls).not.toContain('POST /api/2.0/mlflow/registered-models/alias');
    expect([...fake.runs.values()][0].info.status).toBe('FINISHED');
  }, 60000);

  test('a failed artifact upload marks the run FAILED and train.R exits non-zero', async () => {
    const port = await freePort();
    const fake = new FakeMlflow();
    fakes.push(fake);
    fake.failUploads = true;
    await fake.listen(port);
    const { code, output } = await train(port, '0.5');
    expect(code).not.toBe(0);
    expect(output).toMatch(/artifact upload/);
    expect(fake.violations).toEqual([]);
    expect([...fake.runs.values()][0].info.status).toBe('FAILED');
    expect(fake.versions.size).toBe(0);
    expect(fake.aliases.size).toBe(0);
  }, 60000);

  test('serve.R stays alive but not ready while the alias does not exist', async () => {
    const port = await freePort();
    const fake = new FakeMlflow();
    fakes.push(fake);
    await fake.listen(port);
    const servePort = await freePort();
    const server = startR('serve.R', {
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
});
