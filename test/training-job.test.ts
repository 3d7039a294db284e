import { DEFAULT_R_TRAINING_IMAGE, ENV, MinioStore, MlflowServer, RTrainingJob, TRAINING_CONFIG_ERROR_EXIT_CODE } from '../lib';
import { containers, envOf, expectMountsResolve, expectRestricted, find, newChart, synthValid } from './constructs-support';

function setup(props: Partial<ConstructorParameters<typeof RTrainingJob>[2]> = {}) {
  const chart = newChart();
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio') });
  const train = new RTrainingJob(chart, 'train', { tracking: mlflow, ...props });
  return { chart, mlflow, train };
}

describe('RTrainingJob', () => {
  test('default snapshot', () => {
    const { chart } = setup();
    expect(find(synthValid(chart), 'Job', 'train')).toMatchSnapshot();
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
    expect(r.requests.cpu).toBe('500m');
  });

  test('the tracking URI is <svc>.<ns>.svc (no cluster domain)', () => {
    const { chart } = setup();
    const env = envOf(find(synthValid(chart), 'Job', 'train').spec.template.spec.containers[0]);
    expect(env[ENV.trackingUri]).toBe('http://mlflow.team-a.svc:5000');
  });
});
