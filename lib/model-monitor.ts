/**
 * The drift monitor of a served model (issue 22 §2): a CronJob that reads a window of the
 * model's payload log from S3, runs the rmlops R package's `monitor_main()` on it against the
 * training reference of the model version (drift per feature, shift of the predictions,
 * performance on feedback that carries the truth), logs a monitoring run to MLflow, and uploads
 * the figures as Prometheus text next to the log. The payload sink in the model's pods fetches
 * that object and serves it on its metrics port, so the PodMonitor that scrapes the model scrapes
 * the figures too (docs/monitoring.md).
 *
 * Three steps, one pod: `fetch` (init, mc) copies the window's objects into an emptyDir; `drift`
 * (init, the R training image, which has the package) writes the figures; `upload` (mc) puts them
 * at `MONITOR.metricsKey`. Init containers run in order and stop the pod at the first failure, so
 * no figures are uploaded from a failed run, and the last good ones stay served (their
 * `rmlops_monitor_last_success_timestamp_seconds` ages, which the stale-monitor alert sees).
 */
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { validateObjectsAtSynth } from './app-validation';
import { ENV, MONITOR, MONITOR_ENV, R_SCRIPT_COMMAND, TRAINING_CONFIG_ERROR_EXIT_CODE } from './contract';
import { unknownEndpoint, workloadNetworkPolicy } from './network-policy';
import { checkCronSchedule, checkTimeZone } from './cron';
import { DEFAULT_MC_IMAGE } from './minio-store';
import { ITrackingServer } from './mlflow-server';
import {
  ComputeResources, TMP_PATH, TMP_VOLUME, checkResources, k8sResources, namespaceOf, podLabels, podSecurityContext, resolveName,
  restrictedSecurityContext, tmpVolume, withDefaults,
} from './pod-defaults';
import { PodSettings, ownedEnv, resolvePodSettings } from './pod-settings';
import { DEFAULT_R_TRAINING_IMAGE, R_IMAGE_UID } from './r-training-job';
import { RmlopsDefaults } from './rmlops-defaults';
import { SeldonRModel } from './seldon-r-model';
import {
  Problem, checkDnsLabel, checkFiniteNumber, checkInteger, checkModelAlias, checkPinnedImage, checkQuantity, checkRegisteredModelName, validateAtSynth,
  warnAtSynth,
} from './validate';

/** Names of the monitor pod's containers, in the order they run. */
export const MONITOR_CONTAINERS = { fetch: 'fetch', drift: 'drift', upload: 'upload' } as const;
/**
 * The R program of the `drift` step: `monitor_main()` returns its exit status (0 written, 2 a
 * configuration error a retry will not fix, 1 anything else), which `quit` hands to the kubelet.
 */
export const MONITOR_R = 'quit(status = rmlops::monitor_main(), save = "no")';
/** Name of the volume at `MONITOR.payloadMount`. */
const WORK_VOLUME = 'monitor';
/** Under `MONITOR.payloadMount`: the window's objects (R reads every file there) and R's figures. */
export const MONITOR_PAYLOAD_DIR = `${MONITOR.payloadMount}/payloads`;
export const MONITOR_METRICS_FILE = `${MONITOR.payloadMount}/metrics.prom`;

/**
 * The `fetch` step (sh, mc): lists the model's payload folder once (wrong credentials or endpoint
 * fail here, with mc's message), then copies the objects of every UTC day the window touches
 * (the key layout's `<YYYY-MM-DD>` folders) into one flat folder; segment names are unique
 * across days. A day without objects is normal (no traffic); R filters the records by time.
 * Connection errors of the listing are retried for about 60 s: on the real node the pod started
 * before kube-router admitted its new address to MinIO's policy, and the first connection was
 * refused. Any other error (credentials, bucket) fails at once.
 */
export const MONITOR_FETCH_SH = [
  'set -eu',
  'mc alias set store "$S3_ENDPOINT" "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY" --api S3v4 --path on >/dev/null',
  'src="store/$S3_BUCKET/$PAYLOAD_FOLDER"',
  'mkdir -p "$DEST"',
  'i=0',
  'until present=$(mc ls "$src/" 2>"$HOME/mc-ls.err"); do',
  '  i=$((i + 1))',
  '  if [ "$i" -ge 30 ] || ! grep -qE "connection refused|no route to host|i/o timeout|no such host|connection reset" "$HOME/mc-ls.err"; then cat "$HOME/mc-ls.err" >&2; exit 1; fi',
  '  sleep 2',
  'done',
  'now=$(date -u +%s); t=$((now - WINDOW_SECONDS)); days=""',
  'while [ "$t" -le "$now" ]; do days="$days $(date -u -d "@$t" +%Y-%m-%d)"; t=$((t + 86400)); done',
  'days="$days $(date -u -d "@$now" +%Y-%m-%d)"',
  'fetched=""',
  'for d in $days; do',
  '  case " $fetched " in *" $d "*) continue ;; esac',
  '  fetched="$fetched $d"',
  '  case "$present" in *" $d/"*) mc cp --recursive --quiet "$src/$d/" "$DEST/" >/dev/null ;; esac',
  'done',
  'echo "fetch: $(ls "$DEST" | wc -l) object(s) of$fetched from $src"',
].join('\n');

/** The `upload` step (sh, mc): one PUT, so a reader sees the old figures or the new ones, never a part. */
export const MONITOR_UPLOAD_SH = [
  'set -eu',
  'mc alias set store "$S3_ENDPOINT" "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY" --api S3v4 --path on >/dev/null',
  'mc cp --quiet "$METRICS_FILE" "store/$S3_BUCKET/$METRICS_KEY" >/dev/null',
  'echo "upload: $(wc -l <"$METRICS_FILE") line(s) to store/$S3_BUCKET/$METRICS_KEY"',
].join('\n');

/** Props of `ModelMonitor` (`PodSettings`: `env` and `envFrom` go to the R step). */
export interface ModelMonitorProps extends PodSettings {
  /** The served model; it must log payloads (`payloadLogging`) and load a `models:/<name>@<alias>` URI from MLflow. */
  readonly model: SeldonRModel;
  /** Predictor whose payloads are monitored. @default the model's main predictor */
  readonly predictor?: string;
  /** Name of the CronJob. @default the construct id */
  readonly name?: string;
  /** When the monitor runs (cron syntax, or a descriptor such as "@hourly"). @default "0 * * * *" (hourly) */
  readonly schedule?: string;
  /** Time zone of `schedule` (IANA name). @default - the controller's time zone (UTC on most clusters) */
  readonly timeZone?: string;
  /** Seconds of payload log one run looks at, ending at the run. @default 86400 (one day) */
  readonly windowSeconds?: number;
  /** Fewer request rows in the window than this: no drift figures, and the MLflow run says why. @default 200 */
  readonly minRows?: number;
  /**
   * PSI above which a feature (or the predictions) counts as drifted. The defaults are the R
   * package's (`rmlops::monitor_defaults()`), chosen from the false-positive rates measured on
   * unshifted windows (docs/monitoring-drift.md). @default 0.25
   */
  readonly psiThreshold?: number;
  /** Two-sample Kolmogorov-Smirnov statistic above which a numeric feature counts as drifted. @default 0.2 */
  readonly ksThreshold?: number;
  /** Chi-square p-value below which a factor counts as drifted. @default 0.001 */
  readonly chisqPThreshold?: number;
  /** Seconds between two fetches of the figures by the payload sink. @default 60 */
  readonly sinkPollSeconds?: number;
  /** R image with the rmlops package, pinned. @default DEFAULT_R_TRAINING_IMAGE (from `RmlopsDefaults`' registry if set) */
  readonly image?: string;
  /** MinIO client image of the fetch and upload steps, pinned. @default DEFAULT_MC_IMAGE (from `RmlopsDefaults`' registry if set) */
  readonly mcImage?: string;
  /** Resources of the R step. @default 100m CPU, 256Mi request, 1Gi limit */
  readonly resources?: ComputeResources;
  /** Resources of each mc step. @default 20m CPU, 32Mi request, 128Mi limit */
  readonly mcResources?: ComputeResources;
  /** Size of the emptyDir holding the window's objects and the figures (about 1 KiB per single-row event). @default "1Gi" */
  readonly payloadSize?: string;
  /** Seconds a run may take, all three steps, before Kubernetes stops it. @default 1800 */
  readonly activeDeadlineSeconds?: number;
  /** How long the R step waits for MLflow, in seconds. @default 120 */
  readonly mlflowWaitSeconds?: number;
  /** Numeric uid of every container (mc runs as any uid). @default R_IMAGE_UID (10001) */
  readonly runAsUser?: number;
}

/**
 * A drift monitor: every `schedule`, the last `windowSeconds` of a model's payload log against
 * its training reference, figures in MLflow and, through the model's payload sink, in Prometheus.
 */
export class ModelMonitor extends Construct {
  /** Name of the CronJob. */
  public readonly name: string;
  /** The predictor monitored. */
  public readonly predictor: string;
  /** Folder of the predictor's payload objects in the bucket: `<prefix>/<namespace>/<deployment>/<predictor>`. */
  public readonly payloadFolder: string;
  /** Object key of the figures (`MONITOR.metricsKey`), which the model's payload sink serves. */
  public readonly metricsKey: string;
  /** Bucket of the payload log and of the figures. */
  public readonly bucket: string;
  /** The CronJob. */
  public readonly cronJob: k8s.KubeCronJob;
  /** Labels selecting the monitor's pods. */
  public readonly podSelector: Record<string, string>;

  constructor(scope: Construct, id: string, props: ModelMonitorProps) {
    super(scope, id);
    const name = resolveName(id, props.name);
    this.name = name;
    const model = props.model;
    const logging = model.payloadLogging;
    const tracking: ITrackingServer | undefined = model.tracking;
    const image = RmlopsDefaults.image(this, props.image, DEFAULT_R_TRAINING_IMAGE);
    const mcImage = RmlopsDefaults.image(this, props.mcImage, DEFAULT_MC_IMAGE);
    const schedule = props.schedule ?? '0 * * * *';
    const windowSeconds = props.windowSeconds ?? 86400;
    const minRows = props.minRows ?? 200;
    const psi = props.psiThreshold ?? 0.25;
    const ks = props.ksThreshold ?? 0.2;
    const chisqP = props.chisqPThreshold ?? 0.001;
    const pollSeconds = props.sinkPollSeconds ?? 60;
    const payloadSize = props.payloadSize ?? '1Gi';
    const deadline = props.activeDeadlineSeconds ?? 1800;
    const waitSeconds = props.mlflowWaitSeconds ?? 120;
    const uid = props.runAsUser ?? R_IMAGE_UID;
    const resources = withDefaults(props.resources, { cpuRequest: '100m', memoryRequest: '256Mi', memoryLimit: '1Gi' });
    const mcResources = withDefaults(props.mcResources, { cpuRequest: '20m', memoryRequest: '32Mi', memoryLimit: '128Mi' });
    const ns = namespaceOf(this);
    const modelNs = namespaceOf(model);
    const main = model.predictors.find((p) => p.role === 'main');
    this.predictor = props.predictor ?? main?.name ?? 'default';
    const info = model.predictors.find((p) => p.name === this.predictor);
    const uri = /^models:\/([^/@]+)@([^/@]+)$/.exec(info?.modelUri ?? '');
    const registeredName = uri?.[1] ?? '';
    const alias = uri?.[2] ?? '';
    const prefix = logging?.spec.prefix ?? 'payloads';
    // The segments of the contract's key layout, as the sink writes them.
    const parts = { '<prefix>': prefix, '<namespace>': modelNs ?? '', '<deployment>': model.name, '<predictor>': this.predictor };
    const fill = (layout: string) => Object.entries(parts).reduce((k, [from, to]) => k.replace(from, to), layout);
    this.payloadFolder = fill('<prefix>/<namespace>/<deployment>/<predictor>');
    this.metricsKey = fill(MONITOR.metricsKey);
    this.bucket = logging?.spec.bucket ?? '';
    const served = logging ? model.serveMonitorFigures(this.predictor, this.metricsKey, pollSeconds) : false;

    const settings = resolvePodSettings(this, props, ownedEnv([], 'the construct', [
      ...[...Object.values(MONITOR_ENV), ENV.trackingUri, ENV.registeredModelName, ENV.modelAlias, ENV.mlflowWaitSeconds, ENV.tmpDir, 'HOME']
        .map((n): [string, string] => [n, 'the construct']),
      ...Object.values(ENV).map((n): [string, string] => [n, 'the rmlops contract (lib/contract.ts ENV)']),
    ]));

    validateAtSynth(this, () => {
      const out: Problem[] = [
        ...settings.problems(),
        ...checkDnsLabel('name', name, 52).map((p) => ({ ...p, problem: `${p.problem}; a CronJob name is at most 52 (its Jobs get a suffix)` })),
        ...checkCronSchedule('schedule', schedule),
        ...(props.timeZone !== undefined ? checkTimeZone('timeZone', props.timeZone) : []),
        ...checkPinnedImage('image', image),
        ...checkPinnedImage('mcImage', mcImage),
        ...checkInteger('windowSeconds', windowSeconds, 60),
        ...checkInteger('minRows', minRows, 1),
        ...checkInteger('sinkPollSeconds', pollSeconds, 1),
        ...checkInteger('activeDeadlineSeconds', deadline, 60),
        ...checkInteger('mlflowWaitSeconds', waitSeconds, 0),
        ...checkInteger('runAsUser', uid, 1),
        ...checkQuantity('payloadSize', payloadSize),
        ...checkResources('resources', resources),
        ...checkResources('mcResources', mcResources),
      ];
      for (const [prop, v] of [['psiThreshold', psi], ['ksThreshold', ks], ['chisqPThreshold', chisqP]] as const) {
        const bad = checkFiniteNumber(prop, v);
        if (bad.length > 0) out.push(...bad);
        else if (!(v > 0) || (prop !== 'psiThreshold' && v >= 1)) {
          out.push({ prop, value: v, problem: prop === 'psiThreshold' ? 'is not above 0' : 'is not between 0 and 1 (exclusive)', fix: `use a value such as ${prop === 'psiThreshold' ? 0.25 : prop === 'ksThreshold' ? 0.2 : 0.001}` });
        }
      }
      if (!logging) {
        out.push({ prop: 'model', value: model.name, problem: 'does not log its payloads, so the monitor would have nothing to read', fix: 'give the SeldonRModel `payloadLogging: PayloadLogging.toBucket(store)`' });
        return out;
      }
      if (!info) {
        out.push({ prop: 'predictor', value: this.predictor, problem: `is not a predictor of "${model.name}" (it has ${model.predictors.map((p) => `"${p.name}"`).join(', ')})`, fix: 'name one of them, or leave the prop out for the main predictor' });
        return out;
      }
      if (!served) {
        out.push({ prop: 'predictor', value: this.predictor, problem: `of "${model.name}" already has a ModelMonitor, and its payload sink serves one set of figures`, fix: 'monitor each predictor once' });
      }
      if (modelNs === undefined) {
        out.push({ prop: 'model', value: model.name, problem: 'is in a chart without a namespace, and the namespace is part of the payload log\'s keys', fix: 'give the chart a namespace: `new Chart(app, id, { namespace })`' });
      } else if (ns !== modelNs) {
        out.push({ prop: 'model', value: model.name, problem: `is in namespace "${modelNs}", not the monitor's "${ns ?? '(none)'}"`, fix: 'create the ModelMonitor in the chart of the SeldonRModel' });
      }
      if (!uri) {
        out.push({ prop: 'model', value: info.modelUri, problem: `is what predictor "${this.predictor}" loads; the monitor needs a registered model and alias ("models:/<name>@<alias>") to find the version's training reference in MLflow`, fix: 'serve a training job\'s `model` (e.g. `train.model`)' });
      } else {
        out.push(...checkRegisteredModelName('model', registeredName), ...checkModelAlias('model', alias));
      }
      if (!tracking) {
        out.push({ prop: 'model', value: model.name, problem: 'has no `tracking` server, where the monitor reads the training reference and logs its run', fix: 'pass the MlflowServer as the SeldonRModel\'s `tracking`' });
      }
      return out;
    });
    validateObjectsAtSynth(this);

    const { labels, podSelector } = podLabels(this, { name: 'r-monitor', instance: name, component: 'monitoring' }, image, tracking);
    this.podSelector = podSelector;
    // The monitor reads the log and writes its figures through the store's S3 API.
    logging?.store.allowClient({ podLabels: podSelector, namespace: ns, by: this.node.path, labels });
    // No ingress; egress to DNS, the store (both mc steps) and MLflow (the R step) only.
    workloadNetworkPolicy(this, 'NetworkPolicy', { name, labels }, podSelector, { egress: () => [logging?.store.endpoint, tracking?.endpoint] });
    warnAtSynth(this, () => [
      ...(logging && !logging.store.endpoint ? [unknownEndpoint('model.payloadLogging', 'the payload log\'s store')] : []),
      ...(tracking && !tracking.endpoint ? [unknownEndpoint('model.tracking', 'the tracking server')] : []),
    ]);

    const secret = logging?.spec.credentialsSecret;
    const s3Env = [
      { name: 'S3_ENDPOINT', value: logging?.spec.s3EndpointUrl ?? '' },
      { name: 'S3_BUCKET', value: this.bucket },
      // From the Secret at run time: no key is ever in the manifests.
      { name: 'S3_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: secret?.name ?? '', key: secret?.accessKeyIdKey ?? '' } } },
      { name: 'S3_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: secret?.name ?? '', key: secret?.secretAccessKeyKey ?? '' } } },
      // mc writes its config under HOME / MC_CONFIG_DIR; the root filesystem is read-only.
      { name: 'HOME', value: TMP_PATH },
      { name: 'MC_CONFIG_DIR', value: `${TMP_PATH}/.mc` },
    ];
    const mounts = [{ name: WORK_VOLUME, mountPath: MONITOR.payloadMount }, { name: TMP_VOLUME, mountPath: TMP_PATH }];
    const mcContainer = (cname: string, script: string, env: k8s.EnvVar[]): k8s.Container => ({
      name: cname,
      image: mcImage,
      command: ['/bin/sh', '-c', script],
      env: [...env, ...s3Env],
      resources: k8sResources(mcResources),
      securityContext: restrictedSecurityContext(uid),
      volumeMounts: mounts,
    });

    this.cronJob = new k8s.KubeCronJob(this, 'Resource', {
      metadata: { name, labels },
      spec: {
        schedule,
        ...(props.timeZone !== undefined ? { timeZone: props.timeZone } : {}),
        // A run still going when the next is due: skip the next, never two on one window.
        concurrencyPolicy: 'Forbid',
        // A run missed by more than this (controller down) is skipped; the next one covers its window.
        startingDeadlineSeconds: 300,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: { labels },
          spec: {
            // Each run reads a fresh window: one retry for a transient failure, then the next run.
            backoffLimit: 1,
            activeDeadlineSeconds: deadline,
            // A configuration error of the R step (no training reference, a bad setting) fails
            // the same way on a retry: fail the Job at once (as RTrainingJob does).
            podFailurePolicy: {
              rules: [{
                action: 'FailJob',
                onExitCodes: { containerName: MONITOR_CONTAINERS.drift, operator: 'In', values: [TRAINING_CONFIG_ERROR_EXIT_CODE] },
                onPodConditions: [],
              }],
            },
            template: {
              metadata: { labels },
              spec: {
                restartPolicy: 'Never',
                ...settings.pod,
                automountServiceAccountToken: false,
                securityContext: podSecurityContext(uid),
                initContainers: [
                  mcContainer(MONITOR_CONTAINERS.fetch, MONITOR_FETCH_SH, [
                    { name: 'PAYLOAD_FOLDER', value: this.payloadFolder },
                    { name: 'WINDOW_SECONDS', value: String(windowSeconds) },
                    { name: 'DEST', value: MONITOR_PAYLOAD_DIR },
                  ]),
                  {
                    name: MONITOR_CONTAINERS.drift,
                    image,
                    command: [R_SCRIPT_COMMAND, '-e', MONITOR_R],
                    env: [
                      { name: MONITOR_ENV.payloadDir, value: MONITOR_PAYLOAD_DIR },
                      { name: MONITOR_ENV.metricsFile, value: MONITOR_METRICS_FILE },
                      { name: MONITOR_ENV.windowSeconds, value: String(windowSeconds) },
                      { name: MONITOR_ENV.minRows, value: String(minRows) },
                      { name: MONITOR_ENV.psiThreshold, value: String(psi) },
                      { name: MONITOR_ENV.ksThreshold, value: String(ks) },
                      { name: MONITOR_ENV.chisqPThreshold, value: String(chisqP) },
                      { name: MONITOR_ENV.deployment, value: model.name },
                      { name: MONITOR_ENV.predictor, value: this.predictor },
                      { name: ENV.trackingUri, value: tracking?.trackingUri ?? '' },
                      { name: ENV.registeredModelName, value: registeredName },
                      { name: ENV.modelAlias, value: alias },
                      { name: ENV.mlflowWaitSeconds, value: String(waitSeconds) },
                      { name: ENV.tmpDir, value: TMP_PATH },
                      { name: 'HOME', value: TMP_PATH },
                      ...settings.env,
                    ],
                    envFrom: settings.envFrom,
                    // The window's objects are on the node's disk: request that much.
                    resources: k8sResources(resources, payloadSize),
                    securityContext: restrictedSecurityContext(uid),
                    volumeMounts: mounts,
                  },
                ],
                containers: [
                  mcContainer(MONITOR_CONTAINERS.upload, MONITOR_UPLOAD_SH, [
                    { name: 'METRICS_FILE', value: MONITOR_METRICS_FILE },
                    { name: 'METRICS_KEY', value: this.metricsKey },
                  ]),
                ],
                volumes: [
                  { name: WORK_VOLUME, emptyDir: { sizeLimit: k8s.Quantity.fromString(payloadSize) } },
                  tmpVolume('256Mi'),
                ],
              },
            },
          },
        },
      },
    });
  }
}
