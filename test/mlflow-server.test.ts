import {
  DEFAULT_MLFLOW_IMAGE, MLFLOW_PORT, MLFLOW_SERVER_ENV, MLFLOW_VERSION, MinioStore, MlflowServer, PATHS, RTrainingJob,
  SECRET_KEYS,
} from '../lib';
import { NS, containers, envOf, expectMountsResolve, expectRestricted, find, findAll, newChart, synthValid } from './constructs-support';

function setup(props: Partial<ConstructorParameters<typeof MlflowServer>[2]> = {}) {
  const chart = newChart();
  const minio = new MinioStore(chart, 'minio');
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio, ...props });
  return { chart, minio, mlflow };
}

function arg(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

describe('MlflowServer', () => {
  test('default snapshot (MLflow objects only)', () => {
    const { chart } = setup();
    const out = synthValid(chart).filter((o) => o.metadata.name.startsWith('mlflow'));
    expect(out).toMatchSnapshot();
  });

  test('variant snapshot: database URI from a Secret, extra allowed host', () => {
    const { chart } = setup({ backendStoreSecret: { name: 'mlflow-db' }, allowedHosts: ['mlflow.example.com'] });
    const out = synthValid(chart).filter((o) => o.metadata.name.startsWith('mlflow'));
    expect(out).toMatchSnapshot();
  });

  test('serves artifacts through the proxy, never with --default-artifact-root', () => {
    const { chart } = setup();
    const c = find(synthValid(chart), 'Deployment', 'mlflow').spec.template.spec.containers[0];
    expect(c.image).toBe(DEFAULT_MLFLOW_IMAGE);
    expect(DEFAULT_MLFLOW_IMAGE).toContain(MLFLOW_VERSION);
    expect(c.command).toEqual(['mlflow']);
    expect(c.args[0]).toBe('server');
    expect(c.args).toContain('--serve-artifacts');
    expect(arg(c.args, '--artifacts-destination')).toBe('s3://mlflow-artifacts');
    expect(c.args.join(' ')).not.toContain('--default-artifact-root');
    expect(arg(c.args, '--port')).toBe(String(MLFLOW_PORT));
    expect(arg(c.args, '--host')).toBe('0.0.0.0');
  });

  test('S3 endpoint and credentials from the artifact store: only this pod holds them', () => {
    const { chart, minio } = setup();
    const out = synthValid(chart);
    const env = envOf(find(out, 'Deployment', 'mlflow').spec.template.spec.containers[0]);
    expect(env[MLFLOW_SERVER_ENV.s3Endpoint]).toBe(minio.s3EndpointUrl);
    expect(env[MLFLOW_SERVER_ENV.accessKeyId]).toEqual({ secretKeyRef: { name: 'mlflow-s3', key: SECRET_KEYS.s3AccessKeyId } });
    expect(env[MLFLOW_SERVER_ENV.secretAccessKey]).toEqual({ secretKeyRef: { name: 'mlflow-s3', key: SECRET_KEYS.s3SecretAccessKey } });
    const holders = containers(out)
      .filter(({ container }) => (container.env ?? []).some((e: any) => e.valueFrom?.secretKeyRef?.name === 'mlflow-s3'))
      .map(({ owner }) => owner);
    // MLflow connects with these keys; the provisioning Job creates the MinIO user from them.
    expect(holders.sort()).toEqual(['Deployment/mlflow', 'Job/minio-provision']);
  });

  test('SQLite on its own PVC by default, with Recreate', () => {
    const { chart, mlflow } = setup({ storageSize: '2Gi' });
    const out = synthValid(chart);
    const deploy = find(out, 'Deployment', 'mlflow');
    const c = deploy.spec.template.spec.containers[0];
    expect(arg(c.args, '--backend-store-uri')).toBe('sqlite:////mlflow/mlflow.db');
    expect(mlflow.claimName).toBe('mlflow-db');
    expect(find(out, 'PersistentVolumeClaim', 'mlflow-db').spec.resources.requests.storage).toBe('2Gi');
    expect(deploy.spec.template.spec.volumes).toContainEqual({ name: 'db', persistentVolumeClaim: { claimName: 'mlflow-db' } });
    expect(deploy.spec.strategy.type).toBe('Recreate');
    expectMountsResolve(c, deploy.spec.template.spec);
  });

  test('database URI from a Secret: no PVC, the URI is expanded by the kubelet', () => {
    const { chart } = setup({ backendStoreSecret: { name: 'mlflow-db' } });
    const out = synthValid(chart);
    const c = find(out, 'Deployment', 'mlflow').spec.template.spec.containers[0];
    expect(arg(c.args, '--backend-store-uri')).toBe(`$(${MLFLOW_SERVER_ENV.backendStoreUri})`);
    expect(envOf(c)[MLFLOW_SERVER_ENV.backendStoreUri]).toEqual({ secretKeyRef: { name: 'mlflow-db', key: SECRET_KEYS.backendStoreUri } });
    expect(findAll(out, 'PersistentVolumeClaim').map((p) => p.metadata.name)).toEqual(['minio-data']);
  });

  test('Host allow-list has every Service DNS form and localhost for port-forward', () => {
    const { chart, mlflow } = setup();
    const c = find(synthValid(chart), 'Deployment', 'mlflow').spec.template.spec.containers[0];
    const hosts = arg(c.args, '--allowed-hosts')!.split(',');
    for (const h of ['mlflow', `mlflow.${NS}`, `mlflow.${NS}.svc`, `mlflow.${NS}.svc.cluster.local`]) {
      expect(hosts).toContain(h);
      expect(hosts).toContain(`${h}:${MLFLOW_PORT}`);
    }
    expect(hosts).toContain('localhost');
    expect(hosts).toEqual(mlflow.allowedHosts);
    expect(mlflow.trackingUri).toBe(`http://mlflow.${NS}.svc.cluster.local:${MLFLOW_PORT}`);
    expect(hosts).toContain(new URL(mlflow.trackingUri).host);
  });

  test('HTTP probes on /health, Service on 5000 selecting the pods', () => {
    const { chart } = setup();
    const out = synthValid(chart);
    const deploy = find(out, 'Deployment', 'mlflow');
    const c = deploy.spec.template.spec.containers[0];
    for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) expect(p.httpGet).toEqual({ path: PATHS.mlflowHealth, port: 'http' });
    expect(c.ports).toEqual([{ name: 'http', containerPort: MLFLOW_PORT }]);
    const svc = find(out, 'Service', 'mlflow');
    expect(svc.spec.ports).toEqual([{ name: 'http', port: MLFLOW_PORT, targetPort: 'http' }]);
    expect(deploy.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
  });

  test('NetworkPolicy: no clients means no ingress at all; clients are admitted on 5000 only', () => {
    const alone = setup();
    const npAlone = find(synthValid(alone.chart), 'NetworkPolicy', 'mlflow');
    expect(npAlone.spec.policyTypes).toEqual(['Ingress']);
    expect(npAlone.spec.ingress ?? []).toEqual([]);

    const { chart, mlflow } = setup();
    new RTrainingJob(chart, 'train', { tracking: mlflow });
    const out = synthValid(chart);
    const np = find(out, 'NetworkPolicy', 'mlflow');
    expect(np.spec.ingress).toEqual([{
      from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'r-training', 'app.kubernetes.io/instance': 'train' } } }],
      ports: [{ protocol: 'TCP', port: MLFLOW_PORT }],
    }]);
    expect(find(out, 'Job', 'train').spec.template.metadata.labels).toMatchObject(np.spec.ingress[0].from[0].podSelector.matchLabels);
  });

  test('every container is restricted', () => {
    const { chart } = setup();
    for (const { owner, container, pod } of containers(synthValid(chart))) expectRestricted(owner, container, pod);
  });
});
