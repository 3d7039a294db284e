import {
  DEFAULT_MC_IMAGE, DEFAULT_MINIO_IMAGE, ExternalS3Bucket, LABELS, MINIO_API_PORT, MINIO_CONSOLE_PORT, MinioStore,
  MlflowServer, PATHS, SECRET_KEYS,
} from '../lib';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DNS_RULE, NS, containers, envOf, expectMountsResolve, expectRestricted, find, findAll, newChart, synthValid } from './constructs-support';

describe('MinioStore', () => {
  test('default snapshot', () => {
    const chart = newChart();
    new MinioStore(chart, 'minio');
    expect(synthValid(chart)).toMatchSnapshot();
  });

  test('variant snapshot: storage class, size, extra buckets, own Secrets', () => {
    const chart = newChart();
    new MinioStore(chart, 'store', {
      bucket: 'artifacts',
      extraBuckets: ['datasets', 'reports'],
      storageSize: '50Gi',
      storageClassName: 'fast-ssd',
      rootCredentialsSecret: 'store-root',
      clientCredentialsSecret: 'store-mlflow',
    });
    expect(synthValid(chart)).toMatchSnapshot();
  });

  test('exposes the S3 endpoint, bucket and credentials Secret (the artifact-store interface)', () => {
    const chart = newChart();
    const minio = new MinioStore(chart, 'minio', { bucket: 'artifacts' });
    // `.svc`, no cluster domain: resolves through the pod's DNS search path on any cluster.
    expect(minio.s3EndpointUrl).toBe(`http://minio.${NS}.svc:${MINIO_API_PORT}`);
    expect(minio.consoleUrl).toBe(`http://minio.${NS}.svc:${MINIO_CONSOLE_PORT}`);
    expect(minio.bucket).toBe('artifacts');
    expect(minio.credentialsSecret).toEqual({ name: 'mlflow-s3', accessKeyIdKey: SECRET_KEYS.s3AccessKeyId, secretAccessKeyKey: SECRET_KEYS.s3SecretAccessKey });
  });

  test('Deployment: pinned image, Recreate, PVC, probes, ports, Service selects the pods', () => {
    const chart = newChart();
    new MinioStore(chart, 'minio', { storageSize: '20Gi', storageClassName: 'standard' });
    const out = synthValid(chart);
    const deploy = find(out, 'Deployment', 'minio');
    const pod = deploy.spec.template;
    const c = pod.spec.containers[0];
    expect(c.image).toBe(DEFAULT_MINIO_IMAGE);
    expect(deploy.spec.strategy).toEqual({ type: 'Recreate' });
    expect(deploy.spec.replicas).toBe(1);
    expect(c.ports).toEqual([{ name: 's3', containerPort: MINIO_API_PORT }, { name: 'console', containerPort: MINIO_CONSOLE_PORT }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: PATHS.minioLive, port: 's3' });
    expect(c.readinessProbe.httpGet).toEqual({ path: PATHS.minioReady, port: 's3' });
    expect(c.args).toEqual(expect.arrayContaining(['server', '/data', '--console-address', `:${MINIO_CONSOLE_PORT}`]));

    const pvc = find(out, 'PersistentVolumeClaim', 'minio-data');
    expect(pvc.spec).toEqual({ accessModes: ['ReadWriteOnce'], storageClassName: 'standard', resources: { requests: { storage: '20Gi' } } });
    expect(pod.spec.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: 'minio-data' } });
    expectMountsResolve(c, pod.spec);

    const svc = find(out, 'Service', 'minio');
    expect(svc.spec.ports).toEqual([
      { name: 's3', port: MINIO_API_PORT, targetPort: 's3' },
      { name: 'console', port: MINIO_CONSOLE_PORT, targetPort: 'console' },
    ]);
    expect(pod.metadata.labels).toMatchObject(svc.spec.selector);
    expect(deploy.spec.selector.matchLabels).toEqual(svc.spec.selector);
    expect(svc.spec.selector).toEqual({ [LABELS.name]: 'minio', [LABELS.instance]: 'minio' });
  });

  test('root credentials come from the existing Secret, never as values', () => {
    const out = synthValid((() => { const c = newChart(); new MinioStore(c, 'minio'); return c; })());
    const env = envOf(find(out, 'Deployment', 'minio').spec.template.spec.containers[0]);
    expect(env.MINIO_ROOT_USER).toEqual({ secretKeyRef: { name: 'minio-root', key: SECRET_KEYS.minioRootUser } });
    expect(env.MINIO_ROOT_PASSWORD).toEqual({ secretKeyRef: { name: 'minio-root', key: SECRET_KEYS.minioRootPassword } });
    expect(findAll(out, 'Secret')).toEqual([]);
  });

  test('provisioning Job: mc, idempotent, waits for MinIO, retries, least-privilege policy', () => {
    const chart = newChart();
    new MinioStore(chart, 'minio', { bucket: 'artifacts', extraBuckets: ['data'] });
    const out = synthValid(chart);
    const job = find(out, 'Job', 'minio-provision');
    const c = job.spec.template.spec.containers[0];
    expect(c.image).toBe(DEFAULT_MC_IMAGE);
    const script = c.command[2];
    expect(script).toContain('mc mb --ignore-existing');
    // Each retry prints mc's own error (wrong credentials must not look like a MinIO still starting).
    expect(script).toContain('until out=$(mc alias set store "$S3_ENDPOINT" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" 2>&1); do');
    expect(script).toContain('echo "waiting for MinIO at $S3_ENDPOINT: $out"');
    expect(script).not.toContain('/dev/null');
    expect(script).toContain('mc admin user add');
    expect(script).toContain('mc admin policy attach');
    expect(job.spec.backoffLimit).toBeGreaterThan(0);
    expect(job.spec.activeDeadlineSeconds).toBe(600);
    const env = envOf(c);
    expect(env.READY_WAIT_SECONDS).toBe('300');
    expect(env.BUCKETS).toBe('artifacts data');
    expect(env.S3_ENDPOINT).toBe(`http://minio.${NS}.svc:9000`);
    expect(env.CLIENT_ACCESS_KEY).toEqual({ secretKeyRef: { name: 'mlflow-s3', key: SECRET_KEYS.s3AccessKeyId } });
    expect(env.MC_CONFIG_DIR).toBe('/tmp/.mc');
    expectMountsResolve(c, job.spec.template.spec);

    const cm = find(out, 'ConfigMap', 'minio-client-policy');
    const policy = JSON.parse(cm.data['policy.json']);
    const resources = policy.Statement.flatMap((s: any) => s.Resource);
    expect(resources).toEqual(['arn:aws:s3:::artifacts', 'arn:aws:s3:::artifacts/*']);
    expect(policy.Statement.flatMap((s: any) => s.Action)).not.toContain('s3:*');
  });

  test('NetworkPolicy: S3 API only from MLflow and the provisioning Job', () => {
    const chart = newChart();
    const minio = new MinioStore(chart, 'minio');
    new MlflowServer(chart, 'mlflow', { artifactStore: minio });
    const out = synthValid(chart);
    const np = find(out, 'NetworkPolicy', 'minio');
    expect(np.spec.podSelector.matchLabels).toEqual(find(out, 'Service', 'minio').spec.selector);
    // Both directions: MinIO itself reaches only the DNS.
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.egress).toEqual([DNS_RULE]);
    expect(np.spec.ingress).toHaveLength(1);
    expect(np.spec.ingress[0].ports).toEqual([{ protocol: 'TCP', port: MINIO_API_PORT }]);
    const peers = np.spec.ingress[0].from.map((f: any) => f.podSelector.matchLabels);
    const jobLabels = find(out, 'Job', 'minio-provision').spec.template.metadata.labels;
    const mlflowLabels = find(out, 'Deployment', 'mlflow').spec.template.metadata.labels;
    expect(peers).toHaveLength(2);
    expect(jobLabels).toMatchObject(peers[0]);
    expect(mlflowLabels).toMatchObject(peers[1]);
    // The provisioning Job: no ingress; egress to DNS and to MinIO's pods on the S3 port (a
    // container port: NetworkPolicy sees the connection after the Service's DNAT).
    const job = find(out, 'NetworkPolicy', 'minio-provision');
    expect(job.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'minio-provisioner', 'app.kubernetes.io/instance': 'minio-provision' });
    expect(jobLabels).toMatchObject(job.spec.podSelector.matchLabels);
    expect(job.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(job.spec.ingress).toEqual([]);
    expect(job.spec.egress).toEqual([DNS_RULE, { to: [{ podSelector: { matchLabels: np.spec.podSelector.matchLabels } }], ports: [{ protocol: 'TCP', port: MINIO_API_PORT }] }]);
  });

  test('every container is restricted', () => {
    const chart = newChart();
    new MinioStore(chart, 'minio');
    for (const { owner, container, pod } of containers(synthValid(chart))) expectRestricted(owner, container, pod);
  });

  test('without a namespace, the endpoint is the short Service name', () => {
    const chart = newChart(null);
    const minio = new MinioStore(chart, 'minio');
    expect(minio.s3EndpointUrl).toBe('http://minio:9000');
  });
});

/**
 * The provisioning script run by /bin/sh with a stand-in `mc` on PATH that only records its
 * calls: `mc ready` returns once the file `ready` exists (the real one polls MinIO's
 * /minio/health/cluster every 5 s until it answers 200). This checks the script's order and
 * bound; `npm run e2e` runs the same script against the real mc and MinIO.
 */
describe('MinioStore provisioning script (sh, mc stand-in)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  function run(readyAfterMs: number | undefined, waitSeconds: string): Promise<{ code: number | null; calls: string[]; stderr: string; ms: number }> {
    const chart = newChart();
    new MinioStore(chart, 'minio', { bucket: 'artifacts' });
    const c = find(synthValid(chart), 'Job', 'minio-provision').spec.template.spec.containers[0];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-mc-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'mc'), [
      '#!/bin/sh',
      `echo "$1 $2" >> "${dir}/calls"`,
      `if [ "$1" = ready ]; then while [ ! -e "${dir}/ready" ]; do sleep 0.1; done; fi`,
      'exit 0',
      '',
    ].join('\n'), { mode: 0o755 });
    const env: Record<string, string> = {
      PATH: `${dir}:${process.env.PATH}`, S3_ENDPOINT: 'http://127.0.0.1:9', BUCKETS: 'artifacts', POLICY_NAME: 'p', POLICY_FILE: '/dev/null',
      MINIO_ROOT_USER: 'u', MINIO_ROOT_PASSWORD: 'p', CLIENT_ACCESS_KEY: 'k', CLIENT_SECRET_KEY: 's', READY_WAIT_SECONDS: waitSeconds,
    };
    const started = Date.now();
    const child = spawn(c.command[0], c.command.slice(1), { env });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = readyAfterMs === undefined ? undefined : setTimeout(() => fs.writeFileSync(path.join(dir, 'ready'), ''), readyAfterMs);
    const killer = setTimeout(() => child.kill('SIGKILL'), 20000);
    return new Promise((resolve) => child.on('close', (code) => {
      clearTimeout(killer);
      if (timer) clearTimeout(timer);
      fs.writeFileSync(path.join(dir, 'ready'), ''); // releases a stand-in the script left behind
      const calls = fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n');
      resolve({ code, calls, stderr, ms: Date.now() - started });
    }));
  }

  test('waits for `mc ready` after `mc alias set` and before `mc mb`', async () => {
    const r = await run(1500, '30');
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.calls.map((l) => l.split(' ')[0])).toEqual(['alias', 'ready', 'mb', 'admin', 'admin', 'admin']);
    expect(r.ms).toBeGreaterThanOrEqual(1500);
  });

  test('a MinIO that never gets ready fails the attempt after READY_WAIT_SECONDS, creating nothing', async () => {
    const r = await run(undefined, '2');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('MinIO at http://127.0.0.1:9 not ready after 2 s\n');
    expect(r.calls.map((l) => l.split(' ')[0])).toEqual(['alias', 'ready']);
    expect(r.ms).toBeLessThan(10000);
  });
});

describe('ExternalS3Bucket', () => {
  test('synthesizes nothing and feeds MLflow the same way MinIO does', () => {
    const chart = newChart();
    const bucket = new ExternalS3Bucket(chart, 's3', {
      endpointUrl: 'https://s3.eu-west-1.amazonaws.com',
      bucket: 'team-a-mlflow',
      region: 'eu-west-1',
      credentialsSecretName: 'aws-mlflow',
    });
    new MlflowServer(chart, 'mlflow', { artifactStore: bucket });
    const out = synthValid(chart);
    expect(out.map((o) => o.kind).sort()).toEqual(['Deployment', 'NetworkPolicy', 'PersistentVolumeClaim', 'Service']);
    const c = find(out, 'Deployment', 'mlflow').spec.template.spec.containers[0];
    const env = envOf(c);
    expect(env.MLFLOW_S3_ENDPOINT_URL).toBe('https://s3.eu-west-1.amazonaws.com');
    expect(env.AWS_DEFAULT_REGION).toBe('eu-west-1');
    expect(env.AWS_ACCESS_KEY_ID).toEqual({ secretKeyRef: { name: 'aws-mlflow', key: SECRET_KEYS.s3AccessKeyId } });
    expect(c.args).toEqual(expect.arrayContaining(['--artifacts-destination', 's3://team-a-mlflow']));
    expect(out).toMatchSnapshot();
  });
});
