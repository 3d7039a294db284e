// KServeRModel: the InferenceService it writes (the contract KServe and Knative read: container
// name, port, env, probes, annotations, replicas) and the props it refuses at synth.
import { Chart, Testing } from 'cdk8s';
import {
  DEFAULT_R_SERVING_IMAGE, ENV, KSERVE_CONTAINER_NAME, KSERVE_MODEL_MOUNT_PATH, KServeRModel, KServeRModelProps, MinioStore, MlflowServer,
  PATHS, R_ENTRYPOINTS, RTrainingJob, SELDON_MODEL_METRICS_PORT,
} from '../lib';
import { validateManifests } from './support/validate';
import { NS, envOf, expectMountsResolve, expectRestricted, find, fixtureScript, newChart, synthValid } from './constructs-support';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function setup() {
  const chart = newChart();
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio') });
  const train = new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: fixtureScript(), registeredModelName: 'iris' });
  return { chart, mlflow, train };
}

function isvc(out: any[], name = 'iris') {
  return find(out, 'InferenceService', name);
}

function container(out: any[], name = 'iris') {
  const c = isvc(out, name).spec.predictor.containers;
  expect(c).toHaveLength(1);
  return c[0];
}

/** The synth error has one line with `[path] prop = value: ... Fix: fix`. */
function expectSynthError(chart: Chart, path: string, prop: string, value: unknown, fix: string): void {
  const line = new RegExp(`\\[${escape(path)}\\] ${escape(prop)} = ${escape(String(JSON.stringify(value)))}: [^\\n]*Fix: [^\\n]*${escape(fix)}`);
  expect(() => Testing.synth(chart)).toThrow(line);
}

function chartWith(props: Partial<KServeRModelProps<number>>): Chart {
  const chart = newChart();
  new KServeRModel(chart, 'iris', { model: 's3://models/iris', ...props } as KServeRModelProps<number>);
  return chart;
}

describe('KServeRModel', () => {
  test('default snapshot', () => {
    const { chart, mlflow, train } = setup();
    new KServeRModel(chart, 'iris', { model: train.model, tracking: mlflow });
    expect(isvc(synthValid(chart))).toMatchSnapshot();
  });

  test('RawDeployment by default, written with KServe 0.20\'s name "Standard"; one kserve-container on 8080', () => {
    const { chart, mlflow, train } = setup();
    const m = new KServeRModel(chart, 'iris', { model: train.model, tracking: mlflow });
    const out = synthValid(chart);
    const obj = isvc(out);
    expect(obj.apiVersion).toBe('serving.kserve.io/v1beta1');
    expect(obj.metadata.annotations['serving.kserve.io/deploymentMode']).toBe('Standard');
    expect(m.deploymentMode).toBe('Standard');
    const c = container(out);
    expect(c.name).toBe(KSERVE_CONTAINER_NAME);
    expect(c.name).toBe('kserve-container');
    expect(c.image).toBe(DEFAULT_R_SERVING_IMAGE);
    expect(c.command).toEqual(['Rscript', R_ENTRYPOINTS.serve]);
    expect(c.ports).toEqual([{ name: 'http1', containerPort: 8080, protocol: 'TCP' }]);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port: 8080 });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/v2/health/live', port: 8080 });
    expect(PATHS.v2Ready).toBe('/v2/health/ready');
    expect(m.serviceName).toBe('iris-predictor');
    expect(m.inferUrl).toBe(`http://iris-predictor.${NS}.svc/v2/models/iris/infer`);
  });

  test('env: the MLflow model URI, the InferenceService name, PROTOCOL=v2, and PORT (nothing injects it in Standard mode)', () => {
    const { chart, mlflow, train } = setup();
    new KServeRModel(chart, 'iris', { model: train.model, tracking: mlflow, resources: { cpuRequest: '1500m' } });
    const env = envOf(container(synthValid(chart)));
    expect(env).toEqual({
      [ENV.modelUri]: 'models:/iris@champion',
      INFERENCE_SERVICE_NAME: 'iris',
      PROTOCOL: 'v2',
      PORT: '8080',
      [ENV.workers]: '2',
      [ENV.trackingUri]: `http://mlflow.${NS}.svc:5000`,
      TMPDIR: '/tmp',
      HOME: '/tmp',
    });
    expect(ENV.inferenceServiceName).toBe('INFERENCE_SERVICE_NAME');
    expect(ENV.port).toBe('PORT');
  });

  test('Serverless: annotation "Knative", no PORT (Knative injects it and rejects it from the user), KServe metrics annotations', () => {
    const { chart, mlflow, train } = setup();
    const m = new KServeRModel(chart, 'iris', { model: train.model, tracking: mlflow, deploymentMode: 'Serverless', canaryTrafficPercent: 20 });
    const out = synthValid(chart);
    const obj = isvc(out);
    expect(m.deploymentMode).toBe('Knative');
    expect(obj.metadata.annotations).toEqual({
      'serving.kserve.io/deploymentMode': 'Knative',
      'serving.kserve.io/enable-prometheus-scraping': 'true',
      'serving.kserve.io/enable-metric-aggregation': 'true',
      'prometheus.kserve.io/port': String(SELDON_MODEL_METRICS_PORT),
      'prometheus.kserve.io/path': '/prometheus',
    });
    expect(obj.spec.predictor.canaryTrafficPercent).toBe(20);
    expect(envOf(container(out)).PORT).toBeUndefined();
    // Knative rejects any pod-level securityContext without a feature flag: all of it is per container.
    expect(obj.spec.predictor.securityContext).toBeUndefined();
  });

  test('"Knative" and "Standard" are accepted as the new names of the modes', () => {
    const chart = newChart();
    new KServeRModel(chart, 'a', { model: 's3://m/a', deploymentMode: 'Knative' });
    new KServeRModel(chart, 'b', { model: 's3://m/b', deploymentMode: 'Standard' });
    const out = synthValid(chart);
    expect(isvc(out, 'a').metadata.annotations['serving.kserve.io/deploymentMode']).toBe('Knative');
    expect(isvc(out, 'b').metadata.annotations['serving.kserve.io/deploymentMode']).toBe('Standard');
  });

  test('RawDeployment metrics: plain prometheus.io annotations on port 6000 (KServe\'s would point at a queue-proxy that is not there)', () => {
    const out = synthValid(chartWith({}));
    expect(isvc(out).metadata.annotations).toEqual({
      'serving.kserve.io/deploymentMode': 'Standard',
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '6000',
      'prometheus.io/path': '/prometheus',
    });
    const off = synthValid(chartWith({ metrics: false }));
    expect(isvc(off).metadata.annotations).toEqual({ 'serving.kserve.io/deploymentMode': 'Standard' });
  });

  test('a storage URI goes to KServe\'s storage initializer as STORAGE_URI; no MODEL_URI, no tracking needed', () => {
    for (const uri of ['s3://models/iris', 'gs://b/iris', 'pvc://models/iris', 'https://example.com/iris.tgz', 'hf://org/iris']) {
      const chart = newChart();
      const m = new KServeRModel(chart, 'iris', { model: uri });
      const env = envOf(container(synthValid(chart)));
      expect(env[ENV.storageUri]).toBe(uri);
      expect(env[ENV.modelUri]).toBeUndefined();
      expect(m.modelUri).toBe(KSERVE_MODEL_MOUNT_PATH);
    }
  });

  test('httpPort moves the port, the probes and PORT together', () => {
    const out = synthValid(chartWith({ httpPort: 9000 }));
    const c = container(out);
    expect(c.ports[0].containerPort).toBe(9000);
    expect(c.readinessProbe.httpGet.port).toBe(9000);
    expect(c.livenessProbe.httpGet.port).toBe(9000);
    expect(envOf(c).PORT).toBe('9000');
  });

  test('replicas: fixed by default (1), `replicas` pins both bounds, min/max autoscale with a metric', () => {
    expect(isvc(synthValid(chartWith({}))).spec.predictor).toMatchObject({ minReplicas: 1, maxReplicas: 1 });
    expect(isvc(synthValid(chartWith({ replicas: 3 }))).spec.predictor).toMatchObject({ minReplicas: 3, maxReplicas: 3 });
    const scaled = isvc(synthValid(chartWith({ minReplicas: 2, maxReplicas: 5, scaleMetric: 'cpu', scaleTarget: 70 }))).spec.predictor;
    expect(scaled).toMatchObject({ minReplicas: 2, maxReplicas: 5, scaleMetric: 'cpu', scaleTarget: 70 });
    const zero = isvc(synthValid(chartWith({ deploymentMode: 'Serverless', minReplicas: 0, maxReplicas: 4, scaleMetric: 'concurrency', scaleTarget: 8 }))).spec.predictor;
    expect(zero).toMatchObject({ minReplicas: 0, maxReplicas: 4, scaleMetric: 'concurrency', scaleTarget: 8 });
  });

  test('restricted security context on the container, resources, scratch emptyDir, no service account token', () => {
    const out = synthValid(chartWith({ serviceAccountName: 'model-reader' }));
    const p = isvc(out).spec.predictor;
    expectRestricted('InferenceService/iris', p.containers[0], p);
    expectMountsResolve(p.containers[0], p);
    expect(p.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '1Gi' } }]);
    expect(p.serviceAccountName).toBe('model-reader');
    expect(p.containers[0].resources.requests['ephemeral-storage']).toBe('1Gi');
  });

  test('all four resources are written (KServe would fill a missing one), the CPU limit in whole cores at least the request', () => {
    const res = (r: any) => container(synthValid(chartWith({ resources: r }))).resources;
    expect(res(undefined)).toEqual({ requests: { cpu: '250m', memory: '512Mi', 'ephemeral-storage': '1Gi' }, limits: { cpu: '1', memory: '1Gi' } });
    expect(res({ cpuRequest: '1500m' }).limits.cpu).toBe('2');
    expect(res({ cpuRequest: '2' }).limits.cpu).toBe('2');
    expect(res({ cpuRequest: '500m', cpuLimit: '750m' }).limits.cpu).toBe('750m');
  });

  test('the MLflow NetworkPolicy admits the predictor pods by the labels KServe puts on them', () => {
    const { chart, mlflow, train } = setup();
    const m = new KServeRModel(chart, 'iris', { model: train.model, tracking: mlflow });
    const out = synthValid(chart);
    const labels = isvc(out).spec.predictor.labels;
    expect(labels).toMatchObject(m.podSelector);
    const np = find(out, 'NetworkPolicy', 'mlflow');
    const peers = np.spec.ingress.flatMap((r: any) => r.from ?? []);
    expect(peers).toContainEqual({ podSelector: { matchLabels: m.podSelector } });
  });

  test('the output validates against the full KServe 0.20.0 CRD; an unknown predictor field does not', () => {
    const out = synthValid(chartWith({ deploymentMode: 'Serverless', minReplicas: 1, maxReplicas: 3, scaleMetric: 'rps', scaleTarget: 50 }));
    const obj = JSON.parse(JSON.stringify(isvc(out)));
    expect(validateManifests([obj], { references: false })).toEqual([]);
    obj.spec.predictor.replicaz = 2;
    expect(validateManifests([obj], { references: false })).toEqual([
      `InferenceService ${NS}/iris: spec.predictor.replicaz: unknown field (the API server would prune it)`,
    ]);
  });

  test('a Service of the user named <name>-predictor collides with the one KServe creates', () => {
    const chart = chartWith({});
    new (require('cdk8s-plus-28').k8s.KubeService)(chart, 'clash', { metadata: { name: 'iris-predictor' }, spec: { ports: [{ port: 80 }] } });
    expect(() => Testing.synth(chart)).toThrow(/\[test\/iris\] name = "iris-predictor": Service team-a\/iris-predictor is defined twice: by test\/clash, and by test\/iris\/Resource as KServe's Service for the predictor/);
  });
});

describe('KServeRModel: bad props fail at synth with the path, the value and the fix', () => {
  test('canaryTrafficPercent outside Serverless mode', () => {
    expectSynthError(chartWith({ canaryTrafficPercent: 10 }), 'test/iris', 'canaryTrafficPercent', 10, 'remove it, or set deploymentMode to "Serverless"');
  });

  test('canaryTrafficPercent not a whole percentage', () => {
    expectSynthError(chartWith({ deploymentMode: 'Serverless', canaryTrafficPercent: 101 }), 'test/iris', 'canaryTrafficPercent', 101, 'a whole number from 0 to 100');
    expectSynthError(chartWith({ deploymentMode: 'Serverless', canaryTrafficPercent: 2.5 }), 'test/iris', 'canaryTrafficPercent', 2.5, 'a whole number from 0 to 100');
  });

  test('a reserved port computed at run time', () => {
    for (const port of [8012, 8013, 8022, 9090, 9091, 9081, 9088, 8008, 8112]) {
      const computed: number = port;
      expectSynthError(chartWith({ httpPort: computed }), 'test/iris', 'httpPort', port, 'use another port, e.g. 8080');
    }
    expect(() => Testing.synth(chartWith({ httpPort: 8012 as number }))).toThrow(/owned by Knative's queue-proxy \(HTTP\/1 backend\)/);
    expectSynthError(chartWith({ httpPort: 70000 as number }), 'test/iris', 'httpPort', 70000, '');
  });

  test('minReplicas 0 outside Serverless, and the metric that does not fit the mode', () => {
    expectSynthError(chartWith({ minReplicas: 0, maxReplicas: 2 }), 'test/iris', 'minReplicas', 0, 'set minReplicas to 1, or deploymentMode to "Serverless"');
    expectSynthError(chartWith({ minReplicas: 1, maxReplicas: 2, scaleMetric: 'concurrency' }), 'test/iris', 'scaleMetric', 'concurrency', 'use "cpu" or "memory"');
    expectSynthError(chartWith({ deploymentMode: 'Serverless', scaleMetric: 'cpu' }), 'test/iris', 'scaleMetric', 'cpu', 'use "concurrency" or "rps"');
    expectSynthError(chartWith({ scaleTarget: 70 }), 'test/iris', 'scaleTarget', 70, 'set scaleMetric too');
  });

  test('replicas with minReplicas, and maxReplicas below minReplicas', () => {
    expectSynthError(chartWith({ replicas: 2, minReplicas: 1 }), 'test/iris', 'replicas', 2, 'set either `replicas`');
    expectSynthError(chartWith({ minReplicas: 3, maxReplicas: 2 }), 'test/iris', 'maxReplicas', 2, 'set maxReplicas to at least 3');
  });

  test('a model URI neither MLflow nor storage, and an MLflow URI without tracking', () => {
    expectSynthError(chartWith({ model: 'file:///models/iris' }), 'test/iris', 'model', 'file:///models/iris', '"pvc://<claim>/<path>"');
    expectSynthError(chartWith({ model: 'ftp://host/iris' }), 'test/iris', 'model', 'ftp://host/iris', 's3://');
    expectSynthError(chartWith({ model: 'models:/iris@champion' }), 'test/iris', 'tracking', undefined, 'pass the MlflowServer as `tracking`');
  });

  test('a name KServe cannot derive its objects from', () => {
    expectSynthError(chartWith({ name: '1iris' }), 'test/iris', 'name', '1iris', '');
    // 47 characters + "-predictor-00001" (Knative's first revision) is 63.
    const long = `m${'a'.repeat(47)}`;
    expectSynthError(chartWith({ name: long, deploymentMode: 'Serverless' }), 'test/iris', 'name', long, '');
    expect(() => Testing.synth(chartWith({ name: long }))).not.toThrow();
  });

  test('an unknown deploymentMode (from untyped code)', () => {
    expectSynthError(chartWith({ deploymentMode: 'ModelMesh' as any }), 'test/iris', 'deploymentMode', 'ModelMesh', 'use "Serverless" (Knative) or "RawDeployment" (Standard)');
  });
});
