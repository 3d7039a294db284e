// The consumer-facing API of issue 21: one place for the registry and pull secrets of every
// default image, pod settings on every workload construct (cdk8s-plus types accepted), an MLflow
// owned by another team, and cdk8s-plus workloads next to ours.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Chart, Size, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import {
  DEFAULT_MC_IMAGE, DEFAULT_MINIO_IMAGE, DEFAULT_MLFLOW_IMAGE, DEFAULT_R_SERVING_IMAGE, DEFAULT_R_TRAINING_IMAGE,
  KServeRModel, LABELS, MinioStore, MlflowServer, ModelPromotion, NAMESPACE_NAME_LABEL, PART_OF, RTrainingJob, RmlopsDefaults,
  SeldonRModel, constructWarnings, hardenPodSpecs, validateApp, withRegistry, writeManifests,
} from '../lib';
import { quantityString } from '../lib/pod-defaults';
import { containers, find, fixtureScript, podSpecs, synthValid } from './constructs-support';

const { imageRefs } = require('../scripts/real/images.js') as { imageRefs: (root?: string) => Record<string, string> };

const REGISTRY = 'registry.risk.example.com:5000/mirror';

/** Every construct that writes a pod, in one chart: MinIO (server and Job), MLflow, a Job, a CronJob, a promotion, Seldon with a canary, KServe. */
function everyWorkload(chart: Chart, pod: Record<string, unknown> = {}) {
  const minio = new MinioStore(chart, 'minio', pod);
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio, ...pod });
  const train = new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: mlflow, ...pod });
  const challenger = new RTrainingJob(chart, 'challenger', {
    trainingScript: fixtureScript(), tracking: mlflow, registeredModelName: 'train', modelAlias: 'challenger', schedule: '0 3 * * 1', ...pod,
  });
  const model = new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow, canary: { model: challenger.model, traffic: 10 }, ingress: 'istio', ...pod });
  new ModelPromotion(chart, 'promote', { tracking: mlflow, champion: train.model, challenger: challenger.model, ...pod });
  new KServeRModel(chart, 'iris-kserve', { model: train.model, tracking: mlflow, ...pod });
  return { minio, mlflow, train, model };
}

/** Pod specs of every kind, InferenceService predictors included. */
function allPods(objects: any[]): { owner: string; spec: any }[] {
  return [
    ...podSpecs(objects),
    ...objects.filter((o) => o.kind === 'InferenceService').map((o) => ({ owner: `InferenceService/${o.metadata.name}`, spec: o.spec.predictor })),
  ];
}

function warningsOf(app: App): string[] {
  Testing.synth(Chart.of(app.node.children.find((c) => c instanceof Chart) as Chart));
  return constructWarnings(app);
}

function synthError(chart: Chart): string[] {
  try {
    Testing.synth(chart);
    return [];
  } catch (e) {
    return (e as Error).message.split('\n').map((l) => l.trim());
  }
}

describe('RmlopsDefaults: one registry and pull secrets for every default image', () => {
  test('every pod of every construct pulls its default image from the registry, with the pinned tag, and lists the pull secrets', () => {
    const app = Testing.app();
    // An ISecret made elsewhere: context cannot be set on a scope that already has children.
    const other = kplus.Secret.fromSecretName(new Chart(Testing.app(), 'secrets'), 'other', 'regcred-2');
    RmlopsDefaults.set(app, { imageRegistry: REGISTRY, imagePullSecrets: ['regcred', other] });
    const chart = new Chart(app, 'test', { namespace: 'risk' });
    everyWorkload(chart);
    const objects = synthValid(chart);
    const pods = allPods(objects);
    // MinIO, its Job, MLflow, the Job, the CronJob, the promotion, two Seldon predictors, KServe.
    expect(pods.map((p) => p.owner).sort()).toEqual([
      'CronJob/challenger', 'CronJob/promote', 'Deployment/minio', 'Deployment/mlflow', 'InferenceService/iris-kserve',
      'Job/minio-provision', 'Job/train', 'SeldonDeployment/iris', 'SeldonDeployment/iris',
    ]);
    for (const p of pods) expect({ owner: p.owner, secrets: p.spec.imagePullSecrets }).toEqual({ owner: p.owner, secrets: [{ name: 'regcred' }, { name: 'regcred-2' }] });
    const images = [
      ...containers(objects).map((c) => c.container.image),
      ...objects.filter((o) => o.kind === 'InferenceService').map((o) => o.spec.predictor.containers[0].image),
    ];
    const refs = imageRefs();
    // Each default is the ref built from its pin (versions.json), moved to the registry: the
    // repository path and the tag stay.
    const expected = new Set([
      `${REGISTRY}/minio/minio:${refs.minio.split(':').pop()}`,
      `${REGISTRY}/minio/mc:${refs.mc.split(':').pop()}`,
      `${REGISTRY}/mlflow/mlflow:${refs.mlflow.split(':').pop()}`,
      `${REGISTRY}/rmlops/r-train:${refs['r-train'].split(':').pop()}`,
      `${REGISTRY}/rmlops/r-serve:${refs['r-serve'].split(':').pop()}`,
    ]);
    expect(new Set(images)).toEqual(expected);
    expect([DEFAULT_MINIO_IMAGE, DEFAULT_MC_IMAGE, DEFAULT_MLFLOW_IMAGE, DEFAULT_R_TRAINING_IMAGE, DEFAULT_R_SERVING_IMAGE].map((i) => withRegistry(REGISTRY, i)).sort())
      .toEqual([...expected].sort());
  });

  test('a construct\'s own image and pull secrets win over the defaults; a digest is kept', () => {
    const app = Testing.app();
    RmlopsDefaults.set(app, { imageRegistry: REGISTRY, imagePullSecrets: ['regcred'] });
    const chart = new Chart(app, 'test', { namespace: 'risk' });
    const minio = new MinioStore(chart, 'minio', { image: 'quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z', imagePullSecrets: ['quay'] });
    const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: mlflow, image: 'ghcr.io/risk/r-train:1.2.0' });
    const objects = synthValid(chart);
    expect(find(objects, 'Deployment', 'minio').spec.template.spec.containers[0].image).toBe('quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z');
    expect(find(objects, 'Deployment', 'minio').spec.template.spec.imagePullSecrets).toEqual([{ name: 'quay' }]);
    expect(find(objects, 'Job', 'minio-provision').spec.template.spec.containers[0].image).toBe(withRegistry(REGISTRY, DEFAULT_MC_IMAGE));
    expect(find(objects, 'Job', 'train').spec.template.spec.containers[0].image).toBe('ghcr.io/risk/r-train:1.2.0');
    expect(find(objects, 'Job', 'train').spec.template.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    const digest = `ghcr.io/rmlops/r-serve@sha256:${'a'.repeat(64)}`;
    expect(withRegistry('r.example.com', digest)).toBe(`r.example.com/rmlops/r-serve@sha256:${'a'.repeat(64)}`);
    expect(withRegistry('r.example.com/', 'library/busybox:1.37.0')).toBe('r.example.com/library/busybox:1.37.0');
  });

  test('a chart\'s defaults apply to that chart only; without defaults nothing changes', () => {
    const app = Testing.app();
    const a = new Chart(app, 'a', { namespace: 'a' });
    RmlopsDefaults.set(a, { imageRegistry: 'registry.example.com' });
    const b = new Chart(app, 'b', { namespace: 'b' });
    new RTrainingJob(a, 'train', { trainingScript: fixtureScript(), tracking: { trackingUri: 'http://mlflow.a.svc:5000', allowClient: () => undefined } });
    new RTrainingJob(b, 'train', { trainingScript: fixtureScript(), tracking: { trackingUri: 'http://mlflow.b.svc:5000', allowClient: () => undefined } });
    expect(find(Testing.synth(a), 'Job', 'train').spec.template.spec.containers[0].image).toBe(withRegistry('registry.example.com', DEFAULT_R_TRAINING_IMAGE));
    const plain = find(Testing.synth(b), 'Job', 'train').spec.template.spec;
    expect(plain.containers[0].image).toBe(DEFAULT_R_TRAINING_IMAGE);
    expect(plain.imagePullSecrets).toBeUndefined();
  });

  test('a bad registry, a bad secret name, or defaults set after constructs were added are refused with the fix', () => {
    expect(() => RmlopsDefaults.set(Testing.app(), { imageRegistry: 'https://registry.example.com' }))
      .toThrow('imageRegistry = "https://registry.example.com": is not a registry host (with a "." or a port, or "localhost") followed by an optional lower-case path, without a scheme. Fix: use e.g. "registry.example.com" or "registry.example.com:5000/mirror"');
    expect(() => RmlopsDefaults.set(Testing.app(), { imageRegistry: 'mirror' })).toThrow(/imageRegistry = "mirror": is not a registry host/);
    expect(() => RmlopsDefaults.set(Testing.app(), { imagePullSecrets: ['Reg_Cred'] })).toThrow(/imagePullSecrets\[0\] = "Reg_Cred": is not a DNS-1123 subdomain/);
    const app = Testing.app();
    const chart = new Chart(app, 'c');
    new MinioStore(chart, 'minio');
    expect(() => RmlopsDefaults.set(chart, { imageRegistry: 'registry.example.com' })).toThrow(/Fix: call RmlopsDefaults.set right after creating the App or Chart, before adding constructs to it/);
  });
});

describe('PodSettings on every workload construct', () => {
  const tracking = { trackingUri: 'http://mlflow.mlops.svc:5000', allowClient: () => undefined };
  const settings = {
    serviceAccountName: 'risk-runner',
    nodeSelector: { 'node.example.com/pool': 'r-models' },
    tolerations: [{ key: 'dedicated', operator: 'Equal' as const, value: 'r-models', effect: 'NoSchedule' as const }],
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] }] } } },
    priorityClassName: 'risk-high',
    env: { LOG_LEVEL: 'debug', DB_PASSWORD: { secret: 'risk-db', key: 'password' }, REGION: { configMap: 'risk-settings', key: 'region' } },
    envFrom: [{ secret: 'risk-extra' }, { configMap: 'risk-config', prefix: 'RISK_' }],
  };

  test('each pod gets the service account, scheduling and priority; each construct\'s container the env and envFrom', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'risk' });
    everyWorkload(chart, settings);
    const objects = synthValid(chart);
    for (const p of allPods(objects)) {
      const got = { owner: p.owner, sa: p.spec.serviceAccountName, ns: p.spec.nodeSelector, tol: p.spec.tolerations, aff: p.spec.affinity, pc: p.spec.priorityClassName };
      // The promotion rolls nothing here (no `serving`), so it takes the given service account.
      expect(got).toEqual({ owner: p.owner, sa: 'risk-runner', ns: settings.nodeSelector, tol: settings.tolerations, aff: settings.affinity, pc: 'risk-high' });
      // A service account is not a reason to mount its token.
      expect({ owner: p.owner, automount: p.spec.automountServiceAccountToken }).toEqual({ owner: p.owner, automount: false });
    }
    const own = [
      find(objects, 'Deployment', 'minio').spec.template.spec.containers[0],
      find(objects, 'Deployment', 'mlflow').spec.template.spec.containers[0],
      find(objects, 'Job', 'train').spec.template.spec.containers[0],
      find(objects, 'CronJob', 'promote').spec.jobTemplate.spec.template.spec.containers[0],
      ...find(objects, 'SeldonDeployment', 'iris').spec.predictors.map((p: any) => p.componentSpecs[0].spec.containers[0]),
      find(objects, 'InferenceService', 'iris-kserve').spec.predictor.containers[0],
    ];
    for (const c of own) {
      const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
      expect({ c: c.name, LOG_LEVEL: env.LOG_LEVEL, DB_PASSWORD: env.DB_PASSWORD, REGION: env.REGION }).toEqual({
        c: c.name, LOG_LEVEL: 'debug', DB_PASSWORD: { secretKeyRef: { name: 'risk-db', key: 'password' } }, REGION: { configMapKeyRef: { name: 'risk-settings', key: 'region' } },
      });
      expect(c.envFrom).toEqual([{ secretRef: { name: 'risk-extra' } }, { configMapRef: { name: 'risk-config' }, prefix: 'RISK_' }]);
    }
    // Not the MinIO provisioning Job's mc container: its env is the construct's alone.
    expect(find(objects, 'Job', 'minio-provision').spec.template.spec.containers[0].envFrom).toBeUndefined();
  });

  test('cdk8s-plus ISecret, IConfigMap, EnvValue, Cpu and Size are accepted where strings are', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'risk' });
    const secret = kplus.Secret.fromSecretName(chart, 'db', 'risk-db');
    const config = kplus.ConfigMap.fromConfigMapName(chart, 'cfg', 'risk-settings');
    const train = new RTrainingJob(chart, 'train', {
      trainingScript: fixtureScript(),
      tracking: { trackingUri: 'http://mlflow.mlops.svc:5000', allowClient: () => undefined },
      env: { DB_PASSWORD: kplus.EnvValue.fromSecretValue({ secret, key: 'password' }), DB_USER: { secret, key: 'user', optional: true } },
      envFrom: [{ configMap: config }],
      imagePullSecrets: [secret],
      resources: { cpuRequest: kplus.Cpu.millis(500), cpuLimit: kplus.Cpu.units(2), memoryRequest: Size.gibibytes(1), memoryLimit: Size.mebibytes(1536) },
    });
    const job = find(synthValid(chart), 'Job', train.name).spec.template.spec;
    const c = job.containers[0];
    expect(c.resources).toEqual({ requests: { cpu: '500m', memory: '1024Mi', 'ephemeral-storage': '1Gi' }, limits: { cpu: '2', memory: '1536Mi' } });
    expect(c.env).toContainEqual({ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'risk-db', key: 'password' } } });
    expect(c.env).toContainEqual({ name: 'DB_USER', valueFrom: { secretKeyRef: { name: 'risk-db', key: 'user', optional: true } } });
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'risk-settings' } }]);
    expect(job.imagePullSecrets).toEqual([{ name: 'risk-db' }]);
  });

  test('Size becomes whole MiB, else KiB; Cpu its amount; a request above the limit is still an error', () => {
    expect([quantityString(Size.gibibytes(2)), quantityString(Size.kibibytes(1536)), quantityString(Size.mebibytes(0.5)), quantityString(kplus.Cpu.units(1.5)), quantityString('250m')])
      .toEqual(['2048Mi', '1536Ki', '512Ki', '1.5', '250m']);
    const chart = new Chart(Testing.app(), 'test', { namespace: 'risk' });
    new SeldonRModel(chart, 'm', { model: 'models:/m@champion', tracking, resources: { memoryRequest: Size.gibibytes(2), memoryLimit: Size.gibibytes(1) } });
    expect(synthError(chart).some((l) => l.startsWith('[test/m] resources') && l.includes('"2048Mi"') && l.includes('"1024Mi"'))).toBe(true);
  });

  test.each([
    ['a bad toleration operator', { tolerations: [{ key: 'dedicated', operator: 'In' as any }] },
      '[test/m] tolerations[0].operator = "In": is not a toleration operator. Fix: use "Equal" (key and value match) or "Exists" (any value of the key)'],
    ['a value with operator Exists', { tolerations: [{ key: 'dedicated', operator: 'Exists' as const, value: 'x' }] },
      '[test/m] tolerations[0].value = "x": is set with operator "Exists", which the API server rejects (Exists matches any value). Fix: remove `value`, or use operator "Equal"'],
    ['tolerationSeconds without NoExecute', { tolerations: [{ key: 'k', value: 'v', effect: 'NoSchedule' as const, tolerationSeconds: 30 }] },
      '[test/m] tolerations[0].tolerationSeconds = 30: is set without effect "NoExecute", the only effect that evicts (the API server rejects it). Fix: set effect "NoExecute", or remove tolerationSeconds'],
    ['an empty service account name', { serviceAccountName: '' },
      '[test/m] serviceAccountName = "": is empty. Fix: give the name of a ServiceAccount in the pods\' namespace, or leave the prop out for the namespace\'s `default`'],
    ['env that collides with the contract\'s MODEL_URI', { env: { MODEL_URI: 'models:/x@y' } },
      '[test/m] env.MODEL_URI = "models:/x@y": collides with MODEL_URI, which the construct sets (a second entry would silently override it). Fix: use another variable name'],
    ['env the Seldon operator injects', { env: { PREDICTIVE_UNIT_HTTP_SERVICE_PORT: '9001' } },
      '[test/m] env.PREDICTIVE_UNIT_HTTP_SERVICE_PORT = "9001": collides with PREDICTIVE_UNIT_HTTP_SERVICE_PORT, which the Seldon operator sets (a second entry would silently override it). Fix: use another variable name'],
    ['a bad node selector value', { nodeSelector: { pool: 'r models' } },
      '[test/m] nodeSelector.pool = "r models": is not a label value: "r models" is not a valid label value (alphanumerics, \'-\', \'_\' or \'.\', starting and ending with an alphanumeric). Fix: use the node label\'s value, e.g. "amd64" or "r-models"'],
    ['envFrom with both sources', { envFrom: [{ secret: 'a', configMap: 'b' }] },
      '[test/m] envFrom[0] = {"secret":"a","configMap":"b"}: must name exactly one of `secret` and `configMap`. Fix: split it into one entry per source'],
  ])('SeldonRModel: %s is an error with path, value and fix', (_what, props, line) => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'risk' });
    new SeldonRModel(chart, 'm', { model: 'models:/m@champion', tracking, ...props });
    expect(synthError(chart)).toContain(line);
  });

  test('KServeRModel and the training Job refuse their own contract variables too; the promotion with `serving` refuses another service account', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'risk' });
    new KServeRModel(chart, 'k', { model: 'models:/m@champion', tracking, env: { STORAGE_URI: 's3://b/m' } });
    const train = new RTrainingJob(chart, 't', { trainingScript: fixtureScript(), tracking, env: { QUALITY_METRIC: 'auc' } });
    const model = new SeldonRModel(chart, 'm', { model: train.model, tracking });
    new ModelPromotion(chart, 'p', { tracking, champion: train.model, serving: [model], serviceAccountName: 'mine' });
    const lines = synthError(chart);
    expect(lines).toContain('[test/k] env.STORAGE_URI = "s3://b/m": collides with STORAGE_URI, which the rmlops contract (lib/contract.ts ENV) sets (a second entry would silently override it). Fix: use another variable name');
    expect(lines).toContain('[test/t] env.QUALITY_METRIC = "auc": collides with QUALITY_METRIC, which `qualityMetric` sets (a second entry would silently override it). Fix: set `qualityMetric` instead');
    expect(lines).toContain('[test/p] serviceAccountName = "mine": is set together with `serving`, which runs the Job as its own service account "p" (the one its Role lets patch the SeldonDeployments). Fix: remove serviceAccountName, or remove `serving` and roll the predictors yourself');
  });
});

describe('a shared MLflow: MlflowServer.fromAttributes and clientNamespaceLabels', () => {
  const CLIENT_LABELS = { 'mlflow.example.com/client': 'true' };

  function clientApp(nsLabels: Record<string, string> | undefined, attrs: Record<string, unknown> = {}) {
    const app = Testing.app();
    if (nsLabels) new kplus.k8s.KubeNamespace(new Chart(app, 'namespace'), 'ns', { metadata: { name: 'risk', labels: nsLabels } });
    const chart = new Chart(app, 'risk', { namespace: 'risk' });
    const mlflow = MlflowServer.fromAttributes(chart, 'mlflow', { namespace: 'mlops', ...attrs });
    const train = new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: mlflow });
    new SeldonRModel(chart, 'credit', { model: train.model, tracking: mlflow });
    return { app, chart, mlflow, train };
  }

  test('the owning team\'s server admits rmlops pods of namespaces carrying clientNamespaceLabels', () => {
    const chart = new Chart(Testing.app(), 'platform', { namespace: 'mlops' });
    const server = new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio'), clientNamespaceLabels: CLIENT_LABELS });
    const policy = find(synthValid(chart), 'NetworkPolicy', 'mlflow');
    expect(policy.spec.ingress).toEqual([{
      from: [{ namespaceSelector: { matchLabels: CLIENT_LABELS }, podSelector: { matchLabels: { [LABELS.partOf]: PART_OF } } }],
      ports: [{ protocol: 'TCP', port: 5000 }],
    }]);
    expect(server.allowsNamespaceLabels).toEqual(CLIENT_LABELS);
  });

  test('clients get the imported server\'s URI; a labelled client namespace gives no warning', () => {
    const { app, chart, mlflow } = clientApp(CLIENT_LABELS, { allowsNamespaceLabels: CLIENT_LABELS });
    expect(mlflow.trackingUri).toBe('http://mlflow.mlops.svc:5000');
    expect(mlflow.namespace).toBe('mlops');
    const job = find(synthValid(chart), 'Job', 'train');
    expect(job.spec.template.spec.containers[0].env).toContainEqual({ name: 'MLFLOW_TRACKING_URI', value: 'http://mlflow.mlops.svc:5000' });
    // The import writes no object: the server and its policy are the owning team's.
    expect(Testing.synth(chart).filter((o) => o.metadata.name === 'mlflow')).toEqual([]);
    expect(warningsOf(app)).toEqual([]);
  });

  test('a client not known to be admitted is a warning naming the client, the missing labels and the fix', () => {
    const unknown = warningsOf(clientApp(undefined).app);
    expect(unknown).toHaveLength(2);
    expect(unknown[0]).toBe('[risk/mlflow] tracking = "http://mlflow.mlops.svc:5000": risk/train {"app.kubernetes.io/name":"r-training","app.kubernetes.io/instance":"train"} in namespace "risk": nothing says the MLflow server at http://mlflow.mlops.svc:5000\'s NetworkPolicy admits them (it is imported without allowsNamespaceLabels). Fix: ask the owning team to set `clientNamespaceLabels` on its MlflowServer (docs/shared-mlflow.md), label this namespace with them, and pass the same labels as `allowsNamespaceLabels` to MlflowServer.fromAttributes');
    const unlabelled = warningsOf(clientApp({ team: 'risk' }, { allowsNamespaceLabels: CLIENT_LABELS }).app);
    expect(unlabelled).toHaveLength(2);
    expect(unlabelled[1]).toMatch(/risk\/credit .* in namespace "risk": namespace "risk" lacks the labels \{"mlflow.example.com\/client":"true"\} .*Fix: add \{"mlflow.example.com\/client":"true"\} to the labels of the Namespace "risk"$/);
    const notInApp = warningsOf(clientApp(undefined, { allowsNamespaceLabels: CLIENT_LABELS }).app);
    expect(notInApp[0]).toMatch(/namespace "risk" is not created by this app.*kubectl label namespace risk mlflow.example.com\/client=true$/);
    const podLabels = warningsOf(clientApp(CLIENT_LABELS, { allowsNamespaceLabels: CLIENT_LABELS, allowsPodLabels: { team: 'risk' } }).app);
    expect(podLabels[0]).toMatch(/lack the pod labels \{"team":"risk"\}/);
  });

  test('writeManifests reports the warnings and still writes', () => {
    const { app } = clientApp(undefined);
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-capi-')), 'dist');
    const seen: string[] = [];
    try {
      writeManifests(app, dir, { onWarning: (w) => seen.push(w) });
      expect(seen.filter((w) => w.startsWith('[risk/mlflow] tracking = '))).toHaveLength(2);
      expect(fs.readdirSync(dir).some((f) => f.includes('job-train'))).toBe(true);
    } finally {
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });

  test('bad attributes are errors with the fix', () => {
    const chart = new Chart(Testing.app(), 'risk', { namespace: 'risk' });
    MlflowServer.fromAttributes(chart, 'a', { namespace: 'ML_OPS' });
    MlflowServer.fromAttributes(chart, 'b', { namespace: 'mlops', trackingUri: 'http://localhost:5000' });
    MlflowServer.fromAttributes(chart, 'c', { namespace: 'mlops', allowsNamespaceLabels: {} });
    const lines = synthError(chart);
    expect(lines.some((l) => l.startsWith('[risk/a] namespace = "ML_OPS": is not a DNS-1123 label'))).toBe(true);
    expect(lines).toContain('[risk/b] trackingUri = "http://localhost:5000": is a loopback address, which in a pod is the pod itself, not the MLflow server. Fix: use the server\'s in-cluster name, e.g. "http://mlflow.mlops.svc:5000"');
    expect(lines).toContain('[risk/c] allowsNamespaceLabels = {}: is empty, and an empty selector matches everything. Fix: give at least one label, e.g. { "mlflow.example.com/client": "true" }');
  });

  test('a cross-namespace client of an owned server stays admitted by its namespace name (unchanged)', () => {
    const app = Testing.app();
    const platform = new Chart(app, 'platform', { namespace: 'mlops' });
    const mlflow = new MlflowServer(platform, 'mlflow', { artifactStore: new MinioStore(platform, 'minio'), clientNamespaceLabels: CLIENT_LABELS });
    const team = new Chart(app, 'team', { namespace: 'risk' });
    const train = new RTrainingJob(team, 'train', { trainingScript: fixtureScript(), tracking: mlflow });
    const from = find(Testing.synth(platform), 'NetworkPolicy', 'mlflow').spec.ingress[0].from;
    expect(from[0]).toEqual({ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'risk' } }, podSelector: { matchLabels: train.podSelector } });
    expect(constructWarnings(app)).toEqual([]);
  });
});

describe('cdk8s-plus workloads in the same app', () => {
  function appWithPlus() {
    const app = Testing.app();
    const chart = new Chart(app, 'web', { namespace: 'risk' });
    const deployment = new kplus.Deployment(chart, 'web', { containers: [{ image: 'docker.io/library/nginx:1.27.0', portNumber: 8080 }] });
    deployment.addContainer({ name: 'sidecar', image: 'docker.io/library/busybox:1.37.0', securityContext: { capabilities: { drop: [kplus.Capability.NET_RAW] } } });
    return { app, chart };
  }

  test('a default cdk8s-plus Deployment is refused, and the error names hardenPodSpecs and the cdk8s-plus props', () => {
    const { app } = appWithPlus();
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-capi-')), 'dist');
    try {
      expect(() => writeManifests(app, dir)).toThrow(/seccompProfile\.type: undefined: must be "RuntimeDefault"[\s\S]*Fix for Deployment risk\/web-\w+ \(not written by rmlops-cdk8s\): call hardenPodSpecs\(app\)[\s\S]*Capability\.ALL/);
      expect(fs.existsSync(dir)).toBe(false);
    } finally {
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });

  test('hardenPodSpecs adds only the missing restricted fields, and the app then passes', () => {
    const { app, chart } = appWithPlus();
    expect(validateApp(app).length).toBeGreaterThan(0);
    const added = hardenPodSpecs(app);
    expect(added.map((a) => a.replace(/web-\w+/, 'web'))).toEqual([
      'Deployment/web /spec/template/spec/securityContext/seccompProfile',
      'Deployment/web /spec/template/spec/containers/0/securityContext/capabilities',
      'Deployment/web /spec/template/spec/containers/1/securityContext/capabilities/drop/-',
    ]);
    expect(validateApp(app)).toEqual([]);
    const spec = Testing.synth(chart)[0].spec.template.spec;
    expect(spec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(spec.containers.map((c: any) => c.securityContext.capabilities.drop)).toEqual([['ALL'], ['NET_RAW', 'ALL']]);
    // Our own constructs already comply: hardening them adds nothing.
    const ours = new Chart(Testing.app(), 'ours', { namespace: 'risk' });
    everyWorkload(ours);
    expect(hardenPodSpecs(ours)).toEqual([]);
  });
});
