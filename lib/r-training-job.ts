/**
 * A Kubernetes Job that runs the R training program: it logs a run to MLflow, registers a model
 * version and moves an alias to it when the quality gate passes. It talks to MLflow over HTTP
 * only (artifacts through the server's proxy), so it gets no S3 credentials.
 */
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { validateObjectsAtSynth } from './app-validation';
import {
  ANNOTATIONS, ENV, R_ENTRYPOINTS, R_SCRIPT_COMMAND, TRAINING_CONFIG_ERROR_EXIT_CODE, TRAINING_SCRIPT_DIR,
} from './contract';
import { ITrackingServer } from './mlflow-server';
import {
  ComputeResources, TMP_PATH, TMP_VOLUME, checkObjectName, checkResources, checkScratchSize, k8sResources,
  podLabels, podSecurityContext, resolveName, restrictedSecurityContext, tmpVolume, withDefaults,
} from './pod-defaults';
import { checkCronSchedule, checkTimeZone } from './cron';
import { PodSettings, resolvePodSettings } from './pod-settings';
import { RmlopsDefaults } from './rmlops-defaults';
import { TrainingScript, loadTrainingScript } from './training-script';
import {
  Problem, checkArgv, checkDnsLabel, checkFiniteNumber, checkInteger, checkMetricName, checkModelAlias,
  checkMountPathFree, checkNonEmpty, checkPinnedImage, checkRegisteredModelName, validateAtSynth, warnAtSynth,
} from './validate';
import { unknownEndpoint, workloadNetworkPolicy } from './network-policy';

/** Default R training image (built from `r/` by the project; its entrypoint runs the training program). */
export const DEFAULT_R_TRAINING_IMAGE = 'ghcr.io/rmlops/r-train:0.1.0';
/** Numeric uid the R images run as (runAsNonRoot needs a number to verify). */
export const R_IMAGE_UID = 10001;
/** Name of the training container (the podFailurePolicy rule refers to it). */
export const TRAINING_CONTAINER_NAME = 'train';
/** Name of the pod volume that carries a `TrainingScript.fromFile` ConfigMap. */
export const TRAINING_SCRIPT_VOLUME = 'training-script';

/** A registered model version, addressed through an alias. */
export interface ModelRef {
  /** Registered model name. */
  readonly name: string;
  /** Alias the training job moves. */
  readonly alias: string;
  /** `models:/<name>@<alias>`, what the model server loads. */
  readonly uri: string;
}

/** A shared PVC mounted into the Job for hand-offs between pipeline steps. */
export interface PipelineVolume {
  /** Name of an existing PersistentVolumeClaim. */
  readonly claimName: string;
  /** Where to mount it: absolute, and neither equal to nor nested with `/tmp` (the scratch emptyDir) or, for `TrainingScript.fromFile`, `/etc/rmlops/training`. @default "/pipeline" */
  readonly mountPath?: string;
}

/** Direction of the quality gate: the metric must be at least (`higher`) or at most (`lower`) the threshold. */
export type QualityDirection = 'higher' | 'lower';
const QUALITY_DIRECTIONS: readonly string[] = ['higher', 'lower'];

/** Props of `RTrainingJob` (`PodSettings`: service account, scheduling, `env` and `envFrom`, pull secrets). */
export interface RTrainingJobProps extends PodSettings {
  /** The MLflow server to log to (its in-cluster tracking URI is passed on; its NetworkPolicy is opened). */
  readonly tracking: ITrackingServer;
  /**
   * The R script with your `train()` function: `TrainingScript.fromFile("train.R")` (shipped in a
   * ConfigMap `<name>-script`, mounted read-only under /etc/rmlops/training) or
   * `TrainingScript.fromImagePath("/opt/model/train.R")` (inside your own `image`). The container
   * gets its absolute path in `TRAINING_SCRIPT`.
   */
  readonly trainingScript: TrainingScript;
  /** Name of the Job. @default the construct id */
  readonly name?: string;
  /** R training image, pinned; your own image (FROM it) for `TrainingScript.fromImagePath`. @default DEFAULT_R_TRAINING_IMAGE (from `RmlopsDefaults`' registry if set) */
  readonly image?: string;
  /** Container command. @default ["Rscript", "/opt/rmlops/train.R"] (R_ENTRYPOINTS.train), which runs `trainingScript` */
  readonly command?: string[];
  /** Container arguments. @default - none */
  readonly args?: string[];
  /** Registered model name to create a version under. @default the Job name */
  readonly registeredModelName?: string;
  /** MLflow experiment to log the run under. @default the registered model name */
  readonly experimentName?: string;
  /** Alias moved to the new version when it passes the quality gate. @default "champion" */
  readonly modelAlias?: string;
  /** Holdout metric that gates the alias. @default "accuracy" */
  readonly qualityMetric?: string;
  /** Threshold the metric must pass (see `qualityDirection`) for the alias to move. @default 0.9 */
  readonly qualityThreshold?: number;
  /** Whether the metric must be at least (`higher`, e.g. accuracy) or at most (`lower`, e.g. oob_error) the threshold. @default "higher" */
  readonly qualityDirection?: QualityDirection;
  /** How long the R program waits for MLflow to answer before failing, in seconds. @default 300 */
  readonly mlflowWaitSeconds?: number;
  /**
   * Retries of a failed pod. A pod that exits with TRAINING_CONFIG_ERROR_EXIT_CODE (2, the R
   * program's "configuration error") fails the Job at once through the Job's `podFailurePolicy`,
   * without using up these retries. @default 2
   */
  readonly backoffLimit?: number;
  /** Upper bound on the whole Job, retries included, in seconds. @default 3600 */
  readonly activeDeadlineSeconds?: number;
  /**
   * Seconds a finished Job (succeeded or failed) is kept, for `kubectl logs`, before the TTL
   * controller deletes it with its pods. @default 86400
   *
   * What this means with `kubectl apply -f dist/` or a GitOps tool: within the TTL, re-applying
   * the unchanged Job is a no-op, and applying a changed one fails (a Job's pod template is
   * immutable: delete the Job first). After the TTL the Job no longer exists, so the next apply
   * or sync **creates it again and training runs again**: a new MLflow run and a new model
   * version, and the alias moves if the new model passes the quality gate. With a GitOps tool
   * that syncs continuously (Argo CD self-heal, Flux), that is one retraining per TTL. If you
   * want training to run only when you ask, keep the Job out of what is applied continuously
   * (apply it on its own, e.g. `kubectl apply -f dist/*-job-<name>.yaml`), or mark it as a
   * hook of your GitOps tool.
   */
  readonly ttlSecondsAfterFinished?: number;
  /** Shared PVC for hand-offs; `MODEL_DIR` then points into it. @default - none */
  readonly pipelineVolume?: PipelineVolume;
  /** Resources of the training container. @default 200m CPU, 1Gi request, 2Gi limit (docs/capacity.md) */
  readonly resources?: ComputeResources;
  /**
   * Size of the `/tmp` emptyDir (`TMPDIR`, also requested as `ephemeral-storage`): the R program
   * writes the model bundle there before uploading it; past it the kubelet evicts the pod.
   * @default "1Gi"
   */
  readonly scratchSize?: string;
  /** Numeric uid the image runs as. @default R_IMAGE_UID (10001) */
  readonly runAsUser?: number;
  /**
   * Cron schedule (5 fields, or @hourly/@daily/@weekly/@monthly/@yearly, @every <duration>):
   * the construct then emits a CronJob (concurrencyPolicy Forbid) whose Jobs are this Job, so
   * retraining runs on a schedule and nothing immutable is applied. @default - none: a one-off Job
   */
  readonly schedule?: string;
  /** IANA time zone of `schedule` (CronJob `timeZone`). @default - the controller's zone (UTC on most clusters) */
  readonly timeZone?: string;
  /** With `schedule`: seconds after a missed start within which the run still starts (at least 10, the controller's sync period). @default 600 */
  readonly startingDeadlineSeconds?: number;
  /** With `schedule`: finished successful Jobs kept. @default 3 */
  readonly successfulJobsHistoryLimit?: number;
  /** With `schedule`: finished failed Jobs kept (for `kubectl logs`). @default 3 */
  readonly failedJobsHistoryLimit?: number;
}

/** The R training Job, or a CronJob of it when `schedule` is set. */
export class RTrainingJob extends Construct {
  /** Name of the Job. */
  public readonly name: string;
  /** The model this Job produces: `models:/<name>@<alias>`. */
  public readonly model: ModelRef;
  /** Labels selecting the Job's pods. */
  public readonly podSelector: Record<string, string>;
  /** The Job; undefined with `schedule` (see `cronJob`). */
  public readonly job?: k8s.KubeJob;
  /** The CronJob, when `schedule` is set. */
  public readonly cronJob?: k8s.KubeCronJob;
  /** Absolute path of the training script in the container (the value of `TRAINING_SCRIPT`). */
  public readonly trainingScriptPath: string;
  /** The ConfigMap holding a `TrainingScript.fromFile` script; undefined for `fromImagePath`. */
  public readonly scriptConfigMap?: k8s.KubeConfigMap;

  constructor(scope: Construct, id: string, props: RTrainingJobProps) {
    super(scope, id);
    const name = resolveName(id, props.name);
    this.name = name;
    const image = RmlopsDefaults.image(this, props.image, DEFAULT_R_TRAINING_IMAGE);
    const modelName = props.registeredModelName ?? name;
    const experiment = props.experimentName ?? modelName;
    const alias = props.modelAlias ?? 'champion';
    const metric = props.qualityMetric ?? 'accuracy';
    const threshold = props.qualityThreshold ?? 0.9;
    const direction = props.qualityDirection ?? 'higher';
    const waitSeconds = props.mlflowWaitSeconds ?? 300;
    const backoffLimit = props.backoffLimit ?? 2;
    const deadline = props.activeDeadlineSeconds ?? 3600;
    const ttl = props.ttlSecondsAfterFinished ?? 86400;
    const uid = props.runAsUser ?? R_IMAGE_UID;
    const resources = withDefaults(props.resources, { cpuRequest: '200m', memoryRequest: '1Gi', memoryLimit: '2Gi' });
    const mountPath = props.pipelineVolume?.mountPath ?? '/pipeline';
    const scratchSize = props.scratchSize ?? '1Gi';
    this.model = { name: modelName, alias, uri: `models:/${modelName}@${alias}` };
    const script = loadTrainingScript('trainingScript', props.trainingScript, {
      scratchPath: TMP_PATH,
      defaultImage: props.image === undefined || props.image === DEFAULT_R_TRAINING_IMAGE,
    });
    const fromFile = script.content !== undefined;
    this.trainingScriptPath = props.trainingScript?.containerPath ?? '';

    // Every variable the container gets from the construct, with the prop that sets it.
    const owned = new Map<string, string>([
      [ENV.trackingUri, '`tracking`'], [ENV.experimentName, '`experimentName`'],
      [ENV.registeredModelName, '`registeredModelName`'], [ENV.modelAlias, '`modelAlias`'],
      [ENV.qualityMetric, '`qualityMetric`'], [ENV.qualityThreshold, '`qualityThreshold`'],
      [ENV.qualityDirection, '`qualityDirection`'], [ENV.mlflowWaitSeconds, '`mlflowWaitSeconds`'],
      [ENV.trainingScript, '`trainingScript`'], [ENV.tmpDir, 'the construct (the scratch emptyDir)'],
      ['HOME', 'the construct (the scratch emptyDir; the root filesystem is read-only)'],
      [ENV.modelDir, '`pipelineVolume`'],
    ]);
    for (const v of Object.values(ENV)) if (!owned.has(v)) owned.set(v, 'the rmlops contract (lib/contract.ts ENV)');
    const settings = resolvePodSettings(this, props, owned);
    validateAtSynth(this, () => {
      const out: Problem[] = [
        ...checkObjectName(name),
        ...script.problems,
        ...checkPinnedImage('image', image),
        ...checkRegisteredModelName('registeredModelName', modelName),
        ...checkNonEmpty('experimentName', experiment, 'churn-model'),
        ...checkModelAlias('modelAlias', alias),
        ...checkMetricName('qualityMetric', metric),
        ...checkArgv('command', props.command),
        ...checkArgv('args', props.args),
        ...checkFiniteNumber('qualityThreshold', threshold),
        ...(QUALITY_DIRECTIONS.includes(direction) ? [] : [{
          prop: 'qualityDirection', value: direction, problem: 'is neither "higher" nor "lower"',
          fix: 'use "higher" when a larger metric is better (accuracy), "lower" when a smaller one is (oob_error)',
        }]),
        ...checkInteger('mlflowWaitSeconds', waitSeconds, 0),
        ...checkInteger('backoffLimit', backoffLimit, 0),
        ...checkInteger('activeDeadlineSeconds', deadline, 1),
        ...checkInteger('ttlSecondsAfterFinished', ttl, 0),
        ...checkInteger('runAsUser', uid, 1),
        ...checkResources('resources', resources),
        ...checkScratchSize(scratchSize),
        ...checkSchedule(props, name),
      ];
      if (props.pipelineVolume) {
        out.push(...checkDnsLabel('pipelineVolume.claimName', props.pipelineVolume.claimName, 253));
        out.push(...checkMountPathFree('pipelineVolume.mountPath', mountPath, [
          { path: TMP_PATH, what: 'the scratch emptyDir' },
          ...(props.trainingScript?.source === 'file' ? [{ path: TRAINING_SCRIPT_DIR, what: 'the training script ConfigMap' }] : []),
        ]));
      }
      out.push(...settings.problems());
      return out;
    });
    // After the prop checks, so objects of a construct with bad props are not reported twice.
    validateObjectsAtSynth(this);

    const { labels, podSelector } = podLabels(this, { name: 'r-training', instance: name, component: 'training' }, image, props.tracking);
    this.podSelector = podSelector;
    // No ingress; egress to DNS and MLflow only (artifacts go through MLflow's proxy, not to S3).
    const tracking = props.tracking;
    workloadNetworkPolicy(this, 'NetworkPolicy', { name, labels }, podSelector, { egress: () => [tracking.endpoint] });
    warnAtSynth(this, () => tracking.endpoint ? [] : [unknownEndpoint('tracking', 'the tracking server')]);

    const env: k8s.EnvVar[] = [
      { name: ENV.trackingUri, value: props.tracking.trackingUri },
      { name: ENV.experimentName, value: experiment },
      { name: ENV.registeredModelName, value: modelName },
      { name: ENV.modelAlias, value: alias },
      { name: ENV.qualityMetric, value: metric },
      { name: ENV.qualityThreshold, value: String(threshold) },
      { name: ENV.qualityDirection, value: direction },
      { name: ENV.mlflowWaitSeconds, value: String(waitSeconds) },
      { name: ENV.trainingScript, value: this.trainingScriptPath },
      { name: ENV.tmpDir, value: TMP_PATH },
      { name: 'HOME', value: TMP_PATH },
    ];
    const volumes: k8s.Volume[] = [tmpVolume(scratchSize)];
    const mounts: k8s.VolumeMount[] = [{ name: TMP_VOLUME, mountPath: TMP_PATH }];
    if (fromFile) {
      const configMapName = `${name}-script`;
      this.scriptConfigMap = new k8s.KubeConfigMap(this, 'Script', {
        metadata: { name: configMapName, labels },
        data: { [script.key!]: script.content! },
      });
      // 0444: readable by the non-root uid whatever the fsGroup; nobody writes a ConfigMap volume.
      volumes.push({ name: TRAINING_SCRIPT_VOLUME, configMap: { name: configMapName, defaultMode: 0o444 } });
      mounts.push({ name: TRAINING_SCRIPT_VOLUME, mountPath: TRAINING_SCRIPT_DIR, readOnly: true });
    }
    if (props.pipelineVolume) {
      volumes.push({ name: 'pipeline', persistentVolumeClaim: { claimName: props.pipelineVolume.claimName } });
      mounts.push({ name: 'pipeline', mountPath });
      env.push({ name: ENV.modelDir, value: `${mountPath}/${name}` });
    }
    env.push(...settings.env);

    const jobSpec: k8s.JobSpec = {
      backoffLimit,
      activeDeadlineSeconds: deadline,
      ttlSecondsAfterFinished: ttl,
      // A configuration error fails the same way on every retry: fail the Job at once. Beta and
      // on by default since Kubernetes 1.26 (GA in 1.31); it requires restartPolicy Never.
      // Deliberately no `Ignore` rule for DisruptionTarget: a pod evicted for overflowing its
      // scratch emptyDir carries that condition too, and would then be retried until the deadline.
      podFailurePolicy: {
        rules: [{
          action: 'FailJob',
          onExitCodes: { containerName: TRAINING_CONTAINER_NAME, operator: 'In', values: [TRAINING_CONFIG_ERROR_EXIT_CODE] },
          // Required (may be empty) in the 1.27/1.28 schemas; the API server allows one of the two non-empty.
          onPodConditions: [],
        }],
      },
      template: {
        // The script's hash makes a changed script a changed pod template, so it is handled like
        // any other changed prop (see ttlSecondsAfterFinished) instead of silently not running.
        metadata: { labels, ...(fromFile ? { annotations: { [ANNOTATIONS.trainingScriptSha256]: script.sha256! } } : {}) },
        spec: {
          // Never: each retry is a fresh pod whose logs stay readable.
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          ...settings.pod,
          securityContext: podSecurityContext(uid, props.pipelineVolume ? uid : undefined),
          containers: [{
            name: TRAINING_CONTAINER_NAME,
            image,
            command: props.command ?? [R_SCRIPT_COMMAND, R_ENTRYPOINTS.train],
            args: props.args,
            env,
            envFrom: settings.envFrom,
            resources: k8sResources(resources, scratchSize),
            securityContext: restrictedSecurityContext(uid),
            volumeMounts: mounts,
          }],
          volumes,
        },
      },
    };
    if (props.schedule === undefined) {
      this.job = new k8s.KubeJob(this, 'Resource', { metadata: { name, labels }, spec: jobSpec });
    } else {
      this.cronJob = new k8s.KubeCronJob(this, 'Resource', {
        metadata: { name, labels },
        spec: {
          schedule: props.schedule,
          timeZone: props.timeZone,
          // Two trainings of one model at once would race for the alias.
          concurrencyPolicy: 'Forbid',
          startingDeadlineSeconds: props.startingDeadlineSeconds ?? 600,
          successfulJobsHistoryLimit: props.successfulJobsHistoryLimit ?? 3,
          failedJobsHistoryLimit: props.failedJobsHistoryLimit ?? 3,
          jobTemplate: { metadata: { labels }, spec: jobSpec },
        },
      });
    }
  }
}

/** The CronJob props: the schedule's syntax, and no CronJob setting without a schedule. */
function checkSchedule(props: RTrainingJobProps, name: string): Problem[] {
  const out: Problem[] = [];
  const cronOnly = ['timeZone', 'startingDeadlineSeconds', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit'] as const;
  if (props.schedule === undefined) {
    for (const key of cronOnly) {
      if (props[key] !== undefined) {
        out.push({ prop: key, value: props[key], problem: 'only applies to a scheduled training (a CronJob), and `schedule` is not set', fix: 'set `schedule` (e.g. "0 3 * * *"), or remove it' });
      }
    }
    return out;
  }
  out.push(...checkCronSchedule('schedule', props.schedule));
  // The controller names each Job `<name>-<minutes since the epoch>`, which must stay a 63-character label value.
  if (name.length > 52) {
    out.push({ prop: 'name', value: name, problem: `has ${name.length} characters; a CronJob name is at most 52 (its Jobs get an 11-character suffix)`, fix: 'shorten it to at most 52 characters (set the `name` prop)' });
  }
  if (props.timeZone !== undefined) out.push(...checkTimeZone('timeZone', props.timeZone));
  // Below 10 s the controller, which syncs every 10 s, may miss every start.
  if (props.startingDeadlineSeconds !== undefined) out.push(...checkInteger('startingDeadlineSeconds', props.startingDeadlineSeconds, 10));
  if (props.successfulJobsHistoryLimit !== undefined) out.push(...checkInteger('successfulJobsHistoryLimit', props.successfulJobsHistoryLimit, 0));
  if (props.failedJobsHistoryLimit !== undefined) out.push(...checkInteger('failedJobsHistoryLimit', props.failedJobsHistoryLimit, 0));
  return out;
}
