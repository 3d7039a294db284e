// Invalid props fail at synth with one line naming the construct path, the bad value and the fix,
// before any YAML is written.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart, JsonPatch, Testing } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import {
  ExternalS3Bucket, MinioStore, MlflowServer, ModelPromotion, RTrainingJob, SeldonPodContainer, SeldonRModel, TRAINING_SCRIPT_MAX_BYTES, TrainingScript,
  orderedManifests, validateManifests,
} from '../lib';
import { buildApp } from '../main';
import { fixtureScript, newChart } from './constructs-support';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The synth error has one line with `[path] prop = value: ... Fix: fix`. */
function expectSynthError(chart: Chart, path: string, prop: string, value: unknown, fix: string): void {
  const line = new RegExp(`\\[${escape(path)}\\] ${escape(prop)} = ${escape(JSON.stringify(value))}: [^\\n]*Fix: [^\\n]*${escape(fix)}`);
  expect(() => Testing.synth(chart)).toThrow(line);
}

/** The lines of the synth error (none when synth succeeds). */
function synthLines(chart: Chart): string[] {
  try {
    Testing.synth(chart);
    return [];
  } catch (e) {
    return (e as Error).message.split('\n').map((l) => l.trim());
  }
}

/** The synth error has exactly this line. */
function expectSynthLine(chart: Chart, line: string): void {
  expect(synthLines(chart)).toContain(line);
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
    new SeldonRModel(chart, 'Iris_Model', { model: 'file:///models/m', modelVolume: { claimName: 'models' } });
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
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, httpPort: port });
    expectSynthError(chart, 'test/iris', 'httpPort', 8000, 'use another port, e.g. 9000');
    expect(() => Testing.synth(chart)).toThrow(/owned by the Seldon executor/);
  });

  test('12. a port out of range', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, httpPort: 70000 });
    expectSynthError(chart, 'test/iris', 'httpPort', 70000, 'use an integer port');
  });

  test('13. an extra container declaring the executor gRPC port', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      extraContainers: [{ name: 'proxy', image: 'docker.io/envoyproxy/envoy:v1.31.0', ports: [{ containerPort: 5001 }] }],
    });
    expectSynthError(chart, 'test/iris', 'extraContainers[0].ports[0].containerPort', 5001, 'use another port');
  });

  test('14. a port name over 15 characters', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      extraContainers: [{ name: 'exporter', image: 'docker.io/prom/statsd-exporter:v0.28.0', ports: [{ name: 'prometheus-metrics', containerPort: 9102 }] }],
    });
    expectSynthError(chart, 'test/iris', 'extraContainers[0].ports[0].name', 'prometheus-metrics', 'use a name such as "prometheus-metr"');
  });

  test('15. an extra port named http (would steal the executor route)', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      extraContainers: [{ name: 'web', image: 'docker.io/library/nginx:1.27.3', ports: [{ name: 'http', containerPort: 9080 }] }],
    });
    expectSynthError(chart, 'test/iris', 'extraContainers[0].ports[0].name', 'http', 'name it after what it serves');
  });

  test('16. an extra port colliding with the model port', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      extraContainers: [{ name: 'web', image: 'docker.io/library/nginx:1.27.3', ports: [{ name: 'web', containerPort: 9000 }] }],
    });
    expectSynthError(chart, 'test/iris', 'extraContainers[0].ports[0].containerPort', 9000, 'pick a free port');
  });

  // ---- replicas, storage, quantities
  test('17. negative replicas', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, replicas: -1 });
    expectSynthError(chart, 'test/iris', 'replicas', -1, 'use an integer such as 1');
  });

  test('18. non-integer replicas', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, replicas: 1.5 });
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
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, image: 'ghcr.io/rmlops/r-serve@sha256:abc' });
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
    new SeldonRModel(chart, 'iris', { name, model: 'file:///models/m', modelVolume: { claimName: 'models' }, predictorName: 'predictor-long' });
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
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, executorResources: { cpuRequest: '0.5', cpuLimit: '200m' } });
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
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, extraContainers: [{ name, image: 'docker.io/library/busybox:1.37.0' }] });
    expect(() => Testing.synth(chart)).toThrow(new RegExp(escape(why)));
    expectSynthError(chart, 'test/iris', 'extraContainers[0].name', name, 'name the container after what it does');
  });

  test.each([
    ['43. grpc', 'grpc'],
    ['44. metrics', 'metrics'],
  ])('%s as an extra port name (the operator\'s names on the model and executor)', (_label, portName) => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
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
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
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
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, scratchSize });
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

  // ---- the training script
  describe('trainingScript', () => {
    let dir: string;
    const write = (name: string, content: string | Buffer) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, content);
      return file;
    };
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-bad-script-'));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    function job(trainingScript: TrainingScript, more: Partial<ConstructorParameters<typeof RTrainingJob>[2]> = {}): Chart {
      const chart = newChart();
      new RTrainingJob(chart, 'train', { tracking: pipeline(chart).mlflow, trainingScript, ...more });
      return chart;
    }
    const FIX_PATH = 'Fix: pass the path of your R script, absolute or relative to the directory you synthesize from, e.g. TrainingScript.fromFile("train.R")';

    test('54. a file that does not exist', () => {
      const missing = path.join(dir, 'nope', 'train.R');
      expectSynthLine(job(TrainingScript.fromFile(missing)),
        `[test/train] trainingScript = ${JSON.stringify(missing)}: does not exist (resolved to ${JSON.stringify(missing)}). ${FIX_PATH}`);
    });

    test('55. a relative path that does not exist says what it resolved to', () => {
      const resolved = path.resolve('no-such-dir/train.R');
      expectSynthLine(job(TrainingScript.fromFile('no-such-dir/train.R')),
        `[test/train] trainingScript = "no-such-dir/train.R": does not exist (resolved to ${JSON.stringify(resolved)}). ${FIX_PATH}`);
    });

    test.each([
      ['56. an empty file', 'empty.R', ''],
      ['57. a file of blank lines only', 'blank.R', '\n  \n\t\n'],
    ])('%s', (_label, name, content) => {
      const file = write(name, content);
      expectSynthLine(job(TrainingScript.fromFile(file)),
        `[test/train] trainingScript = ${JSON.stringify(file)}: is empty (resolved to ${JSON.stringify(file)}). Fix: write your train() function in it (see "Bring your own model" in the README)`);
    });

    test('58. a file larger than a ConfigMap holds (1 MiB + 1 byte); exactly 1 MiB is fine', () => {
      const big = write('big.R', `# ${'x'.repeat(TRAINING_SCRIPT_MAX_BYTES - 3)}\n`.padEnd(TRAINING_SCRIPT_MAX_BYTES + 1, '#'));
      expect(fs.statSync(big).size).toBe(1048577);
      expectSynthLine(job(TrainingScript.fromFile(big)),
        `[test/train] trainingScript = ${JSON.stringify(big)}: is 1048577 bytes, more than a ConfigMap holds (1048576 bytes). Fix: build the script into your image and use TrainingScript.fromImagePath("/opt/model/train.R")`);
      const limit = write('limit.R', '#'.repeat(TRAINING_SCRIPT_MAX_BYTES));
      expect(() => Testing.synth(job(TrainingScript.fromFile(limit)))).not.toThrow();
    });

    test.each([
      ['59. a Python file', 'train.py'],
      ['60. no extension', 'train'],
      ['61. an R Markdown file', 'train.Rmd'],
    ])('%s', (_label, name) => {
      const file = write(name, 'train <- function() NULL\n');
      expectSynthLine(job(TrainingScript.fromFile(file)),
        `[test/train] trainingScript = ${JSON.stringify(file)}: is not an R script (the file name ${JSON.stringify(name)} must end in ".R" or ".r"). Fix: name the script e.g. "train.R"`);
    });

    test('62. a file name that is not a ConfigMap key', () => {
      const file = write('my train (v2).R', 'train <- function() NULL\n');
      expectSynthLine(job(TrainingScript.fromFile(file)),
        `[test/train] trainingScript = ${JSON.stringify(file)}: has the file name "my train (v2).R", which is not a valid ConfigMap key (at most 253 letters, digits, '-', '_' and '.'). Fix: rename the file, e.g. "my-train-v2.R"`);
    });

    test('63. a directory', () => {
      const sub = path.join(dir, 'scripts.R');
      fs.mkdirSync(sub, { recursive: true });
      expectSynthLine(job(TrainingScript.fromFile(sub)),
        `[test/train] trainingScript = ${JSON.stringify(sub)}: is a directory (resolved to ${JSON.stringify(sub)}). ${FIX_PATH}`);
    });

    test('64. a file that is not UTF-8 (Latin-1)', () => {
      const file = write('latin1.R', Buffer.from('# caf\xe9\ntrain <- function() NULL\n', 'latin1'));
      expectSynthLine(job(TrainingScript.fromFile(file)),
        `[test/train] trainingScript = ${JSON.stringify(file)}: is not UTF-8 text (a ConfigMap carries text as UTF-8). Fix: save the script as UTF-8`);
    });

    test.each([
      ['65. a relative image path', 'model/train.R'],
      ['66. an image path with ".."', '/opt/model/../train.R'],
      ['67. an image path with a trailing slash', '/opt/model/'],
    ])('%s', (_label, p) => {
      expectSynthLine(job(TrainingScript.fromImagePath(p), { image: 'registry.example.com/team-b/r-train:1.0.0' }),
        `[test/train] trainingScript = ${JSON.stringify(p)}: is not a normalized absolute path of a file inside the image (no "..", no "//", no whitespace). Fix: use the absolute path your image puts the script at, e.g. "/opt/model/train.R"`);
    });

    test('68. an image path that is not an R script', () => {
      expectSynthLine(job(TrainingScript.fromImagePath('/opt/model/train.py'), { image: 'registry.example.com/team-b/r-train:1.0.0' }),
        '[test/train] trainingScript = "/opt/model/train.py": is not an R script (the file name "train.py" must end in ".R" or ".r"). Fix: name the script e.g. "train.R"');
    });

    test('69. an image path with the default rmlops image, which holds no user script', () => {
      expectSynthLine(job(TrainingScript.fromImagePath('/opt/model/train.R')),
        '[test/train] trainingScript = "/opt/model/train.R": is a path inside your image, but `image` is the default rmlops training image, which holds no user script. Fix: set `image` to your image (built FROM the rmlops training image, with the script at that path), or use TrainingScript.fromFile');
    });

    test('70. an image path under /tmp, which the scratch emptyDir hides', () => {
      expectSynthLine(job(TrainingScript.fromImagePath('/tmp/train.R'), { image: 'registry.example.com/team-b/r-train:1.0.0' }),
        '[test/train] trainingScript = "/tmp/train.R": is inside /tmp, where the Job mounts its scratch emptyDir over the image\'s files. Fix: put the script elsewhere in your image, e.g. "/opt/model/train.R"');
    });

    test('71. the rmlops training entrypoint as the user script', () => {
      expectSynthLine(job(TrainingScript.fromImagePath('/opt/rmlops/train.R'), { image: 'registry.example.com/team-b/r-train:1.0.0' }),
        '[test/train] trainingScript = "/opt/rmlops/train.R": is the path of an rmlops R entrypoint, not of a user script. Fix: put your script at a path of its own, e.g. "/opt/model/train.R"');
    });

    test.each([
      ['72. the script directory itself', '/etc/rmlops/training', 'is already the mount path of the training script ConfigMap. Fix: use a path of its own such as "/pipeline"'],
      ['73. a directory containing it', '/etc', 'overlaps the training script ConfigMap mounted at "/etc/rmlops/training" (one volume would hide part of the other). Fix: use a path outside it such as "/pipeline"'],
    ])('%s as pipelineVolume.mountPath (it would hide or share the script mount)', (_label, mountPath, rest) => {
      expectSynthLine(job(fixtureScript(), { pipelineVolume: { claimName: 'shared', mountPath } }),
        `[test/train] pipelineVolume.mountPath = ${JSON.stringify(mountPath)}: ${rest}`);
    });

    test('74. no training script (a plain-JS caller, or a cast)', () => {
      const chart = newChart();
      new RTrainingJob(chart, 'train', { tracking: pipeline(chart).mlflow } as unknown as ConstructorParameters<typeof RTrainingJob>[2]);
      expectSynthLine(chart,
        '[test/train] trainingScript = undefined: is not a TrainingScript (the R script with your train() function is required). Fix: pass TrainingScript.fromFile("train.R") or TrainingScript.fromImagePath("/opt/model/train.R")');
    });

    test('75. a path string instead of a TrainingScript', () => {
      const chart = newChart();
      new RTrainingJob(chart, 'train', { tracking: pipeline(chart).mlflow, trainingScript: 'train.R' as unknown as TrainingScript });
      expectSynthLine(chart,
        '[test/train] trainingScript = "train.R": is not a TrainingScript (the R script with your train() function is required). Fix: pass TrainingScript.fromFile("train.R") or TrainingScript.fromImagePath("/opt/model/train.R")');
    });

    test('the valid variants synthesize: lower-case .r, an image path with the user\'s image', () => {
      const lower = write('fit.r', 'train <- function() NULL\n');
      expect(() => Testing.synth(job(TrainingScript.fromFile(lower)))).not.toThrow();
      expect(() => Testing.synth(job(TrainingScript.fromImagePath('/opt/model/train.R'), { image: 'registry.example.com/team-b/r-train:1.0.0' }))).not.toThrow();
    });
  });

  // ---- app-wide: the same object twice, the operator's objects included
  describe('duplicates anywhere in the app', () => {
    test('76. two constructs naming their objects the same (both construct paths named, reported once)', () => {
      const chart = newChart();
      new MinioStore(chart, 'minio');
      new MlflowServer(chart, 'tracking', { name: 'minio', artifactStore: new ExternalS3Bucket(chart, 's3', { endpointUrl: 'https://s3.example.com', bucket: 'abc' }) });
      const lines = synthLines(chart);
      expect(lines).toContain('[test/tracking] name = "minio": Deployment team-a/minio is defined twice: by test/minio/Resource, and by test/tracking/Resource; the cluster keeps only one of them. Fix: give one of them another name');
      expect(lines).toContain('[test/tracking] name = "minio": Service team-a/minio is defined twice: by test/minio/Service, and by test/tracking/Service; the cluster keeps only one of them. Fix: give one of them another name');
      expect(lines.filter((l) => l.includes('Deployment team-a/minio is defined twice'))).toHaveLength(1);
    });

    test('77. a Service named like the one the Seldon operator creates for a predictor', () => {
      const chart = newChart();
      const { minio, mlflow } = pipeline(chart);
      new SeldonRModel(chart, 'iris', { model: 'models:/iris@champion', tracking: mlflow });
      new MlflowServer(chart, 'other', { name: 'iris-default', artifactStore: minio });
      expectSynthLine(chart, '[test/iris] name = "iris-default": Service team-a/iris-default is defined twice: by test/other/Service, and by test/iris/Resource as the Seldon operator\'s Service for predictor "default"; the cluster keeps only one of them. Fix: give one of them another name');
    });

    test('78. a Deployment named like the one the Seldon operator creates for the model', () => {
      const chart = newChart();
      const { mlflow } = pipeline(chart);
      new SeldonRModel(chart, 'iris', { model: 'models:/iris@champion', tracking: mlflow });
      new MinioStore(chart, 'store', { name: 'iris-default-0-model', bucket: 'other-bucket' });
      expectSynthLine(chart, '[test/iris] name = "iris-default-0-model": Deployment team-a/iris-default-0-model is defined twice: by test/store/Resource, and by test/iris/Resource as the Seldon operator\'s Deployment for component spec 0 of predictor "default"; the cluster keeps only one of them. Fix: give one of them another name');
    });

    test('79. an object of the user\'s own in another chart (reported by our construct)', () => {
      const app = Testing.app();
      const chart = new Chart(app, 'test', { namespace: 'team-a' });
      new MinioStore(chart, 'minio');
      new k8s.KubeConfigMap(new Chart(app, 'mine', { namespace: 'team-a' }), 'cm', { metadata: { name: 'minio-client-policy' } });
      expectSynthLine(chart, '[test/minio] name = "minio-client-policy": ConfigMap team-a/minio-client-policy is defined twice: by test/minio/Policy, and by mine/cm; the cluster keeps only one of them. Fix: give one of them another name');
    });

    test('the same names in two namespaces are two objects', () => {
      const app = Testing.app();
      for (const ns of ['team-a', 'team-b']) pipeline(new Chart(app, ns, { namespace: ns }));
      expect(() => app.synth()).not.toThrow();
    });
  });

  // ---- ranges and syntax the API server and the readers enforce
  test('80. replicas past int32', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, replicas: 2 ** 31 });
    expectSynthLine(chart, '[test/iris] replicas = 2147483648: is not a valid replica count (an integer from 0 to 2147483647). Fix: use an integer such as 1');
  });

  test('81. a Job duration past int32', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, ttlSecondsAfterFinished: 2 ** 31 });
    expectSynthLine(chart, '[test/train] ttlSecondsAfterFinished = 2147483648: is not an integer from 0 to 2147483647. Fix: use an integer of at least 0 and at most 2147483647');
  });

  test('82. maxRequestBytes past what R reads as an integer', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, maxRequestBytes: 2 ** 32 });
    expectSynthLine(chart, '[test/iris] maxRequestBytes = 4294967296: is not an integer from 1 to 2147483647. Fix: use an integer of at least 1 and at most 2147483647');
  });

  test('83. memory too small to start a container', () => {
    const chart = newChart();
    new MinioStore(chart, 'minio', { resources: { memoryLimit: '1Mi' } });
    expectSynthLine(chart, '[test/minio] resources.memoryLimit = "1Mi": is 1048576 bytes, less than a container runtime starts a container with (6Mi). Fix: use a memory quantity of at least "6Mi", e.g. "64Mi"');
  });

  test('84. CPU below 1m', () => {
    const chart = newChart();
    new MinioStore(chart, 'minio', { resources: { cpuRequest: '0.0001' } });
    expectSynthLine(chart, '[test/minio] resources.cpuRequest = "0.0001": is less than 1m, the smallest CPU amount Kubernetes schedules. Fix: use a CPU quantity of at least "1m", e.g. "50m"');
  });

  test.each([
    ['85. MinIO', (chart: Chart) => new MinioStore(chart, 'minio', { region: 'US East 1' }), 'test/minio'],
    ['86. an external bucket', (chart: Chart) => new ExternalS3Bucket(chart, 's3', { endpointUrl: 'https://s3.example.com', bucket: 'abc', region: 'eu_west_1' }), 'test/s3'],
  ])('%s: a region that is not an S3 region name', (_label, make, at) => {
    const chart = newChart();
    const store = make(chart);
    expectSynthLine(chart, `[${at}] region = ${JSON.stringify(store.region)}: is not an S3 region name (lower-case letters, digits and '-', at most 63 characters). Fix: use a region such as "us-east-1"`);
  });

  test('87. an endpoint whose host is not a DNS name', () => {
    const chart = newChart();
    new ExternalS3Bucket(chart, 's3', { endpointUrl: 'https://s3_bucket.example.com', bucket: 'abc' });
    expectSynthLine(chart, '[test/s3] endpointUrl = "https://s3_bucket.example.com": has the host "s3_bucket.example.com", which is neither a DNS name (labels of letters, digits and \'-\') nor an IPv4 address. Fix: use a URL such as "https://s3.eu-west-1.amazonaws.com"');
  });

  test('88. an endpoint port out of range', () => {
    const chart = newChart();
    new ExternalS3Bucket(chart, 's3', { endpointUrl: 'https://s3.example.com:70000', bucket: 'abc' });
    expectSynthLine(chart, '[test/s3] endpointUrl = "https://s3.example.com:70000": has the port 70000, outside 1-65535. Fix: use a URL such as "https://s3.eu-west-1.amazonaws.com"');
  });

  test('89. a quality metric MLflow cannot name', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, qualityMetric: 'acc;rm -rf' });
    expectSynthLine(chart, '[test/train] qualityMetric = "acc;rm -rf": is not an MLflow metric name (1-250 letters, digits, \'_\', \'-\', \'.\', \'/\' or inner spaces). Fix: use a name such as "acc_rm_-rf"');
  });

  // ---- free text on its way into args and env
  test('90. a number among the args (plain JS)', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, args: ['--seed', 3 as unknown as string] });
    expectSynthLine(chart, '[test/train] args[1] = 3: is not a string (command and args are passed to the process as strings). Fix: pass it as a string, e.g. "3"');
  });

  test('91. a NUL byte in a command', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, command: ['Rscript', 'serve.R\u0000'] });
    expectSynthLine(chart, '[test/iris] command[1] = "serve.R\\u0000": contains a NUL byte, which no process argument can hold. Fix: remove the NUL byte');
  });

  test('92. a number as an env value (plain JS)', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, env: { SEED: 42 as unknown as string } });
    expectSynthLine(chart, '[test/train] env.SEED = 42: is a number, not a string (Kubernetes env values are strings). Fix: pass it as a string, e.g. "42"');
  });

  // ---- env the constructs own
  test('93. env overriding a variable a prop sets (both named)', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, env: { MLFLOW_TRACKING_URI: 'http://elsewhere:5000' } });
    expectSynthLine(chart, '[test/train] env.MLFLOW_TRACKING_URI = "http://elsewhere:5000": collides with MLFLOW_TRACKING_URI, which `tracking` sets (a second entry would silently override it). Fix: set `tracking` instead');
  });

  test('94. env overriding HOME, which the construct points at the scratch directory', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, env: { HOME: '/home/r' } });
    expectSynthLine(chart, '[test/train] env.HOME = "/home/r": collides with HOME, which the construct (the scratch emptyDir; the root filesystem is read-only) sets (a second entry would silently override it). Fix: use another variable name');
  });

  test('95. env overriding MODEL_DIR, which pipelineVolume sets', () => {
    const chart = newChart();
    new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: pipeline(chart).mlflow, env: { MODEL_DIR: '/x' } });
    expectSynthLine(chart, '[test/train] env.MODEL_DIR = "/x": collides with MODEL_DIR, which `pipelineVolume` sets (a second entry would silently override it). Fix: set `pipelineVolume` instead');
  });

  // ---- file:// models need a volume
  test('96. a file:// model without a volume', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///m' });
    expectSynthLine(chart, '[test/iris] model = "file:///m": is a local path, but no volume provides it (the model container mounts only an empty scratch directory). Fix: set `modelVolume` to the PVC holding the bundle (URI "file:///models/<model>"), or serve a training job\'s `model` from MLflow');
  });

  test('97. a file:// model outside the model volume', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///data/m', modelVolume: { claimName: 'models' } });
    expectSynthLine(chart, '[test/iris] model = "file:///data/m": is not inside modelVolume.mountPath "/models", so no volume provides it. Fix: use a URI under it, e.g. "file:///models/<model>"');
  });

  test('98. a model volume over the scratch directory', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///tmp/m', modelVolume: { claimName: 'models', mountPath: '/tmp' } });
    expectSynthLine(chart, '[test/iris] modelVolume.mountPath = "/tmp": is already the mount path of the scratch emptyDir. Fix: use a path of its own such as "/pipeline"');
  });

  // ---- extra containers, as the operator and the API server see them
  test('99. an extra container without an image', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, extraContainers: [{ name: 'side' } as SeldonPodContainer] });
    expectSynthLine(chart, '[test/iris] extraContainers[0].image = undefined: is not an image reference. Fix: pin an exact version tag (e.g. "registry/image:1.2.3") or a digest ("registry/image@sha256:<64 hex>")');
  });

  test('100. an extra container mounting a volume the pod does not have', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, extraContainers: [{ name: 'side', image: 'docker.io/library/busybox:1.37.0', volumeMounts: [{ name: 'cache', mountPath: '/cache' }] }] });
    expectSynthLine(chart, '[test/iris] extraContainers[0].volumeMounts[0].name = "cache": is not a volume of the predictor pod (it has "tmp", "model-volume"); the API server rejects the pod. Fix: mount one of "tmp", "model-volume"');
  });

  test('101. an extra container with nested mount paths', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      extraContainers: [{ name: 'side', image: 'docker.io/library/busybox:1.37.0', volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, { name: 'model-volume', mountPath: '/tmp/models' }] }],
    });
    expectSynthLine(chart, '[test/iris] extraContainers[0].volumeMounts[1].mountPath = "/tmp/models": overlaps volumeMounts[0] ("tmp") mounted at "/tmp" (one volume would hide part of the other). Fix: use a path outside it such as "/pipeline"');
  });

  test('102. an extra container with a relative mount path', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, extraContainers: [{ name: 'side', image: 'docker.io/library/busybox:1.37.0', volumeMounts: [{ name: 'tmp', mountPath: 'scratch' }] }] });
    expectSynthLine(chart, '[test/iris] extraContainers[0].volumeMounts[0].mountPath = "scratch": is not an absolute mount path. Fix: use an absolute path such as "/pipeline"');
  });

  test('103. an extra container with a number as an env value (plain JS)', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, extraContainers: [{ name: 'side', image: 'docker.io/library/busybox:1.37.0', env: [{ name: 'N', value: 3 as unknown as string }] }] });
    expectSynthLine(chart, '[test/iris] extraContainers[0].env[0].value = 3: is a number, not a string (Kubernetes env values are strings). Fix: pass it as a string, e.g. "3"');
  });

  // ---- cross-namespace clients need a name they can resolve
  test('104. a tracking server without a namespace, used from another namespace', () => {
    const app = Testing.app();
    const base = new Chart(app, 'base');
    const mlflow = new MlflowServer(base, 'mlflow', { artifactStore: new ExternalS3Bucket(base, 's3', { endpointUrl: 'https://s3.example.com', bucket: 'abc' }) });
    new SeldonRModel(new Chart(app, 'team-b', { namespace: 'team-b' }), 'iris', { model: 'models:/iris@champion', tracking: mlflow });
    expectSynthLine(base, '[base/mlflow] trackingUri = "http://mlflow:5000": is the short Service name (the MlflowServer\'s chart has no namespace), which pods in namespace "team-b" cannot resolve. Fix: give the chart of the MlflowServer a namespace, so the URI is <name>.<namespace>.svc');
  });

  test('105. a MinIO store without a namespace, used by MLflow in another namespace', () => {
    const app = Testing.app();
    const base = new Chart(app, 'base');
    const minio = new MinioStore(base, 'minio');
    new MlflowServer(new Chart(app, 'team-b', { namespace: 'team-b' }), 'mlflow', { artifactStore: minio });
    expectSynthLine(base, '[base/minio] s3EndpointUrl = "http://minio:9000": is the short Service name (the MinioStore\'s chart has no namespace), which pods in namespace "team-b" cannot resolve. Fix: give the chart of the MinioStore a namespace, so the endpoint is <name>.<namespace>.svc');
  });

  test('106. uiNamespaces entries are namespace names', () => {
    const chart = newChart();
    new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio'), uiNamespaces: ['Ingress_Nginx'] });
    expectSynthLine(chart, '[test/mlflow] uiNamespaces[0] = "Ingress_Nginx": is not a DNS-1123 label of at most 63 characters (lower-case letters, digits and \'-\', starting and ending alphanumeric). Fix: use a name such as "ingress-nginx"');
  });

  // ---- escape hatches: the final object is what is checked
  test('107. a JsonPatch that removes the probe port and nulls the memory limit', () => {
    const chart = newChart();
    const model = new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' } });
    const c0 = '/spec/predictors/0/componentSpecs/0/spec/containers/0';
    model.resource.addJsonPatch(JsonPatch.remove(`${c0}/readinessProbe/httpGet/port`), JsonPatch.replace(`${c0}/resources/limits/memory`, null));
    const lines = synthLines(chart);
    expect(lines).toContain('[test/iris] SeldonDeployment team-a/iris: spec.predictors[0].componentSpecs[0].spec.containers[0].readinessProbe.httpGet: missing required field "port"');
    expect(lines).toContain('[test/iris] SeldonDeployment team-a/iris: spec.predictors[0].componentSpecs[0].spec.containers[0].resources.limits.memory: must be string');
  });

  test('108. a JsonPatch on a Deployment that breaks its selector', () => {
    const chart = newChart();
    const minio = new MinioStore(chart, 'minio');
    minio.deployment.addJsonPatch(JsonPatch.replace('/spec/selector/matchLabels', { app: 'other' }));
    expectSynthLine(chart, '[test/minio] Deployment team-a/minio: spec.selector: does not match spec.template.metadata.labels');
  });

  // ---- names that land in flags, headers and references
  test('109. a cluster domain that is not a DNS name (it goes into --allowed-hosts)', () => {
    const chart = newChart();
    new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio'), clusterDomain: 'cluster.local,*' });
    expectSynthLine(chart, '[test/mlflow] clusterDomain = "cluster.local,*": is not a DNS-1123 subdomain (lower-case labels of letters, digits and \'-\', joined by \'.\', at most 253 characters). Fix: use a name such as "cluster.local"');
  });

  test.each([
    ['110. MinIO', (chart: Chart) => new MinioStore(chart, 'minio', { storageClassName: 'Fast SSD' }), 'test/minio'],
    ['111. MLflow', (chart: Chart) => new MlflowServer(chart, 'mlflow', { artifactStore: new ExternalS3Bucket(chart, 's3', { endpointUrl: 'https://s3.example.com', bucket: 'abc' }), storageClassName: 'Fast SSD' }), 'test/mlflow'],
  ])('%s: a storage class name the API server rejects', (_label, make, at) => {
    const chart = newChart();
    make(chart);
    expectSynthLine(chart, `[${at}] storageClassName = "Fast SSD": is not a DNS-1123 subdomain (lower-case labels of letters, digits and '-', joined by '.', at most 253 characters). Fix: use a name such as "standard"`);
  });

  test('112. a Secret key with a slash', () => {
    const chart = newChart();
    new ExternalS3Bucket(chart, 's3', { endpointUrl: 'https://s3.example.com', bucket: 'abc', accessKeyIdKey: 'aws/key' });
    expectSynthLine(chart, '[test/s3] accessKeyIdKey = "aws/key": is not a valid Secret key (at most 253 letters, digits, \'-\', \'_\' and \'.\'). Fix: use a key such as "aws-key"');
  });

  test('113. a backend store Secret key with a space', () => {
    const chart = newChart();
    new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio'), backendStoreSecret: { name: 'db', key: 'db uri' } });
    expectSynthLine(chart, '[test/mlflow] backendStoreSecret.key = "db uri": is not a valid Secret key (at most 253 letters, digits, \'-\', \'_\' and \'.\'). Fix: use a key such as "db-uri"');
  });

  test('114. a protocol neither the R server nor the executor speaks', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, protocol: 'grpc' as 'v2' });
    expectSynthLine(chart, '[test/iris] protocol = "grpc": is not a protocol the R server and the executor share. Fix: use "seldon" or "v2"');
  });

  // ---- reporting
  test('all problems are reported at once, and nothing is synthesized', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, replicas: -2, image: 'r:latest' });
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
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      resources: { cpuLimit: '100m', memoryRequest: '2Gi' },
      extraContainers: [{ name: 'exporter', image: 'docker.io/prom/statsd-exporter:v0.28.0', ports: [{ name: 'stats', containerPort: 9001 }, { name: 'stats-grpc', containerPort: 9501 }, { name: 'stats-m', containerPort: 6001 }] }],
    });
    expect(() => Testing.synth(chart)).not.toThrow();
  });
});

// ---- issue 11: rollouts, scheduled training, autoscaling and disruption, promotion
describe('bad input of rollouts, schedules, autoscaling and promotion is reported at synth', () => {
  const FILE_MODEL = { model: 'file:///models/m', modelVolume: { claimName: 'models' } } as const;
  const tracking = (chart: Chart) => new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio') });
  /** Each case: what to build, and the exact lines of the synth error (all of them). */
  const cases: [string, (chart: Chart) => void, string[]][] = [
    ['130. a canary without `ingress` (only plain JavaScript gets past the types)', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, canary: { model: 'file:///models/c', traffic: 10 } } as any), [
      '[test/iris] ingress = undefined: is required with a canary or a shadow: the Seldon operator splits and mirrors traffic only through Istio or Ambassador. Fix: set `ingress` to "istio" or "ambassador", whichever the Seldon operator is installed with',
    ]],
    ['131. an ingress the operator does not route through', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, canary: { model: 'file:///models/c', traffic: 10 }, ingress: 'nginx' as 'istio' }), [
      '[test/iris] ingress = "nginx": is neither "istio" nor "ambassador". Fix: use "istio" or "ambassador", whichever the Seldon operator is installed with',
    ]],
    ['132. istioGateway with Ambassador', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, shadow: { model: 'file:///models/c' }, ingress: 'ambassador', istioGateway: 'istio-system/gw' }), [
      '[test/iris] istioGateway = "istio-system/gw": only applies with `ingress: "istio"`. Fix: set `ingress: "istio"`, or remove it',
    ]],
    ['133. istioGateway that is not [namespace/]name', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, shadow: { model: 'file:///models/c' }, ingress: 'istio', istioGateway: 'a/b/c' }), [
      '[test/iris] istioGateway = "a/b/c": is not `[namespace/]name` of DNS-1123 labels. Fix: use e.g. "istio-system/seldon-gateway"',
    ]],
    ['134. canary traffic of 100 (nothing left for the main predictor)', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, canary: { model: 'file:///models/c', traffic: 100 }, ingress: 'istio' }), [
      '[test/iris] canary.traffic = 100: is not an integer from 1 to 99 (the main predictor gets the rest, and the percentages sum to 100). Fix: use e.g. 10 for a tenth of the requests',
    ]],
    ['135. canary traffic that is not a whole percentage', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, canary: { model: 'file:///models/c', traffic: 12.5 }, ingress: 'istio' }), [
      '[test/iris] canary.traffic = 12.5: is not an integer from 1 to 99 (the main predictor gets the rest, and the percentages sum to 100). Fix: use e.g. 10 for a tenth of the requests',
    ]],
    ['136. a canary with no pod', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, canary: { model: 'file:///models/c', traffic: 10, replicas: 0 }, ingress: 'istio' }), [
      '[test/iris] canary.replicas = 0: leaves no pod to answer the canary\'s share of the traffic. Fix: use at least 1, or remove `canary` to stop the canary',
    ]],
    ['137. a canary of the main model', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, canary: { model: 'file:///models/m', traffic: 10 }, ingress: 'istio' }), [
      '[test/iris] canary.model = "file:///models/m": is the main predictor\'s model, so the canary compares nothing. Fix: serve the challenger, e.g. a training job with `modelAlias: "challenger"` or "models:/<name>@challenger"',
    ]],
    ['138. a canary from MLflow without `tracking`', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, canary: { model: 'models:/iris@challenger', traffic: 10 }, ingress: 'istio' }), [
      '[test/iris] tracking = undefined: is required to load "models:/iris@challenger" (canary.model) from MLflow. Fix: pass the MlflowServer as `tracking`',
    ]],
    ['139. a shadow file:// model outside the model volume', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, shadow: { model: 'file:///data/c' }, ingress: 'istio' }), [
      '[test/iris] shadow.model = "file:///data/c": is not inside modelVolume.mountPath "/models". Fix: use a URI inside `modelVolume.mountPath`, or serve it from MLflow',
    ]],
    ['140. a shadow URI the R server cannot load', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, shadow: { model: 's3://bucket/model' }, ingress: 'istio' }), [
      '[test/iris] shadow.model = "s3://bucket/model": is not a model URI the R server can load. Fix: use "models:/<name>@<alias>", "models:/<name>/<version>", "runs:/<run-id>/<path>" or "file:///<dir>" (or pass a training job\'s `model`)',
    ]],
    ['141. a canary named like the main predictor', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, predictorName: 'canary', canary: { model: 'file:///models/c', traffic: 10 }, ingress: 'istio' }), [
      '[test/iris] canary.predictorName = "canary": is also the name of the main predictor (the operator names Services and Deployments after it). Fix: give each predictor its own name, e.g. "canary"',
    ]],
    ['142. a shadow named like the canary', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, canary: { model: 'file:///models/c', traffic: 10, predictorName: 'b' }, shadow: { model: 'file:///models/d', predictorName: 'b' }, ingress: 'istio' }), [
      '[test/iris] shadow.predictorName = "b": is also the name of the canary (the operator names Services and Deployments after it). Fix: give each predictor its own name, e.g. "shadow"',
    ]],
    ['143. a canary predictor name that is not a DNS label', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, canary: { model: 'file:///models/c', traffic: 10, predictorName: 'Canary_1' }, ingress: 'istio' }), [
      '[test/iris] canary.predictorName = "Canary_1": is not a DNS-1123 label of at most 63 characters (lower-case letters, digits and \'-\', starting and ending alphanumeric). Fix: use a name such as "canary-1"',
    ]],
    ['144. a canary predictor name too long for the operator\'s Deployment name', (c) => new SeldonRModel(c, 'iris-classifier', { ...FILE_MODEL, canary: { model: 'file:///models/c', traffic: 10, predictorName: 'challenger-from-the-nightly-retraining-run' }, ingress: 'istio' }), [
      '[test/iris-classifier] name = "iris-classifier": makes the derived name "iris-classifier-challenger-from-the-nightly-retraining-run-0-model" 66 characters long (the limit is 63). Fix: shorten it to at most 12 characters',
    ]],
    ['145. autoscaling with maxReplicas below minReplicas', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, autoscaling: { minReplicas: 4, maxReplicas: 2, targetCpuUtilization: 70 } }), [
      '[test/iris] autoscaling.maxReplicas = 2: is below autoscaling.minReplicas (4). Fix: use at least 4, or lower minReplicas',
    ]],
    ['146. autoscaling and replicas together', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, replicas: 2, autoscaling: { minReplicas: 1, maxReplicas: 2, targetCpuUtilization: 70 } }), [
      '[test/iris] replicas = 2: is ignored by the Seldon operator when `autoscaling` is set (the HorizontalPodAutoscaler owns the replica count). Fix: remove `replicas`; `autoscaling.minReplicas` is the floor',
    ]],
    ['147. autoscaling on CPU utilization without a CPU request', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, resources: { cpuRequest: undefined }, autoscaling: { minReplicas: 1, maxReplicas: 2, targetCpuUtilization: 70 } }), [
      '[test/iris] resources.cpuRequest = undefined: is not a positive CPU quantity, and the autoscaler measures CPU utilization as a percentage of the request. Fix: set a CPU request such as "250m"',
    ]],
    ['148. autoscaling bounds and target below 1', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, autoscaling: { minReplicas: 0, maxReplicas: 2, targetCpuUtilization: 0 } }), [
      '[test/iris] autoscaling.minReplicas = 0: is not an integer from 1 to 2147483647. Fix: use an integer of at least 1 and at most 2147483647',
      '[test/iris] autoscaling.targetCpuUtilization = 0: is not an integer from 1 to 2147483647. Fix: use an integer of at least 1 and at most 2147483647',
    ]],
    ['149. minAvailable equal to replicas (drains hang)', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, replicas: 2, minAvailable: 2 }), [
      '[test/iris] minAvailable = 2: is not below replicas (2), so no pod may ever be evicted and node drains hang. Fix: raise replicas to at least 3, or lower minAvailable',
    ]],
    ['150. minAvailable with the default single replica', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, minAvailable: 1 }), [
      '[test/iris] minAvailable = 1: is not below replicas (1), so no pod may ever be evicted and node drains hang. Fix: raise replicas to at least 2, or lower minAvailable',
    ]],
    ['151. minAvailable not below autoscaling.minReplicas', (c) => new SeldonRModel(c, 'iris', { ...FILE_MODEL, minAvailable: 3, autoscaling: { minReplicas: 3, maxReplicas: 5, targetCpuUtilization: 70 } }), [
      '[test/iris] minAvailable = 3: is not below autoscaling.minReplicas (3), so no pod may ever be evicted and node drains hang. Fix: raise autoscaling.minReplicas to at least 4, or lower minAvailable',
    ]],
    ['152. minAvailable "100%" or a word', (c) => {
      new SeldonRModel(c, 'iris', { ...FILE_MODEL, replicas: 2, minAvailable: '100%' });
      new SeldonRModel(c, 'wine', { ...FILE_MODEL, replicas: 2, minAvailable: 'half' });
    }, [
      '[test/iris] minAvailable = "100%": is neither a pod count nor a percentage from 1% to 99%. Fix: use e.g. 1 or "50%"',
      '[test/wine] minAvailable = "half": is neither a pod count nor a percentage from 1% to 99%. Fix: use e.g. 1 or "50%"',
    ]],
    ['153. a schedule with day of week 7', (c) => new RTrainingJob(c, 'train', { tracking: tracking(c), trainingScript: fixtureScript(), schedule: '0 3 * * 7' }), [
      '[test/train] schedule = "0 3 * * 7": has day of week "7": 7 is outside 0-6. Fix: use five fields such as "0 3 * * *" (03:00 daily) or a descriptor such as "@daily"',
    ]],
    ['154. a schedule with seconds (6 fields)', (c) => new RTrainingJob(c, 'train', { tracking: tracking(c), trainingScript: fixtureScript(), schedule: '0 0 3 * * *' }), [
      '[test/train] schedule = "0 0 3 * * *": has 6 field(s); Kubernetes expects 5 (minute hour day-of-month month day-of-week). Fix: use five fields such as "0 3 * * *" (03:00 daily) or a descriptor such as "@daily"',
    ]],
    ['155. a time zone inside the schedule', (c) => new RTrainingJob(c, 'train', { tracking: tracking(c), trainingScript: fixtureScript(), schedule: 'CRON_TZ=Europe/Berlin 0 3 * * *' }), [
      '[test/train] schedule = "CRON_TZ=Europe/Berlin 0 3 * * *": sets a time zone inside the schedule, which the API server rejects. Fix: remove the prefix and set `timeZone` instead',
    ]],
    ['156. an unknown time zone', (c) => new RTrainingJob(c, 'train', { tracking: tracking(c), trainingScript: fixtureScript(), schedule: '@daily', timeZone: 'Mars/Olympus' }), [
      '[test/train] timeZone = "Mars/Olympus": is not an IANA time zone name. Fix: use a name such as "Europe/Berlin" or "Etc/UTC"',
    ]],
    ['167. a time zone in the wrong case', (c) => new RTrainingJob(c, 'train', { tracking: tracking(c), trainingScript: fixtureScript(), schedule: '@daily', timeZone: 'europe/berlin' }), [
      '[test/train] timeZone = "europe/berlin": is spelled "Europe/Berlin" in the tz database, and the API server matches names case-sensitively. Fix: use "Europe/Berlin"',
    ]],
    ['157. a starting deadline under the controller\'s 10 s sync, a negative history limit', (c) => new RTrainingJob(c, 'train', { tracking: tracking(c), trainingScript: fixtureScript(), schedule: '@daily', startingDeadlineSeconds: 5, failedJobsHistoryLimit: -1 }), [
      '[test/train] startingDeadlineSeconds = 5: is not an integer from 10 to 2147483647. Fix: use an integer of at least 10 and at most 2147483647',
      '[test/train] failedJobsHistoryLimit = -1: is not an integer from 0 to 2147483647. Fix: use an integer of at least 0 and at most 2147483647',
    ]],
    ['158. a CronJob setting without a schedule', (c) => new RTrainingJob(c, 'train', { tracking: tracking(c), trainingScript: fixtureScript(), timeZone: 'Etc/UTC' }), [
      '[test/train] timeZone = "Etc/UTC": only applies to a scheduled training (a CronJob), and `schedule` is not set. Fix: set `schedule` (e.g. "0 3 * * *"), or remove it',
    ]],
    ['159. a scheduled training whose name is too long for a CronJob', (c) => new RTrainingJob(c, 'iris-random-forest-challenger-weekly-retraining-cronjob', { tracking: tracking(c), trainingScript: fixtureScript(), schedule: '@weekly' }), [
      '[test/iris-random-forest-challenger-weekly-retraining-cronjob] name = "iris-random-forest-challenger-weekly-retraining-cronjob": has 55 characters; a CronJob name is at most 52 (its Jobs get an 11-character suffix). Fix: shorten it to at most 52 characters (set the `name` prop)',
    ]],
    ['160. a promotion from the champion alias to itself', (c) => new ModelPromotion(c, 'promote', { tracking: tracking(c), champion: { name: 'iris', alias: 'champion' }, challenger: 'champion' }), [
      '[test/promote] challenger = "champion": is the champion\'s alias, so the promotion would move nothing. Fix: promote from the challenger\'s own alias, e.g. "challenger"',
    ]],
    ['161. a promotion from another registered model', (c) => {
      const m = tracking(c);
      const wine = new RTrainingJob(c, 'wine', { tracking: m, trainingScript: fixtureScript(), registeredModelName: 'wine', modelAlias: 'challenger' });
      new ModelPromotion(c, 'promote', { tracking: m, champion: { name: 'iris', alias: 'champion' }, challenger: wine.model });
    }, [
      '[test/promote] challenger = "models:/wine@challenger": is a version of "wine", not of the champion\'s model "iris"; an alias points within one registered model. Fix: train the challenger with registeredModelName "iris"',
    ]],
    ['162. a promotion with a long name, a moving image tag and a bad alias', (c) => new ModelPromotion(c, 'promote-the-iris-challenger-to-champion-every-time-asked', { tracking: tracking(c), champion: { name: 'iris', alias: 'champion' }, challenger: 'chall enger', image: 'r:latest' }), [
      '[test/promote-the-iris-challenger-to-champion-every-time-asked] name = "promote-the-iris-challenger-to-champion-every-time-asked": is not a DNS-1123 label of at most 52 characters (lower-case letters, digits and \'-\', starting and ending alphanumeric); a CronJob name is at most 52 (its Jobs get a suffix). Fix: use a name such as "promote-the-iris-challenger-to-champion-every-time-a"',
      '[test/promote-the-iris-challenger-to-champion-every-time-asked] image = "r:latest": uses the moving tag "latest". Fix: pin an exact version tag (e.g. "registry/image:1.2.3") or a digest ("registry/image@sha256:<64 hex>")',
      '[test/promote-the-iris-challenger-to-champion-every-time-asked] challenger = "chall enger": is not a valid MLflow alias (1-255 letters, digits, \'_\' or \'-\'). Fix: use an alias such as "champion" or "production"',
    ]],
    ['168. a promotion rolling a model that serves no champion', (c) => {
      const m = tracking(c);
      const served = new SeldonRModel(c, 'iris', { model: 'models:/iris@challenger', tracking: m });
      new ModelPromotion(c, 'promote', { tracking: m, champion: { name: 'iris', alias: 'champion' }, serving: [served] });
    }, [
      '[test/promote] serving[0] = "iris": has no predictor loading "models:/iris@champion" (it loads "models:/iris@challenger"), so the promotion would roll nothing there. Fix: pass the SeldonRModels that serve the champion',
    ]],
    ['169. a promotion rolling a model of another namespace', (c) => {
      const m = tracking(c);
      const other = new Chart(Testing.app(), 'other', { namespace: 'team-b' });
      const served = new SeldonRModel(other, 'iris', { model: 'models:/iris@champion', tracking: m });
      new ModelPromotion(c, 'promote', { tracking: m, champion: { name: 'iris', alias: 'champion' }, serving: [served] });
    }, [
      '[test/promote] serving[0] = "iris": is in namespace "team-b", not the promotion\'s "team-a"; its Role can only grant access in its own namespace. Fix: create the ModelPromotion in the chart of the SeldonRModel',
    ]],
  ];
  for (const [name, build, expected] of cases) {
    test(name, () => {
      const chart = newChart();
      build(chart);
      expect(synthLines(chart).filter((l) => l.startsWith('['))).toEqual(expected);
    });
  }

  // JsonPatch escape hatches: the shipped validator checks the final SeldonDeployment.
  const patched = (ops: JsonPatch[], props: Record<string, unknown> = {}) => {
    const chart = newChart();
    const m = new SeldonRModel(chart, 'iris', { ...FILE_MODEL, replicas: 2, canary: { model: 'file:///models/c', traffic: 10 }, ingress: 'istio', ...props } as any);
    m.resource.addJsonPatch(...ops);
    return synthLines(chart).filter((l) => l.startsWith('['));
  };
  const at = '[test/iris] SeldonDeployment team-a/iris:';
  test('163. a patched traffic split that does not sum to 100, and a second predictor of the same name', () => {
    expect(patched([JsonPatch.replace('/spec/predictors/1/traffic', 20), JsonPatch.replace('/spec/predictors/1/name', 'default')])).toEqual([
      '[test/iris] name = "iris-default": Service team-a/iris-default is defined twice: by test/iris/Resource as the Seldon operator\'s Service for predictor "default", and by test/iris/Resource as the Seldon operator\'s Service for predictor "default"; the cluster keeps only one of them. Fix: give one of them another name',
      '[test/iris] name = "iris-default-model": Service team-a/iris-default-model is defined twice: by test/iris/Resource as the Seldon operator\'s Service for graph node "model", and by test/iris/Resource as the Seldon operator\'s Service for graph node "model"; the cluster keeps only one of them. Fix: give one of them another name',
      '[test/iris] name = "iris-default-0-model": Deployment team-a/iris-default-0-model is defined twice: by test/iris/Resource as the Seldon operator\'s Deployment for component spec 0 of predictor "default", and by test/iris/Resource as the Seldon operator\'s Deployment for component spec 0 of predictor "default"; the cluster keeps only one of them. Fix: give one of them another name',
      `${at} spec.predictors[1].name: "default" is also the name of spec.predictors[0]; the Seldon webhook rejects duplicate predictor names`,
      `${at} spec.predictors: the traffic of the predictors that are not shadows sums to 110; the Seldon webhook requires 100`,
    ]);
  });

  test('164. two patched shadows; a single predictor patched to 50% traffic', () => {
    expect(patched([JsonPatch.add('/spec/predictors/1/shadow', true), JsonPatch.add('/spec/predictors/0/shadow', true)])).toEqual([
      `${at} spec.predictors[1].shadow: a second shadow predictor: the Seldon webhook allows one`,
    ]);
    const chart = newChart();
    const m = new SeldonRModel(chart, 'iris', { ...FILE_MODEL });
    m.resource.addJsonPatch(JsonPatch.add('/spec/predictors/0/traffic', 50));
    expect(synthLines(chart).filter((l) => l.startsWith('['))).toEqual([
      `${at} spec.predictors: the only predictor that is not a shadow has traffic 50; the Seldon webhook requires 100 (or none)`,
    ]);
  });

  test('165. a patched hpaSpec: min above max, replicas kept, a container without a CPU request', () => {
    const auto = { replicas: undefined, autoscaling: { minReplicas: 2, maxReplicas: 3, targetCpuUtilization: 70 }, minAvailable: 1, canary: undefined, ingress: undefined };
    const c0 = '/spec/predictors/0/componentSpecs/0';
    expect(patched([
      JsonPatch.replace(`${c0}/hpaSpec/minReplicas`, 5),
      JsonPatch.add('/spec/predictors/0/replicas', 2),
      JsonPatch.remove(`${c0}/spec/containers/0/resources/requests/cpu`),
    ], auto)).toEqual([
      `${at} spec.predictors[0].componentSpecs[0].hpaSpec.minReplicas: 5 is above maxReplicas (3); the API server rejects the HorizontalPodAutoscaler`,
      `${at} spec.predictors[0].replicas: is ignored by the Seldon operator for componentSpecs[0], which has an hpaSpec (the HorizontalPodAutoscaler owns the count)`,
      `${at} spec.predictors[0].componentSpecs[0].spec.containers[0].resources.requests.cpu: missing: the hpaSpec targets CPU utilization, a percentage of every container's CPU request`,
    ]);
  });

  // The Seldon binding drops a JsonPatch on pdbSpec's int-or-string fields, so this one is a
  // hand-edited manifest, as `rmlops-cdk8s validate` would read it.
  test('166. a manifest whose pdbSpec sets both bounds, one of them not a count or percentage', () => {
    const sdep = orderedManifests(buildApp()).map((m) => m.object).find((o) => o.kind === 'SeldonDeployment' && o.metadata.name === 'iris');
    sdep.spec.predictors[0].componentSpecs[0].pdbSpec = { minAvailable: 1, maxUnavailable: 'one' };
    expect(validateManifests([sdep])).toEqual([
      'SeldonDeployment rmlops-iris/iris: spec.predictors[0].componentSpecs[0].pdbSpec: minAvailable and maxUnavailable are both set; a PodDisruptionBudget takes one',
      'SeldonDeployment rmlops-iris/iris: spec.predictors[0].componentSpecs[0].pdbSpec.maxUnavailable: "one" is neither a non-negative count nor a percentage such as "50%"',
    ]);
  });
});
