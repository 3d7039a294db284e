import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Chart } from 'cdk8s';
import {
  ANNOTATIONS, DEFAULT_R_TRAINING_IMAGE, ENV, LABELS, MANAGED_BY, MinioStore, MlflowServer, PART_OF, R_ENTRYPOINTS, RTrainingJob,
  TRAINING_CONFIG_ERROR_EXIT_CODE, TRAINING_SCRIPT_DIR, TrainingScript, orderedManifests,
} from '../lib';
import {
  FIXTURE_SCRIPT, containers, envOf, expectMountsResolve, expectRestricted, find, findAll, fixtureScript, newChart, synthValid,
} from './constructs-support';

function setup(props: Partial<ConstructorParameters<typeof RTrainingJob>[2]> = {}) {
  const chart = newChart();
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio') });
  const train = new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: fixtureScript(), ...props });
  return { chart, mlflow, train };
}

describe('RTrainingJob', () => {
  test('default snapshot', () => {
    const { chart } = setup();
    expect(find(synthValid(chart), 'Job', 'train')).toMatchSnapshot();
  });

  test('script ConfigMap snapshot', () => {
    const { chart } = setup();
    expect(find(synthValid(chart), 'ConfigMap', 'train-script')).toMatchSnapshot();
  });

  test('variant snapshot: pipeline volume, command, extra env, own gate', () => {
    const { chart } = setup({
      registeredModelName: 'iris',
      experimentName: 'iris-nightly',
      modelAlias: 'staging',
      qualityMetric: 'kappa',
      qualityThreshold: 0.8,
      command: ['Rscript', '/app/train.R'],
      env: { N_TREES: '200' },
      pipelineVolume: { claimName: 'pipeline' },
    });
    // The pipeline PVC is the user's, created outside this chart.
    expect(find(synthValid(chart, { existingClaims: ['pipeline'] }), 'Job', 'train')).toMatchSnapshot();
  });

  test('env contract: tracking URI from the MlflowServer, model, alias, gate, wait', () => {
    const { chart, mlflow } = setup({ registeredModelName: 'iris', qualityThreshold: 0.95 });
    const c = find(synthValid(chart), 'Job', 'train').spec.template.spec.containers[0];
    const env = envOf(c);
    expect(env).toMatchObject({
      [ENV.trackingUri]: mlflow.trackingUri,
      [ENV.experimentName]: 'iris',
      [ENV.registeredModelName]: 'iris',
      [ENV.modelAlias]: 'champion',
      [ENV.qualityMetric]: 'accuracy',
      [ENV.qualityThreshold]: '0.95',
      [ENV.qualityDirection]: 'higher',
      [ENV.mlflowWaitSeconds]: '300',
      [ENV.tmpDir]: '/tmp',
    });
    expect(c.image).toBe(DEFAULT_R_TRAINING_IMAGE);
  });

  test('a lower-is-better gate is passed to the R program', () => {
    const { chart } = setup({ qualityMetric: 'oob_error', qualityThreshold: 0.08, qualityDirection: 'lower' });
    const env = envOf(find(synthValid(chart), 'Job', 'train').spec.template.spec.containers[0]);
    expect(env).toMatchObject({ [ENV.qualityMetric]: 'oob_error', [ENV.qualityThreshold]: '0.08', [ENV.qualityDirection]: 'lower' });
  });

  test('no S3 credentials and no Secret references at all', () => {
    const { chart } = setup();
    const c = find(synthValid(chart), 'Job', 'train').spec.template.spec.containers[0];
    expect(JSON.stringify(c)).not.toMatch(/AWS_|S3|secretKeyRef/);
  });

  test('Job limits: backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished, restartPolicy Never', () => {
    const { chart } = setup({ backoffLimit: 4, activeDeadlineSeconds: 600, ttlSecondsAfterFinished: 60 });
    const job = find(synthValid(chart), 'Job', 'train');
    expect(job.spec).toMatchObject({ backoffLimit: 4, activeDeadlineSeconds: 600, ttlSecondsAfterFinished: 60 });
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
  });

  test('exposes the model it produces as models:/<name>@<alias>', () => {
    const { train } = setup({ registeredModelName: 'iris', modelAlias: 'production' });
    expect(train.model).toEqual({ name: 'iris', alias: 'production', uri: 'models:/iris@production' });
  });

  test('pipeline volume: PVC mounted, MODEL_DIR inside it, fsGroup set', () => {
    const { chart } = setup({ pipelineVolume: { claimName: 'shared', mountPath: '/handoff' } });
    const pod = find(synthValid(chart, { existingClaims: ['shared'] }), 'Job', 'train').spec.template.spec;
    const c = pod.containers[0];
    expect(pod.volumes).toContainEqual({ name: 'pipeline', persistentVolumeClaim: { claimName: 'shared' } });
    expect(c.volumeMounts).toContainEqual({ name: 'pipeline', mountPath: '/handoff' });
    expect(envOf(c)[ENV.modelDir]).toBe('/handoff/train');
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsUser);
    expectMountsResolve(c, pod);
  });

  test('every container is restricted', () => {
    const { chart } = setup();
    for (const { owner, container, pod } of containers(synthValid(chart))) expectRestricted(owner, container, pod);
  });

  test('podFailurePolicy: exit code 2 (configuration error) fails the Job at once; needs restartPolicy Never', () => {
    const { chart } = setup();
    const job = find(synthValid(chart), 'Job', 'train');
    const container = job.spec.template.spec.containers[0];
    expect(TRAINING_CONFIG_ERROR_EXIT_CODE).toBe(2);
    expect(job.spec.podFailurePolicy).toEqual({
      rules: [{
        action: 'FailJob',
        onExitCodes: { containerName: container.name, operator: 'In', values: [TRAINING_CONFIG_ERROR_EXIT_CODE] },
        onPodConditions: [],
      }],
    });
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    // The other required Job limits stay set.
    expect(job.spec).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 3600, ttlSecondsAfterFinished: 86400 });
  });

  test('scratch: /tmp emptyDir of 1Gi by default, requested as ephemeral-storage; scratchSize sets both', () => {
    for (const [props, size] of [[{}, '1Gi'], [{ scratchSize: '8Gi' }, '8Gi']] as const) {
      const { chart } = setup(props);
      const pod = find(synthValid(chart), 'Job', 'train').spec.template.spec;
      expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: { sizeLimit: size } });
      expect(pod.containers[0].resources.requests['ephemeral-storage']).toBe(size);
      expect(envOf(pod.containers[0])[ENV.tmpDir]).toBe('/tmp');
    }
  });

  test('resources: memoryLimit alone below the default request lowers the request to the limit', () => {
    const { chart } = setup({ resources: { memoryLimit: '256Mi' } });
    const r = find(synthValid(chart), 'Job', 'train').spec.template.spec.containers[0].resources;
    expect(r.requests.memory).toBe('256Mi');
    expect(r.limits.memory).toBe('256Mi');
    expect(r.requests.cpu).toBe('200m');
  });

  test('the tracking URI is <svc>.<ns>.svc (no cluster domain)', () => {
    const { chart } = setup();
    const env = envOf(find(synthValid(chart), 'Job', 'train').spec.template.spec.containers[0]);
    expect(env[ENV.trackingUri]).toBe('http://mlflow.team-a.svc:5000');
  });

  // ---- the user's training script

  test('fromFile: a ConfigMap <job>-script holds the script under its file name, with the Job\'s labels', () => {
    const { chart, train } = setup();
    const objects = synthValid(chart);
    const cm = find(objects, 'ConfigMap', 'train-script');
    expect(cm.data).toEqual({ 'train.R': fs.readFileSync(FIXTURE_SCRIPT, 'utf8') });
    expect(cm.metadata.namespace).toBe('team-a');
    expect(cm.metadata.labels).toEqual({
      [LABELS.name]: 'r-training', [LABELS.instance]: 'train', [LABELS.component]: 'training',
      [LABELS.partOf]: PART_OF, [LABELS.managedBy]: MANAGED_BY, [LABELS.version]: '0.1.0',
    });
    expect(cm.metadata.labels).toEqual(find(objects, 'Job', 'train').metadata.labels);
    expect(train.scriptConfigMap?.name).toBe('train-script');
  });

  test('fromFile: mounted read-only (0444) at /etc/rmlops/training; TRAINING_SCRIPT is the mounted file', () => {
    const { chart, train } = setup();
    const pod = find(synthValid(chart), 'Job', 'train').spec.template.spec;
    const c = pod.containers[0];
    expect(TRAINING_SCRIPT_DIR).toBe('/etc/rmlops/training');
    expect(ENV.trainingScript).toBe('TRAINING_SCRIPT');
    expect(pod.volumes).toContainEqual({ name: 'training-script', configMap: { name: 'train-script', defaultMode: 0o444 } });
    expect(c.volumeMounts).toContainEqual({ name: 'training-script', mountPath: '/etc/rmlops/training', readOnly: true });
    expect(envOf(c)[ENV.trainingScript]).toBe('/etc/rmlops/training/train.R');
    expect(train.trainingScriptPath).toBe('/etc/rmlops/training/train.R');
    expectMountsResolve(c, pod);
  });

  test('command: Rscript /opt/rmlops/train.R by default; the command prop replaces it, args pass through', () => {
    expect(R_ENTRYPOINTS).toEqual({ train: '/opt/rmlops/train.R', serve: '/opt/rmlops/serve.R' });
    const byDefault = find(synthValid(setup().chart), 'Job', 'train').spec.template.spec.containers[0];
    expect(byDefault.command).toEqual(['Rscript', '/opt/rmlops/train.R']);
    expect(byDefault.args).toBeUndefined();
    const custom = find(synthValid(setup({ command: ['Rscript', '/app/train.R'], args: ['--verbose'] }).chart), 'Job', 'train')
      .spec.template.spec.containers[0];
    expect(custom.command).toEqual(['Rscript', '/app/train.R']);
    expect(custom.args).toEqual(['--verbose']);
    // The script still reaches the custom command through the environment.
    expect(envOf(custom)[ENV.trainingScript]).toBe('/etc/rmlops/training/train.R');
  });

  test('fromImagePath: no ConfigMap and no mount; TRAINING_SCRIPT is the path in the user\'s image', () => {
    const image = 'registry.example.com/team-b/r-train-mtcars:1.4.0';
    const { chart, train } = setup({ trainingScript: TrainingScript.fromImagePath('/opt/model/train.R'), image });
    const objects = synthValid(chart);
    expect(findAll(objects, 'ConfigMap').map((o) => o.metadata.name)).toEqual(['minio-client-policy']);
    const job = find(objects, 'Job', 'train');
    const pod = job.spec.template.spec;
    expect(pod.volumes.map((v: any) => v.name)).toEqual(['tmp']);
    expect(pod.containers[0].volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(pod.containers[0].image).toBe(image);
    expect(pod.containers[0].command).toEqual(['Rscript', '/opt/rmlops/train.R']);
    expect(envOf(pod.containers[0])[ENV.trainingScript]).toBe('/opt/model/train.R');
    expect(job.spec.template.metadata.annotations).toBeUndefined();
    expect(train.scriptConfigMap).toBeUndefined();
  });

  test('the pod template carries the script\'s sha256, so a changed script is a changed Job', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-script-'));
    try {
      const file = path.join(dir, 'fit.r');
      const sha = (text: string) => createHash('sha256').update(text).digest('hex');
      const annotationFor = (text: string) => {
        fs.writeFileSync(file, text);
        const { chart } = setup({ trainingScript: TrainingScript.fromFile(file) });
        const job = find(synthValid(chart), 'Job', 'train');
        expect(envOf(job.spec.template.spec.containers[0])[ENV.trainingScript]).toBe('/etc/rmlops/training/fit.r');
        return job.spec.template.metadata.annotations[ANNOTATIONS.trainingScriptSha256];
      };
      expect(annotationFor('train <- function() 1\n')).toBe(sha('train <- function() 1\n'));
      expect(annotationFor('train <- function() 2\n')).toBe(sha('train <- function() 2\n'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a relative path is resolved against the working directory when fromFile is called', () => {
    const cwd = process.cwd();
    process.chdir(path.dirname(FIXTURE_SCRIPT));
    let script: TrainingScript;
    try {
      script = TrainingScript.fromFile('train.R');
    } finally {
      process.chdir(cwd);
    }
    expect(script.localFile).toBe(FIXTURE_SCRIPT);
    expect(script.containerPath).toBe('/etc/rmlops/training/train.R');
    const { chart } = setup({ trainingScript: script });
    expect(find(synthValid(chart), 'ConfigMap', 'train-script').data['train.R']).toBe(fs.readFileSync(FIXTURE_SCRIPT, 'utf8'));
  });

  test('ordered output: the script ConfigMap comes before its Job', () => {
    const app = new App();
    const chart = new Chart(app, 'c', { namespace: 'team-a' });
    const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio') });
    new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: fixtureScript() });
    const files = orderedManifests(app).map((m) => m.file);
    const cm = files.findIndex((f) => /-configmap-train-script\.yaml$/.test(f));
    const job = files.findIndex((f) => /-job-train\.yaml$/.test(f));
    expect(cm).toBeGreaterThanOrEqual(0);
    expect(cm).toBeLessThan(job);
  });

  test('two jobs each get a ConfigMap of their own; a pipeline volume beside the script mount is fine', () => {
    const { chart, mlflow } = setup();
    new RTrainingJob(chart, 'other', { tracking: mlflow, trainingScript: fixtureScript(), pipelineVolume: { claimName: 'shared', mountPath: '/etc/pipeline' } });
    const objects = synthValid(chart, { existingClaims: ['shared'] });
    expect(findAll(objects, 'ConfigMap').map((o) => o.metadata.name).sort()).toEqual(['minio-client-policy', 'other-script', 'train-script']);
  });

  test('ConfigMap name: any valid Job name (a DNS label, up to 63) gives a valid one (a DNS subdomain, up to 253)', () => {
    const name = `t${'x'.repeat(61)}9`;
    const { chart } = setup({ name });
    const cm = find(synthValid(chart), 'ConfigMap', `${name}-script`);
    expect(cm.metadata.name).toHaveLength(70);
  });
});
