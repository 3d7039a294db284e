/**
 * An R model served by Seldon Core v1 (1.17.1): a SeldonDeployment whose single predictor runs
 * the R model server as a custom container next to Seldon's executor sidecar.
 */
import { Construct } from 'constructs';
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
  ENV, ModelHttpPort, PATHS, R_MODEL_HTTP_PORT, R_MODEL_PORT_NAME, SELDON_EXECUTOR_HTTP_PORT,
} from './contract';
import { ITrackingServer } from './mlflow-server';
import {
  ComputeResources, TMP_PATH, TMP_VOLUME, checkObjectName, checkResources, imageVersionLabel, podSecurityContext,
  recommendedLabels, resolveName, resourceMaps, restrictedSecurityContext, selectorLabels, serviceHost,
  withDefaults,
} from './pod-defaults';
import { ModelRef, R_IMAGE_UID } from './r-training-job';
import {
  Problem, checkDnsLabel, checkInteger, checkModelUri, checkPinnedImage, checkPortName, checkPredictorPort,
  checkReplicas, checkServiceName, validateAtSynth,
} from './validate';

/** Default R model server image (built from `r/` by the project). */
export const DEFAULT_R_SERVING_IMAGE = 'ghcr.io/rmlops/r-serve:0.1.0';
/** Name of the model container, which is also the graph node name (Seldon pairs them by name). */
export const MODEL_CONTAINER_NAME = 'model';

/** A container as the SeldonDeployment binding describes it (for `extraContainers`). */
export type SeldonPodContainer = SeldonContainer;

/** Props of `SeldonRModel`. */
export interface SeldonRModelProps<P extends number = typeof R_MODEL_HTTP_PORT> {
  /** What to serve: a training job's `model`, or a URI (`models:/name@alias`, `models:/name/3`, `runs:/id/path`, `file:///dir`). */
  readonly model: ModelRef | string;
  /** MLflow server to load `models:/` and `runs:/` URIs from (its NetworkPolicy is opened to the model pods). @default - none; only `file://` URIs then */
  readonly tracking?: ITrackingServer;
  /** Name of the SeldonDeployment. @default the construct id */
  readonly name?: string;
  /** Predictor name; the Service Seldon creates is `<name>-<predictorName>`. @default "default" */
  readonly predictorName?: string;
  /** R model server image, pinned. @default DEFAULT_R_SERVING_IMAGE */
  readonly image?: string;
  /**
   * Port of the R server's REST endpoint (a containerPort named `http`, which Seldon routes the
   * executor to). 8000 and 5001 belong to the executor and do not compile. @default 9000
   */
  readonly httpPort?: ModelHttpPort<P>;
  /** Pod replicas. @default 1 */
  readonly replicas?: number;
  /** Largest request body the R server accepts, in bytes. @default - the server's own default */
  readonly maxRequestBytes?: number;
  /** Resources of the R container. @default 250m CPU, 512Mi request, 1Gi limit */
  readonly resources?: ComputeResources;
  /** Resources of Seldon's executor sidecar. @default 100m CPU, 128Mi request, 512Mi limit */
  readonly executorResources?: ComputeResources;
  /**
   * More containers in the predictor pod. None may declare 8000/5001, a port named `http`, or a
   * port name/number already used; they get the restricted security context and small
   * resources (50m/64Mi, 256Mi limit) unless they set their own.
   * @default []
   */
  readonly extraContainers?: SeldonPodContainer[];
  /** Numeric uid the R image runs as. @default R_IMAGE_UID (10001) */
  readonly runAsUser?: number;
}

/**
 * The R model behind Seldon's executor. Readiness is HTTP on `/health/status` (ready only once
 * the model is loaded, unlike the operator's default TCP probe); liveness on `/health/ping`.
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

  constructor(scope: Construct, id: string, props: SeldonRModelProps<P>) {
    super(scope, id);
    const name = resolveName(id, props.name);
    this.name = name;
    const predictor = props.predictorName ?? 'default';
    const image = props.image ?? DEFAULT_R_SERVING_IMAGE;
    const httpPort: number = (props.httpPort as number | undefined) ?? R_MODEL_HTTP_PORT;
    const replicas = props.replicas ?? 1;
    const uid = props.runAsUser ?? R_IMAGE_UID;
    const resources = withDefaults(props.resources, { cpuRequest: '250m', memoryRequest: '512Mi', memoryLimit: '1Gi' });
    const executorResources = withDefaults(props.executorResources, { cpuRequest: '100m', memoryRequest: '128Mi', memoryLimit: '512Mi' });
    const extra = props.extraContainers ?? [];
    this.modelUri = typeof props.model === 'string' ? props.model : props.model.uri;
    this.serviceName = `${name}-${predictor}`;
    this.predictionsUrl = `http://${serviceHost(this, this.serviceName)}:${SELDON_EXECUTOR_HTTP_PORT}${PATHS.predictions}`;

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
      ];
      if (props.maxRequestBytes !== undefined) out.push(...checkInteger('maxRequestBytes', props.maxRequestBytes, 1));
      if (!props.tracking && /^(models|runs):/.test(this.modelUri)) {
        out.push({ prop: 'tracking', value: undefined, problem: `is required to load "${this.modelUri}" from MLflow`, fix: 'pass the MlflowServer as `tracking`' });
      }
      out.push(...checkExtraContainers(extra, httpPort));
      return out;
    });

    const spec = { name: 'r-model', instance: name, component: 'serving' };
    const labels = recommendedLabels({ ...spec, version: imageVersionLabel(image) });
    this.podSelector = selectorLabels(spec);
    props.tracking?.allowClient({ podLabels: this.podSelector });

    const env = [
      { name: ENV.modelUri, value: this.modelUri },
      ...(props.tracking ? [{ name: ENV.trackingUri, value: props.tracking.trackingUri }] : []),
      ...(props.maxRequestBytes !== undefined ? [{ name: ENV.maxBodyBytes, value: String(props.maxRequestBytes) }] : []),
      { name: ENV.tmpDir, value: TMP_PATH },
      { name: 'HOME', value: TMP_PATH },
    ];
    const { requests, limits } = resourceMaps(resources);
    const modelContainer: SeldonContainer = {
      name: MODEL_CONTAINER_NAME,
      image,
      env,
      // The name `http` makes the operator route the executor here and inject
      // PREDICTIVE_UNIT_HTTP_SERVICE_PORT with this number, which the R server binds.
      ports: [{ name: R_MODEL_PORT_NAME, containerPort: httpPort, protocol: 'TCP' }],
      readinessProbe: {
        httpGet: { path: PATHS.healthStatus, port: ReadinessPort.fromNumber(httpPort) },
        periodSeconds: 5,
        timeoutSeconds: 3,
        failureThreshold: 3,
      },
      livenessProbe: {
        httpGet: { path: PATHS.healthPing, port: LivenessPort.fromNumber(httpPort) },
        // Loading a model from MLflow takes a while; liveness must not kill a loading server.
        initialDelaySeconds: 30,
        periodSeconds: 10,
        timeoutSeconds: 3,
        failureThreshold: 6,
      },
      resources: {
        requests: Object.fromEntries(Object.entries(requests).map(([k, v]) => [k, ContainerRequests.fromString(v)])),
        limits: Object.fromEntries(Object.entries(limits).map(([k, v]) => [k, ContainerLimits.fromString(v)])),
      },
      securityContext: restrictedSecurityContext(uid),
      volumeMounts: [{ name: TMP_VOLUME, mountPath: TMP_PATH }],
    };
    const extraWithDefaults: SeldonContainer[] = extra.map((c) => ({
      ...c,
      securityContext: c.securityContext ?? restrictedSecurityContext(uid),
      resources: c.resources ?? {
        requests: { cpu: ContainerRequests.fromString('50m'), memory: ContainerRequests.fromString('64Mi') },
        limits: { memory: ContainerLimits.fromString('256Mi') },
      },
    }));

    const exec = resourceMaps(executorResources);
    this.resource = new SeldonDeployment(this, 'Resource', {
      metadata: { name, labels },
      spec: {
        name,
        predictors: [{
          name: predictor,
          replicas,
          labels,
          graph: {
            name: MODEL_CONTAINER_NAME,
            type: 'MODEL',
            endpoint: { type: 'REST' },
            children: [],
          },
          componentSpecs: [{
            metadata: { labels },
            spec: {
              automountServiceAccountToken: false,
              securityContext: podSecurityContext(uid),
              containers: [modelContainer, ...extraWithDefaults],
              volumes: [{ name: TMP_VOLUME, emptyDir: { sizeLimit: EmptyDirSizeLimit.fromString('256Mi') } }],
            },
          }],
          svcOrchSpec: {
            resources: {
              requests: Object.fromEntries(Object.entries(exec.requests).map(([k, v]) => [k, ExecutorRequests.fromString(v)])),
              limits: Object.fromEntries(Object.entries(exec.limits).map(([k, v]) => [k, ExecutorLimits.fromString(v)])),
            },
          },
        }],
      },
    });
  }
}

/** Ports and names in the predictor pod must not collide with the executor, the model or each other. */
function checkExtraContainers(extra: SeldonPodContainer[], httpPort: number): Problem[] {
  const out: Problem[] = [];
  const containerNames = new Set<string>([MODEL_CONTAINER_NAME]);
  const portNames = new Set<string>([R_MODEL_PORT_NAME]);
  const portNumbers = new Set<number>([httpPort]);
  extra.forEach((c, i) => {
    const at = `extraContainers[${i}]`;
    out.push(...checkDnsLabel(`${at}.name`, c.name));
    if (containerNames.has(c.name)) {
      out.push({ prop: `${at}.name`, value: c.name, problem: 'is already the name of another container in the pod', fix: 'give each container a unique name' });
    }
    containerNames.add(c.name);
    if (c.image !== undefined) out.push(...checkPinnedImage(`${at}.image`, c.image));
    (c.ports ?? []).forEach((p, j) => {
      const pat = `${at}.ports[${j}]`;
      out.push(...checkPredictorPort(`${pat}.containerPort`, p.containerPort));
      if (portNumbers.has(p.containerPort)) {
        out.push({ prop: `${pat}.containerPort`, value: p.containerPort, problem: 'is already used by another container in the pod', fix: 'pick a free port such as 9001' });
      }
      portNumbers.add(p.containerPort);
      if (p.name !== undefined) {
        out.push(...checkPortName(`${pat}.name`, p.name));
        if (p.name === R_MODEL_PORT_NAME) {
          out.push({ prop: `${pat}.name`, value: p.name, problem: 'would make the Seldon operator route the executor to this container', fix: 'name it after what it serves, e.g. "metrics"' });
        } else if (portNames.has(p.name)) {
          out.push({ prop: `${pat}.name`, value: p.name, problem: 'is already the name of another port in the pod', fix: 'give each port a unique name' });
        }
        portNames.add(p.name);
      }
    });
  });
  return out;
}
