// The second app (examples/credit): another team's credit-default glm with a factor column, in
// namespace `risk`, with a private registry, a pull secret, a service account, a node pool, a
// token from a Secret and the platform's shared MLflow. It must synthesize with no JsonPatch,
// validate, warn about nothing, and its model must train and serve with the real R programs.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiObject, App, Chart } from 'cdk8s';
import { constructWarnings, manifestWarnings, orderedManifests, validateApp } from '../lib';
import { CREDIT_NAMESPACE, CREDIT_REGISTRY, CREDIT_SCRIPT, PLATFORM_MLFLOW } from '../examples/credit/app';
import { buildApp, TARGETS } from '../main';
import { containers, envOf, podSpecs } from './constructs-support';
import { describeR, freePort, R_DIR, request, rPackageEnv, RSCRIPT, RProcess, startServe, waitFor } from './support/r-env';

const contract = JSON.parse(fs.readFileSync(path.join(R_DIR, 'contract.json'), 'utf8'));
const ENV = contract.env as Record<string, string>;
const P = contract.paths as Record<string, string>;

describe('the credit app (dist-credit/)', () => {
  let app: App;
  let objects: any[];
  beforeAll(() => {
    app = buildApp(TARGETS.credit.outdir, 'credit');
    objects = orderedManifests(app).map((m) => m.object);
  });

  test('synthesizes with no JsonPatch, validates, and warns about nothing', () => {
    const patched = app.node.findAll().filter(ApiObject.isApiObject).filter((o) => ((o as any).patches ?? []).length > 0).map((o) => o.node.path);
    expect(patched).toEqual([]);
    // The private field cdk8s keeps the patches in: if it were renamed, the check above would pass vacuously.
    expect(Array.isArray((app.node.findAll().find(ApiObject.isApiObject) as any).patches)).toBe(true);
    expect(validateApp(app)).toEqual([]);
    expect(constructWarnings(app)).toEqual([]);
    expect(manifestWarnings(objects)).toEqual([]);
  });

  test('everything is in namespace risk, whose Namespace carries the shared MLflow\'s client labels', () => {
    const ns = objects.filter((o) => o.kind === 'Namespace');
    expect(ns).toHaveLength(1);
    expect(ns[0].metadata.name).toBe(CREDIT_NAMESPACE);
    expect(ns[0].metadata.labels).toMatchObject(PLATFORM_MLFLOW.clientNamespaceLabels);
    expect(objects.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace)).toEqual(objects.slice(1).map(() => CREDIT_NAMESPACE));
    // No MLflow or MinIO of its own: the platform's is imported.
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Job', 'Namespace', 'NetworkPolicy', 'NetworkPolicy', 'NetworkPolicy', 'NetworkPolicy', 'SeldonDeployment', 'ServiceAccount']);
  });

  test('every pod: the mirror\'s images with their pinned tags, the pull secret, the service account, the node pool', () => {
    const pods = podSpecs(objects);
    expect(pods.map((p) => p.owner)).toEqual(['Job/credit-train', 'SeldonDeployment/credit']);
    for (const p of pods) {
      expect({ owner: p.owner, secrets: p.spec.imagePullSecrets, sa: p.spec.serviceAccountName, nodes: p.spec.nodeSelector, tol: p.spec.tolerations?.[0]?.key })
        .toEqual({ owner: p.owner, secrets: [{ name: 'risk-registry' }], sa: 'credit-runner', nodes: { 'node.risk.example.com/pool': 'r-models' }, tol: 'node.risk.example.com/pool' });
      expect(p.spec.automountServiceAccountToken).toBe(false);
    }
    expect(objects.find((o) => o.kind === 'ServiceAccount').metadata.name).toBe('credit-runner');
    const images = containers(objects).map((c) => c.container.image).sort();
    expect(images).toEqual([`${CREDIT_REGISTRY}/rmlops/r-serve:0.1.0`, `${CREDIT_REGISTRY}/rmlops/r-train:0.1.0`]);
  });

  test('the training Job: the shared MLflow\'s URI, the token from its Secret, the auc gate the script produces', () => {
    const job = objects.find((o) => o.kind === 'Job');
    const env = envOf(job.spec.template.spec.containers[0]);
    expect(env[ENV.trackingUri]).toBe(`http://${PLATFORM_MLFLOW.serviceName}.${PLATFORM_MLFLOW.namespace}.svc:5000`);
    expect(env.FEATURE_STORE_TOKEN).toEqual({ secretKeyRef: { name: 'credit-feature-store', key: 'token' } });
    expect([env[ENV.qualityMetric], env[ENV.qualityDirection], env[ENV.registeredModelName]]).toEqual(['auc', 'higher', 'credit-default']);
    expect(objects.find((o) => o.kind === 'ConfigMap').data['train.R']).toBe(fs.readFileSync(CREDIT_SCRIPT, 'utf8'));
    const sdep = objects.find((o) => o.kind === 'SeldonDeployment');
    const model = envOf(sdep.spec.predictors[0].componentSpecs[0].spec.containers[0]);
    expect([model[ENV.modelUri], model[ENV.trackingUri], model.RISK_MODEL_OWNER]).toEqual(['models:/credit-default@champion', env[ENV.trackingUri], 'risk-team']);
  });

  test('dist-credit/ is what the app writes (npm run synth -- --target credit)', () => {
    const dir = path.join(__dirname, '..', TARGETS.credit.outdir);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
    expect(files).toEqual(orderedManifests(app).map((m) => m.file));
  });

  test('the chart tree is the Namespace chart, then the team\'s chart', () => {
    expect(app.node.children.filter((c) => c instanceof Chart).map((c) => (c as Chart).namespace)).toEqual([undefined, CREDIT_NAMESPACE]);
  });
});

describeR('examples/credit/train.R with the real R programs: a glm on a factor column, trained and served', () => {
  let tmp: string;
  let port: number;
  let server: RProcess | undefined;
  const names = ['income', 'debt_ratio', 'age', 'years_employed', 'purpose'];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-credit-'));
    const train = spawnSync(RSCRIPT ?? 'Rscript', [path.join(R_DIR, 'train.R')], {
      env: { PATH: process.env.PATH ?? '', HOME: tmp, ...rPackageEnv(), [ENV.trainingScript]: CREDIT_SCRIPT, [ENV.modelDir]: path.join(tmp, 'model') },
      encoding: 'utf8', timeout: 120000,
    });
    if (train.status !== 0) throw new Error(`train.R (credit) failed: ${train.stdout}\n${train.stderr}`);
    port = await freePort();
    server = await startServe({ [ENV.modelUri]: path.join(tmp, 'model'), [ENV.httpPort]: String(port), TMPDIR: tmp });
    await waitFor(async () => (await request(port, 'GET', P.healthStatus)).status === 200, 60000, 'the credit model to load')
      .catch((e) => { throw new Error(`${e.message}; its output:\n${server?.output()}`); });
  }, 180000);

  afterAll(async () => {
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the bundle records the factor\'s levels and an auc above the app\'s gate (0.65)', async () => {
    const md = (await request(port, 'GET', P.metadata)).json();
    expect(md.inputs[0].schema.names).toEqual(names);
    expect(md.inputs[0].schema.types).toEqual(['numeric', 'numeric', 'integer', 'integer', 'factor']);
    expect(md.inputs[0].schema.levels.purpose).toEqual(['car', 'education', 'home', 'business']);
    const metrics = JSON.parse(md.custom.metrics);
    expect(metrics.auc).toBeGreaterThan(0.65);
    expect(metrics.auc).toBeLessThan(1);
  });

  test('predicts probabilities of default: more debt and a business loan score higher; an unknown purpose is a 400', async () => {
    const res = await request(port, 'POST', P.modelPredict, JSON.stringify({
      data: { names, ndarray: [[42000, 0.1, 45, 12, 'home'], [42000, 0.8, 25, 1, 'business']] },
    }));
    expect(res.status).toBe(200);
    const [low, high] = res.json().data.ndarray as number[];
    for (const p of [low, high]) expect(p > 0 && p < 1).toBe(true);
    expect(high).toBeGreaterThan(low);
    const bad = await request(port, 'POST', P.modelPredict, JSON.stringify({ data: { names, ndarray: [[42000, 0.1, 45, 12, 'boat']] } }));
    expect(bad.status).toBe(400);
    expect(bad.json().status.info).toMatch(/value 'boat' of feature 'purpose' is not one of its levels: car, education, home, business/);
  });
});
