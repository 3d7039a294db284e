/**
 * An R model served by Seldon Core v1 (1.17.1): a SeldonDeployment whose single predictor runs
 * the R model server as a custom container next to Seldon's executor sidecar.
 */
import { JsonPatch } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { validateObjectsAtSynth } from './app-validation';
import {
  SeldonDeployment,
  SeldonDeploymentSpecPredictorsComponentSpecsSpecContainers as SeldonContainer,
  SeldonDeploymentSpecPredictorsComponentSpecsSpecContainersLivenessProbeHttpGetPort as LivenessPort,
  SeldonDeploymentSpecPredictorsComponentSpecsSpecContainersReadinessProbeHttpGetPort as ReadinessPort,
  SeldonDeploymentSpecPredictorsComponentSpecsSpecContainersResourcesLimits as ContainerLimits,
  SeldonDeploymentSpecPredictorsComponentSpecsSpecContainersResourcesRequests as ContainerRequests,
  SeldonDeploymentSpecPredictorsComponentSpecsSpecVolumesEmptyDirSizeLimit as EmptyDirSizeLimit,
  SeldonDeploymentSpecPredictorsSvcOrchSpecResourcesLimits as ExecutorLimits,
  SeldonDeploymentSpecPredictorsSvcOrchSpecResourcesRequests as ExecutorRequests,
} from '../imports/machinelearning.seldon.io';
import {
  ENV, MODEL_URI_ANNOTATION, ModelHttpPort, NETWORK, PATHS, PAYLOAD_SINK, R_MODEL_HTTP_PORT, R_MODEL_PORT_NAME, SELDON_EXECUTOR_CONTAINER_NAME,
  SELDON_EXECUTOR_HTTP_PORT, SELDON_MODEL_GRPC_PORT, SELDON_MODEL_METRICS_PORT, SELDON_MODEL_METRICS_PORT_NAME, SELDON_RESERVED_PORT_NAMES, SINK_ENV,
  MODEL_CONTAINER_NAME,
} from './contract';
import { ITrackingServer } from './mlflow-server';
import { ModelAlertRules, ModelAlertRulesOptions } from './model-alert-rules';
import { ModelDashboard, ModelDashboardOptions } from './model-dashboard';
import { ModelPodMonitor, ModelPodMonitorOptions } from './model-pod-monitor';
import { PayloadLogging } from './payload-logging';
import {
  ComputeResources, NetworkClient, TMP_PATH, TMP_VOLUME, checkObjectName, checkResources, checkScratchSize, namespaceOf,
  networkPeers, podLabels, podSecurityContext, resolveName, resourceMaps, restrictedSecurityContext, serviceHost, withDefaults,
} from './pod-defaults';
import {
  DEFAULT_R_SERVING_IMAGE, R_SERVER_COMMAND, R_SERVER_LIVENESS_TIMING, R_SERVER_READINESS_TIMING,
  RServerContainerProps, quantities, rServerEnv,
} from './r-server';
import { ModelRef, R_IMAGE_UID } from './r-training-job';
import { PodSettings, ownedEnv, resolvePodSettings } from './pod-settings';
import { RmlopsDefaults } from './rmlops-defaults';
import { clientEgressPolicy, modelClientLabel, unknownEndpoint, workloadNetworkPolicy } from './network-policy';
import {
  AutoscalingProps, DEFAULT_ISTIO_GATEWAY, PredictorInfo, TrafficProps, checkRollout, ingressAnnotations, predictorInfos, rolloutPredictors,
} from './rollout';
import {
  Problem, checkArgv, checkDnsLabel, checkEnvValue, checkInteger, checkModelUri, checkMountPathFree, checkPinnedImage, checkPortName,
  checkPredictorPort, checkReplicas, checkServiceName, validateAtSynth, warnAtSynth,
} from './validate';

export { MODEL_CONTAINER_NAME };
/** Name of the pod volume of `modelVolume`. */
const MODEL_VOLUME = 'model-volume';

/** A container as the SeldonDeployment binding describes it (for `extraContainers`). */
export type SeldonPodContainer = SeldonContainer;

/** A PersistentVolumeClaim holding model bundles, for `file://` model URIs. */
export interface ModelVolume {
  /** Name of an existing PersistentVolumeClaim (e.g. the training jobs' pipeline volume). */
  readonly claimName: string;
  /** Where the model container mounts it, read-only. @default "/models" */
  readonly mountPath?: string;
}

/**
 * Props of `SeldonRModel`. The `PodSettings` apply to every predictor's pods; `env` and
 * `envFrom` to the model container (not to `extraContainers`, nor to the executor the operator
 * injects, whose image comes from the operator's configuration).
 */
export interface SeldonRModelProps<P extends number = typeof R_MODEL_HTTP_PORT> extends RServerContainerProps, PodSettings {
  /** What to serve: a training job's `model`, or a URI (`models:/name@alias`, `models:/name/3`, `runs:/id/path`, `file:///dir`). */
  readonly model: ModelRef | string;
  /** MLflow server to load `models:/` and `runs:/` URIs from (its NetworkPolicy is opened to the model pods). @default - none; only `file://` URIs then */
  readonly tracking?: ITrackingServer;
  /**
   * Volume a `file:///<dir>` model is read from, mounted read-only in the model container; a
   * `file://` URI must point inside its `mountPath`. @default - none (only `models:/` and `runs:/` URIs)
   */
  readonly modelVolume?: ModelVolume;
  /** Name of the SeldonDeployment. @default the construct id */
  readonly name?: string;
  /** Predictor name; the Service Seldon creates is `<name>-<predictorName>`. @default "default" */
  readonly predictorName?: string;
  /**
   * Port of the R server's REST endpoint (a containerPort named `http`, which Seldon routes the
   * executor to). 8000 and 5001 belong to the executor and do not compile. @default 9000
   */
  readonly httpPort?: ModelHttpPort<P>;
  /** Pod replicas. @default 1 */
  readonly replicas?: number;
  /** Resources of the R container. @default 100m CPU, 512Mi request, 1Gi limit (docs/capacity.md) */
  readonly resources?: ComputeResources;
  /** Resources of Seldon's executor sidecar. @default 25m CPU, 128Mi request, 512Mi limit (docs/capacity.md) */
  readonly executorResources?: ComputeResources;
  /**
   * More containers in the predictor pod (sidecars; they are not graph nodes). Rejected at synth:
   * the names `model` and `seldon-container-engine` (the executor the operator injects); port
   * names `http`, `grpc` and `metrics` (the operator's names on the model and executor
   * containers); ports 8000 and 5001 (executor), the model's `httpPort`, 9000, 9500 and 6000 (the
   * REST, gRPC and metrics ports the operator assigns to the model container); and any port name
   * or number used twice. 9001/9501/6001 and up are free: the operator only assigns ports to
   * graph-node containers. Each container gets the complete restricted security context at
   * container level (fields it sets itself win) and small resources (50m/64Mi, 256Mi limit) unless
   * it sets its own.
   * @default []
   */
  readonly extraContainers?: SeldonPodContainer[];
  /**
   * Size of the `/tmp` emptyDir (`TMPDIR`, also requested as `ephemeral-storage` by the model
   * container): the R server downloads the model bundle there; past it the kubelet evicts the pod.
   * @default "1Gi"
   */
  readonly scratchSize?: string;
  /**
   * Protocol the Seldon executor speaks to the model: Seldon's own v1 messages (`/predict`), or
   * the Open Inference Protocol (`/v2/models/<graph node>/infer`). Sets the SeldonDeployment's
   * `spec.protocol` and the model container's probe paths; the R server answers both.
   * @default "seldon"
   */
  readonly protocol?: 'seldon' | 'v2';
  /** The main predictor's HorizontalPodAutoscaler on CPU (`hpaSpec`); `replicas` must then be unset. @default - none: `replicas` pods */
  readonly autoscaling?: AutoscalingProps;
  /** The main predictor's PodDisruptionBudget (`pdbSpec`): a pod count below the replicas, or a percentage such as "50%". @default - none */
  readonly minAvailable?: number | string;
  /**
   * Pods the NetworkPolicy admits to the executor's REST port 8000 (predictions), each by labels
   * and namespace (`podLabels: {}` is every pod of it). Nothing reaches the model's own ports
   * (9000 REST, 9500 gRPC) from outside the pod, nor the executor's gRPC 5001.
   * @default the pods of the model's namespace labelled `client.rmlops.io/<name>: "true"`
   */
  readonly clients?: readonly NetworkClient[];
  /**
   * Namespaces whose every pod may reach port 8000: your ingress controller's (e.g.
   * `["ingress-nginx"]`). With `ingress: "istio"`, the gateway's namespace is added. @default []
   */
  readonly ingressNamespaces?: readonly string[];
  /**
   * Pods admitted to the metrics ports: the model's 6000 and the executor's 8000 (`/prometheus`),
   * and the payload sink's 9102. @default every pod of namespace `monitoring` (by its `kubernetes.io/metadata.name` label)
   */
  readonly scrapers?: readonly NetworkClient[];
  /**
   * Where the executor logs every request, response and feedback: `PayloadLogging.toBucket(store)`
   * adds the payload sink as a sidecar (spooled before acknowledged, uploaded as JSONL to S3;
   * docs/payload-logging.md), points the graph's `logger` at it over localhost, and opens the
   * store's NetworkPolicy to the model pods. The sink holds the S3 credentials of its Secret.
   * @default - none: nothing is logged
   */
  readonly payloadLogging?: PayloadLogging;
}

/**
 * The R model behind Seldon's executor. Readiness is HTTP on `/health/status` (ready only once
 * the model is loaded, unlike the operator's default TCP probe); liveness on `/health/ping`.
 *
 * Security context: the Seldon 1.x operator overwrites the predictor pod's pod-level
 * `securityContext` with its own (`runAsUser` from the Helm chart's `defaultUserID`, 8888 by
 * default; seldon-core issues #4711, #4229, #5481). The pod-level context written here is
 * therefore advisory, and nothing may depend on it: not runAsNonRoot, not seccomp, and not
 * `fsGroup` (which is why none is set and the pod mounts no volume that would need it). Only
 * container-level contexts survive, so the model container and every extra container carry the
 * complete restricted context themselves: runAsNonRoot, runAsUser/runAsGroup,
 * readOnlyRootFilesystem, allowPrivilegeEscalation false, capabilities drop ALL, seccomp
 * RuntimeDefault. The executor sidecar (`seldon-container-engine`) is not in this object at all:
 * its context comes solely from the operator (only `runAsUser`, from the chart's `executor.user`),
 * so these pods do not meet Pod Security "restricted" whatever we write here.
 */
export class SeldonRModel<P extends number = typeof R_MODEL_HTTP_PORT> extends Construct {
  /** Name of the SeldonDeployment. */
  public readonly name: string;
  /** Name of the Service the operator creates: `<name>-<predictor>`. */
  public readonly serviceName: string;
  /** Port of that Service's REST endpoint (the executor). */
  public readonly servicePort = SELDON_EXECUTOR_HTTP_PORT;
  /** Path to POST Seldon messages to. */
  public readonly predictionsPath = PATHS.predictions;
  /** In-cluster prediction URL. */
  public readonly predictionsUrl: string;
  /** The model URI the server loads. */
  public readonly modelUri: string;
  /** Labels the predictor pods carry (and the MLflow NetworkPolicy admits). */
  public readonly podSelector: Record<string, string>;
  /** The SeldonDeployment. */
  public readonly resource: SeldonDeployment;
  /** The predictors: the main one first, then the canary and the shadow if any. */
  public readonly predictors: PredictorInfo[];
  /** The NetworkPolicy of every predictor's pods: in, the executor's 8000 and the metrics ports; out, DNS, MLflow and the payload log's store. */
  public readonly networkPolicy: k8s.KubeNetworkPolicy;
  /** The MLflow server the model loads from, if any. */
  public readonly tracking?: ITrackingServer;
  /** Where the executor logs payloads, if it does (`payloadLogging`). */
  public readonly payloadLogging?: PayloadLogging;
  /** Whether the pods run the payload sink (`payloadLogging`), whose metrics port is scraped too. */
  public get hasPayloadSink(): boolean {
    return this.payloadLogging !== undefined;
  }
  /** Index of the payload sink in each predictor's containers (it comes last). */
  private readonly sinkIndex: number;
  /** Predictors whose sink already serves monitor figures. */
  private readonly figuresServed = new Set<string>();
  /** The labels a pod of this namespace carries to be admitted to port 8000 by default: `client.rmlops.io/<name>: "true"`. */
  public readonly clientLabels: Record<string, string>;

  /** With a `canary` or a `shadow`, `ingress` is required (see `TrafficProps`). */
  constructor(scope: Construct, id: string, props: SeldonRModelProps<P> & TrafficProps) {
    super(scope, id);
    const name = resolveName(id, props.name);
    this.name = name;
    const predictor = props.predictorName ?? 'default';
    const image = RmlopsDefaults.image(this, props.image, DEFAULT_R_SERVING_IMAGE);
    const httpPort: number = (props.httpPort as number | undefined) ?? R_MODEL_HTTP_PORT;
    const replicas = props.replicas ?? 1;
    const uid = props.runAsUser ?? R_IMAGE_UID;
    const resources = withDefaults(props.resources, { cpuRequest: '100m', memoryRequest: '512Mi', memoryLimit: '1Gi' });
    const executorResources = withDefaults(props.executorResources, { cpuRequest: '25m', memoryRequest: '128Mi', memoryLimit: '512Mi' });
    const extra = props.extraContainers ?? [];
    const scratchSize = props.scratchSize ?? '1Gi';
    const modelMountPath = props.modelVolume?.mountPath ?? '/models';
    this.modelUri = typeof props.model === 'string' ? props.model : props.model.uri;
    this.tracking = props.tracking;
    this.payloadLogging = props.payloadLogging;
    this.sinkIndex = 1 + extra.length;
    this.serviceName = `${name}-${predictor}`;
    this.predictionsUrl = `http://${serviceHost(this, this.serviceName)}:${SELDON_EXECUTOR_HTTP_PORT}${PATHS.predictions}`;
    // What the operator names each predictor's Deployment after: the componentSpec's
    // metadata.name, set to the model container's below, not the joined container names.
    const containerNames = [MODEL_CONTAINER_NAME];
    const ownEnv = [
      { name: ENV.modelUri, value: this.modelUri },
      ...rServerEnv({ cpuRequest: resources.cpuRequest, trackingUri: props.tracking?.trackingUri, maxRequestBytes: props.maxRequestBytes }),
    ];
    // The operator injects the PREDICTIVE_UNIT_* variables; the rest of the contract is the R server's.
    const settings = resolvePodSettings(this, props, ownedEnv(ownEnv, 'the construct',
      Object.values(ENV).map((n): [string, string] => [n, n.startsWith('PREDICTIVE_UNIT_') ? 'the Seldon operator' : 'the rmlops contract (lib/contract.ts ENV)'])));

    validateAtSynth(this, () => {
      const out: Problem[] = [
        // The operator names the Deployment `<name>-<predictor>-0-<container>`.
        ...checkObjectName(name, { suffixes: [`-${predictor}-0-${MODEL_CONTAINER_NAME}`] }),
        ...checkDnsLabel('predictorName', predictor),
        ...checkServiceName('name + "-" + predictorName', this.serviceName),
        ...checkPinnedImage('image', image),
        ...checkPredictorPort('httpPort', httpPort),
        ...checkReplicas('replicas', replicas),
        ...checkModelUri('model', this.modelUri),
        ...checkInteger('runAsUser', uid, 1),
        ...checkResources('resources', resources),
        ...checkResources('executorResources', executorResources),
        ...checkScratchSize(scratchSize),
      ];
      if (props.maxRequestBytes !== undefined) out.push(...checkInteger('maxRequestBytes', props.maxRequestBytes, 1));
      out.push(...settings.problems());
      if (props.protocol !== undefined && !['seldon', 'v2'].includes(props.protocol)) {
        out.push({ prop: 'protocol', value: props.protocol, problem: 'is not a protocol the R server and the executor share', fix: 'use "seldon" or "v2"' });
      }
      out.push(...checkArgv('command', props.command), ...checkArgv('args', props.args));
      if (props.modelVolume) {
        out.push(...checkDnsLabel('modelVolume.claimName', props.modelVolume.claimName, 253));
        out.push(...checkMountPathFree('modelVolume.mountPath', modelMountPath, [{ path: TMP_PATH, what: 'the scratch emptyDir' }]));
      }
      if (typeof this.modelUri === 'string' && this.modelUri.startsWith('file://')) {
        const dir = this.modelUri.slice('file://'.length);
        const inside = props.modelVolume !== undefined && (dir === modelMountPath || dir.startsWith(`${modelMountPath.replace(/\/+$/, '')}/`));
        if (!inside) {
          out.push({
            prop: 'model', value: this.modelUri,
            problem: props.modelVolume
              ? `is not inside modelVolume.mountPath "${modelMountPath}", so no volume provides it`
              : 'is a local path, but no volume provides it (the model container mounts only an empty scratch directory)',
            fix: props.modelVolume
              ? `use a URI under it, e.g. "file://${modelMountPath.replace(/\/+$/, '')}/<model>"`
              : 'set `modelVolume` to the PVC holding the bundle (URI "file:///models/<model>"), or serve a training job\'s `model` from MLflow',
          });
        }
      }
      if (!props.tracking && /^(models|runs):/.test(this.modelUri)) {
        out.push({ prop: 'tracking', value: undefined, problem: `is required to load "${this.modelUri}" from MLflow`, fix: 'pass the MlflowServer as `tracking`' });
      }
      (props.ingressNamespaces ?? []).forEach((n, i) => out.push(...checkDnsLabel(`ingressNamespaces[${i}]`, n)));
      out.push(...checkExtraContainers(extra, httpPort, props.modelVolume ? [TMP_VOLUME, MODEL_VOLUME] : [TMP_VOLUME]));
      if (props.payloadLogging) {
        out.push(...props.payloadLogging.problems(), ...checkSinkRoom(extra));
      }
      out.push(...checkRollout(props, {
        name, mainPredictor: predictor, mainUri: this.modelUri, replicas: props.replicas, cpuRequest: resources.cpuRequest,
        hasTracking: props.tracking !== undefined, containerNames,
        fileUriProblem: (uri) => {
          const dir = uri.slice('file://'.length);
          const root = modelMountPath.replace(/\/+$/, '');
          if (!props.modelVolume) return 'is a local path, but no volume provides it (set `modelVolume`)';
          return dir === modelMountPath || dir.startsWith(`${root}/`) ? undefined : `is not inside modelVolume.mountPath "${modelMountPath}"`;
        },
      }));
      return out;
    });
    // After the prop checks, so objects of a construct with bad props are not reported twice.
    validateObjectsAtSynth(this);

    const { labels, podSelector } = podLabels(this, { name: 'r-model', instance: name, component: 'serving' }, image, props.tracking);
    this.podSelector = podSelector;
    this.networkPolicy = predictorNetworkPolicy(this, name, labels, podSelector, props);
    this.clientLabels = modelClientLabel(name);
    // The labelled clients' own egress, when they are the default clients.
    if (props.clients === undefined) {
      clientEgressPolicy(this, 'ClientNetworkPolicy', { name: `${name}-clients`, labels }, name, podSelector, SELDON_EXECUTOR_HTTP_PORT);
    }
    warnAtSynth(this, () => props.tracking && !props.tracking.endpoint ? [unknownEndpoint('tracking', 'the tracking server')] : []);
    warnAtSynth(this, () => props.payloadLogging && !props.payloadLogging.store.endpoint ? [unknownEndpoint('payloadLogging', 'the payload log\'s artifact store')] : []);
    props.payloadLogging?.store.allowClient({ podLabels: podSelector, namespace: namespaceOf(this) });
    this.predictors = predictorInfos(props, { name, mainPredictor: predictor, mainUri: this.modelUri, podSelector: this.podSelector, containerNames });

    const protocol = props.protocol ?? 'seldon';
    const env = [...ownEnv, ...settings.env];
    const { requests, limits } = resourceMaps(resources, scratchSize);
    const modelContainer: SeldonContainer = {
      name: MODEL_CONTAINER_NAME,
      image,
      command: props.command ?? [...R_SERVER_COMMAND],
      args: props.args,
      env,
      envFrom: settings.envFrom,
      // The name `http` makes the operator route the executor here and inject
      // PREDICTIVE_UNIT_HTTP_SERVICE_PORT with this number, which the R server binds.
      // `metrics` on 6000 is what the operator would add; declared so a PodMonitor (or any
      // scraper selecting the port by name) finds it in the manifests. The operator then injects
      // PREDICTIVE_UNIT_METRICS_SERVICE_PORT/_ENDPOINT (/prometheus) from it, which the server reads.
      ports: [
        { name: R_MODEL_PORT_NAME, containerPort: httpPort, protocol: 'TCP' },
        { name: SELDON_MODEL_METRICS_PORT_NAME, containerPort: SELDON_MODEL_METRICS_PORT, protocol: 'TCP' },
      ],
      readinessProbe: {
        httpGet: { path: protocol === 'v2' ? PATHS.v2Ready : PATHS.healthStatus, port: ReadinessPort.fromNumber(httpPort) },
        ...R_SERVER_READINESS_TIMING,
      },
      livenessProbe: {
        httpGet: { path: protocol === 'v2' ? PATHS.v2Live : PATHS.healthPing, port: LivenessPort.fromNumber(httpPort) },
        ...R_SERVER_LIVENESS_TIMING,
      },
      resources: { requests: quantities(requests, ContainerRequests.fromString), limits: quantities(limits, ContainerLimits.fromString) },
      securityContext: restrictedSecurityContext(uid),
      volumeMounts: [
        { name: TMP_VOLUME, mountPath: TMP_PATH },
        ...(props.modelVolume ? [{ name: MODEL_VOLUME, mountPath: modelMountPath, readOnly: true }] : []),
      ],
    };
    // Field by field: a sidecar that sets only, say, runAsUser still gets every other restricted
    // field at container level, where the operator leaves it alone (see the class comment).
    const extraWithDefaults: SeldonContainer[] = extra.map((c) => ({
      ...c,
      securityContext: { ...restrictedSecurityContext(c.securityContext?.runAsUser ?? uid), ...(c.securityContext ?? {}) },
      resources: c.resources ?? {
        requests: { cpu: ContainerRequests.fromString('50m'), memory: ContainerRequests.fromString('64Mi') },
        limits: { memory: ContainerLimits.fromString('256Mi') },
      },
    }));

    const sink = props.payloadLogging;
    const sinkContainers: SeldonContainer[] = sink ? [payloadSinkContainer(sink, namespaceOf(this), name)] : [];
    const sinkVolumes = sink ? [{ name: PAYLOAD_SINK.spoolVolume, emptyDir: { sizeLimit: EmptyDirSizeLimit.fromString(sink.spec.spoolSize) } }] : [];
    const exec = resourceMaps(executorResources);
    this.resource = new SeldonDeployment(this, 'Resource', {
      metadata: { name, labels, annotations: ingressAnnotations(props) },
      spec: {
        name,
        protocol,
        predictors: rolloutPredictors({
          name: predictor,
          replicas,
          labels,
          graph: {
            name: MODEL_CONTAINER_NAME,
            type: 'MODEL',
            endpoint: { type: 'REST' },
            children: [],
            ...(sink ? { logger: sink.graphLogger() } : {}),
          },
          componentSpecs: [{
            // The annotation also gives ModelPromotion's JSON Patch a map to add its own to.
            // The name fixes the operator's Deployment name at `<sdep>-<predictor>-0-model`:
            // without it, the operator joins every container's name, so the payload sink sidecar
            // made it `<sdep>-<predictor>-0-model-payload-sink` on the real node, and the
            // README's `rollout status` and any user's scripts would depend on payload logging.
            metadata: { name: MODEL_CONTAINER_NAME, labels, annotations: { [MODEL_URI_ANNOTATION]: this.modelUri } },
            spec: {
              ...settings.pod,
              automountServiceAccountToken: false,
              // Advisory only: the operator replaces it (see the class comment). Kept so the
              // object reads as intended and still holds where an operator passes it through.
              securityContext: podSecurityContext(uid),
              containers: [modelContainer, ...extraWithDefaults, ...sinkContainers],
              volumes: [
                { name: TMP_VOLUME, emptyDir: { sizeLimit: EmptyDirSizeLimit.fromString(scratchSize) } },
                ...(props.modelVolume ? [{ name: MODEL_VOLUME, persistentVolumeClaim: { claimName: props.modelVolume.claimName, readOnly: true } }] : []),
                ...sinkVolumes,
              ],
            },
          }],
          svcOrchSpec: {
            resources: {
              requests: quantities(exec.requests, ExecutorRequests.fromString),
              limits: quantities(exec.limits, ExecutorLimits.fromString),
            },
          },
        }, props, MODEL_CONTAINER_NAME),
      },
    });
  }

  /**
   * Makes the payload sink in `predictor`'s pods fetch the object `key` from the payload store
   * every `pollSeconds` and serve its Prometheus text after its own metrics (`ModelMonitor` calls
   * it for the figures it uploads). Returns false, and changes nothing, when the model has no
   * payload logging, has no such predictor, or its sink already serves figures.
   */
  public serveMonitorFigures(predictor: string, key: string, pollSeconds: number): boolean {
    const i = this.predictors.findIndex((p) => p.name === predictor);
    if (!this.payloadLogging || i < 0 || this.figuresServed.has(predictor)) return false;
    this.figuresServed.add(predictor);
    // A patch of that predictor's sink only: the predictors share the container objects, and
    // each predictor has figures of its own (the predictor is part of the key).
    const env = `/spec/predictors/${i}/componentSpecs/0/spec/containers/${this.sinkIndex}/env/-`;
    this.resource.addJsonPatch(
      JsonPatch.add(env, { name: SINK_ENV.monitorKey, value: key }),
      JsonPatch.add(env, { name: SINK_ENV.monitorPollSeconds, value: String(pollSeconds) }),
    );
    return true;
  }

  /**
   * Scrapes every predictor pod with a prometheus-operator PodMonitor named after the model: the
   * R server (`metrics` 6000), the executor (`http` 8000) and, with payload logging, the sink
   * (`sink-metrics` 9102); docs/monitoring.md.
   */
  public addPodMonitor(options: ModelPodMonitorOptions = {}): ModelPodMonitor {
    return new ModelPodMonitor(this, 'PodMonitor', { ...options, model: this });
  }

  /**
   * Alerts on the scraped series with a PrometheusRule `<name>-alerts`: error ratio, p99 latency,
   * drift, a stale drift monitor, worker restarts and, with payload logging, the sink's failures
   * and backlog (`ModelAlertRules`; docs/monitoring.md). The series carry the labels
   * `addPodMonitor` sets, so call both.
   */
  public addAlertRules(options: ModelAlertRulesOptions = {}): ModelAlertRules {
    return new ModelAlertRules(this, 'AlertRules', { ...options, model: this, sinkSpoolSize: this.payloadLogging?.spec.spoolSize });
  }

  /**
   * A Grafana dashboard of the same figures, as a ConfigMap `<name>-dashboard` for Grafana's
   * dashboard sidecar (`ModelDashboard`; docs/monitoring.md).
   */
  public addDashboard(options: ModelDashboardOptions = {}): ModelDashboard {
    return new ModelDashboard(this, 'Dashboard', { ...options, model: this });
  }
}

/**
 * The policy of the predictor pods of every predictor (they all carry `podSelector`: the operator
 * copies `componentSpecs[].metadata.labels` into its Deployment's pod template).
 *
 * Ingress: predictions on the executor's 8000 from the clients (by default pods labelled
 * `client.rmlops.io/<name>: "true"`) and the ingress namespaces; scrapes on 8000 (`/prometheus`),
 * 6000 and the sink's 9102 from the scrapers (by default namespace `monitoring`). Besides
 * `<sdep>-<predictor>` on the executor, the operator writes a Service
 * `<sdep>-<predictor>-<container>` on the model's 9000 and 9500, so without this any pod of the
 * namespace could reach the R server directly and bypass the executor. The executor reaches the
 * model over localhost inside the pod, which no NetworkPolicy governs, and the kubelet's probes
 * come from the node, which enforcers admit.
 *
 * Egress: DNS, MLflow's pods (the R server loads the model through it) and, with payload
 * logging, the store's S3 port (the sink uploads there).
 *
 * Port numbers, never names: a named port matches every container port of that name in the pod,
 * and the operator gives both the executor and the model `http` (8000 and 9000), `metrics` (8000
 * and 6000) and `grpc` (5001 and 9500), so a rule on "http" would open 9000 as well.
 */
function predictorNetworkPolicy(
  scope: Construct, name: string, labels: Record<string, string>, podSelector: Record<string, string>,
  props: {
    readonly clients?: readonly NetworkClient[]; readonly scrapers?: readonly NetworkClient[]; readonly ingress?: string; readonly istioGateway?: string;
    readonly ingressNamespaces?: readonly string[]; readonly payloadLogging?: PayloadLogging; readonly tracking?: ITrackingServer;
  },
): k8s.KubeNetworkPolicy {
  const own = namespaceOf(scope);
  const labelledClients: NetworkClient[] = [{ podLabels: modelClientLabel(name) }];
  const monitoring: NetworkClient[] = [{ podLabels: {}, namespace: NETWORK.scraperNamespace }];
  const ingressNamespaces = [
    ...(props.ingressNamespaces ?? []),
    ...(props.ingress === 'istio' ? [(props.istioGateway ?? DEFAULT_ISTIO_GATEWAY).split('/')[0]] : []),
  ];
  const tcp = (port: number): k8s.NetworkPolicyPort => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) });
  return workloadNetworkPolicy(scope, 'NetworkPolicy', { name, labels }, podSelector, {
    ingress: () => [
      { from: networkPeers(props.clients ?? labelledClients, ingressNamespaces, own), ports: [tcp(SELDON_EXECUTOR_HTTP_PORT)] },
      {
        from: networkPeers(props.scrapers ?? monitoring, [], own),
        ports: [tcp(SELDON_EXECUTOR_HTTP_PORT), tcp(SELDON_MODEL_METRICS_PORT), ...(props.payloadLogging ? [tcp(PAYLOAD_SINK.metricsPort)] : [])],
      },
    ],
    egress: () => [props.tracking?.endpoint, props.payloadLogging?.store.endpoint],
  });
}

/**
 * Ports and names in the predictor pod must not collide with the executor, the model or each other.
 *
 * Which port numbers the operator takes (seldon-core 1.17.1, operator/apis/.../v1/defaults.go and
 * controllers/seldondeployment_engine.go): the executor binds 8000 (`http`, `metrics`) and 5001
 * (`grpc`). Graph-node containers get REST 9000, gRPC 9500 and metrics 6000, +1 for each
 * container before them; our model container is the only graph node and comes first, so it gets
 * 9500 (`grpc`) and 6000 (`metrics`), and its REST port is ours (`http` = httpPort). Extra
 * containers are not graph nodes: the operator advances its counters past them but declares no
 * port on them, so 9001/9501/6001 and up are free for them. 9000 stays reserved even when
 * httpPort moves: it is the R server's default port and the operator's first REST port.
 */
function checkExtraContainers(extra: SeldonPodContainer[], httpPort: number, podVolumes: string[]): Problem[] {
  const out: Problem[] = [];
  const containerNames = new Set<string>();
  const portNames = new Set<string>();
  const modelPorts = new Map<number, string>([
    [httpPort, 'the model container\'s REST port (httpPort)'],
    [R_MODEL_HTTP_PORT, 'the model server\'s default REST port and the operator\'s first REST port'],
    [SELDON_MODEL_GRPC_PORT, 'the gRPC port the operator assigns to the model container'],
    [SELDON_MODEL_METRICS_PORT, 'the metrics port the operator assigns to the model container'],
  ]);
  const portNumbers = new Set<number>();
  const freePort = 'pick a free port such as 9001 (9001+, 9501+ and 6001+ are free for extra containers)';
  extra.forEach((c, i) => {
    const at = `extraContainers[${i}]`;
    out.push(...checkDnsLabel(`${at}.name`, c.name));
    if (c.name === MODEL_CONTAINER_NAME) {
      out.push({ prop: `${at}.name`, value: c.name, problem: 'is the name of the model container (the graph node the executor calls)', fix: 'name the container after what it does, e.g. "stats-exporter"' });
    } else if (c.name === SELDON_EXECUTOR_CONTAINER_NAME) {
      out.push({ prop: `${at}.name`, value: c.name, problem: 'is the name of the executor container the Seldon operator injects into every predictor pod', fix: 'name the container after what it does, e.g. "stats-exporter"' });
    } else if (containerNames.has(c.name)) {
      out.push({ prop: `${at}.name`, value: c.name, problem: 'is already the name of another container in the pod', fix: 'give each container a unique name' });
    }
    containerNames.add(c.name);
    // The API server requires an image in a Deployment's pod template, which the operator makes.
    out.push(...checkPinnedImage(`${at}.image`, c.image as string));
    out.push(...checkArgv(`${at}.command`, c.command), ...checkArgv(`${at}.args`, c.args));
    (c.env ?? []).forEach((e, j) => {
      if (e.valueFrom === undefined) out.push(...checkEnvValue(`${at}.env[${j}].value`, e.value));
    });
    const mounts: { path: string; what: string }[] = [];
    (c.volumeMounts ?? []).forEach((m, j) => {
      const mat = `${at}.volumeMounts[${j}]`;
      if (!podVolumes.includes(m.name)) {
        out.push({ prop: `${mat}.name`, value: m.name, problem: `is not a volume of the predictor pod (it has ${podVolumes.map((v) => `"${v}"`).join(', ')}); the API server rejects the pod`, fix: `mount one of ${podVolumes.map((v) => `"${v}"`).join(', ')}` });
      }
      out.push(...checkMountPathFree(`${mat}.mountPath`, m.mountPath, mounts));
      mounts.push({ path: m.mountPath, what: `volumeMounts[${mounts.length}] ("${m.name}")` });
    });
    (c.ports ?? []).forEach((p, j) => {
      const pat = `${at}.ports[${j}]`;
      const portProblems = checkPredictorPort(`${pat}.containerPort`, p.containerPort);
      out.push(...portProblems);
      if (portProblems.length === 0) {
        if (modelPorts.has(p.containerPort)) {
          out.push({ prop: `${pat}.containerPort`, value: p.containerPort, problem: `is ${modelPorts.get(p.containerPort)}`, fix: freePort });
        } else if (portNumbers.has(p.containerPort)) {
          out.push({ prop: `${pat}.containerPort`, value: p.containerPort, problem: 'is already used by another container in the pod', fix: freePort });
        }
      }
      portNumbers.add(p.containerPort);
      if (p.name !== undefined) {
        out.push(...checkPortName(`${pat}.name`, p.name));
        if (p.name === R_MODEL_PORT_NAME) {
          out.push({ prop: `${pat}.name`, value: p.name, problem: 'would make the Seldon operator route the executor to this container', fix: 'name it after what it serves, e.g. "stats"' });
        } else if ((SELDON_RESERVED_PORT_NAMES as readonly string[]).includes(p.name)) {
          out.push({ prop: `${pat}.name`, value: p.name, problem: `is a port name the Seldon operator gives the model and executor containers (${SELDON_RESERVED_PORT_NAMES.join(', ')}); a second one makes named-port references ambiguous`, fix: 'name it after what it serves, e.g. "stats"' });
        } else if (portNames.has(p.name)) {
          out.push({ prop: `${pat}.name`, value: p.name, problem: 'is already the name of another port in the pod', fix: 'give each port a unique name' });
        }
        portNames.add(p.name);
      }
    });
  });
  return out;
}

/**
 * The payload sink sidecar. Not a graph node, so the operator declares no port on it; its events
 * port is bound to 127.0.0.1 and is not declared either (only the executor in this pod uses it).
 */
function payloadSinkContainer(sink: PayloadLogging, namespace: string | undefined, deployment: string): SeldonContainer {
  const { requests, limits } = sink.resourceMaps();
  return {
    name: PAYLOAD_SINK.containerName,
    image: sink.spec.image,
    env: sink.env(namespace, deployment),
    ports: [{ name: PAYLOAD_SINK.metricsPortName, containerPort: PAYLOAD_SINK.metricsPort, protocol: 'TCP' }],
    // Ready only while it takes events: a pod whose sink is down must not take predictions it
    // could not log.
    readinessProbe: { httpGet: { path: PAYLOAD_SINK.healthPath, port: ReadinessPort.fromNumber(PAYLOAD_SINK.metricsPort) }, periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { httpGet: { path: PAYLOAD_SINK.healthPath, port: LivenessPort.fromNumber(PAYLOAD_SINK.metricsPort) }, periodSeconds: 10, failureThreshold: 3 },
    resources: { requests: quantities(requests, ContainerRequests.fromString), limits: quantities(limits, ContainerLimits.fromString) },
    securityContext: sink.securityContext(),
    volumeMounts: [{ name: PAYLOAD_SINK.spoolVolume, mountPath: PAYLOAD_SINK.spoolPath }],
  };
}

/** With payload logging, the sink's name, ports and volume are taken: no extra container may use them. */
function checkSinkRoom(extra: SeldonPodContainer[]): Problem[] {
  const out: Problem[] = [];
  const taken = new Set<number>([PAYLOAD_SINK.eventsPort, PAYLOAD_SINK.metricsPort]);
  extra.forEach((c, i) => {
    const at = `extraContainers[${i}]`;
    if (c.name === PAYLOAD_SINK.containerName) {
      out.push({ prop: `${at}.name`, value: c.name, problem: 'is the name of the payload sink that `payloadLogging` adds', fix: 'name the container after what it does, e.g. "stats-exporter"' });
    }
    (c.ports ?? []).forEach((p, j) => {
      if (taken.has(p.containerPort)) {
        out.push({ prop: `${at}.ports[${j}].containerPort`, value: p.containerPort, problem: `is a port of the payload sink that \`payloadLogging\` adds (${PAYLOAD_SINK.eventsPort} events, ${PAYLOAD_SINK.metricsPort} metrics)`, fix: 'pick a free port such as 9001' });
      }
      if (p.name === PAYLOAD_SINK.metricsPortName) {
        out.push({ prop: `${at}.ports[${j}].name`, value: p.name, problem: 'is the payload sink\'s metrics port name', fix: 'use another port name' });
      }
    });
    (c.volumeMounts ?? []).forEach((m, j) => {
      if (m.name === PAYLOAD_SINK.spoolVolume) {
        out.push({ prop: `${at}.volumeMounts[${j}].name`, value: m.name, problem: 'is the payload sink\'s spool volume', fix: 'mount a volume of your own' });
      }
    });
  });
  return out;
}
