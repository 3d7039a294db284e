import { DEFAULT_R_TRAINING_IMAGE, ENV, MinioStore, MlflowServer, RTrainingJob } from '../lib';
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
      [ENV.mlflowWaitSeconds]: '300',
      [ENV.tmpDir]: '/tmp',
    });
    expect(c.image).toBe(DEFAULT_R_TRAINING_IMAGE);
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
});
