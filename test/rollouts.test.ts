// Issue 11 contracts: canary and shadow predictors, the ingress annotation, hpaSpec and pdbSpec,
// scheduled training as a CronJob, the cron syntax, the promotion CronJob (run for real with R
// against the fake MLflow) and the example app's canary and schedule.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import {
  CRON_MACROS, ENV, ISTIO_GATEWAY_ANNOTATION, LABELS, MODEL_URI_ANNOTATION, MODEL_VERSION_ANNOTATION, MinioStore, MlflowServer, ModelPromotion,
  PREDICTOR_LABEL, PROMOTE_R, PROMOTION_ENV, RTrainingJob, SERVICE_ACCOUNT_DIR, SeldonRModel, cronError,
} from '../lib';
import { buildApp } from '../main';
import { orderedManifests } from '../lib';
import { envOf, expectRestricted, find, findAll, fixtureScript, newChart, podSpecs, synthValid } from './constructs-support';
import { FakeMlflow } from './support/r-fake-mlflow';
import { RSCRIPT, describeR, freePort, rPackageEnv } from './support/r-env';

function pipeline() {
  const chart = newChart();
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio') });
  const champion = new RTrainingJob(chart, 'iris-train', { tracking: mlflow, trainingScript: fixtureScript(), registeredModelName: 'iris' });
  const challenger = new RTrainingJob(chart, 'iris-challenger', {
    tracking: mlflow, trainingScript: fixtureScript(), registeredModelName: 'iris', modelAlias: 'challenger', schedule: '30 2 * * mon-fri',
  });
  return { chart, mlflow, champion, challenger };
}

const modelUri = (predictor: any) => envOf(predictor.componentSpecs[0].spec.containers[0])[ENV.modelUri];

describe('SeldonRModel canary and shadow', () => {
  test('three predictors: traffic 75/25, the shadow mirrored; each with its own name, labels, model and replicas', () => {
    const { chart, mlflow, champion, challenger } = pipeline();
    const model = new SeldonRModel(chart, 'iris', {
      model: champion.model, tracking: mlflow, replicas: 3,
      canary: { model: challenger.model, traffic: 25, replicas: 2 },
      shadow: { model: 'models:/iris/7' },
      ingress: 'istio',
    });
    const sdep = find(synthValid(chart), 'SeldonDeployment', 'iris');
    const [main, canary, shadow] = sdep.spec.predictors;
    expect(sdep.spec.predictors.map((p: any) => [p.name, p.traffic, p.shadow, p.replicas])).toEqual([
      ['default', 75, undefined, 3], ['canary', 25, undefined, 2], ['shadow', undefined, true, 1],
    ]);
    expect([main, canary, shadow].map(modelUri)).toEqual(['models:/iris@champion', 'models:/iris@challenger', 'models:/iris/7']);
    for (const p of [main, canary, shadow]) {
      expect(p.labels[PREDICTOR_LABEL]).toBe(p.name);
      expect(p.componentSpecs[0].metadata.labels).toEqual(p.labels);
      expect(p.labels[LABELS.instance]).toBe('iris');
      expect(p.graph.name).toBe('model');
    }
    // The Istio gateway the operator's VirtualService binds to, namespaced explicitly.
    expect(sdep.metadata.annotations).toEqual({ [ISTIO_GATEWAY_ANNOTATION]: 'istio-system/seldon-gateway' });
    expect(model.predictors).toEqual([
      { name: 'default', role: 'main', traffic: 75, modelUri: 'models:/iris@champion', podSelector: { ...model.podSelector, [PREDICTOR_LABEL]: 'default' }, serviceName: 'iris-default', deploymentName: 'iris-default-0-model' },
      { name: 'canary', role: 'canary', traffic: 25, modelUri: 'models:/iris@challenger', podSelector: { ...model.podSelector, [PREDICTOR_LABEL]: 'canary' }, serviceName: 'iris-canary', deploymentName: 'iris-canary-0-model' },
      { name: 'shadow', role: 'shadow', traffic: undefined, modelUri: 'models:/iris/7', podSelector: { ...model.podSelector, [PREDICTOR_LABEL]: 'shadow' }, serviceName: 'iris-shadow', deploymentName: 'iris-shadow-0-model' },
    ]);
    // Each predictor's selector picks its own pods only; the model's selector (MLflow's policy) all three.
    const pods = podSpecs([sdep]);
    for (const p of model.predictors) {
      expect(pods.filter((pod) => Object.entries(p.podSelector).every(([k, v]) => pod.labels[k] === v))).toHaveLength(1);
    }
    expect(pods.filter((pod) => Object.entries(model.podSelector).every(([k, v]) => pod.labels[k] === v))).toHaveLength(3);
    // Every predictor pod keeps the security baseline.
    for (const pod of pods) expectRestricted('SeldonDeployment/iris', pod.spec.containers[0], pod.spec);
  });

  test('a shadow alone: the main predictor gets all the traffic; ambassador sets no annotation; named predictors', () => {
    const { chart, mlflow, champion } = pipeline();
    new SeldonRModel(chart, 'iris', {
      model: champion.model, tracking: mlflow, predictorName: 'prod',
      shadow: { model: 'models:/iris@challenger', predictorName: 'mirror' }, ingress: 'ambassador',
    });
    const sdep = find(synthValid(chart), 'SeldonDeployment', 'iris');
    expect(sdep.spec.predictors.map((p: any) => [p.name, p.traffic, p.shadow])).toEqual([['prod', 100, undefined], ['mirror', undefined, true]]);
    expect(sdep.metadata.annotations).toBeUndefined();
  });

  test('no canary: a single predictor without traffic (the operator defaults it), its own label, no annotations', () => {
    const { chart, mlflow, champion } = pipeline();
    new SeldonRModel(chart, 'iris', { model: champion.model, tracking: mlflow });
    const sdep = find(synthValid(chart), 'SeldonDeployment', 'iris');
    expect(sdep.spec.predictors).toHaveLength(1);
    expect(sdep.spec.predictors[0].traffic).toBeUndefined();
    expect(sdep.spec.predictors[0].labels[PREDICTOR_LABEL]).toBe('default');
    expect(sdep.metadata.annotations).toBeUndefined();
  });

  test('autoscaling -> hpaSpec (autoscaling/v2 metrics) and no replicas; minAvailable -> pdbSpec, on the main predictor only', () => {
    const { chart, mlflow, champion, challenger } = pipeline();
    new SeldonRModel(chart, 'iris', {
      model: champion.model, tracking: mlflow, resources: { cpuRequest: '500m' },
      autoscaling: { minReplicas: 2, maxReplicas: 6, targetCpuUtilization: 80 }, minAvailable: '50%',
      canary: { model: challenger.model, traffic: 5 }, ingress: 'istio', istioGateway: 'gateways/public',
    });
    const sdep = find(synthValid(chart), 'SeldonDeployment', 'iris');
    const [main, canary] = sdep.spec.predictors;
    expect(main.replicas).toBeUndefined();
    expect(main.componentSpecs[0].hpaSpec).toEqual({
      minReplicas: 2, maxReplicas: 6,
      metricsv2: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }],
    });
    expect(main.componentSpecs[0].pdbSpec).toEqual({ minAvailable: '50%' });
    expect(main.componentSpecs[0].spec.containers[0].resources.requests.cpu).toBe('500m');
    expect(canary.componentSpecs[0].hpaSpec).toBeUndefined();
    expect(canary.componentSpecs[0].pdbSpec).toBeUndefined();
    expect(canary.replicas).toBe(1);
    expect(sdep.metadata.annotations[ISTIO_GATEWAY_ANNOTATION]).toBe('gateways/public');

    const { chart: c2, mlflow: m2, champion: ch2 } = pipeline();
    new SeldonRModel(c2, 'iris', { model: ch2.model, tracking: m2, replicas: 3, minAvailable: 2 });
    const p2 = find(synthValid(c2), 'SeldonDeployment', 'iris').spec.predictors[0];
    expect(p2.componentSpecs[0].pdbSpec).toEqual({ minAvailable: 2 });
    expect(p2.replicas).toBe(3);
  });
});

describe('RTrainingJob schedule', () => {
  test('a CronJob instead of a Job: Forbid, history limits, deadline, time zone; the Job spec is the jobTemplate', () => {
    const { chart, challenger } = pipeline();
    const objects = synthValid(chart);
    expect(findAll(objects, 'Job').map((j) => j.metadata.name)).toEqual(['minio-provision', 'iris-train']);
    const cron = find(objects, 'CronJob', 'iris-challenger');
    expect(cron.spec).toMatchObject({
      schedule: '30 2 * * mon-fri', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 600,
      successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 3,
    });
    expect(cron.spec.timeZone).toBeUndefined();
    const job = find(objects, 'Job', 'iris-train');
    const tpl = cron.spec.jobTemplate.spec;
    expect(Object.keys(tpl).sort()).toEqual(Object.keys(job.spec).sort());
    expect(tpl.podFailurePolicy).toEqual(job.spec.podFailurePolicy);
    expect(envOf(tpl.template.spec.containers[0])[ENV.modelAlias]).toBe('challenger');
    expect(cron.spec.jobTemplate.metadata.labels).toEqual(cron.metadata.labels);
    expect(challenger.job).toBeUndefined();
    expect(challenger.cronJob).toBeDefined();

    const chart2 = newChart();
    const mlflow2 = new MlflowServer(chart2, 'mlflow', { artifactStore: new MinioStore(chart2, 'minio') });
    new RTrainingJob(chart2, 'nightly', {
      tracking: mlflow2, trainingScript: fixtureScript(), schedule: '@daily', timeZone: 'Europe/Berlin',
      startingDeadlineSeconds: 60, successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 5,
    });
    expect(find(synthValid(chart2), 'CronJob', 'nightly').spec).toMatchObject({
      schedule: '@daily', timeZone: 'Europe/Berlin', startingDeadlineSeconds: 60, successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 5,
    });
  });

  test('cron syntax as the CronJob controller parses it', () => {
    const ok = ['0 3 * * *', '*/15 * * * *', '0 0 1,15 * *', '0 9-17/2 * * MON-FRI', '5 4 * jan,jul sun', '0 0 ? * *', '59 23 31 12 6',
      '0 0 * * 0', '10/5 * * * *', '  0 3 * * *  ', '@every 1h30m', ...CRON_MACROS, '@DAILY'];
    for (const s of ok) expect({ s, err: cronError(s) }).toEqual({ s, err: undefined });
    const bad: [string, string][] = [
      ['', 'is empty'],
      ['0 3 * *', 'has 4 field(s); Kubernetes expects 5 (minute hour day-of-month month day-of-week)'],
      ['0 0 3 * * *', 'has 6 field(s); Kubernetes expects 5 (minute hour day-of-month month day-of-week)'],
      ['60 * * * *', 'has minute "60": 60 is outside 0-59'],
      ['0 24 * * *', 'has hour "24": 24 is outside 0-23'],
      ['0 0 0 * *', 'has day of month "0": 0 is outside 1-31'],
      ['0 0 * 13 *', 'has month "13": 13 is outside 1-12'],
      ['0 0 * * 7', 'has day of week "7": 7 is outside 0-6'],
      ['0 0 * * fri-mon', 'has day of week "fri-mon": the range fri-mon starts after it ends'],
      ['*/0 * * * *', 'has minute "*/0": a step of 0 is not allowed'],
      ['*/x * * * *', 'has minute "*/x": step "x" is not a number'],
      ['0 0 * * funday', 'has day of week "funday": "funday" is not a number or a name (sun, mon, tue, wed, thu, fri, sat)'],
      ['0 0 L * *', 'has day of month "L": "L" is not a number'],
      ['0,,5 * * * *', 'has minute "0,,5": has an empty list entry'],
      ['@fortnightly', 'is not a known descriptor (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>)'],
      ['@every 0s', 'has "0s", which is not a positive Go duration such as "90m"'],
      ['@every 1d', 'has "1d", which is not a positive Go duration such as "90m"'],
      ['TZ=Europe/Berlin 0 3 * * *', 'sets a time zone inside the schedule, which the API server rejects'],
      ['CRON_TZ=UTC @daily', 'sets a time zone inside the schedule, which the API server rejects'],
    ];
    for (const [s, err] of bad) expect({ s, err: cronError(s) }).toEqual({ s, err });
  });
});

describe('ModelPromotion', () => {
  test('a suspended CronJob whose Job runs the promotion with the training image; MLflow admits its pods', () => {
    const { chart, mlflow, champion, challenger } = pipeline();
    const promote = new ModelPromotion(chart, 'iris-promote', { tracking: mlflow, champion: champion.model, challenger: challenger.model });
    const objects = synthValid(chart);
    const cron = find(objects, 'CronJob', 'iris-promote');
    expect(cron.spec).toMatchObject({ suspend: true, concurrencyPolicy: 'Forbid' });
    const c = cron.spec.jobTemplate.spec.template.spec.containers[0];
    expect(c.image).toBe('ghcr.io/rmlops/r-train:0.1.0');
    expect(c.command).toEqual(['Rscript', '-e', PROMOTE_R]);
    expect(envOf(c)).toMatchObject({
      [ENV.trackingUri]: 'http://mlflow.team-a.svc:5000', [ENV.registeredModelName]: 'iris',
      [PROMOTION_ENV.fromAlias]: 'challenger', [PROMOTION_ENV.toAlias]: 'champion',
    });
    expectRestricted('CronJob/iris-promote', c, cron.spec.jobTemplate.spec.template.spec);
    const admitted = find(objects, 'NetworkPolicy', 'mlflow').spec.ingress[0].from.map((p: any) => p.podSelector.matchLabels[LABELS.instance]);
    expect(admitted).toContain('iris-promote');
    expect(promote.runCommand).toBe('kubectl -n team-a create job --from=cronjob/iris-promote iris-promote-$(date +%s)');
    // Without `serving` nothing is rolled, so the pod gets no token and there is no RBAC.
    expect(cron.spec.jobTemplate.spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(cron.spec.jobTemplate.spec.template.spec.serviceAccountName).toBeUndefined();
    expect(envOf(c)[PROMOTION_ENV.rolls]).toBeUndefined();
    expect(objects.filter((o: any) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind))).toEqual([]);
  });

  test('with `serving`: the Job patches the champion predictors\' componentSpecs annotation, and may only patch that SeldonDeployment', () => {
    const { chart, mlflow, champion, challenger } = pipeline();
    const iris = new SeldonRModel(chart, 'iris', { model: champion.model, tracking: mlflow, canary: { model: challenger.model, traffic: 10 }, ingress: 'istio' });
    new ModelPromotion(chart, 'iris-promote', { tracking: mlflow, champion: champion.model, challenger: challenger.model, serving: [iris] });
    const objects = synthValid(chart);
    const pod = find(objects, 'CronJob', 'iris-promote').spec.jobTemplate.spec.template.spec;
    expect(pod.serviceAccountName).toBe('iris-promote');
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(find(objects, 'ServiceAccount', 'iris-promote').automountServiceAccountToken).toBe(false);
    expect(find(objects, 'Role', 'iris-promote').rules).toEqual([{
      apiGroups: ['machinelearning.seldon.io'], resources: ['seldondeployments'], resourceNames: ['iris'], verbs: ['patch'],
    }]);
    const binding = find(objects, 'RoleBinding', 'iris-promote');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'iris-promote' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'iris-promote', namespace: 'team-a' }]);
    const env = envOf(pod.containers[0]);
    expect(env[PROMOTION_ENV.serviceAccountDir]).toBe(SERVICE_ACCOUNT_DIR);
    const rolls = JSON.parse(env[PROMOTION_ENV.rolls]);
    // Only the champion predictor (index 0); the canary loads iris@challenger and keeps its pods.
    expect(rolls).toEqual([{
      resource: '/apis/machinelearning.seldon.io/v1/namespaces/team-a/seldondeployments/iris',
      patch: [
        { op: 'test', path: '/spec/predictors/0/name', value: 'default' },
        { op: 'add', path: '/spec/predictors/0/componentSpecs/0/metadata/annotations/rmlops-cdk8s~1model-version' },
      ],
    }]);
    // The patch, applied as the API server does (RFC 6902) to the synthesized object, passes its
    // test and lands where the operator copies annotations into the pod template.
    const sdep = find(objects, 'SeldonDeployment', 'iris');
    expect(sdep.spec.predictors.map((p: any) => p.componentSpecs[0].metadata.annotations)).toEqual([
      { [MODEL_URI_ANNOTATION]: 'models:/iris@champion' }, { [MODEL_URI_ANNOTATION]: 'models:/iris@challenger' },
    ]);
    const patched = applyJsonPatch(sdep, rolls[0].patch.map((op: any) => (op.op === 'add' ? { ...op, value: '7' } : op)));
    expect(patched.spec.predictors.map((p: any) => p.componentSpecs[0].metadata.annotations)).toEqual([
      { [MODEL_URI_ANNOTATION]: 'models:/iris@champion', [MODEL_VERSION_ANNOTATION]: '7' }, { [MODEL_URI_ANNOTATION]: 'models:/iris@challenger' },
    ]);
    // A reordered SeldonDeployment fails the test op instead of rolling the wrong predictor.
    const reordered = { ...sdep, spec: { ...sdep.spec, predictors: [...sdep.spec.predictors].reverse() } };
    expect(() => applyJsonPatch(reordered, rolls[0].patch)).toThrow('test failed at /spec/predictors/0/name');
  });
});

/** RFC 6902 `test` and `add` (the two ops the promotion sends), on a copy. */
function applyJsonPatch(doc: any, ops: { op: string; path: string; value?: unknown }[]): any {
  const out = JSON.parse(JSON.stringify(doc));
  for (const op of ops) {
    const keys = op.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop()!;
    const parent = keys.reduce((node, k) => {
      if (node === undefined || node === null || !(k in node)) throw new Error(`no ${op.path}`);
      return node[k];
    }, out);
    if (parent === undefined || parent === null || typeof parent !== 'object') throw new Error(`no parent of ${op.path}`);
    if (op.op === 'test') {
      if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) throw new Error(`test failed at ${op.path}`);
    } else if (op.op === 'add') {
      parent[last] = op.value;
    } else {
      throw new Error(`unexpected op ${op.op}`);
    }
  }
  return out;
}

describeR('ModelPromotion program against the fake MLflow', () => {
  let fake: FakeMlflow;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    fake = new FakeMlflow();
    await fake.listen(port);
  });
  afterAll(() => fake.close());

  function runPromotion(from: string, kube?: Record<string, string>) {
    const { chart, mlflow, champion } = pipeline();
    const serving = kube ? [new SeldonRModel(chart, 'iris', { model: champion.model, tracking: mlflow })] : undefined;
    new ModelPromotion(chart, 'iris-promote', { tracking: mlflow, champion: champion.model, challenger: from, serving });
    const c = find(synthValid(chart), 'CronJob', 'iris-promote').spec.jobTemplate.spec.template.spec.containers[0];
    const env = { ...envOf(c), [ENV.trackingUri]: `http://127.0.0.1:${port}`, [ENV.mlflowWaitSeconds]: '5', TMPDIR: '/tmp', HOME: '/tmp', ...(kube ?? {}) };
    // Asynchronous: the fake MLflow answers from this process's event loop.
    const child = spawn(RSCRIPT!, c.command.slice(1), { env: { PATH: process.env.PATH, ...env, ...rPackageEnv() } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
    });
  }

  test('moves iris@champion to the version of iris@challenger; a missing challenger alias fails and moves nothing', async () => {
    fake.models.add('iris');
    const version = (v: string) => ({ name: 'iris', version: v, source: `mlflow-artifacts:/1/r${v}/artifacts/model`, status: 'READY', gets: 0 });
    fake.versions.set('iris', [version('1'), version('2')]);
    fake.aliases.set('iris@champion', '1');
    fake.aliases.set('iris@challenger', '2');
    const ok = await runPromotion('challenger');
    expect({ status: ok.status, stderr: ok.stderr }).toEqual({ status: 0, stderr: '' });
    expect(ok.stdout).toBe('promoted iris@champion -> version 2 (was 1), the version of iris@challenger\n');
    expect(fake.aliases.get('iris@champion')).toBe('2');
    expect(fake.violations).toEqual([]);

    const missing = await runPromotion('candidate');
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/candidate/);
    expect(fake.aliases.get('iris@champion')).toBe('2');
  });

  test('with `serving`: after moving the alias, one JSON Patch to the API server over TLS with the service account token; a refused patch fails the Job', async () => {
    // A stand-in for the API server on 127.0.0.1 with a self-signed certificate, which the
    // program must verify against the ca.crt of the service account directory.
    const sa = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-sa-'));
    const tls = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(sa, 'key.pem'), '-out', path.join(sa, 'ca.crt')], { encoding: 'utf8' });
    expect(tls.status).toBe(0);
    fs.writeFileSync(path.join(sa, 'token'), 'test-token');
    const seen: { method?: string; url?: string; type?: string; auth?: string; body: string }[] = [];
    let answer = 200;
    const api = https.createServer({ key: fs.readFileSync(path.join(sa, 'key.pem')), cert: fs.readFileSync(path.join(sa, 'ca.crt')) }, (req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], auth: req.headers.authorization, body });
        res.writeHead(answer, { 'content-type': 'application/json' });
        res.end(answer === 200 ? '{"kind":"SeldonDeployment"}' : '{"kind":"Status","reason":"Invalid","code":422}');
      });
    });
    const apiPort = await freePort();
    await new Promise<void>((resolve) => api.listen(apiPort, '127.0.0.1', resolve));
    try {
      const kube = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(apiPort), [PROMOTION_ENV.serviceAccountDir]: sa };
      fake.models.add('iris');
      const version = (v: string) => ({ name: 'iris', version: v, source: `mlflow-artifacts:/1/r${v}/artifacts/model`, status: 'READY', gets: 0 });
      fake.versions.set('iris', [version('1'), version('2'), version('3')]);
      fake.aliases.set('iris@champion', '2');
      fake.aliases.set('iris@challenger', '3');
      const ok = await runPromotion('challenger', kube);
      expect({ status: ok.status, stderr: ok.stderr }).toEqual({ status: 0, stderr: '' });
      expect(ok.stdout).toBe([
        'promoted iris@champion -> version 3 (was 2), the version of iris@challenger',
        `rolling /apis/machinelearning.seldon.io/v1/namespaces/team-a/seldondeployments/iris: ${MODEL_VERSION_ANNOTATION}=3`, '',
      ].join('\n'));
      expect(seen.map((r) => ({ ...r, body: JSON.parse(r.body) }))).toEqual([{
        method: 'PATCH',
        url: '/apis/machinelearning.seldon.io/v1/namespaces/team-a/seldondeployments/iris',
        type: 'application/json-patch+json',
        auth: 'Bearer test-token',
        body: [
          { op: 'test', path: '/spec/predictors/0/name', value: 'default' },
          { op: 'add', path: '/spec/predictors/0/componentSpecs/0/metadata/annotations/rmlops-cdk8s~1model-version', value: '3' },
        ],
      }]);

      answer = 422;
      const refused = await runPromotion('challenger', kube);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('PATCH /apis/machinelearning.seldon.io/v1/namespaces/team-a/seldondeployments/iris: HTTP 422');
    } finally {
      await new Promise((resolve) => api.close(resolve));
      fs.rmSync(sa, { recursive: true, force: true });
    }
  });
});

describe('the example app', () => {
  const objects = orderedManifests(buildApp()).map((m) => m.object);

  test('iris: the champion with a 10% canary of iris@challenger behind Istio, minAvailable 1', () => {
    const sdep = objects.find((o) => o.kind === 'SeldonDeployment' && o.metadata.name === 'iris');
    expect(sdep.spec.predictors.map((p: any) => [p.name, p.traffic, p.replicas, modelUri(p)])).toEqual([
      ['default', 90, 2, 'models:/iris@champion'], ['canary', 10, 1, 'models:/iris@challenger'],
    ]);
    expect(sdep.spec.predictors[0].componentSpecs[0].pdbSpec).toEqual({ minAvailable: 1 });
    expect(sdep.metadata.annotations).toEqual({ [ISTIO_GATEWAY_ANNOTATION]: 'istio-system/seldon-gateway' });
  });

  test('the challenger retrains every Monday at 03:00 UTC; mtcars autoscales 1-3 on CPU; the promotion is suspended', () => {
    const cron = objects.find((o) => o.kind === 'CronJob' && o.metadata.name === 'iris-challenger-train');
    expect(cron.spec).toMatchObject({ schedule: '0 3 * * 1', timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid' });
    expect(envOf(cron.spec.jobTemplate.spec.template.spec.containers[0])[ENV.modelAlias]).toBe('challenger');
    const mtcars = objects.find((o) => o.kind === 'SeldonDeployment' && o.metadata.name === 'mtcars');
    expect(mtcars.spec.predictors[0].componentSpecs[0].hpaSpec).toMatchObject({ minReplicas: 1, maxReplicas: 3 });
    expect(objects.find((o) => o.kind === 'CronJob' && o.metadata.name === 'iris-promote').spec.suspend).toBe(true);
  });
});
