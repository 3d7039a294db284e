/**
 * Rollouts of a `SeldonRModel`: a canary predictor that gets part of the traffic, a shadow
 * predictor that gets a mirror of it, the ingress the Seldon 1.17.1 operator splits traffic with,
 * and the main predictor's HorizontalPodAutoscaler and PodDisruptionBudget (which the operator
 * creates from `hpaSpec` and `pdbSpec`).
 */
import {
  SeldonDeploymentSpecPredictors as Predictor, SeldonDeploymentSpecPredictorsComponentSpecsPdbSpecMinAvailable as MinAvailable,
} from '../imports/machinelearning.seldon.io';
import { ENV, ISTIO_GATEWAY_ANNOTATION, MODEL_URI_ANNOTATION, PREDICTOR_LABEL } from './contract';
import { ModelRef } from './r-training-job';
import {
  Problem, checkDnsLabel, checkInteger, checkModelUri, checkNameWithSuffix, checkReplicas, checkServiceName,
} from './validate';

/** The ingress the Seldon operator routes a traffic split and a mirror through. */
export type Ingress = 'istio' | 'ambassador';
const INGRESSES: readonly string[] = ['istio', 'ambassador'];

/** The Istio Gateway of the Seldon Core Helm chart's defaults. */
export const DEFAULT_ISTIO_GATEWAY = 'istio-system/seldon-gateway';

/** A second model that gets part of the traffic. */
export interface CanaryProps {
  /** What the canary serves: a training job's `model` (e.g. one with `modelAlias: "challenger"`) or a URI such as `models:/iris@challenger`. */
  readonly model: ModelRef | string;
  /** Percentage of requests the canary answers, 1-99; the main predictor answers the rest. */
  readonly traffic: number;
  /** Pod replicas of the canary. @default 1 */
  readonly replicas?: number;
  /** Predictor name of the canary. @default "canary" */
  readonly predictorName?: string;
}

/** A second model that gets a copy of every request; its answers are discarded. */
export interface ShadowProps {
  /** What the shadow serves: a training job's `model` or a URI such as `models:/iris@challenger`. */
  readonly model: ModelRef | string;
  /** Predictor name of the shadow. @default "shadow" */
  readonly predictorName?: string;
}

/** The main predictor's HorizontalPodAutoscaler (the operator creates it from `hpaSpec`). */
export interface AutoscalingProps {
  /** Fewest pods. */
  readonly minReplicas: number;
  /** Most pods. */
  readonly maxReplicas: number;
  /** Average CPU use to hold, as a percentage of the model container's CPU request. */
  readonly targetCpuUtilization: number;
}

/** Ingress settings that do not depend on a canary or a shadow. */
interface IngressSettings {
  /** Istio Gateway of the operator's VirtualService, `[namespace/]name` (only with `ingress: "istio"`). @default "istio-system/seldon-gateway" */
  readonly istioGateway?: string;
}

/** A single predictor: `ingress` is optional. */
export interface NoRolloutProps extends IngressSettings {
  /** No canary. @default - none */
  readonly canary?: undefined;
  /** No shadow. @default - none */
  readonly shadow?: undefined;
  /** Ingress the operator is configured for (see `RolloutProps.ingress`). @default - none */
  readonly ingress?: Ingress;
}

/** A canary and/or a shadow: `ingress` is required. */
export interface RolloutProps extends IngressSettings {
  /** A canary predictor with part of the traffic. @default - none */
  readonly canary?: CanaryProps;
  /** A shadow predictor with a mirror of the traffic. @default - none */
  readonly shadow?: ShadowProps;
  /**
   * The ingress the Seldon operator is installed with (Helm `istio.enabled` or
   * `ambassador.enabled`): the operator splits and mirrors traffic only in the VirtualService or
   * the Ambassador Mappings it writes; the Service `<name>-<predictor>` reaches one predictor only.
   */
  readonly ingress: Ingress;
}

/**
 * The traffic props of `SeldonRModel`: with a `canary` or a `shadow`, `ingress` is required at
 * compile time.
 */
export type TrafficProps = NoRolloutProps | (RolloutProps & { readonly canary: CanaryProps }) | (RolloutProps & { readonly shadow: ShadowProps });

/** One predictor of a `SeldonRModel`, as the constructs and the operator name it. */
export interface PredictorInfo {
  /** Predictor name. */
  readonly name: string;
  /** `main`, `canary` or `shadow`. */
  readonly role: 'main' | 'canary' | 'shadow';
  /** Percentage of the traffic it answers (undefined for a shadow and for a single predictor). */
  readonly traffic?: number;
  /** The model URI it loads. */
  readonly modelUri: string;
  /** Labels selecting this predictor's pods only. */
  readonly podSelector: Record<string, string>;
  /** The Service the operator creates for it: `<name>-<predictor>`. */
  readonly serviceName: string;
  /** The Deployment the operator creates for it (`kubectl rollout status deployment/<this>`; the operator reverts a `rollout restart` of it). */
  readonly deploymentName: string;
}

/** What the rollout checks need from `SeldonRModel`. */
export interface RolloutContext {
  readonly name: string;
  readonly mainPredictor: string;
  readonly mainUri: string;
  readonly replicas?: number;
  readonly cpuRequest?: string;
  readonly hasTracking: boolean;
  /** Why a `file://` URI cannot be served, or undefined. */
  readonly fileUriProblem: (uri: string) => string | undefined;
  /** Container names of the predictor pod, which the operator's Deployment name joins. */
  readonly containerNames: string[];
}

/** Props of `SeldonRModel` this file handles. */
export type RolloutInput = TrafficProps & { readonly autoscaling?: AutoscalingProps; readonly minAvailable?: number | string };

const uriOf = (m: ModelRef | string): string => (typeof m === 'string' ? m : m?.uri);

/** Predictor names, main first. */
export function predictorNames(props: RolloutInput, main: string): { main: string; canary?: string; shadow?: string } {
  return {
    main,
    canary: props.canary ? props.canary.predictorName ?? 'canary' : undefined,
    shadow: props.shadow ? props.shadow.predictorName ?? 'shadow' : undefined,
  };
}

/** Checks the rollout props of a `SeldonRModel`. */
export function checkRollout(props: RolloutInput, ctx: RolloutContext): Problem[] {
  const out: Problem[] = [];
  const names = predictorNames(props, ctx.mainPredictor);
  const routed = props.canary !== undefined || props.shadow !== undefined;
  const ingress = (props as { ingress?: unknown }).ingress;
  if (routed && ingress === undefined) {
    out.push({
      prop: 'ingress', value: undefined,
      problem: 'is required with a canary or a shadow: the Seldon operator splits and mirrors traffic only through Istio or Ambassador',
      fix: 'set `ingress` to "istio" or "ambassador", whichever the Seldon operator is installed with',
    });
  } else if (ingress !== undefined && !INGRESSES.includes(ingress as string)) {
    out.push({ prop: 'ingress', value: ingress, problem: 'is neither "istio" nor "ambassador"', fix: 'use "istio" or "ambassador", whichever the Seldon operator is installed with' });
  }
  if (props.istioGateway !== undefined) {
    const parts = props.istioGateway.split('/');
    if (ingress !== 'istio') {
      out.push({ prop: 'istioGateway', value: props.istioGateway, problem: 'only applies with `ingress: "istio"`', fix: 'set `ingress: "istio"`, or remove it' });
    } else if (parts.length > 2 || parts.some((p) => checkDnsLabel('istioGateway', p).length > 0)) {
      out.push({ prop: 'istioGateway', value: props.istioGateway, problem: 'is not `[namespace/]name` of DNS-1123 labels', fix: `use e.g. "${DEFAULT_ISTIO_GATEWAY}"` });
    }
  }

  const models: [string, ModelRef | string][] = [];
  if (props.canary) models.push(['canary', props.canary.model]);
  if (props.shadow) models.push(['shadow', props.shadow.model]);
  for (const [role, model] of models) {
    const uri = uriOf(model);
    const prop = `${role}.model`;
    const uriProblems = checkModelUri(prop, uri);
    out.push(...uriProblems);
    if (uriProblems.length > 0) continue;
    if (uri === ctx.mainUri) {
      out.push({ prop, value: uri, problem: `is the main predictor's model, so the ${role} compares nothing`, fix: 'serve the challenger, e.g. a training job with `modelAlias: "challenger"` or "models:/<name>@challenger"' });
    } else if (!ctx.hasTracking && /^(models|runs):/.test(uri)) {
      out.push({ prop: 'tracking', value: undefined, problem: `is required to load "${uri}" (${prop}) from MLflow`, fix: 'pass the MlflowServer as `tracking`' });
    } else if (uri.startsWith('file://')) {
      const p = ctx.fileUriProblem(uri);
      if (p) out.push({ prop, value: uri, problem: p, fix: 'use a URI inside `modelVolume.mountPath`, or serve it from MLflow' });
    }
  }

  const taken = new Map<string, string>([[names.main, 'predictorName']]);
  const roleNames: [string, string | undefined][] = [['canary', names.canary], ['shadow', names.shadow]];
  for (const [role, pred] of roleNames) {
    if (pred === undefined) continue;
    const prop = `${role}.predictorName`;
    const label = checkDnsLabel(prop, pred);
    out.push(...label);
    if (label.length > 0) continue;
    if (taken.has(pred)) {
      out.push({ prop, value: pred, problem: `is also the name of ${taken.get(pred) === 'predictorName' ? 'the main predictor' : 'the canary'} (the operator names Services and Deployments after it)`, fix: `give each predictor its own name, e.g. "${role}"` });
      continue;
    }
    taken.set(pred, prop);
    out.push(...checkServiceName(`name + "-" + ${prop}`, `${ctx.name}-${pred}`));
    out.push(...checkNameWithSuffix('name', ctx.name, `-${pred}-0-${ctx.containerNames.join('-')}`));
  }

  if (props.canary) {
    const t = props.canary.traffic;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > 99) {
      out.push({ prop: 'canary.traffic', value: t, problem: 'is not an integer from 1 to 99 (the main predictor gets the rest, and the percentages sum to 100)', fix: 'use e.g. 10 for a tenth of the requests' });
    }
    if (props.canary.replicas !== undefined) {
      const r = checkReplicas('canary.replicas', props.canary.replicas);
      out.push(...r);
      if (r.length === 0 && props.canary.replicas === 0) {
        out.push({ prop: 'canary.replicas', value: 0, problem: 'leaves no pod to answer the canary\'s share of the traffic', fix: 'use at least 1, or remove `canary` to stop the canary' });
      }
    }
  }

  const a = props.autoscaling;
  if (a) {
    const minOk = checkInteger('autoscaling.minReplicas', a.minReplicas, 1);
    const maxOk = checkInteger('autoscaling.maxReplicas', a.maxReplicas, 1);
    out.push(...minOk, ...maxOk, ...checkInteger('autoscaling.targetCpuUtilization', a.targetCpuUtilization, 1));
    if (minOk.length === 0 && maxOk.length === 0 && a.minReplicas > a.maxReplicas) {
      out.push({ prop: 'autoscaling.maxReplicas', value: a.maxReplicas, problem: `is below autoscaling.minReplicas (${a.minReplicas})`, fix: `use at least ${a.minReplicas}, or lower minReplicas` });
    }
    if (ctx.replicas !== undefined) {
      out.push({ prop: 'replicas', value: ctx.replicas, problem: 'is ignored by the Seldon operator when `autoscaling` is set (the HorizontalPodAutoscaler owns the replica count)', fix: 'remove `replicas`; `autoscaling.minReplicas` is the floor' });
    }
    // A request that is set but not a positive quantity is reported by the resources check.
    if (ctx.cpuRequest === undefined) {
      out.push({ prop: 'resources.cpuRequest', value: ctx.cpuRequest, problem: 'is not a positive CPU quantity, and the autoscaler measures CPU utilization as a percentage of the request', fix: 'set a CPU request such as "250m"' });
    }
  }

  if (props.minAvailable !== undefined) {
    const m = props.minAvailable;
    const floor = a ? a.minReplicas : ctx.replicas ?? 1;
    const floorProp = a ? 'autoscaling.minReplicas' : 'replicas';
    if (typeof m === 'number') {
      const intOk = checkInteger('minAvailable', m, 1);
      out.push(...intOk);
      if (intOk.length === 0 && typeof floor === 'number' && m >= floor) {
        out.push({ prop: 'minAvailable', value: m, problem: `is not below ${floorProp} (${floor}), so no pod may ever be evicted and node drains hang`, fix: `raise ${floorProp} to at least ${m + 1}, or lower minAvailable` });
      }
    } else if (typeof m !== 'string' || !/^\d{1,2}%$/.test(m) || m === '0%') {
      out.push({ prop: 'minAvailable', value: m, problem: 'is neither a pod count nor a percentage from 1% to 99%', fix: 'use e.g. 1 or "50%"' });
    }
  }
  return out;
}

/** The operator's annotations for the chosen ingress. */
export function ingressAnnotations(props: RolloutInput): Record<string, string> | undefined {
  const ingress = (props as { ingress?: Ingress }).ingress;
  // Explicit, so the VirtualService does not depend on the operator's ISTIO_GATEWAY setting, and
  // a gateway name without a namespace would be looked up in the model's namespace.
  if (ingress === 'istio') return { [ISTIO_GATEWAY_ANNOTATION]: props.istioGateway ?? DEFAULT_ISTIO_GATEWAY };
  return undefined;
}

/**
 * The predictors: the main one (with its traffic share, hpaSpec and pdbSpec) and copies of it
 * for the canary and the shadow that differ in name, labels, replicas and the model URI.
 */
export function rolloutPredictors(main: Predictor, props: RolloutInput, modelContainer: string): Predictor[] {
  const names = predictorNames(props, main.name);
  const routed = props.canary !== undefined || props.shadow !== undefined;
  const relabel = (p: Predictor, name: string): Predictor => {
    const labels = { ...(p.labels ?? {}), [PREDICTOR_LABEL]: name };
    return {
      ...p,
      name,
      labels,
      componentSpecs: (p.componentSpecs ?? []).map((cs) => ({ ...cs, metadata: { ...(cs.metadata ?? {}), labels } })),
    };
  };
  const withModel = (p: Predictor, uri: string): Predictor => ({
    ...p,
    componentSpecs: (p.componentSpecs ?? []).map((cs) => ({
      ...cs,
      metadata: { ...(cs.metadata ?? {}), annotations: { ...(cs.metadata?.annotations ?? {}), [MODEL_URI_ANNOTATION]: uri } },
      spec: cs.spec && {
        ...cs.spec,
        containers: cs.spec.containers.map((c) => (c.name !== modelContainer ? c : {
          ...c, env: (c.env ?? []).map((e) => (e.name === ENV.modelUri ? { ...e, value: uri } : e)),
        })),
      },
    })),
  });
  const a = props.autoscaling;
  const first: Predictor = {
    ...relabel(main, names.main),
    ...(routed ? { traffic: 100 - (props.canary?.traffic ?? 0) } : {}),
    // With an hpaSpec the operator leaves the Deployment's replicas to the autoscaler.
    ...(a ? { replicas: undefined } : {}),
  };
  if (a || props.minAvailable !== undefined) {
    first.componentSpecs![0] = {
      ...first.componentSpecs![0],
      ...(a ? {
        hpaSpec: {
          minReplicas: a.minReplicas,
          maxReplicas: a.maxReplicas,
          metricsv2: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: a.targetCpuUtilization } } }],
        },
      } : {}),
      // The operator's PDB selects by seldon-deployment-id, i.e. every predictor's pods.
      ...(props.minAvailable !== undefined ? {
        pdbSpec: { minAvailable: typeof props.minAvailable === 'number' ? MinAvailable.fromNumber(props.minAvailable) : MinAvailable.fromString(props.minAvailable) },
      } : {}),
    };
  }
  const out = [first];
  // A predictor whose name is taken is left out: its prop problem fails synth, and a second
  // predictor of the same name would only add duplicate-object reports.
  const free = (n: string) => !out.some((p) => p.name === n);
  if (props.canary && free(names.canary!)) {
    out.push({ ...withModel(relabel(main, names.canary!), uriOf(props.canary.model)), replicas: props.canary.replicas ?? 1, traffic: props.canary.traffic });
  }
  if (props.shadow && free(names.shadow!)) {
    out.push({ ...withModel(relabel(main, names.shadow!), uriOf(props.shadow.model)), replicas: 1, shadow: true });
  }
  return out;
}

/** The predictors as `SeldonRModel` exposes them. */
export function predictorInfos(props: RolloutInput, ctx: { name: string; mainPredictor: string; mainUri: string; podSelector: Record<string, string>; containerNames: string[] }): PredictorInfo[] {
  const names = predictorNames(props, ctx.mainPredictor);
  const routed = props.canary !== undefined || props.shadow !== undefined;
  const info = (name: string, role: PredictorInfo['role'], modelUri: string, traffic?: number): PredictorInfo => ({
    name, role, traffic, modelUri,
    podSelector: { ...ctx.podSelector, [PREDICTOR_LABEL]: name },
    serviceName: `${ctx.name}-${name}`,
    deploymentName: `${ctx.name}-${name}-0-${ctx.containerNames.join('-')}`,
  });
  const out = [info(names.main, 'main', ctx.mainUri, routed ? 100 - (props.canary?.traffic ?? 0) : undefined)];
  if (props.canary) out.push(info(names.canary!, 'canary', uriOf(props.canary.model), props.canary.traffic));
  if (props.shadow) out.push(info(names.shadow!, 'shadow', uriOf(props.shadow.model)));
  return out;
}
