import {
  DEFAULT_MLFLOW_IMAGE, LABELS, MLFLOW_DEFAULT_ALLOWED_HOSTS, MLFLOW_PORT, MLFLOW_SERVER_ENV, MLFLOW_VERSION, MinioStore,
  MlflowServer, PATHS, RTrainingJob, SECRET_KEYS,
} from '../lib';
import { DNS_RULE, NS, containers, envOf, expectMountsResolve, expectRestricted, find, findAll, fixtureScript, newChart, synthValid } from './constructs-support';

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

/**
 * MLflow's Host check: an entry with `*` is an fnmatch pattern (Python's fnmatch: `*`, `?`,
 * `[...]` classes), anything else must equal the Host header.
 */
function hostAllowed(allowed: string[], host: string): boolean {
  const fnmatch = (pattern: string): RegExp => {
    let re = '';
    for (let i = 0; i < pattern.length; i++) {
      const ch = pattern[i];
      if (ch === '*') re += '.*';
      else if (ch === '?') re += '.';
      else if (ch === '[') {
        const end = pattern.indexOf(']', i + 2);
        if (end < 0) re += '\\[';
        else {
          re += `[${pattern.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
          i = end;
        }
      } else re += ch.replace(/[.+^${}()|\\]/g, '\\$&');
    }
    return new RegExp(`^${re}$`);
  };
  return allowed.some((a) => (a.includes('*') ? fnmatch(a).test(host) : a === host));
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

  test('two uvicorn workers and no server-side job execution by default (measured: 12 processes, 1.28 GiB otherwise)', () => {
    const { chart } = setup();
    const c = find(synthValid(chart), 'Deployment', 'mlflow').spec.template.spec.containers[0];
    expect(arg(c.args, '--workers')).toBe('2');
    expect(envOf(c)[MLFLOW_SERVER_ENV.jobExecution]).toBe('false');
  });

  test('workers and jobExecution props reach the command line and env', () => {
    const { chart } = setup({ workers: 4, jobExecution: true });
    const c = find(synthValid(chart), 'Deployment', 'mlflow').spec.template.spec.containers[0];
    expect(arg(c.args, '--workers')).toBe('4');
    expect(envOf(c)[MLFLOW_SERVER_ENV.jobExecution]).toBe('true');
  });

  test.each([
    [0, 'test/mlflow] workers = 0: is not an integer from 1 to 2147483647. Fix: use an integer of at least 1 and at most 2147483647'],
    [1.5, 'test/mlflow] workers = 1.5: is not an integer from 1 to 2147483647. Fix: use an integer of at least 1 and at most 2147483647'],
    [17, 'test/mlflow] workers = 17: is more than 16: each worker holds a whole MLflow in memory. Fix: use 1 to 16, and more replicas with a database backend for more throughput'],
  ])('bad input: workers = %p fails at synth with the fix', (workers, line) => {
    const { chart } = setup({ workers });
    expect(() => synthValid(chart)).toThrow(`[${line}`);
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
    expect(hosts).toContain('localhost:*');
    expect(hosts).toEqual(mlflow.allowedHosts);
    expect(mlflow.trackingUri).toBe(`http://mlflow.${NS}.svc:${MLFLOW_PORT}`);
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
    expect(npAlone.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(npAlone.spec.ingress ?? []).toEqual([]);
    // Out: the DNS and MinIO's pods on the S3 container port, nothing else.
    expect(npAlone.spec.egress).toEqual([DNS_RULE, {
      to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'minio', 'app.kubernetes.io/instance': 'minio' } } }],
      ports: [{ protocol: 'TCP', port: 9000 }],
    }]);

    const { chart, mlflow } = setup();
    new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: fixtureScript() });
    const out = synthValid(chart);
    const np = find(out, 'NetworkPolicy', 'mlflow');
    expect(np.spec.ingress).toEqual([{
      from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'r-training', 'app.kubernetes.io/instance': 'train' } } }],
      ports: [{ protocol: 'TCP', port: MLFLOW_PORT }],
    }]);
    expect(find(out, 'Job', 'train').spec.template.metadata.labels).toMatchObject(np.spec.ingress[0].from[0].podSelector.matchLabels);
    // And the Job's own policy: egress to MLflow's pods on 5000, no ingress.
    const job = find(out, 'NetworkPolicy', 'train');
    expect(job.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'r-training', 'app.kubernetes.io/instance': 'train' });
    expect(job.spec.ingress).toEqual([]);
    expect(job.spec.egress).toEqual([DNS_RULE, { to: [{ podSelector: { matchLabels: np.spec.podSelector.matchLabels } }], ports: [{ protocol: 'TCP', port: MLFLOW_PORT }] }]);
  });

  test('every container is restricted', () => {
    const { chart } = setup();
    for (const { owner, container, pod } of containers(synthValid(chart))) expectRestricted(owner, container, pod);
  });

  test('Host allow-list keeps MLflow\'s default: pod IPs and ClusterIPs in private ranges, IPv6 loopback', () => {
    const { chart, mlflow } = setup();
    const hosts = arg(find(synthValid(chart), 'Deployment', 'mlflow').spec.template.spec.containers[0].args, '--allowed-hosts')!.split(',');
    expect(hosts).toEqual(expect.arrayContaining([...MLFLOW_DEFAULT_ALLOWED_HOSTS]));
    for (const ok of ['10.244.1.7:5000', '10.96.0.12', '192.168.49.2:5000', '172.16.0.1:5000', '172.31.255.1', 'localhost:8080', '127.0.0.1:5000', '[::1]:5000', `mlflow.${NS}.svc:5000`]) {
      expect({ ok, allowed: hostAllowed(mlflow.allowedHosts, ok) }).toEqual({ ok, allowed: true });
    }
    for (const bad of ['172.32.0.1:5000', '8.8.8.8', 'evil.example.com', `mlflow.${NS}.svc.other.domain`]) {
      expect({ bad, allowed: hostAllowed(mlflow.allowedHosts, bad) }).toEqual({ bad, allowed: false });
    }
  });

  test('clusterDomain only adds the fully qualified name to the allow-list; the tracking URI ends in .svc', () => {
    const { mlflow } = setup({ clusterDomain: 'corp.internal' });
    expect(mlflow.allowedHosts).toContain(`mlflow.${NS}.svc.corp.internal`);
    expect(mlflow.allowedHosts).toContain(`mlflow.${NS}.svc.corp.internal:${MLFLOW_PORT}`);
    expect(mlflow.allowedHosts).not.toContain(`mlflow.${NS}.svc.cluster.local`);
    expect(mlflow.trackingUri).toBe(`http://mlflow.${NS}.svc:${MLFLOW_PORT}`);
  });

  test('without a namespace, the tracking URI is the short Service name', () => {
    const chart = newChart(null);
    const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio') });
    expect(mlflow.trackingUri).toBe(`http://mlflow:${MLFLOW_PORT}`);
    expect(mlflow.allowedHosts).toEqual(expect.arrayContaining(['mlflow', `mlflow:${MLFLOW_PORT}`]));
  });

  test('app.kubernetes.io/version: MLFLOW_VERSION for the default image, the tag of a given image, none for a digest', () => {
    const version = (image?: string) => {
      const { chart } = setup(image ? { image } : {});
      const d = find(synthValid(chart), 'Deployment', 'mlflow');
      expect(d.spec.template.metadata.labels[LABELS.version]).toBe(d.metadata.labels[LABELS.version]);
      return d.metadata.labels[LABELS.version];
    };
    expect(version()).toBe(MLFLOW_VERSION);
    expect(version('registry.example.com/team/mlflow:2.22.1-boto3')).toBe('2.22.1-boto3');
    expect(version(`registry.example.com/team/mlflow@sha256:${'b'.repeat(64)}`)).toBeUndefined();
  });

  test('scratch: /tmp emptyDir of 4Gi by default (the artifact proxy buffers there), requested as ephemeral-storage', () => {
    for (const [props, size] of [[{}, '4Gi'], [{ scratchSize: '20Gi' }, '20Gi']] as const) {
      const { chart } = setup(props);
      const pod = find(synthValid(chart), 'Deployment', 'mlflow').spec.template.spec;
      expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: { sizeLimit: size } });
      expect(pod.containers[0].resources.requests['ephemeral-storage']).toBe(size);
      expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    }
  });

  test('resources: a limit below the default request lowers the request; a request above the default limit raises it', () => {
    const res = (resources: object) => {
      const { chart } = setup({ resources });
      return find(synthValid(chart), 'Deployment', 'mlflow').spec.template.spec.containers[0].resources;
    };
    expect(res({ memoryLimit: '512Mi' })).toMatchObject({ requests: { memory: '512Mi', cpu: '100m' }, limits: { memory: '512Mi' } });
    expect(res({ memoryLimit: '4G' })).toMatchObject({ requests: { memory: '1Gi' }, limits: { memory: '4G' } });
    expect(res({ memoryRequest: '3Gi' })).toMatchObject({ requests: { memory: '3Gi' }, limits: { memory: '3Gi' } });
    expect(res({ cpuLimit: '50m' })).toMatchObject({ requests: { cpu: '50m' }, limits: { cpu: '50m' } });
    expect(res({ cpuLimit: '2' })).toMatchObject({ requests: { cpu: '100m' }, limits: { cpu: '2' } });
  });
});
