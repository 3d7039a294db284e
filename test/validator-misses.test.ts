// What a platform engineer still hit after a validated dist/ (issue: "A team that is not us"):
// each is now an error or a warning with its fix, and a problem repeated on many objects is one
// line. The exact lines are asserted.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiObject, Chart, Testing } from 'cdk8s';
import {
  KServeRModel, MinioStore, MlflowServer, RTrainingJob, SeldonRModel, manifestWarnings, validateDirectory, validateManifests, writeManifests,
} from '../lib';
import { main as cli } from '../lib/cli';
import { fixtureScript } from './constructs-support';

const NS = 'risk';
const secure = () => ({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });

/** A valid, secure Deployment whose one container gets `env`, `args` and `ports`. */
function deployment(name: string, container: { env?: any[]; args?: string[]; ports?: any[] } = {}, sidecar?: any): any {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: NS },
    spec: {
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'main', image: 'example.org/app:1.0.0', securityContext: secure(),
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
              ...container,
            },
            ...(sidecar ? [sidecar] : []),
          ],
        },
      },
    },
  };
}

function modelApp(namespace: string): { app: any; chart: Chart; mlflow: MlflowServer; train: RTrainingJob } {
  const app = Testing.app();
  const chart = new Chart(app, 'ml', { namespace });
  const minio = new MinioStore(chart, 'minio');
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
  const train = new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: mlflow, qualityMetric: 'rmse', qualityDirection: 'lower', qualityThreshold: 3 });
  return { app, chart, mlflow, train };
}

describe('a cluster-scoped object given a namespace', () => {
  test('is an error naming the kind and the fix', () => {
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, namespace: NS } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'reader', namespace: NS }, rules: [] },
    ];
    expect(validateManifests(objects)).toEqual([
      'Namespace risk/risk: metadata.namespace: "risk": a Namespace is cluster-scoped, so the API server drops the namespace (the object is not in it, and deleting the namespace leaves it). Fix: create it in a Chart without a namespace (e.g. the Namespace in a chart of its own)',
      'ClusterRole risk/reader: metadata.namespace: "risk": a ClusterRole is cluster-scoped, so the API server drops the namespace (the object is not in it, and deleting the namespace leaves it). Fix: create it in a Chart without a namespace (e.g. the Namespace in a chart of its own)',
    ]);
    expect(validateManifests([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }])).toEqual([]);
  });

  test('the Namespace in the app\'s namespaced chart: writeManifests refuses it', () => {
    const { app, chart } = modelApp(NS);
    new ApiObject(chart, 'ns', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-misses-'));
    try {
      expect(() => writeManifests(app, dir)).toThrow('Namespace risk/risk: metadata.namespace: "risk": a Namespace is cluster-scoped');
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a quantity left without a value (a JsonPatch with an undefined value)', () => {
  test('names the path and says there is no value, with the fix', () => {
    const d = deployment('app');
    d.spec.template.spec.containers[0].resources.limits.memory = undefined;
    d.spec.template.spec.containers[0].resources.requests.cpu = { amount: '1' };
    const errors = validateManifests([d], { security: false });
    expect(errors).toContain('Deployment risk/app: spec.template.spec.containers[0].resources.limits.memory: has no value (undefined): a quantity such as "512Mi" or "250m" is expected. Fix: give the field a quantity, or remove it (a JsonPatch with an undefined value?)');
    expect(errors).toContain('Deployment risk/app: spec.template.spec.containers[0].resources.requests.cpu: {"amount":"1"} (object) is not a quantity: a string such as "512Mi" or "250m", or a number, is expected');
    expect(errors.join('\n')).not.toMatch(/^undefined /m);
  });
});

describe('the same problem on many objects is one line', () => {
  test('a bad chart namespace: synth reports it once, naming every object', () => {
    const { app, chart, mlflow, train } = modelApp('Risk');
    new SeldonRModel(chart, 'credit', { model: train.model, tracking: mlflow });
    let message = '';
    try {
      app.synth();
    } catch (e) {
      message = (e as Error).message;
    }
    const lines = message.split('\n').filter((l) => l.includes('metadata.namespace'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe('  [ml/minio] PersistentVolumeClaim Risk/minio-data, Service Risk/minio, Deployment Risk/minio, ConfigMap Risk/minio-client-policy, '
      + 'Job Risk/minio-provision, NetworkPolicy Risk/minio, NetworkPolicy Risk/minio-provision, PersistentVolumeClaim Risk/mlflow-db, Service Risk/mlflow, Deployment Risk/mlflow, '
      + 'NetworkPolicy Risk/mlflow, NetworkPolicy Risk/train, ConfigMap Risk/train-script, Job Risk/train, NetworkPolicy Risk/credit, NetworkPolicy Risk/credit-clients, SeldonDeployment Risk/credit: metadata.namespace: "Risk" is not a DNS-1123 label '
      + '(lower case alphanumerics and \'-\', starting and ending with an alphanumeric). Fix: use a namespace such as "risk"');
  });

  test('validateManifests and validateDirectory group identical problems (files and objects listed once)', () => {
    const a = deployment('a');
    const b = deployment('b');
    for (const d of [a, b]) delete d.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem;
    expect(validateManifests([a, b])).toEqual([
      'security: Deployment risk/a, Deployment risk/b: spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem: must be true',
    ]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-misses-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.yaml'), JSON.stringify(a));
      fs.writeFileSync(path.join(dir, 'b.yaml'), JSON.stringify(b));
      expect(validateDirectory(dir).errors).toEqual([
        'a.yaml, b.yaml: security: Deployment risk/a, Deployment risk/b: spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem: must be true',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('endpoints as a pod sees them', () => {
  test('a localhost MLFLOW_TRACKING_URI is an error, unless a container of the pod serves that port', () => {
    const env = [{ name: 'MLFLOW_TRACKING_URI', value: 'http://localhost:5000' }];
    expect(validateManifests([deployment('trainer', { env })])).toEqual([
      'Deployment risk/trainer: spec.template.spec.containers[0].env[0].value: MLFLOW_TRACKING_URI = "http://localhost:5000": localhost in a pod is the pod itself, not the MLflow server. Fix: use the MLflow Service\'s in-cluster DNS name, e.g. "http://mlflow.<namespace>.svc:5000" (pass the MlflowServer as `tracking`)',
    ]);
    const sidecar = { ...deployment('x').spec.template.spec.containers[0], name: 'mlflow', ports: [{ containerPort: 5000 }] };
    expect(validateManifests([deployment('trainer', { env: [{ name: 'MLFLOW_TRACKING_URI', value: 'http://127.0.0.1:5000' }] }, sidecar)])).toEqual([]);
    expect(validateManifests([deployment('trainer', { env: [{ name: 'MLFLOW_TRACKING_URI', value: 'http://mlflow.risk.svc:5000' }] })])).toEqual([]);
  });

  test('a hand-written tracking server at localhost: the model and the training Job are refused at synth', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'ml', { namespace: NS });
    const tracking = { trackingUri: 'http://localhost:5000', allowClient: () => undefined };
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking, qualityMetric: 'rmse' });
    expect(() => app.synth()).toThrow('[ml/train] Job risk/train: spec.template.spec.containers[0].env[0].value: MLFLOW_TRACKING_URI = "http://localhost:5000": localhost in a pod is the pod itself');
  });

  test('a localhost or virtual-hosted S3 endpoint is an error; path-style in-cluster DNS passes', () => {
    const args = ['server', '--serve-artifacts', '--artifacts-destination', 's3://mlflow-artifacts'];
    const local = deployment('mlflow', { args, env: [{ name: 'MLFLOW_S3_ENDPOINT_URL', value: 'http://localhost:9000' }] });
    const virtual = deployment('mlflow2', { args, env: [{ name: 'MLFLOW_S3_ENDPOINT_URL', value: 'http://mlflow-artifacts.minio.risk.svc:9000' }] });
    const good = deployment('mlflow3', { args, env: [{ name: 'MLFLOW_S3_ENDPOINT_URL', value: 'http://minio.risk.svc:9000' }] });
    expect(validateManifests([local, virtual, good])).toEqual([
      'Deployment risk/mlflow: spec.template.spec.containers[0].env[0].value: MLFLOW_S3_ENDPOINT_URL = "http://localhost:9000": localhost in a pod is the pod itself, not the S3 store. Fix: use the store\'s in-cluster DNS name, e.g. "http://minio.<namespace>.svc:9000"',
      'Deployment risk/mlflow2: spec.template.spec.containers[0].env[0].value: MLFLOW_S3_ENDPOINT_URL = "http://mlflow-artifacts.minio.risk.svc:9000": virtual-hosted style (the bucket "mlflow-artifacts" in the host name); MinIO answers path-style only and the cluster\'s DNS has no such name. Fix: the endpoint without the bucket, e.g. "http://minio.risk.svc:9000"',
    ]);
  });

  test('KServe\'s S3 credentials: a localhost endpoint or virtual-hosted in-cluster store is an error', () => {
    const secret = (annotations: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's3', namespace: NS, annotations }, stringData: {} });
    expect(validateManifests([secret({ 'serving.kserve.io/s3-endpoint': 'localhost:9000' })])).toEqual([
      'Secret risk/s3: metadata.annotations["serving.kserve.io/s3-endpoint"]: "localhost:9000": localhost in the storage initializer\'s pod is that pod, not the S3 store. Fix: the store\'s in-cluster DNS name, e.g. "minio.<namespace>.svc:9000"',
    ]);
    expect(validateManifests([secret({ 'serving.kserve.io/s3-endpoint': 'minio.risk.svc:9000', 'serving.kserve.io/s3-usevirtualbucket': 'true' })])).toEqual([
      'Secret risk/s3: metadata.annotations["serving.kserve.io/s3-usevirtualbucket"]: "true" with the in-cluster endpoint "minio.risk.svc:9000": virtual-hosted style puts the bucket in the host name, which the cluster\'s DNS does not resolve and MinIO does not answer. Fix: remove it (path-style is KServe\'s default)',
    ]);
    // AWS itself takes virtual-hosted requests.
    expect(validateManifests([secret({ 'serving.kserve.io/s3-endpoint': 's3.eu-west-1.amazonaws.com', 'serving.kserve.io/s3-usevirtualbucket': 'true' })])).toEqual([]);
  });
});

describe('warnings: what the manifests suggest but cannot prove', () => {
  const KSERVE_S3 = 'InferenceService risk/credit: spec.predictor.containers[0].env[0].value: "s3://models/credit": KServe\'s storage initializer downloads s3:// with the S3 credentials of the predictor\'s service account, and spec.predictor.serviceAccountName names none (the namespace\'s default account usually has no S3 credentials: the pod stays in Init). Fix: set serviceAccountName (a KServeRModel prop) to a ServiceAccount whose Secret holds the keys and the serving.kserve.io/s3-endpoint annotation (docs/kserve.md), or to "default" if that account has them (e.g. workload identity)';

  test('KServe s3:// without a service account; none with one', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'ml', { namespace: NS });
    new KServeRModel(chart, 'credit', { model: 's3://models/credit' });
    expect(manifestWarnings(Testing.synth(chart))).toEqual([KSERVE_S3]);
    const app2 = Testing.app();
    const chart2 = new Chart(app2, 'ml', { namespace: NS });
    new KServeRModel(chart2, 'credit', { model: 's3://models/credit', serviceAccountName: 'models-reader' });
    expect(manifestWarnings(Testing.synth(chart2))).toEqual([]);
  });

  test('a traffic split without the Istio annotation: the weights need the ingress the operator routes through', () => {
    const sdep = (annotations: Record<string, string>) => ({
      apiVersion: 'machinelearning.seldon.io/v1', kind: 'SeldonDeployment', metadata: { name: 'iris', namespace: NS, annotations },
      spec: { predictors: [{ name: 'default', traffic: 90 }, { name: 'canary', traffic: 10 }, { name: 'mirror', shadow: true }] },
    });
    expect(manifestWarnings([sdep({})])).toEqual([
      `SeldonDeployment ${NS}/iris: spec.predictors[0].traffic: 90: the operator splits traffic only in the routes it writes for Istio or Ambassador; the Services iris-default, iris-canary each reach one predictor, so without that ingress the weights do nothing. Fix: install the operator with Istio (and annotate seldon.io/istio-gateway: SeldonRModel ingress "istio") or Ambassador, and send requests through it; or ignore this if the operator runs with Ambassador`,
    ]);
    expect(manifestWarnings([sdep({ 'seldon.io/istio-gateway': 'istio-system/seldon-gateway' })])).toEqual([]);
    expect(manifestWarnings([sdep({ 'seldon.io/ambassador-id': 'a' })])).toEqual([]);
    // One routed predictor and a shadow: no split.
    const single = sdep({});
    single.spec.predictors = [{ name: 'default', traffic: 100 }, { name: 'mirror', shadow: true }];
    expect(manifestWarnings([single])).toEqual([]);
  });

  test('a quality metric the training script never names (the default "accuracy" for a regression script)', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'ml', { namespace: NS });
    const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio') });
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: mlflow });
    const expected = 'Job risk/train: spec.template.spec.containers[0].env[4].value: QUALITY_METRIC = "accuracy", which the training script /etc/rmlops/training/train.R (ConfigMap risk/train-script key "train.R") never names: unless train() returns it in metrics, the Job fails its quality gate and the alias never moves. Fix: set qualityMetric to a metric train() returns (the script names "rmse"), or name it in the script';
    expect(manifestWarnings(Testing.synth(chart))).toEqual([expected]);
    // writeManifests writes (the manifests are valid) and passes the warning on.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-misses-'));
    try {
      const warnings: string[] = [];
      writeManifests(app, dir, { onWarning: (w) => warnings.push(w) });
      expect(warnings).toEqual([expected]);
      const err: string[] = [];
      expect(cli(['validate', dir], () => undefined, (l) => err.push(l))).toBe(0);
      expect(err).toEqual([`warning: ${fs.readdirSync(dir).find((f) => f.endsWith('-job-train.yaml'))}: ${expected}`]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const { chart: named } = modelApp(NS);
    expect(manifestWarnings(Testing.synth(named))).toEqual([]);
  });
});
