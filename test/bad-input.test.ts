// Invalid props fail at synth with one line naming the construct path, the bad value and the fix,
// before any YAML is written.
import { Chart, Testing } from 'cdk8s';
import { ExternalS3Bucket, MinioStore, MlflowServer, RTrainingJob, SeldonRModel } from '../lib';
import { fixtureScript, newChart } from './constructs-support';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The synth error has one line with `[path] prop = value: ... Fix: fix`. */
function expectSynthError(chart: Chart, path: string, prop: string, value: unknown, fix: string): void {
  const line = new RegExp(`\\[${escape(path)}\\] ${escape(prop)} = ${escape(JSON.stringify(value))}: [^\\n]*Fix: [^\\n]*${escape(fix)}`);
  expect(() => Testing.synth(chart)).toThrow(line);
}

function pipeline(chart: Chart) {
  const minio = new MinioStore(chart, 'minio');
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
  return { minio, mlflow };
}

describe('bad input is reported at synth with path, value and fix', () => {
  // ---- names
  test('1. a name that is not a DNS-1123 label', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'Iris_Model', { model: 'file:///m' });
    expectSynthError(chart, 'test/Iris_Model', 'name', 'Iris_Model', 'use a name such as "iris-model" (set the `name` prop');
  });

  test('2. a Service name that does not start with a letter (DNS-1035)', () => {
    const chart = newChart();
    new MlflowServer(chart, 'tracking', { name: '1mlflow', artifactStore: new MinioStore(chart, 'minio') });
    expectSynthError(chart, 'test/tracking', 'name', '1mlflow', 'use a name such as "mlflow"');
  });

  test('3. a name too long for its derived objects', () => {
    const chart = newChart();
    const name = 'a'.repeat(60);
    new MinioStore(chart, 'minio', { name });
    expectSynthError(chart, 'test/minio', 'name', name, 'shorten it to at most 53 characters');
  });

  test('4. a name longer than 63 characters', () => {
    const chart = newChart();
    const name = 'train-' + 'x'.repeat(60);
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), name, tracking: pipeline(chart).mlflow });
    expectSynthError(chart, 'test/train', 'name', name, 'use a name such as');
  });

  // ---- buckets
  test.each([
    ['5. upper case and underscore', 'My_Bucket', 'only lower-case letters'],
    ['6. too short', 'ab', '2 characters'],
    ['7. IP address', '192.168.1.10', 'looks like an IP address'],
    ['8. xn-- prefix', 'xn--bucket', 'reserved'],
    ['9. -s3alias suffix', 'models-s3alias', 'reserved'],
    ['10. consecutive dots', 'a..b', 'contains ".."'],
  ])('%s bucket name', (_label, bucket, why) => {
    const chart = newChart();
    new MinioStore(chart, 'minio', { bucket });
    expect(() => Testing.synth(chart)).toThrow(new RegExp(`${escape(why)}`));
    expectSynthError(chart, 'test/minio', 'bucket', bucket, 'use a name such as');
  });

  // ---- ports
  test('11. a computed executor port (plain-JS callers and `number`s escape the type check)', () => {
    const chart = newChart();
    const port: number = Number('8000');
    new SeldonRModel(chart, 'iris', { model: 'file:///m', httpPort: port });
    expectSynthError(chart, 'test/iris', 'httpPort', 8000, 'use another port, e.g. 9000');
    expect(() => Testing.synth(chart)).toThrow(/owned by the Seldon executor/);
  });

  test('12. a port out of range', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///m', httpPort: 70000 });
    expectSynthError(chart, 'test/iris', 'httpPort', 70000, 'use an integer port');
  });

  test('13. an extra container declaring the executor gRPC port', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///m',
      extraContainers: [{ name: 'proxy', image: 'docker.io/envoyproxy/envoy:v1.31.0', ports: [{ containerPort: 5001 }] }],
    });
    expectSynthError(chart, 'test/iris', 'extraContainers[0].ports[0].containerPort', 5001, 'use another port');
  });

  test('14. a port name over 15 characters', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///m',
      extraContainers: [{ name: 'exporter', image: 'docker.io/prom/statsd-exporter:v0.28.0', ports: [{ name: 'prometheus-metrics', containerPort: 9102 }] }],
    });
    expectSynthError(chart, 'test/iris', 'extraContainers[0].ports[0].name', 'prometheus-metrics', 'use a name such as "prometheus-metr"');
  });

  test('15. an extra port named http (would steal the executor route)', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///m',
      extraContainers: [{ name: 'web', image: 'docker.io/library/nginx:1.27.3', ports: [{ name: 'http', containerPort: 9080 }] }],
    });
    expectSynthError(chart, 'test/iris', 'extraContainers[0].ports[0].name', 'http', 'name it after what it serves');
  });

  test('16. an extra port colliding with the model port', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///m',
      extraContainers: [{ name: 'web', image: 'docker.io/library/nginx:1.27.3', ports: [{ name: 'web', containerPort: 9000 }] }],
    });
    expectSynthError(chart, 'test/iris', 'extraContainers[0].ports[0].containerPort', 9000, 'pick a free port');
  });

  // ---- replicas, storage, quantities
  test('17. negative replicas', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///m', replicas: -1 });
    expectSynthError(chart, 'test/iris', 'replicas', -1, 'use an integer such as 1');
  });

  test('18. non-integer replicas', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///m', replicas: 1.5 });
    expectSynthError(chart, 'test/iris', 'replicas', 1.5, 'use an integer such as 1');
  });

  test('19. zero storage', () => {
    const chart = newChart();
    new MinioStore(chart, 'minio', { storageSize: '0Gi' });
    expectSynthError(chart, 'test/minio', 'storageSize', '0Gi', 'use a positive quantity');
  });

  test('20. a storage size that is not a Kubernetes quantity', () => {
    const chart = newChart();
    new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio'), storageSize: '10GB' });
    expectSynthError(chart, 'test/mlflow', 'storageSize', '10GB', 'use a quantity such as "512Mi"');
  });

  test('21. a memory limit that is not a quantity', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, resources: { memoryLimit: '2 gigs' } });
    expectSynthError(chart, 'test/train', 'resources.memoryLimit', '2 gigs', 'use a quantity such as');
  });

  // ---- images
  test('22. an image without a tag', () => {
    const chart = newChart();
    new MinioStore(chart, 'minio', { image: 'minio/minio' });
    expectSynthError(chart, 'test/minio', 'image', 'minio/minio', 'pin an exact version tag');
  });

  test('23. an image on :latest', () => {
    const chart = newChart();
    new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio'), image: 'ghcr.io/mlflow/mlflow:latest' });
    expectSynthError(chart, 'test/mlflow', 'image', 'ghcr.io/mlflow/mlflow:latest', 'pin an exact version tag');
  });

  test('24. an image with a malformed digest', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///m', image: 'ghcr.io/rmlops/r-serve@sha256:abc' });
    expectSynthError(chart, 'test/iris', 'image', 'ghcr.io/rmlops/r-serve@sha256:abc', 'or a digest');
  });

  // ---- MLflow names and URIs
  test('25. the reserved alias "latest"', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, modelAlias: 'latest' });
    expectSynthError(chart, 'test/train', 'modelAlias', 'latest', 'use an alias such as "champion"');
  });

  test('26. a version-like alias', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, modelAlias: 'v3' });
    expectSynthError(chart, 'test/train', 'modelAlias', 'v3', 'use an alias such as "champion"');
  });

  test('27. a registered model name that breaks models:/ URIs', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, registeredModelName: 'team/iris' });
    expectSynthError(chart, 'test/train', 'registeredModelName', 'team/iris', 'use a name such as "team-iris"');
  });

  test('28. a model that is not a URI', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'iris' });
    expectSynthError(chart, 'test/iris', 'model', 'iris', 'use "models:/<name>@<alias>"');
  });

  test('29. a models:/ URI without a tracking server', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'models:/iris@champion' });
    expect(() => Testing.synth(chart)).toThrow(/\[test\/iris\] tracking = undefined: is required to load "models:\/iris@champion" from MLflow\. Fix: pass the MlflowServer as `tracking`/);
  });

  test('30. a quality threshold that is not a number', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, qualityThreshold: NaN });
    expect(() => Testing.synth(chart)).toThrow(/\[test\/train\] qualityThreshold = null: is not a finite number\. Fix: use a number such as 0\.9/);
  });

  test('31. an external S3 endpoint that is not a URL', () => {
    const chart = newChart();
    new ExternalS3Bucket(chart, 's3', { endpointUrl: 's3.amazonaws.com', bucket: 'team-a' });
    expectSynthError(chart, 'test/s3', 'endpointUrl', 's3.amazonaws.com', 'use a URL such as');
  });

  test('32. SeldonDeployment name + predictor too long for the Service', () => {
    const chart = newChart();
    const name = 'm'.repeat(50);
    new SeldonRModel(chart, 'iris', { name, model: 'file:///m', predictorName: 'predictor-long' });
    expectSynthError(chart, 'test/iris', 'name', name, 'shorten it to at most');
  });

  // ---- requests above limits (the API server rejects them)
  test('33. a memory request above the memory limit', () => {
    const chart = newChart();
    new MinioStore(chart, 'minio', { resources: { memoryRequest: '2Gi', memoryLimit: '1Gi' } });
    expectSynthError(chart, 'test/minio', 'resources.memoryRequest', '2Gi', 'lower memoryRequest to at most "1Gi", or raise memoryLimit to at least "2Gi"');
    expect(() => Testing.synth(chart)).toThrow(/exceeds resources\.memoryLimit = "1Gi"/);
  });

  test('34. a CPU request above the CPU limit (decimal vs millicores), on the executor', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///m', executorResources: { cpuRequest: '0.5', cpuLimit: '200m' } });
    expectSynthError(chart, 'test/iris', 'executorResources.cpuRequest', '0.5', 'lower cpuRequest to at most "200m"');
  });

  test('35. a memory request above the limit across binary and decimal suffixes', () => {
    const chart = newChart();
    // 1G = 1,000,000,000 bytes > 900Mi = 943,718,400 bytes.
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, resources: { memoryRequest: '1G', memoryLimit: '900Mi' } });
    expectSynthError(chart, 'test/train', 'resources.memoryRequest', '1G', 'raise memoryLimit to at least "1G"');
  });

  // ---- mount paths
  test.each([
    ['36. the scratch directory itself', '/tmp', 'is already the mount path of the scratch emptyDir'],
    ['37. the scratch directory, with a trailing slash', '/tmp/', 'is already the mount path of the scratch emptyDir'],
    ['38. inside the scratch directory', '/tmp/pipeline', 'overlaps the scratch emptyDir mounted at "/tmp"'],
    ['39. the root, which contains the scratch directory', '/', 'overlaps the scratch emptyDir mounted at "/tmp"'],
    ['40. a relative path', 'pipeline', 'is not an absolute mount path'],
  ])('%s as pipelineVolume.mountPath', (_label, mountPath, why) => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, pipelineVolume: { claimName: 'shared', mountPath } });
    expect(() => Testing.synth(chart)).toThrow(new RegExp(escape(why)));
    expectSynthError(chart, 'test/train', 'pipelineVolume.mountPath', mountPath, '"/pipeline"');
  });

  // ---- extra containers vs. what the Seldon operator adds
  test.each([
    ['41. the executor\'s name', 'seldon-container-engine', 'executor container the Seldon operator injects'],
    ['42. the model container\'s name', 'model', 'is the name of the model container'],
  ])('%s for an extra container', (_label, name, why) => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///m', extraContainers: [{ name, image: 'docker.io/library/busybox:1.37.0' }] });
    expect(() => Testing.synth(chart)).toThrow(new RegExp(escape(why)));
    expectSynthError(chart, 'test/iris', 'extraContainers[0].name', name, 'name the container after what it does');
  });

  test.each([
    ['43. grpc', 'grpc'],
    ['44. metrics', 'metrics'],
  ])('%s as an extra port name (the operator\'s names on the model and executor)', (_label, portName) => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///m',
      extraContainers: [{ name: 'exporter', image: 'docker.io/prom/statsd-exporter:v0.28.0', ports: [{ name: portName, containerPort: 9102 }] }],
    });
    expect(() => Testing.synth(chart)).toThrow(/a port name the Seldon operator gives the model and executor containers/);
    expectSynthError(chart, 'test/iris', 'extraContainers[0].ports[0].name', portName, 'name it after what it serves');
  });

  test.each([
    ['45. the model\'s operator-assigned gRPC port', 9500, 9000, 'the gRPC port the operator assigns to the model container'],
    ['46. the model\'s operator-assigned metrics port', 6000, 9000, 'the metrics port the operator assigns to the model container'],
    ['47. 9000 while the model serves on 9001', 9000, 9001, 'the model server\'s default REST port'],
  ])('%s on an extra container', (_label, port, httpPort, why) => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///m',
      httpPort,
      extraContainers: [{ name: 'exporter', image: 'docker.io/prom/statsd-exporter:v0.28.0', ports: [{ name: 'stats', containerPort: port }] }],
    });
    expect(() => Testing.synth(chart)).toThrow(new RegExp(escape(why)));
    expectSynthError(chart, 'test/iris', 'extraContainers[0].ports[0].containerPort', port, 'pick a free port such as 9001');
  });

  // ---- scratch space
  test.each([
    ['48. not a quantity', '4 GB', 'use a quantity such as'],
    ['49. zero', '0', 'use a positive quantity'],
  ])('%s as scratchSize', (_label, scratchSize, fix) => {
    const chart = newChart();
    new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio'), scratchSize });
    new SeldonRModel(chart, 'iris', { model: 'file:///m', scratchSize });
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: new MlflowServer(chart, 'other', { artifactStore: new MinioStore(chart, 'store') }), scratchSize });
    for (const path of ['test/mlflow', 'test/iris', 'test/train']) expectSynthError(chart, path, 'scratchSize', scratchSize, fix);
    expect(() => Testing.synth(chart)).toThrow(/the size of the \/tmp emptyDir/);
  });

  // ---- MLflow Host allow-list
  test.each([
    ['50. an fnmatch character class (IPv6 literal)', '[::1]:5000', 'contains "[" or "]"'],
    ['51. a comma (the list is comma-joined)', 'a.example.com,b.example.com', 'contains whitespace or a comma'],
    ['52. whitespace', 'mlflow.example.com ', 'contains whitespace or a comma'],
  ])('%s in allowedHosts', (_label, host, why) => {
    const chart = newChart();
    new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio'), allowedHosts: ['ok.example.com', host] });
    expect(() => Testing.synth(chart)).toThrow(new RegExp(escape(why)));
    expectSynthError(chart, 'test/mlflow', 'allowedHosts[1]', host, 'use a host such as "mlflow.example.com"');
  });

  // ---- quality gate
  test('53. a quality direction that is neither higher nor lower', () => {
    const chart = newChart();
    const { mlflow } = pipeline(chart);
    // A plain-JS caller (or a cast) can pass any string; the type allows only the two words.
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: mlflow, qualityDirection: 'max' as unknown as 'higher' });
    expectSynthError(chart, 'test/train', 'qualityDirection', 'max', 'use "higher" when a larger metric is better');
  });

  // ---- reporting
  test('all problems are reported at once, and nothing is synthesized', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///m', replicas: -2, image: 'r:latest' });
    let message = '';
    try {
      Testing.synth(chart);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^Validation failed with the following errors:/);
    expect(message).toContain('[test/iris] image = "r:latest"');
    expect(message).toContain('[test/iris] replicas = -2');
  });

  test('the valid variants synthesize', () => {
    const chart = newChart();
    const { mlflow } = pipeline(chart);
    const train = new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: mlflow, modelAlias: 'prod-2', registeredModelName: 'Iris Classifier' });
    new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow, httpPort: 9001, image: `r@sha256:${'a'.repeat(64)}` });
    new MinioStore(chart, 'other', { bucket: 'my.bucket-01', storageSize: '1.5Gi', resources: { memoryLimit: '256Mi' } });
    new RTrainingJob(chart, 'nested', { trainingScript: fixtureScript(), tracking: mlflow, pipelineVolume: { claimName: 'shared', mountPath: '/tmpdata' }, scratchSize: '10Gi' });
    new SeldonRModel(chart, 'side', {
      model: 'file:///m',
      resources: { cpuLimit: '100m', memoryRequest: '2Gi' },
      extraContainers: [{ name: 'exporter', image: 'docker.io/prom/statsd-exporter:v0.28.0', ports: [{ name: 'stats', containerPort: 9001 }, { name: 'stats-grpc', containerPort: 9501 }, { name: 'stats-m', containerPort: 6001 }] }],
    });
    expect(() => Testing.synth(chart)).not.toThrow();
  });
});
