// The R server behind the real Seldon executor 1.17.1, both protocols: the executor's own
// /api/v1.0/metadata (which fails with a 500 unless the model's `custom` is a map of strings) and
// `--protocol v2`, where the executor calls /v2/models/<graph node>/infer. The executor is the one
// scripts/real/install-seldon.sh builds from the source archive in ../shared/third_party (or
// $RMLOPS_SELDON_EXECUTOR). Without it: skipped with what to run, except in CI, where it is a failure.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describeR, EXAMPLES_DIR, freePort, getWithin, R_DIR, request, rPackageEnv, RSCRIPT, RProcess, startR, waitFor } from './support/r-env';

const contract = JSON.parse(fs.readFileSync(path.join(R_DIR, 'contract.json'), 'utf8'));
const ENV = contract.env as Record<string, string>;
const CACHE = process.env.RMLOPS_CACHE ?? path.join(R_DIR, '..', '.cache');
const EXECUTOR_PATH = process.env.RMLOPS_SELDON_EXECUTOR ?? path.join(CACHE, 'bin', 'seldon-executor');
const EXECUTOR = fs.existsSync(EXECUTOR_PATH) ? EXECUTOR_PATH : undefined;
const MISSING = `no Seldon executor at ${EXECUTOR_PATH}: run \`npm run real:seldon\` (it builds it from ../shared/third_party), or set RMLOPS_SELDON_EXECUTOR`;

function maybe(name: string, body: () => void): void {
  if (EXECUTOR) {
    describeR(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => test('the Seldon executor is built (required in CI)', () => { throw new Error(MISSING); }));
  } else {
    describe.skip(`${name} [skipped: ${MISSING}]`, body);
  }
}

maybe('R server behind the real Seldon executor', () => {
  let tmp: string;
  let server: RProcess;
  const executors: ChildProcess[] = [];
  const ports: Record<string, number> = {};

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-exec-'));
    const model = path.join(tmp, 'iris');
    const train = spawnSync(RSCRIPT ?? 'Rscript', [path.join(R_DIR, 'train.R')], {
      env: { PATH: process.env.PATH ?? '', HOME: tmp, ...rPackageEnv(), [ENV.trainingScript]: path.join(EXAMPLES_DIR, 'iris', 'train.R'), [ENV.modelDir]: model },
      encoding: 'utf8', timeout: 120000,
    });
    if (train.status !== 0) throw new Error(train.stderr);
    const port = await freePort();
    // PREDICTIVE_UNIT_ID is what the operator injects: the container's (and graph node's) name.
    server = startR('serve.R', {
      [ENV.modelUri]: model, [ENV.httpPort]: String(port), [ENV.metricsPort]: String(await freePort()),
      [ENV.predictiveUnitId]: 'model', [ENV.workers]: '2', TMPDIR: tmp,
    });
    await waitFor(async () => (await getWithin(port, contract.paths.healthStatus, 1000)).status === 200, 60000, 'model ready');
    const predictor = {
      name: 'default', componentSpecs: [],
      graph: { name: 'model', type: 'MODEL', children: [], endpoint: { service_host: '127.0.0.1', service_port: port, httpPort: port, type: 'REST' } },
    };
    for (const protocol of ['seldon', 'v2']) {
      const http = await freePort();
      ports[protocol] = http;
      const ex = spawn(EXECUTOR as string, ['--sdep', 'iris', '--namespace', 'ns', '--predictor', 'default', '--http_port', String(http),
        '--grpc_port', String(await freePort()), '--protocol', protocol, '--transport', 'rest'], {
        env: { PATH: process.env.PATH ?? '', HOME: tmp, JAEGER_DISABLED: 'true', ENGINE_PREDICTOR: Buffer.from(JSON.stringify(predictor)).toString('base64') },
        stdio: 'ignore',
      });
      executors.push(ex);
      await waitFor(async () => (await getWithin(http, '/ready', 1000)).status === 200, 30000, `executor (${protocol}) ready`);
    }
  }, 180000);

  afterAll(async () => {
    for (const ex of executors) ex.kill('SIGTERM');
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('protocol seldon: predictions, and the executor\'s metadata endpoint reads the model\'s metadata', async () => {
    const p = await request(ports.seldon, 'POST', '/api/v1.0/predictions', JSON.stringify({ data: { ndarray: [[5.1, 3.5, 1.4, 0.2]] } }));
    expect(p.status).toBe(200);
    expect(p.json().data.ndarray).toEqual(['setosa']);
    const md = await request(ports.seldon, 'GET', '/api/v1.0/metadata');
    expect(md.status).toBe(200);
    expect(md.json().models.model.name).toBe('iris');
    expect(typeof md.json().models.model.custom.metrics).toBe('string');
  });

  test('protocol v2: the executor calls /v2/models/model/infer and passes typed outputs through', async () => {
    const r = await request(ports.v2, 'POST', '/v2/models/model/infer', JSON.stringify({
      inputs: [{ name: 'x', datatype: 'FP64', shape: [2, 4], data: [5.1, 3.5, 1.4, 0.2, 6.3, 3.3, 6.0, 2.5] }],
    }));
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ model_name: 'model', outputs: [{ name: 'prediction', datatype: 'BYTES', shape: [2], data: ['setosa', 'virginica'] }] });
    expect((await request(ports.v2, 'GET', '/v2/models/model/ready')).status).toBe(200);
    const bad = await request(ports.v2, 'POST', '/v2/models/model/infer', '{"inputs":[]}');
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/non-empty array/);
  });
});
