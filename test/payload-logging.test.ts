// SeldonRModel's payloadLogging: the sink sidecar, the executor's logger, the credentials by
// reference, the NetworkPolicies, and the pin of the sink's image.
import * as fs from 'fs';
import * as path from 'path';
import { Testing } from 'cdk8s';
import {
  DEFAULT_PAYLOAD_SINK_IMAGE, ExternalS3Bucket, MINIO_API_PORT, MinioStore, MlflowServer, PAYLOAD_SINK, PayloadLogging, RTrainingJob,
  SELDON_EXECUTOR_HTTP_PORT, SELDON_MODEL_METRICS_PORT, SINK_ENV, SeldonRModel,
} from '../lib';
import { NS, envOf, expectMountsResolve, expectRestricted, find, fixtureScript, newChart, synthValid } from './constructs-support';

const ROOT = path.join(__dirname, '..');

function setup(options: Parameters<typeof PayloadLogging.toBucket>[1] = {}, extra: Record<string, unknown> = {}) {
  const chart = newChart();
  const minio = new MinioStore(chart, 'minio', { bucket: 'artifacts' });
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
  const train = new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: fixtureScript(), registeredModelName: 'iris' });
  new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow, payloadLogging: PayloadLogging.toBucket(minio, options), ...extra });
  return { chart, minio };
}

const pod = (out: any[], i = 0) => find(out, 'SeldonDeployment', 'iris').spec.predictors[i].componentSpecs[0].spec;
const sinkOf = (p: any) => p.containers.find((c: any) => c.name === PAYLOAD_SINK.containerName);

describe('SeldonRModel payloadLogging', () => {
  test('snapshot of the predictor with the sink', () => {
    const out = synthValid(setup().chart);
    expect(find(out, 'SeldonDeployment', 'iris').spec.predictors[0]).toMatchSnapshot();
  });

  test('the graph logger posts every payload to the sink over the pod\'s loopback', () => {
    const out = synthValid(setup().chart);
    const graph = find(out, 'SeldonDeployment', 'iris').spec.predictors[0].graph;
    expect(graph.logger).toEqual({ mode: 'all', url: `http://localhost:${PAYLOAD_SINK.eventsPort}/` });
    expect(PAYLOAD_SINK.eventsPort).toBe(9101);
  });

  test('the sink container: pinned image, its contract env, credentials by Secret reference, spool on an emptyDir', () => {
    const out = synthValid(setup().chart);
    const p = pod(out);
    const c = sinkOf(p);
    expect(c.image).toBe(DEFAULT_PAYLOAD_SINK_IMAGE);
    const env = envOf(c);
    expect(env).toEqual({
      [SINK_ENV.listen]: '127.0.0.1:9101',
      [SINK_ENV.metricsListen]: ':9102',
      [SINK_ENV.spoolDir]: '/var/spool/rmlops-sink',
      [SINK_ENV.s3Endpoint]: `http://minio.${NS}.svc:${MINIO_API_PORT}`,
      [SINK_ENV.s3Bucket]: 'artifacts',
      [SINK_ENV.s3Prefix]: 'payloads',
      [SINK_ENV.s3Region]: 'us-east-1',
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 'mlflow-s3', key: 'access-key-id' } },
      AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'mlflow-s3', key: 'secret-access-key' } },
      [SINK_ENV.batchEvents]: '1000',
      [SINK_ENV.batchSeconds]: '5',
      [SINK_ENV.drainSeconds]: '20',
      [SINK_ENV.namespace]: NS,
      [SINK_ENV.deployment]: 'iris',
    });
    // Only the metrics port is declared: the events port is loopback-only.
    expect(c.ports).toEqual([{ name: 'sink-metrics', containerPort: 9102, protocol: 'TCP' }]);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 9102 });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 9102 });
    expect(c.volumeMounts).toEqual([{ name: 'payload-spool', mountPath: '/var/spool/rmlops-sink' }]);
    expect(p.volumes).toContainEqual({ name: 'payload-spool', emptyDir: { sizeLimit: '1Gi' } });
    expect(c.resources).toEqual({ requests: { 'cpu': '20m', 'memory': '32Mi', 'ephemeral-storage': '1Gi' }, limits: { memory: '128Mi' } });
    expectRestricted('iris', c, { ...p, automountServiceAccountToken: false });
    expectMountsResolve(c, p);
    // No credential value in the manifests.
    expect(JSON.stringify(out)).not.toMatch(/"AWS_SECRET_ACCESS_KEY","value"/);
  });

  test('options: bucket, prefix, mode, credentials, batching, resources', () => {
    const out = synthValid(setup({
      bucket: 'payload-logs', prefix: 'team-a/preds', mode: 'request', spoolSize: '4Gi', batchEvents: 200, batchSeconds: 2, drainSeconds: 40,
      credentialsSecret: { name: 'payload-writer', accessKeyIdKey: 'id', secretAccessKeyKey: 'key' },
      resources: { cpuRequest: '50m', memoryLimit: '256Mi' },
    }).chart);
    const c = sinkOf(pod(out));
    const env = envOf(c);
    expect(env[SINK_ENV.s3Bucket]).toBe('payload-logs');
    expect(env[SINK_ENV.s3Prefix]).toBe('team-a/preds');
    expect(env[SINK_ENV.batchEvents]).toBe('200');
    expect(env[SINK_ENV.batchSeconds]).toBe('2');
    expect(env[SINK_ENV.drainSeconds]).toBe('40');
    expect(env.AWS_ACCESS_KEY_ID).toEqual({ secretKeyRef: { name: 'payload-writer', key: 'id' } });
    expect(env.AWS_SECRET_ACCESS_KEY).toEqual({ secretKeyRef: { name: 'payload-writer', key: 'key' } });
    expect(c.resources.requests).toEqual({ 'cpu': '50m', 'memory': '32Mi', 'ephemeral-storage': '4Gi' });
    expect(find(out, 'SeldonDeployment', 'iris').spec.predictors[0].graph.logger.mode).toBe('request');
  });

  test('canary predictors carry the sink and the logger too', () => {
    const chart = newChart();
    const minio = new MinioStore(chart, 'minio');
    const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
    new SeldonRModel(chart, 'iris', {
      model: 'models:/iris@champion', tracking: mlflow, payloadLogging: PayloadLogging.toBucket(minio),
      canary: { model: 'models:/iris@challenger', traffic: 10 }, ingress: 'istio',
    });
    const preds = find(synthValid(chart), 'SeldonDeployment', 'iris').spec.predictors;
    expect(preds).toHaveLength(2);
    for (const p of preds) {
      expect(p.graph.logger.url).toBe('http://localhost:9101/');
      expect(p.componentSpecs[0].spec.containers.map((c: any) => c.name)).toEqual(['model', 'payload-sink']);
    }
  });

  test('NetworkPolicies: MinIO admits the model pods; scrapers reach the sink\'s metrics port, nothing reaches its events port', () => {
    const out = synthValid(setup().chart);
    const sdep = find(out, 'SeldonDeployment', 'iris');
    const podLabels = sdep.spec.predictors[0].componentSpecs[0].metadata.labels;
    const minioNp = find(out, 'NetworkPolicy', 'minio');
    const peers = minioNp.spec.ingress[0].from.map((f: any) => f.podSelector.matchLabels);
    expect(peers.some((sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => podLabels[k] === v))).toBe(true);
    const np = find(out, 'NetworkPolicy', 'iris');
    const ports = np.spec.ingress.flatMap((r: any) => r.ports.map((p: any) => p.port));
    expect(ports).toContain(PAYLOAD_SINK.metricsPort);
    expect(ports).not.toContain(PAYLOAD_SINK.eventsPort);
    expect(np.spec.ingress[1].ports.map((p: any) => p.port)).toEqual([SELDON_EXECUTOR_HTTP_PORT, SELDON_MODEL_METRICS_PORT, PAYLOAD_SINK.metricsPort]);
  });

  test('without payloadLogging: no sink, no logger, no sink port in the NetworkPolicy', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/iris', modelVolume: { claimName: 'models' } });
    const out = synthValid(chart);
    const p = find(out, 'SeldonDeployment', 'iris').spec.predictors[0];
    expect(p.graph.logger).toBeUndefined();
    expect(p.componentSpecs[0].spec.containers.map((c: any) => c.name)).toEqual(['model']);
    const ports = find(out, 'NetworkPolicy', 'iris').spec.ingress.flatMap((r: any) => r.ports.map((x: any) => x.port));
    expect(ports).not.toContain(PAYLOAD_SINK.metricsPort);
  });

  test('an external bucket works too (its credentials Secret by name)', () => {
    const chart = newChart();
    const bucket = new ExternalS3Bucket(chart, 's3', { endpointUrl: 'https://s3.eu-west-1.amazonaws.com', bucket: 'logs', region: 'eu-west-1' });
    new SeldonRModel(chart, 'iris', { model: 'file:///models/iris', modelVolume: { claimName: 'models' }, payloadLogging: PayloadLogging.toBucket(bucket) });
    const env = envOf(sinkOf(pod(synthValid(chart))));
    expect(env[SINK_ENV.s3Endpoint]).toBe('https://s3.eu-west-1.amazonaws.com');
    expect(env[SINK_ENV.s3Region]).toBe('eu-west-1');
  });

  test.each<[string, Parameters<typeof PayloadLogging.toBucket>[1], Record<string, unknown>, RegExp]>([
    ['a bad prefix', { prefix: '/payloads/' }, {}, /\[test\/iris\] payloadLogging\.prefix = "\/payloads\/": is not a key prefix.*Fix: use a prefix such as "payloads"/],
    ['a bad mode', { mode: 'everything' as any }, {}, /payloadLogging\.mode = "everything": is not a mode of Seldon's payload logger\. Fix: use "all", "request" or "response"/],
    ['an unpinned image', { image: 'ghcr.io/rmlops/payload-sink' }, {}, /payloadLogging\.image = "ghcr\.io\/rmlops\/payload-sink"/],
    ['a bad bucket', { bucket: 'Bad_Bucket' }, {}, /payloadLogging\.bucket = "Bad_Bucket": is not a valid S3 bucket name/],
    ['zero batch events', { batchEvents: 0 }, {}, /payloadLogging\.batchEvents = 0: is not an integer from 1/],
    ['a bad spool size', { spoolSize: 'lots' }, {}, /payloadLogging\.spoolSize = "lots": is not a Kubernetes quantity/],
    ['an extra container on the sink\'s metrics port', {}, { extraContainers: [{ name: 'stats', image: 'docker.io/prom/statsd-exporter:v0.28.0', ports: [{ name: 'stats', containerPort: 9102 }] }] },
      /extraContainers\[0\]\.ports\[0\]\.containerPort = 9102: is a port of the payload sink/],
    ['an extra container named like the sink', {}, { extraContainers: [{ name: 'payload-sink', image: 'docker.io/library/busybox:1.36' }] },
      /extraContainers\[0\]\.name = "payload-sink": is the name of the payload sink/],
  ])('rejects %s at synth', (_what, options, extra, message) => {
    const { chart } = setup(options, extra);
    expect(() => Testing.synth(chart)).toThrow(message);
  });

  test('the default image is the sink\'s pin in versions.json, and sink/go.mod requires the pinned minio-go', () => {
    const versions = JSON.parse(fs.readFileSync(path.join(ROOT, 'versions.json'), 'utf8'));
    expect(DEFAULT_PAYLOAD_SINK_IMAGE).toBe(`ghcr.io/rmlops/payload-sink:${versions.payloadSink.version}`);
    const gomod = fs.readFileSync(path.join(ROOT, 'sink', 'go.mod'), 'utf8');
    expect(gomod).toMatch(new RegExp(`^require github\\.com/minio/minio-go/v7 ${versions.payloadSink.minioGo.replace(/\./g, '\\.')}$`, 'm'));
  });

  test('the sink reads the env names of the contract (sink/main.go)', () => {
    const src = fs.readFileSync(path.join(ROOT, 'sink', 'main.go'), 'utf8');
    for (const name of Object.values(SINK_ENV)) expect({ name, read: src.includes(`"${name}"`) }).toEqual({ name, read: true });
    for (const t of Object.values(PAYLOAD_SINK.eventTypes)) expect(src).toContain(`"${t}"`);
    expect(src).toContain(`"${PAYLOAD_SINK.spoolPath}"`);
    expect(src).toContain(`"127.0.0.1:${PAYLOAD_SINK.eventsPort}"`);
    expect(src).toContain(`":${PAYLOAD_SINK.metricsPort}"`);
  });
});
