/**
 * The contract shared by every construct and by the R code in `r/`.
 *
 * Ports, paths, environment variable names and labels are defined here once. The R programs
 * read the same values from `r/contract.json`, which `scripts/gen-contract.js` writes from this
 * module; a test fails if the two ever differ.
 */

/** Port of the Seldon executor sidecar (REST, `/prometheus` metrics, `/ready`, `/live`). */
export const SELDON_EXECUTOR_HTTP_PORT = 8000 as const;
/** Port of the Seldon executor sidecar (gRPC). */
export const SELDON_EXECUTOR_GRPC_PORT = 5001 as const;
/** Ports the Seldon executor binds in every predictor pod; no model container may declare them. */
export const SELDON_EXECUTOR_PORTS = [SELDON_EXECUTOR_HTTP_PORT, SELDON_EXECUTOR_GRPC_PORT] as const;
/** A port owned by the Seldon executor. */
export type SeldonExecutorPort = (typeof SELDON_EXECUTOR_PORTS)[number];

/** REST port of the R model server (what Seldon assigns to the first model container). */
export const R_MODEL_HTTP_PORT = 9000 as const;
/**
 * Name of the model container's REST port. The Seldon operator routes the executor to the
 * containerPort with this name, whatever its number.
 */
export const R_MODEL_PORT_NAME = 'http' as const;

/**
 * Compile-time check of a model port: resolves to the port itself, or to an explanatory string
 * type when the port is one of the executor's, so `httpPort: 8000` fails to compile with the fix
 * in the message. Computed `number`s pass and are checked at synth time.
 */
export type ModelHttpPort<P extends number> = P extends SeldonExecutorPort
  ? `port ${P} is owned by the Seldon executor sidecar: use ${typeof R_MODEL_HTTP_PORT}`
  : P;

/**
 * HTTP port of a KServe custom predictor's container: the port KServe routes to when the
 * container declares none, and what `KServeRModel` declares by default.
 */
export const KSERVE_MODEL_HTTP_PORT = 8080 as const;
/**
 * Ports other processes own in every KServe predictor pod, with their owner. A model container
 * that declares one either is rejected by Knative's webhook or fails with "address already in
 * use" (docs/kserve.md gives the source of each).
 */
export const KSERVE_RESERVED_PORTS = {
  8008: "Knative's queue-proxy (profiling)",
  8012: "Knative's queue-proxy (HTTP/1 backend)",
  8013: "Knative's queue-proxy (HTTP/2 backend)",
  8022: "Knative's queue-proxy (admin)",
  8112: "Knative's queue-proxy (HTTPS backend, with system-internal TLS)",
  9081: "KServe's agent (logger and batcher)",
  9088: "KServe's metrics aggregation (on queue-proxy)",
  9090: "Knative's queue-proxy (autoscaler metrics)",
  9091: "Knative's queue-proxy (user metrics)",
} as const;
/** A port owned by Knative's queue-proxy or KServe's agent in a KServe predictor pod. */
export type KServeReservedPort = keyof typeof KSERVE_RESERVED_PORTS;
/**
 * Compile-time check of a KServe model port, as `ModelHttpPort` is for Seldon: a reserved port
 * resolves to a string type that names its owner and the fix, so it does not compile.
 */
export type KServeModelHttpPort<P extends number> = P extends KServeReservedPort
  ? `port ${P} is owned by ${(typeof KSERVE_RESERVED_PORTS)[P]} in every KServe predictor pod: use ${typeof KSERVE_MODEL_HTTP_PORT}`
  : P;
/** Name KServe requires for a custom predictor's serving container. */
export const KSERVE_CONTAINER_NAME = 'kserve-container' as const;
/** Where KServe's storage initializer puts the files of `STORAGE_URI` in the model container. */
export const KSERVE_MODEL_MOUNT_PATH = '/mnt/models' as const;
/** Annotation keys KServe reads on an InferenceService. */
export const KSERVE_ANNOTATIONS = {
  /** `Knative` or `Standard` (0.20 names); unset means the cluster's default (inferenceservice-config). */
  deploymentMode: 'serving.kserve.io/deploymentMode',
  /** `"true"`: KServe's pod webhook points the pod's prometheus.io annotations at queue-proxy (9091, or 9088 when aggregating). */
  enablePrometheusScraping: 'serving.kserve.io/enable-prometheus-scraping',
  /** `"true"`: queue-proxy (KServe's qpext image) serves the model's metrics merged with its own on 9088. */
  enableMetricAggregation: 'serving.kserve.io/enable-metric-aggregation',
  /** Port of the model container's own Prometheus metrics, for the aggregation. */
  prometheusPort: 'prometheus.kserve.io/port',
  /** Path of the model container's own Prometheus metrics, for the aggregation. */
  prometheusPath: 'prometheus.kserve.io/path',
} as const;

/** The conventional scrape annotations Prometheus' kubernetes_sd relabelling reads on pods. */
export const PROMETHEUS_ANNOTATIONS = {
  scrape: 'prometheus.io/scrape',
  port: 'prometheus.io/port',
  path: 'prometheus.io/path',
} as const;

/**
 * KServe 0.20's deployment modes by every name it accepts in the deploymentMode annotation:
 * `Serverless` and `RawDeployment` are the old names of `Knative` and `Standard`, which its
 * defaulting webhook writes in their place.
 */
export const KSERVE_MODE_NAMES: Readonly<Record<string, 'Knative' | 'Standard' | 'ModelMesh'>> = {
  Knative: 'Knative', Serverless: 'Knative', Standard: 'Standard', RawDeployment: 'Standard', ModelMesh: 'ModelMesh',
};

/** KServe release whose InferenceService CRD the bindings in `imports/` were generated from. */
export const KSERVE_VERSION = '0.20.0' as const;

/** MinIO S3 API port. */
export const MINIO_API_PORT = 9000 as const;
/** MinIO web console port. */
export const MINIO_CONSOLE_PORT = 9001 as const;
/** MLflow tracking server port. */
export const MLFLOW_PORT = 5000 as const;

/** HTTP paths served by the components. */
export const PATHS = {
  /** What the Seldon executor calls on the model container. */
  modelPredict: '/predict',
  /** Seldon's external prediction path (executor on 8000; also served by the R server directly). */
  predictions: '/api/v1.0/predictions',
  /** What the Seldon executor calls on the model container with a Feedback message (reward, truth). */
  modelFeedback: '/send-feedback',
  /** Seldon's external feedback path (executor on 8000; also served by the R server directly). */
  feedback: '/api/v1.0/feedback',
  /** R server liveness: the process answers. */
  healthPing: '/health/ping',
  /** R server readiness: 200 only once the model is loaded. */
  healthStatus: '/health/status',
  /** R server model metadata. */
  metadata: '/metadata',
  /** OIP v2 liveness of the R server. */
  v2Live: '/v2/health/live',
  /** OIP v2 readiness of the R server: 200 only once the model is loaded and a worker runs. */
  v2Ready: '/v2/health/ready',
  /** Prometheus metrics of the R server, on its metrics port (Seldon's default endpoint). */
  modelMetrics: '/prometheus',
  /** MLflow server health. */
  mlflowHealth: '/health',
  /** MinIO liveness. */
  minioLive: '/minio/health/live',
  /** MinIO readiness. */
  minioReady: '/minio/health/ready',
} as const;

/** Environment variable names the containers receive (TypeScript sets them, R reads them). */
export const ENV = {
  /** MLflow tracking server URI, e.g. `http://mlflow.ns.svc:5000`. */
  trackingUri: 'MLFLOW_TRACKING_URI',
  /** MLflow experiment the training run is logged under. */
  experimentName: 'MLFLOW_EXPERIMENT_NAME',
  /** Registered model name the training job registers a version under. */
  registeredModelName: 'MLFLOW_REGISTERED_MODEL_NAME',
  /** Alias the training job moves to the new version when it passes the quality gate. */
  modelAlias: 'MLFLOW_MODEL_ALIAS',
  /** Holdout metric that gates the alias (e.g. `accuracy`). */
  qualityMetric: 'QUALITY_METRIC',
  /** Threshold of the quality metric for the alias to move. */
  qualityThreshold: 'QUALITY_THRESHOLD',
  /** Whether the metric must be at least (`higher`) or at most (`lower`) the threshold. */
  qualityDirection: 'QUALITY_DIRECTION',
  /** How long the R programs wait for MLflow before giving up, in seconds. */
  mlflowWaitSeconds: 'MLFLOW_WAIT_SECONDS',
  /** Model the server loads: `models:/name@alias`, `models:/name/version`, `runs:/id/path`, `file://dir`. */
  modelUri: 'MODEL_URI',
  /** Local directory the training job writes the model bundle to (local mode, hand-offs). */
  modelDir: 'MODEL_DIR',
  /** `true` bundles the fitted model with its training data (default: stripped, see docs/bundle-format.md). */
  keepTrainingData: 'RMLOPS_KEEP_TRAINING_DATA',
  /**
   * Most training rows sampled into the bundle's drift reference (`MONITOR.referenceDir`; default
   * 1000, `0`: no reference, the one deliberate copy of training rows; docs/monitoring-drift.md).
   */
  referenceRows: 'RMLOPS_REFERENCE_ROWS',
  /** Port the R model server binds (injected by the Seldon operator). */
  httpPort: 'PREDICTIVE_UNIT_HTTP_SERVICE_PORT',
  /** Largest request body the R server accepts, in bytes. */
  maxBodyBytes: 'MAX_REQUEST_BYTES',
  /** Scratch directory for R (the root filesystem is read-only). */
  tmpDir: 'TMPDIR',
  /** Absolute path of the user's R training script, which the training entrypoint sources and runs. */
  trainingScript: 'TRAINING_SCRIPT',
  /** Worker processes of the R model server (the construct sets it from the CPU request). */
  workers: 'RMLOPS_WORKERS',
  /** Port of the R server's Prometheus metrics (the operator's name for the model's metrics port). */
  metricsPort: 'PREDICTIVE_UNIT_METRICS_SERVICE_PORT',
  /** Path of the R server's Prometheus metrics. */
  metricsEndpoint: 'PREDICTIVE_UNIT_METRICS_ENDPOINT',
  /**
   * Port the R server binds, as Knative injects it (and `KServeRModel` sets it in Standard
   * mode); it must agree with `PREDICTIVE_UNIT_HTTP_SERVICE_PORT` when both are set.
   */
  port: 'PORT',
  /**
   * Model location for KServe's storage initializer: KServe's pod webhook downloads it into
   * /mnt/models and rewrites the variable to that directory, which the server then loads when
   * `MODEL_URI` is unset.
   */
  storageUri: 'STORAGE_URI',
  /** Name of the InferenceService (KServe sets it on every predictor container): the model name in the v2 paths. */
  inferenceServiceName: 'INFERENCE_SERVICE_NAME',
  /** Protocol a KServe custom container declares to KServe (`v1` or `v2`). */
  kserveProtocol: 'PROTOCOL',
  /** Graph node name the Seldon operator injects: the model name in the v2 paths. */
  predictiveUnitId: 'PREDICTIVE_UNIT_ID',
} as const;

/**
 * Directory the training container mounts a `TrainingScript.fromFile` ConfigMap at (read-only);
 * the script is `<dir>/<file name>`.
 */
export const TRAINING_SCRIPT_DIR = '/etc/rmlops/training' as const;

/**
 * Where the rmlops R images keep their entrypoints. The constructs set each container's `command`
 * to `Rscript <entrypoint>` explicitly, so the manifests say what runs without the image's metadata.
 */
export const R_ENTRYPOINTS = {
  /** Training: runs the user's script (`TRAINING_SCRIPT`), logs, registers and gates the alias. */
  train: '/opt/rmlops/train.R',
  /** Serving: the Seldon-protocol model server. */
  serve: '/opt/rmlops/serve.R',
} as const;

/** The interpreter of the R entrypoints. */
export const R_SCRIPT_COMMAND = 'Rscript' as const;

/** Annotation keys the constructs write. */
export const ANNOTATIONS = {
  /** On the training pod template: sha256 of a `TrainingScript.fromFile` script. */
  trainingScriptSha256: 'rmlops-cdk8s/training-script-sha256',
} as const;

/** Environment variables of the promotion container (read by `PROMOTE_R` in model-promotion.ts). */
export const PROMOTION_ENV = {
  /** Alias whose version is promoted (the challenger). */
  fromAlias: 'RMLOPS_PROMOTE_FROM_ALIAS',
  /** Alias that is moved (the champion). */
  toAlias: 'RMLOPS_PROMOTE_TO_ALIAS',
  /**
   * JSON list of `{ resource, patch }`: after moving the alias, the Job sends each JSON Patch
   * template to the API path `resource`, each `add` op with the promoted version as its value
   * (unset: nothing is rolled).
   */
  rolls: 'RMLOPS_ROLLS',
  /** Directory of the pod's service account token and cluster CA. */
  serviceAccountDir: 'RMLOPS_SERVICEACCOUNT_DIR',
} as const;

/**
 * Annotation on each predictor's `componentSpecs[0].metadata`: the model URI it loads. The
 * operator copies these annotations into the pod template of the predictor's Deployment, and it
 * also makes sure the map exists, so a JSON Patch can add `MODEL_VERSION_ANNOTATION` next to it.
 */
export const MODEL_URI_ANNOTATION = 'rmlops-cdk8s/model-uri' as const;
/**
 * Annotation `ModelPromotion` sets on the champion predictors' `componentSpecs[0].metadata` to the
 * promoted version: a changed pod template, so the operator rolls the pods, which resolve the
 * alias again when they start.
 */
export const MODEL_VERSION_ANNOTATION = 'rmlops-cdk8s/model-version' as const;

/** Label every predictor's pods carry with the predictor name, so each predictor can be selected on its own. */
export const PREDICTOR_LABEL = 'rmlops-cdk8s/predictor' as const;
/** Annotation of the Seldon operator naming the Istio Gateway of the VirtualService it writes. */
export const ISTIO_GATEWAY_ANNOTATION = 'seldon.io/istio-gateway' as const;

/** Environment variable names understood by the MLflow server and its S3 client. */
export const MLFLOW_SERVER_ENV = {
  /** S3 endpoint of the artifact store (path-style). */
  s3Endpoint: 'MLFLOW_S3_ENDPOINT_URL',
  /** S3 access key id. */
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  /** S3 secret access key. */
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  /** Backend store URI when it comes from a Secret. */
  backendStoreUri: 'MLFLOW_BACKEND_STORE_URI',
  /** MLflow 3.9.0 starts a job runner and huey consumers unless this is `false`. */
  jobExecution: 'MLFLOW_SERVER_ENABLE_JOB_EXECUTION',
} as const;

/** Keys of the credentials Secrets the constructs read (the README tells users to create them). */
export const SECRET_KEYS = {
  /** MinIO root user name. */
  minioRootUser: 'root-user',
  /** MinIO root password. */
  minioRootPassword: 'root-password',
  /** S3 access key id for a least-privilege artifact-store user. */
  s3AccessKeyId: 'access-key-id',
  /** S3 secret access key for a least-privilege artifact-store user. */
  s3SecretAccessKey: 'secret-access-key',
  /** Database URI of MLflow's backend store. */
  backendStoreUri: 'backend-store-uri',
} as const;

/** Recommended Kubernetes label keys. */
export const LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
  version: 'app.kubernetes.io/version',
} as const;

/** Value of `app.kubernetes.io/part-of` and `managed-by` on everything this library creates. */
export const PART_OF = 'rmlops' as const;
export const MANAGED_BY = 'rmlops-cdk8s' as const;

/**
 * Exit code of the R training program for a configuration or validation error (bad env, bad
 * data, unusable settings): the same input fails the same way on every retry, so the training
 * Job's `podFailurePolicy` fails the Job at once on this code instead of burning `backoffLimit`.
 * Any other non-zero code (MLflow unreachable, OOM, eviction) is retried.
 */
export const TRAINING_CONFIG_ERROR_EXIT_CODE = 2 as const;

/**
 * Seldon Core release whose SeldonDeployment CRD the bindings in `imports/` were generated from
 * and whose operator behaviour (ports, injected executor) the constructs are written against.
 * `versions.json` pins the same release; test/pins.test.ts fails if they drift.
 */
export const SELDON_CORE_VERSION = '1.17.1' as const;

/** Name of the executor container the Seldon operator injects into every predictor pod. */
export const SELDON_EXECUTOR_CONTAINER_NAME = 'seldon-container-engine' as const;
/**
 * gRPC port the Seldon 1.17.1 operator declares (port name `grpc`) on the first graph-node
 * container, i.e. our model container (operator/apis/.../v1/defaults.go: 9500, +1 per container).
 */
export const SELDON_MODEL_GRPC_PORT = 9500 as const;
/** Metrics port the operator declares (port name `metrics`) on the first graph-node container. */
export const SELDON_MODEL_METRICS_PORT = 6000 as const;
/** The operator's name of that port (also what a PodMonitor scrapes it by). */
export const SELDON_MODEL_METRICS_PORT_NAME = 'metrics' as const;
/**
 * Name of the R model container of a SeldonDeployment, which is also its graph node name (Seldon
 * pairs them by name) and the componentSpec's name (the operator's Deployment `<sdep>-<predictor>-0-model`).
 */
export const MODEL_CONTAINER_NAME = 'model' as const;
/**
 * Port names the operator gives the model container (`http`, `grpc`, `metrics`) and the executor
 * (`http`, `metrics`, `grpc`): named-port references (Service targetPorts, PodMonitors, probes)
 * would become ambiguous if another container in the pod used them.
 */
export const SELDON_RESERVED_PORT_NAMES = ['http', 'grpc', 'metrics'] as const;

/**
 * The payload sink (`sink/`, image `DEFAULT_PAYLOAD_SINK_IMAGE`): a sidecar in the model's pod
 * that receives the executor's payload-logger CloudEvents over localhost, spools each one
 * (fsync'd) before it answers, and uploads batched JSONL objects to S3 (docs/payload-logging.md).
 */
export const PAYLOAD_SINK = {
  /** Name of the sidecar container. */
  containerName: 'payload-sink',
  /**
   * Port the sink takes events on, bound to 127.0.0.1 only: the executor in the same pod is its
   * only client, so no NetworkPolicy rule and no Service is needed, and nothing outside the pod
   * can write to the log. Not declared as a containerPort (nothing outside the pod uses it).
   */
  eventsPort: 9101,
  /** Port of the sink's Prometheus metrics and health check (all interfaces). */
  metricsPort: 9102,
  /** Name of the metrics containerPort (`metrics` belongs to the operator's containers). */
  metricsPortName: 'sink-metrics',
  /** Path of the Prometheus metrics on `metricsPort`. */
  metricsPath: '/metrics',
  /** Readiness and liveness path on `metricsPort`: 200 while the sink takes events. */
  healthPath: '/healthz',
  /** Where the sink's spool volume is mounted. */
  spoolPath: '/var/spool/rmlops-sink',
  /** Name of the spool emptyDir volume. */
  spoolVolume: 'payload-spool',
  /**
   * Object key layout: KServe's S3 logger's `<prefix>/<namespace>/<inference service>/<component>/`
   * with the UTC day of receipt and the spool segment's id after it. The key depends only on the
   * segment and the group, so an upload repeated after a crash overwrites, never duplicates.
   */
  keyLayout: '<prefix>/<namespace>/<deployment>/<predictor>/<YYYY-MM-DD>/<segment>.jsonl',
  /** The executor's CloudEvent types, as the records' `reqType`. */
  eventTypes: {
    request: 'io.seldon.serving.inference.request',
    response: 'io.seldon.serving.inference.response',
    feedback: 'io.seldon.serving.feedback',
  },
} as const;

/** Environment variables of the payload sink (read by `sink/main.go`). */
export const SINK_ENV = {
  /** Address of the events listener. */
  listen: 'SINK_LISTEN',
  /** Address of the metrics and health listener. */
  metricsListen: 'SINK_METRICS_LISTEN',
  /** Spool folder (an emptyDir: it survives container restarts, not the pod). */
  spoolDir: 'SINK_SPOOL_DIR',
  /** S3 endpoint URL, `http(s)://host[:port]` (path-style). */
  s3Endpoint: 'SINK_S3_ENDPOINT',
  /** Bucket the objects go to. */
  s3Bucket: 'SINK_S3_BUCKET',
  /** Key prefix in the bucket. */
  s3Prefix: 'SINK_S3_PREFIX',
  /** Region the client signs for. */
  s3Region: 'SINK_S3_REGION',
  /** S3 access key id (from the credentials Secret). */
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  /** S3 secret access key (from the credentials Secret). */
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  /** Events per object at most (a spool segment is sealed then). */
  batchEvents: 'SINK_BATCH_EVENTS',
  /** Seconds a segment stays open before it is sealed and uploaded. */
  batchSeconds: 'SINK_BATCH_SECONDS',
  /** Seconds the sink keeps uploading after SIGTERM. */
  drainSeconds: 'SINK_DRAIN_SECONDS',
  /** Namespace written into records whose event does not carry one. */
  namespace: 'SINK_NAMESPACE',
  /** Deployment name written into records whose event does not carry one. */
  deployment: 'SINK_DEPLOYMENT',
  /**
   * Object key (in the bucket) of the drift monitor's latest figures, `MONITOR.metricsKey`: when
   * set, the sink fetches it and serves its lines on its metrics endpoint after its own.
   */
  monitorKey: 'SINK_MONITOR_KEY',
  /** Seconds between two fetches of the monitor's figures. */
  monitorPollSeconds: 'SINK_MONITOR_POLL_SECONDS',
} as const;

/**
 * Prometheus metric names the alert rules, the dashboard and the drift monitor share (issue 22).
 * The R server serves the `model*` ones on its metrics port (`/prometheus`); the drift monitor's
 * figures (`monitor*`) are written by the `ModelMonitor` CronJob (R) and served by the payload
 * sink in the model's pod on its metrics port, so one PodMonitor scrapes them all.
 */
export const METRICS = {
  /** Counter, labels `route`, `code`: HTTP requests the R server answered. */
  modelRequests: 'rmlops_requests_total',
  /** Histogram, label `route`: seconds from a request's first byte to its answer. */
  modelRequestDuration: 'rmlops_request_duration_seconds',
  /** Counter: R server workers replaced after they died. */
  modelWorkerRestarts: 'rmlops_worker_restarts_total',
  /** Gauge, 1 once the model is loaded. */
  modelReady: 'rmlops_model_ready',
  /** Gauge, labels `feature`, `statistic` (`psi`, `ks`, `chisq_p`): a feature's drift against the training reference. */
  monitorDrift: 'rmlops_monitor_drift',
  /** Gauge, label `feature`: 1 when a feature's drift is over its threshold (the thresholds are `ModelMonitor` props). */
  monitorDriftAlarm: 'rmlops_monitor_drift_alarm',
  /** Gauge, label `statistic` (`psi`): shift of the prediction distribution against the training reference. */
  monitorPredictionShift: 'rmlops_monitor_prediction_shift',
  /** Gauge, label `metric` (`rmse`, `accuracy`, …): performance on the window's feedback that carried the truth. */
  monitorPerformance: 'rmlops_monitor_performance',
  /** Gauge: request events in the last monitored window. */
  monitorWindowEvents: 'rmlops_monitor_window_events',
  /** Gauge: Unix time of the monitor's last successful run. */
  monitorLastSuccess: 'rmlops_monitor_last_success_timestamp_seconds',
} as const;

/**
 * The drift monitor (issue 22 §2): a `ModelMonitor` CronJob whose first init container fetches a
 * window of the payload log from S3 into `payloadMount` (with mc: a real S3 client, no signing
 * by hand), whose second runs R (`rmlops::monitor_main()`) on it against the training reference
 * and logs a monitoring run to MLflow, and whose last container uploads R's Prometheus text to
 * `metricsKey`; the payload sink of the model's pod serves that text on its metrics port.
 */
export const MONITOR = {
  /** Where the window's JSONL objects and R's output live in the monitor pod (an emptyDir). */
  payloadMount: '/var/run/rmlops-monitor',
  /** Folder of the model bundle holding the training reference (a sample and per-feature summaries). */
  referenceDir: 'reference',
  /** Object key of the monitor's latest figures (Prometheus text), under the payload log's prefix. */
  metricsKey: '<prefix>/monitoring/<namespace>/<deployment>/<predictor>/metrics.prom',
} as const;

/** Environment variables of the drift monitor's R step (read by `rmlops::monitor_main()`). */
export const MONITOR_ENV = {
  /** Folder holding the window's payload-log JSONL objects. */
  payloadDir: 'MONITOR_PAYLOAD_DIR',
  /** File R writes the Prometheus text of its figures to. */
  metricsFile: 'MONITOR_METRICS_FILE',
  /** Seconds of payload log one run looks at (records older than that are ignored). */
  windowSeconds: 'MONITOR_WINDOW_SECONDS',
  /** Fewer request rows than this: no drift figures, the run says why. */
  minRows: 'MONITOR_MIN_ROWS',
  /** PSI above which a feature (or the predictions) counts as drifted. */
  psiThreshold: 'MONITOR_PSI_THRESHOLD',
  /** Two-sample KS statistic above which a numeric feature counts as drifted. */
  ksThreshold: 'MONITOR_KS_THRESHOLD',
  /** Chi-square p-value below which a factor counts as drifted. */
  chisqPThreshold: 'MONITOR_CHISQ_P_THRESHOLD',
  /** SeldonDeployment (or InferenceService) the window belongs to, for labels and the MLflow run. */
  deployment: 'MONITOR_DEPLOYMENT',
  /** Predictor the window belongs to. */
  predictor: 'MONITOR_PREDICTOR',
} as const;

/**
 * Prometheus metric names the payload sink (`sink/main.go`) serves on its metrics port, for the
 * alert rules (`ModelAlertRules`); test/model-alert-rules.test.ts checks sink/ still writes them.
 */
export const PAYLOAD_SINK_METRICS = {
  /** Counter: events that could not be spooled, answered 5xx (the executor does not retry: lost). */
  spoolFailures: 'rmlops_sink_spool_failures_total',
  /** Counter: failed S3 uploads that were retried. */
  uploadRetries: 'rmlops_sink_upload_retries_total',
  /** Counter: objects written to S3. */
  objectsUploaded: 'rmlops_sink_objects_uploaded_total',
  /** Gauge: sealed spool segments waiting for upload. */
  spoolSegments: 'rmlops_sink_spool_segments',
  /** Gauge: bytes in the spool folder (open and sealed segments). */
  spoolBytes: 'rmlops_sink_spool_bytes',
} as const;

/**
 * The network contract of the NetworkPolicies (docs/network.md). Ports are the ones the policies
 * name, as Kubernetes enforces them: container (target) ports of the selected pods, after the
 * Service's DNAT, never Service ports.
 */
export const NETWORK = {
  /** Label a pod carries to be admitted to a model's prediction port: `client.rmlops.io/<model>: "true"`. */
  clientLabelPrefix: 'client.rmlops.io/',
  /** Value of that label. */
  clientLabelValue: 'true',
  /** The cluster DNS (CoreDNS/kube-dns) pods' label, namespace and port (UDP and TCP). */
  dns: { namespace: 'kube-system', podLabels: { 'k8s-app': 'kube-dns' }, port: 53 },
  /** The port the API server's endpoint (not the `kubernetes` Service's 443) listens on. */
  apiServerPort: 6443,
  /** Namespace whose pods may scrape metrics by default (matched by `kubernetes.io/metadata.name`). */
  scraperNamespace: 'monitoring',
  /** Name of the default-deny NetworkPolicy `NamespaceIsolation` writes. */
  defaultDenyPolicy: 'default-deny',
} as const;
