// Clients of MLflow and MinIO in other namespaces than the server: admitted by their namespace's
// kubernetes.io/metadata.name label plus their pod labels, and given the <svc>.<ns>.svc name.
import { App, Chart, Testing } from 'cdk8s';
import { MinioStore, MlflowServer, NAMESPACE_NAME_LABEL, POD_SECURITY_LABELS, RTrainingJob, SeldonRModel } from '../lib';
import { NAMESPACE, buildApp } from '../main';
import { find, fixtureScript, synthValid } from './constructs-support';

function twoNamespaces(props: { uiNamespaces?: string[] } = {}) {
  const app: App = Testing.app();
  const platform = new Chart(app, 'platform', { namespace: 'mlops' });
  const minio = new MinioStore(platform, 'minio');
  const mlflow = new MlflowServer(platform, 'mlflow', { artifactStore: minio, ...props });
  const team = new Chart(app, 'team', { namespace: 'team-b' });
  const train = new RTrainingJob(team, 'train', { trainingScript: fixtureScript(), tracking: mlflow });
  const model = new SeldonRModel(team, 'iris', { model: train.model, tracking: mlflow });
  return { platform, team, mlflow, train, model };
}

describe('a SeldonRModel and an RTrainingJob in another namespace than their MlflowServer', () => {
  test('the MLflow NetworkPolicy admits them by namespace name and pod labels; same-namespace clients by pod labels', () => {
    const { platform, team, train, model } = twoNamespaces();
    const objects = synthValid(platform);
    synthValid(team);
    const policy = find(objects, 'NetworkPolicy', 'mlflow');
    expect(policy.spec.ingress).toEqual([{
      from: [
        { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'team-b' } }, podSelector: { matchLabels: train.podSelector } },
        { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'team-b' } }, podSelector: { matchLabels: model.podSelector } },
      ],
      ports: [{ protocol: 'TCP', port: 5000 }],
    }]);
    expect(NAMESPACE_NAME_LABEL).toBe('kubernetes.io/metadata.name');
  });

  test('they get the tracking URI with the server\'s namespace', () => {
    const { team } = twoNamespaces();
    const objects = Testing.synth(team);
    const job = find(objects, 'Job', 'train');
    const env = Object.fromEntries(job.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(env.MLFLOW_TRACKING_URI).toBe('http://mlflow.mlops.svc:5000');
    const sdep = find(objects, 'SeldonDeployment', 'iris');
    const modelEnv = Object.fromEntries(sdep.spec.predictors[0].componentSpecs[0].spec.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(modelEnv.MLFLOW_TRACKING_URI).toBe('http://mlflow.mlops.svc:5000');
  });

  test('uiNamespaces admits every pod of those namespaces (an ingress controller)', () => {
    const { platform } = twoNamespaces({ uiNamespaces: ['ingress-nginx'] });
    const policy = find(Testing.synth(platform), 'NetworkPolicy', 'mlflow');
    expect(policy.spec.ingress[0].from).toContainEqual({ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'ingress-nginx' } } });
    expect(policy.spec.ingress[0].ports).toEqual([{ protocol: 'TCP', port: 5000 }]);
  });

  test('without clients and uiNamespaces the policy still denies everything (no empty `from`)', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'c', { namespace: 'mlops' });
    new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio') });
    expect(find(Testing.synth(chart), 'NetworkPolicy', 'mlflow').spec.ingress).toEqual([]);
  });
});

describe('MLflow in another namespace than its MinioStore', () => {
  test('the MinIO policy admits MLflow by namespace and pod labels, the provisioning Job by pod labels', () => {
    const app = Testing.app();
    const storage = new Chart(app, 'storage', { namespace: 'storage' });
    const minio = new MinioStore(storage, 'minio');
    const tracking = new Chart(app, 'tracking', { namespace: 'mlops' });
    const mlflow = new MlflowServer(tracking, 'mlflow', { artifactStore: minio });
    const policy = find(synthValid(storage), 'NetworkPolicy', 'minio');
    expect(policy.spec.ingress[0].from).toEqual([
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'minio-provisioner', 'app.kubernetes.io/instance': 'minio-provision' } } },
      { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'mlops' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'mlflow', 'app.kubernetes.io/instance': 'mlflow' } } },
    ]);
    const env = find(Testing.synth(tracking), 'Deployment', 'mlflow').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'MLFLOW_S3_ENDPOINT_URL', value: 'http://minio.storage.svc:9000' });
    expect(mlflow.trackingUri).toBe('http://mlflow.mlops.svc:5000');
  });
});

describe('the example namespace: Pod Security Admission', () => {
  test('enforce baseline (the injected Seldon executor is not restricted), warn and audit restricted', () => {
    const ns = buildApp().charts.flatMap((c) => c.toJson()).find((o: any) => o.kind === 'Namespace');
    expect(ns.metadata.name).toBe(NAMESPACE);
    expect(ns.metadata.labels).toEqual({
      'pod-security.kubernetes.io/enforce': 'baseline',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
    });
    expect(POD_SECURITY_LABELS).toEqual(ns.metadata.labels);
  });
});
