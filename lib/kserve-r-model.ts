/**
 * An R model served by KServe (v0.20): an InferenceService whose predictor is a custom container
 * running the R model server over the Open Inference Protocol (v2), in Serverless (Knative) or
 * raw Deployment mode.
 */
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { validateObjectsAtSynth } from './app-validation';
import { IArtifactStore } from './artifact-store';
import { clientEgressPolicy, modelClientLabel, unknownEndpoint, workloadNetworkPolicy } from './network-policy';
import {
  ENV, KSERVE_ANNOTATIONS, KSERVE_CONTAINER_NAME, KSERVE_MODE_NAMES, KSERVE_MODEL_HTTP_PORT, KSERVE_MODEL_MOUNT_PATH,
  KSERVE_RESERVED_PORTS, KServeModelHttpPort, NETWORK, PATHS, PROMETHEUS_ANNOTATIONS, SELDON_MODEL_METRICS_PORT,
} from './contract';
import {
  InferenceService,
  InferenceServiceSpecPredictorContainers as PredictorContainer,
  InferenceServiceSpecPredictorContainersLivenessProbeHttpGetPort as LivenessPort,
  InferenceServiceSpecPredictorContainersReadinessProbeHttpGetPort as ReadinessPort,
  InferenceServiceSpecPredictorContainersResourcesLimits as ContainerLimits,
  InferenceServiceSpecPredictorContainersResourcesRequests as ContainerRequests,
  InferenceServiceSpecPredictorScaleMetric as ScaleMetricEnum,
  InferenceServiceSpecPredictorVolumesEmptyDirSizeLimit as EmptyDirSizeLimit,
} from '../imports/serving.kserve.io';
import { ITrackingServer } from './mlflow-server';
import {
  ComputeResources, NetworkClient, TMP_PATH, TMP_VOLUME, checkObjectName, checkResources, checkScratchSize, namespaceOf, networkPeers, podLabels,
  resolveName, resourceMaps, restrictedSecurityContext, serviceHost, withDefaults,
} from './pod-defaults';
import { parseQuantity } from './k8s-names';
import { ModelRef, R_IMAGE_UID } from './r-training-job';
import { PodSettings, ownedEnv, resolvePodSettings } from './pod-settings';
import { RmlopsDefaults } from './rmlops-defaults';
import {
  DEFAULT_R_SERVING_IMAGE, R_SERVER_COMMAND, R_SERVER_LIVENESS_TIMING, R_SERVER_READINESS_TIMING,
  RServerContainerProps, quantities, rServerEnv,
} from './r-server';
import {
  Problem, checkArgv, checkDnsLabel, checkInteger, checkPinnedImage, checkPort, checkReplicas, validateAtSynth, warnAtSynth,
} from './validate';

/**
 * How KServe runs the predictor: `Serverless` as a Knative Service (scale to zero, revisions,
 * canary traffic; needs Knative and a networking layer), `RawDeployment` as a plain Deployment,
 * Service and HorizontalPodAutoscaler (any cluster with the KServe controller). KServe 0.20
 * renamed them `Knative` and `Standard`, which are accepted too; the annotation is always
 * written with the new name, because KServe's webhook rewrites the old one (a GitOps tool would
 * then see a permanent diff).
 */
export type KServeDeploymentMode = 'Serverless' | 'RawDeployment' | 'Knative' | 'Standard';
/** What the autoscaler scales on: `cpu`/`memory` (a HorizontalPodAutoscaler, RawDeployment) or `concurrency`/`rps` (Knative's autoscaler, Serverless). */
export type KServeScaleMetric = 'cpu' | 'memory' | 'concurrency' | 'rps';

/** Schemes KServe's storage initializer downloads (into /mnt/models) before the model container starts. */
export const KSERVE_STORAGE_SCHEMES = ['s3', 'gs', 'pvc', 'https', 'hf'] as const;
const METRICS: Readonly<Record<'Knative' | 'Standard', readonly string[]>> = { Knative: ['concurrency', 'rps'], Standard: ['cpu', 'memory'] };
/** Knative names the revision `<ksvc>-00001` (and up); the revision name is a DNS label and a label value. */
const SERVERLESS_SUFFIX = '-predictor-00001';
const RAW_SUFFIX = '-predictor';

/** Props of `KServeRModel` (`PodSettings` apply to the predictor's pods; `env` and `envFrom` to `kserve-container`). */
export interface KServeRModelProps<P extends number = typeof KSERVE_MODEL_HTTP_PORT> extends RServerContainerProps, PodSettings {
  /**
   * What to serve: a training job's `model` or a `models:/`/`runs:/` URI (loaded from MLflow by
   * the server), or a storage URI (`s3://`, `gs://`, `pvc://<claim>/<path>`, `https://`, `hf://`)
   * that KServe's storage initializer downloads into /mnt/models.
   */
  readonly model: ModelRef | string;
  /** MLflow server to load `models:/` and `runs:/` URIs from (its NetworkPolicy is opened to the model pods). @default - none; storage URIs only */
  readonly tracking?: ITrackingServer;
  /** Name of the InferenceService, which is also the model name in the v2 paths. @default the construct id */
  readonly name?: string;
  /** Serverless (Knative) or a raw Deployment; written as the deploymentMode annotation so the cluster's default does not decide. @default "RawDeployment" (written "Standard") */
  readonly deploymentMode?: KServeDeploymentMode;
  /**
   * The R server's HTTP port, the container's only port. Ports of Knative's queue-proxy (8008,
   * 8012, 8013, 8022, 8112, 9090, 9091) and KServe's agent and metrics aggregation (9081, 9088)
   * do not compile. @default 8080
   */
  readonly httpPort?: KServeModelHttpPort<P>;
  /** A fixed number of pods (minReplicas = maxReplicas); excludes `minReplicas`/`maxReplicas`. @default 1 */
  readonly replicas?: number;
  /** Fewest pods; 0 lets a Serverless model scale to zero (the next request waits for the model to load). @default - `replicas` */
  readonly minReplicas?: number;
  /** Most pods the autoscaler may run. @default - `replicas` */
  readonly maxReplicas?: number;
  /** What the autoscaler scales on: cpu or memory in RawDeployment, concurrency or rps in Serverless. @default - KServe's default (cpu at 80 % in RawDeployment, concurrency in Serverless) */
  readonly scaleMetric?: KServeScaleMetric;
  /** Target of `scaleMetric` per pod (a percentage for cpu/memory). @default - KServe's default */
  readonly scaleTarget?: number;
  /**
   * Percentage of traffic the latest revision gets while the previous one keeps the rest; set it
   * when rolling out a new model or image, then raise it to 100. Serverless mode only. @default - all traffic to the latest revision
   */
  readonly canaryTrafficPercent?: number;
  /**
   * Resources of the R container. All four are written: KServe would otherwise fill the missing
   * ones from its ConfigMap. @default 250m CPU request, CPU limit the request rounded up to whole cores (at least 1), 512Mi request, 1Gi limit
   */
  readonly resources?: ComputeResources;
  /** Size of the `/tmp` emptyDir (the R server downloads MLflow bundles there). @default "1Gi" */
  readonly scratchSize?: string;
  /** Service account of the predictor pods (e.g. one with the storage initializer's S3 credentials). @default - the namespace's default */
  readonly serviceAccountName?: string;
  /**
   * Prometheus scraping of the R server's metrics (port 6000, /prometheus): the prometheus.io pod
   * annotations in RawDeployment; KServe's scraping and aggregation annotations in Serverless
   * (the model's metrics are merged with queue-proxy's on 9088, which needs KServe's qpext
   * queue-proxy image). @default true
   */
  readonly metrics?: boolean;
  /**
   * The S3 store a storage URI (`s3://`) is downloaded from: the predictor pods' NetworkPolicy
   * gets egress to its S3 port (KServe's storage initializer runs in the pod) and the store's
   * policy admits them. @default - none: an `s3://` model gets a synth warning
   */
  readonly artifactStore?: IArtifactStore;
  /**
   * Pods the NetworkPolicy admits to the model's traffic port (`httpPort` in RawDeployment,
   * queue-proxy's 8012/8013/8112 in Serverless). @default the pods of the model's namespace labelled `client.rmlops.io/<name>: "true"`
   */
  readonly clients?: readonly NetworkClient[];
  /**
   * Namespaces whose every pod may reach the traffic port: the ingress controller's, and in
   * Serverless Knative's (the activator and autoscaler) and the networking layer's gateways.
   * @default RawDeployment: []; Serverless: ["knative-serving", "istio-system"]
   */
  readonly ingressNamespaces?: readonly string[];
  /** Pods admitted to the metrics ports (6000, and queue-proxy's 9091 and 9088 in Serverless). @default every pod of namespace `monitoring` */
  readonly scrapers?: readonly NetworkClient[];
}

/** Namespaces a Serverless predictor takes traffic from by default: Knative's activator, and Istio's gateways. */
export const KNATIVE_INGRESS_NAMESPACES: readonly string[] = ['knative-serving', 'istio-system'];

/**
 * The R model as a KServe custom predictor: one container named `kserve-container` that speaks
 * the Open Inference Protocol at `/v2/models/<name>/…`, ready only once the model is loaded
 * (`/v2/health/ready`), live on `/v2/health/live`, with the complete restricted security context
 * at container level (Knative accepts only a subset of pod-level fields without feature flags,
 * and the container level is what every mode passes through unchanged).
 */
export class KServeRModel<P extends number = typeof KSERVE_MODEL_HTTP_PORT> extends Construct {
  /** Name of the InferenceService, and the model name in the v2 paths. */
  public readonly name: string;
  /** Name of the predictor's Service (Knative or plain): `<name>-predictor`. */
  public readonly serviceName: string;
  /** In-cluster OIP v2 inference URL (the predictor Service listens on port 80). */
  public readonly inferUrl: string;
  /** The model URI the server loads (a storage URI becomes /mnt/models). */
  public readonly modelUri: string;
  /** The deployment mode as KServe 0.20 names it. */
  public readonly deploymentMode: 'Knative' | 'Standard';
  /** Labels the predictor pods carry (and the MLflow NetworkPolicy admits). */
  public readonly podSelector: Record<string, string>;
  /** The InferenceService. */
  public readonly resource: InferenceService;
  /** The NetworkPolicy of the predictor pods. */
  public readonly networkPolicy: k8s.KubeNetworkPolicy;
  /** The labels a pod of this namespace carries to be admitted to the traffic port by default: `client.rmlops.io/<name>: "true"`. */
  public readonly clientLabels: Record<string, string>;

  constructor(scope: Construct, id: string, props: KServeRModelProps<P>) {
    super(scope, id);
    const name = resolveName(id, props.name);
    this.name = name;
    this.serviceName = `${name}${RAW_SUFFIX}`;
    // ModelMesh is a KServe mode too, but not one a custom R container runs in.
    const named = KSERVE_MODE_NAMES[props.deploymentMode ?? 'RawDeployment'];
    const mode = named === 'ModelMesh' ? undefined : named;
    const image = RmlopsDefaults.image(this, props.image, DEFAULT_R_SERVING_IMAGE);
    const httpPort: number = (props.httpPort as number | undefined) ?? KSERVE_MODEL_HTTP_PORT;
    const uid = props.runAsUser ?? R_IMAGE_UID;
    const given = withDefaults(props.resources, { cpuRequest: '250m', memoryRequest: '512Mi', memoryLimit: '1Gi' });
    // KServe's defaulter fills a missing CPU limit from inferenceservice-config (1 core as
    // shipped): below a request over one core that is a Deployment the API server rejects, and
    // otherwise a throttle nobody asked for. So the limit is always written: whole cores, at least
    // the request.
    const resources = { ...given, cpuLimit: given.cpuLimit ?? wholeCores(given.cpuRequest) };
    const scratchSize = props.scratchSize ?? '1Gi';
    const uri = typeof props.model === 'string' ? props.model : props.model.uri;
    const storage = storageScheme(uri);
    this.modelUri = storage ? KSERVE_MODEL_MOUNT_PATH : uri;
    // Undefined only for a mode the synth-time check below rejects.
    this.deploymentMode = mode as 'Knative' | 'Standard';
    this.inferUrl = `http://${serviceHost(this, this.serviceName)}/v2/models/${name}/infer`;
    const fixed = props.minReplicas === undefined && props.maxReplicas === undefined;
    const minReplicas = fixed ? props.replicas ?? 1 : props.minReplicas ?? 1;
    const maxReplicas = fixed ? props.replicas ?? 1 : props.maxReplicas ?? Math.max(minReplicas, 1);

    const ownEnv = [
      // A storage URI goes to KServe's storage initializer, whose webhook rewrites STORAGE_URI to
      // /mnt/models once it has downloaded it; the server loads that directory.
      storage ? { name: ENV.storageUri, value: uri } : { name: ENV.modelUri, value: uri },
      // KServe overwrites it with the same value; written so the manifest alone says which name
      // the v2 paths use.
      { name: ENV.inferenceServiceName, value: name },
      { name: ENV.kserveProtocol, value: 'v2' },
      // Knative injects PORT itself and rejects a container that sets it; in Standard mode nothing
      // sets it, and the server would bind its Seldon default (9000) instead of the declared port.
      ...(mode === 'Knative' ? [] : [{ name: ENV.port, value: String(httpPort) }]),
      ...rServerEnv({ cpuRequest: resources.cpuRequest, trackingUri: props.tracking?.trackingUri, maxRequestBytes: props.maxRequestBytes }),
    ];
    // KServe and Knative inject these too; the rest of the contract is the R server's.
    const settings = resolvePodSettings(this, props, ownedEnv(ownEnv, 'the construct',
      [...['K_SERVICE', 'K_CONFIGURATION', 'K_REVISION'].map((n): [string, string] => [n, 'Knative']),
        ...Object.values(ENV).map((n): [string, string] => [n, 'the rmlops contract (lib/contract.ts ENV)'])]));
    const env = [...ownEnv, ...settings.env];
    validateAtSynth(this, () => {
      const out: Problem[] = [
        ...checkObjectName(name, { service: true, suffixes: [mode === 'Knative' ? SERVERLESS_SUFFIX : RAW_SUFFIX] }),
        ...checkPinnedImage('image', image),
        ...checkKServePort('httpPort', httpPort),
        ...checkInteger('runAsUser', uid, 1),
        ...checkResources('resources', resources),
        ...checkScratchSize(scratchSize),
        ...checkArgv('command', props.command), ...checkArgv('args', props.args),
      ];
      if (mode === undefined) {
        out.push({ prop: 'deploymentMode', value: props.deploymentMode, problem: 'is not a KServe deployment mode this construct supports', fix: 'use "Serverless" (Knative) or "RawDeployment" (Standard)' });
      }
      if (!storage && !/^(models:\/[^/@:%?#]+(@[A-Za-z0-9_-]+|\/\d+)|runs:\/[^/\s]+\/\S+)$/.test(uri)) {
        out.push({
          prop: 'model', value: uri, problem: 'is neither an MLflow model URI nor a storage URI KServe downloads',
          fix: `use "models:/<name>@<alias>", "models:/<name>/<version>", "runs:/<run-id>/<path>" (with \`tracking\`), or a ${KSERVE_STORAGE_SCHEMES.map((s) => `${s}://`).join(', ')} URI (a local volume is "pvc://<claim>/<path>")`,
        });
      }
      if (!props.tracking && /^(models|runs):/.test(uri)) {
        out.push({ prop: 'tracking', value: undefined, problem: `is required to load "${uri}" from MLflow`, fix: 'pass the MlflowServer as `tracking`' });
      }
      if (props.replicas !== undefined && !fixed) {
        out.push({ prop: 'replicas', value: props.replicas, problem: 'is set together with minReplicas/maxReplicas', fix: 'set either `replicas` (a fixed count) or `minReplicas`/`maxReplicas` (autoscaled)' });
      }
      if (props.replicas !== undefined) out.push(...checkReplicas('replicas', props.replicas));
      if (props.minReplicas !== undefined) out.push(...checkInteger('minReplicas', props.minReplicas, 0));
      if (props.maxReplicas !== undefined) out.push(...checkInteger('maxReplicas', props.maxReplicas, 1));
      if (Number.isInteger(minReplicas) && Number.isInteger(maxReplicas) && maxReplicas < minReplicas) {
        out.push({ prop: 'maxReplicas', value: maxReplicas, problem: `is below minReplicas (${minReplicas})`, fix: `set maxReplicas to at least ${minReplicas}` });
      }
      if (mode === 'Standard' && minReplicas === 0) {
        out.push({ prop: 'minReplicas', value: 0, problem: 'scales to zero, which only Serverless mode does (KServe raises a RawDeployment\'s HorizontalPodAutoscaler minimum to 1)', fix: 'set minReplicas to 1, or deploymentMode to "Serverless"' });
      }
      if (props.scaleMetric !== undefined && mode !== undefined && !METRICS[mode].includes(props.scaleMetric)) {
        out.push({
          prop: 'scaleMetric', value: props.scaleMetric,
          problem: mode === 'Knative'
            ? 'is not a metric of Knative\'s autoscaler, which Serverless mode uses (KServe\'s webhook rejects it)'
            : 'is not a metric of the HorizontalPodAutoscaler KServe makes in RawDeployment mode',
          fix: mode === 'Knative' ? 'use "concurrency" or "rps", or deploymentMode "RawDeployment" for cpu/memory' : 'use "cpu" or "memory", or deploymentMode "Serverless" for concurrency/rps',
        });
      }
      if (props.scaleTarget !== undefined) out.push(...checkInteger('scaleTarget', props.scaleTarget, 1));
      if (props.scaleTarget !== undefined && props.scaleMetric === undefined) {
        out.push({ prop: 'scaleTarget', value: props.scaleTarget, problem: 'is set without scaleMetric, so its unit depends on the mode\'s default metric', fix: 'set scaleMetric too, e.g. "cpu" with scaleTarget 70 (%)' });
      }
      if (props.canaryTrafficPercent !== undefined) {
        if (mode !== 'Knative') {
          out.push({
            prop: 'canaryTrafficPercent', value: props.canaryTrafficPercent,
            problem: 'splits traffic between Knative revisions, which only Serverless mode has; in RawDeployment mode KServe ignores it silently and replaces the pods in a rolling update',
            fix: 'remove it, or set deploymentMode to "Serverless"',
          });
        } else if (!Number.isInteger(props.canaryTrafficPercent) || props.canaryTrafficPercent < 0 || props.canaryTrafficPercent > 100) {
          out.push({ prop: 'canaryTrafficPercent', value: props.canaryTrafficPercent, problem: 'is not a whole percentage', fix: 'use a whole number from 0 to 100' });
        }
      }
      if (props.maxRequestBytes !== undefined) out.push(...checkInteger('maxRequestBytes', props.maxRequestBytes, 1));
      out.push(...settings.problems());
      (props.ingressNamespaces ?? []).forEach((n, i) => out.push(...checkDnsLabel(`ingressNamespaces[${i}]`, n)));
      return out;
    });
    validateObjectsAtSynth(this);

    const { labels, podSelector } = podLabels(this, { name: 'r-model', instance: name, component: 'serving' }, image, props.tracking);
    this.podSelector = podSelector;
    this.clientLabels = modelClientLabel(name);
    const own = namespaceOf(this);
    props.artifactStore?.allowClient({ podLabels: podSelector, namespace: own, by: this.node.path, labels });
    // In: traffic from the clients and ingress namespaces, scrapes from the scrapers. Out: DNS,
    // MLflow, and the artifact store the storage initializer downloads from.
    const knative = mode === 'Knative';
    const trafficPorts = knative ? [8012, 8013, 8112] : [httpPort];
    const metricsPorts = knative ? [SELDON_MODEL_METRICS_PORT, 9091, 9088] : [SELDON_MODEL_METRICS_PORT];
    const ingressNamespaces = props.ingressNamespaces ?? (knative ? KNATIVE_INGRESS_NAMESPACES : []);
    const tcp = (port: number): k8s.NetworkPolicyPort => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) });
    this.networkPolicy = workloadNetworkPolicy(this, 'NetworkPolicy', { name: this.serviceName, labels }, podSelector, {
      ingress: () => [
        { from: networkPeers(props.clients ?? [{ podLabels: this.clientLabels }], ingressNamespaces, own), ports: trafficPorts.map(tcp) },
        // Knative's autoscaler scrapes queue-proxy's 9090 and probes its admin port 8022.
        ...(knative ? [{ from: networkPeers([], ['knative-serving'], own), ports: [tcp(9090), tcp(8022)] }] : []),
        { from: networkPeers(props.scrapers ?? [{ podLabels: {}, namespace: NETWORK.scraperNamespace }], [], own), ports: metricsPorts.map(tcp) },
      ],
      egress: () => [props.tracking?.endpoint, storage === 's3' ? props.artifactStore?.endpoint : undefined],
    });
    // In RawDeployment the labelled clients reach the pods' port directly (after the Service's
    // DNAT); in Serverless they go through the networking layer's gateway, whose egress depends
    // on the layer (docs/network.md).
    if (props.clients === undefined && !knative) {
      clientEgressPolicy(this, 'ClientNetworkPolicy', { name: `${name}-clients`, labels }, name, podSelector, httpPort);
    }
    warnAtSynth(this, () => {
      const out: Problem[] = [];
      if (props.tracking && !props.tracking.endpoint) out.push(unknownEndpoint('tracking', 'the tracking server'));
      if (storage === 's3' && !props.artifactStore) {
        out.push({ prop: 'artifactStore', value: undefined, problem: `is not set, so the predictor's NetworkPolicy has no egress to the S3 store KServe's storage initializer downloads "${uri}" from`, fix: 'pass the MinioStore or ExternalS3Bucket holding the bucket as `artifactStore`, or add a NetworkPolicy of your own allowing that egress (docs/network.md)' });
      } else if (storage === 's3' && !props.artifactStore?.endpoint) {
        out.push(unknownEndpoint('artifactStore', 'the artifact store'));
      } else if (storage !== undefined && storage !== 's3' && storage !== 'pvc') {
        out.push({ prop: 'model', value: uri, problem: `is a ${storage}:// URI, which KServe's storage initializer downloads from outside the cluster, and the predictor's NetworkPolicy allows no such egress`, fix: 'add a NetworkPolicy selecting the predictor pods that allows egress to that service (docs/network.md, "Opening more")' });
      }
      return out;
    });

    const { requests, limits } = resourceMaps(resources, scratchSize);
    const container: PredictorContainer = {
      name: KSERVE_CONTAINER_NAME,
      image,
      command: props.command ?? [...R_SERVER_COMMAND],
      args: props.args,
      env,
      envFrom: settings.envFrom,
      // Knative allows one port, named http1 (HTTP/1) or h2c; KServe routes the predictor Service to it.
      ports: [{ name: 'http1', containerPort: httpPort, protocol: 'TCP' }],
      readinessProbe: {
        httpGet: { path: PATHS.v2Ready, port: ReadinessPort.fromNumber(httpPort) },
        ...R_SERVER_READINESS_TIMING,
      },
      livenessProbe: {
        httpGet: { path: PATHS.v2Live, port: LivenessPort.fromNumber(httpPort) },
        ...R_SERVER_LIVENESS_TIMING,
      },
      resources: { requests: quantities(requests, ContainerRequests.fromString), limits: quantities(limits, ContainerLimits.fromString) },
      securityContext: restrictedSecurityContext(uid),
      volumeMounts: [{ name: TMP_VOLUME, mountPath: TMP_PATH }],
    };
    // KServe's scraping annotation points Prometheus at queue-proxy, which only Knative pods
    // have: in Standard mode it would name port 9091, where nothing listens. There the pod gets
    // the plain prometheus.io annotations (KServe copies the InferenceService's annotations to
    // the pod template).
    const metricsAnnotations: Record<string, string> = !(props.metrics ?? true) ? {} : mode === 'Knative' ? {
      [KSERVE_ANNOTATIONS.enablePrometheusScraping]: 'true',
      [KSERVE_ANNOTATIONS.enableMetricAggregation]: 'true',
      [KSERVE_ANNOTATIONS.prometheusPort]: String(SELDON_MODEL_METRICS_PORT),
      [KSERVE_ANNOTATIONS.prometheusPath]: PATHS.modelMetrics,
    } : {
      [PROMETHEUS_ANNOTATIONS.scrape]: 'true',
      [PROMETHEUS_ANNOTATIONS.port]: String(SELDON_MODEL_METRICS_PORT),
      [PROMETHEUS_ANNOTATIONS.path]: PATHS.modelMetrics,
    };
    this.resource = new InferenceService(this, 'Resource', {
      metadata: {
        name,
        labels,
        annotations: { [KSERVE_ANNOTATIONS.deploymentMode]: mode ?? String(props.deploymentMode), ...metricsAnnotations },
      },
      spec: {
        predictor: {
          labels,
          minReplicas,
          maxReplicas,
          ...(props.scaleMetric !== undefined ? { scaleMetric: props.scaleMetric as ScaleMetricEnum } : {}),
          ...(props.scaleTarget !== undefined ? { scaleTarget: props.scaleTarget } : {}),
          ...(props.canaryTrafficPercent !== undefined ? { canaryTrafficPercent: props.canaryTrafficPercent } : {}),
          ...settings.pod,
          automountServiceAccountToken: false,
          containers: [container],
          volumes: [{ name: TMP_VOLUME, emptyDir: { sizeLimit: EmptyDirSizeLimit.fromString(scratchSize) } }],
        },
      },
    });
  }
}

/** A CPU quantity rounded up to whole cores, at least 1 ("250m" -> "1", "1500m" -> "2"); unparsable values are returned as given. */
function wholeCores(cpu: string | undefined): string {
  const cores = cpu === undefined ? 1 : parseQuantity(cpu);
  if (typeof cores !== 'number' || !Number.isFinite(cores)) return cpu ?? '1';
  return String(Math.max(1, Math.ceil(cores - 1e-9)));
}

/** The scheme of a URI KServe's storage initializer handles, or undefined. */
export function storageScheme(uri: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/./.exec(uri);
  return m && (KSERVE_STORAGE_SCHEMES as readonly string[]).includes(m[1]) ? m[1] : undefined;
}

/** A valid port that no other process of a KServe predictor pod owns (for computed ports). */
export function checkKServePort(prop: string, value: number): Problem[] {
  const basic = checkPort(prop, value);
  if (basic.length > 0) return basic;
  const owner = (KSERVE_RESERVED_PORTS as Record<number, string>)[value];
  if (owner !== undefined) {
    return [{
      prop, value,
      problem: `is owned by ${owner} in every KServe predictor pod`,
      fix: `use another port, e.g. ${KSERVE_MODEL_HTTP_PORT} (reserved: ${Object.keys(KSERVE_RESERVED_PORTS).join(', ')})`,
    }];
  }
  return [];
}
