// Invalid props fail at synth with one line naming the construct path, the bad value and the fix,
// before any YAML is written.
import { Chart, Testing } from 'cdk8s';
import { ExternalS3Bucket, MinioStore, MlflowServer, RTrainingJob, SeldonRModel } from '../lib';
import { newChart } from './constructs-support';

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
    new RTrainingJob(chart, 'train', { name, tracking: pipeline(chart).mlflow });
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
    new RTrainingJob(chart, 'train', { tracking: pipeline(chart).mlflow, resources: { memoryLimit: '2 gigs' } });
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
    new RTrainingJob(chart, 'train', { tracking: pipeline(chart).mlflow, modelAlias: 'latest' });
    expectSynthError(chart, 'test/train', 'modelAlias', 'latest', 'use an alias such as "champion"');
  });

  test('26. a version-like alias', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { tracking: pipeline(chart).mlflow, modelAlias: 'v3' });
    expectSynthError(chart, 'test/train', 'modelAlias', 'v3', 'use an alias such as "champion"');
  });

  test('27. a registered model name that breaks models:/ URIs', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { tracking: pipeline(chart).mlflow, registeredModelName: 'team/iris' });
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
    new RTrainingJob(chart, 'train', { tracking: pipeline(chart).mlflow, qualityThreshold: NaN });
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
    const train = new RTrainingJob(chart, 'train', { tracking: mlflow, modelAlias: 'prod-2', registeredModelName: 'Iris Classifier' });
    new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow, httpPort: 9001, image: `r@sha256:${'a'.repeat(64)}` });
    new MinioStore(chart, 'other', { bucket: 'my.bucket-01', storageSize: '1.5Gi' });
    expect(() => Testing.synth(chart)).not.toThrow();
  });
});
