/**
 * Scraping a served model: a prometheus-operator PodMonitor (monitoring.coreos.com/v1,
 * prometheus-operator 0.85.0's CRD) for the pods of a `SeldonRModel`, naming each metrics port
 * the pod has, on the container that serves it (docs/monitoring.md).
 */
import { Construct } from 'constructs';
import {
  PodMonitor, PodMonitorSpecPodMetricsEndpoints as Endpoint, PodMonitorSpecPodMetricsEndpointsRelabelingsAction as Action,
} from '../imports/monitoring.coreos.com';
import {
  MODEL_CONTAINER_NAME, PATHS, PAYLOAD_SINK, PREDICTOR_LABEL, R_MODEL_PORT_NAME, SELDON_EXECUTOR_CONTAINER_NAME, SELDON_MODEL_METRICS_PORT_NAME,
} from './contract';
import { namespaceOf, recommendedLabels } from './pod-defaults';
import { Problem, checkDnsLabel, validateAtSynth } from './validate';

/**
 * The PromQL label matcher of a model's series as the PodMonitor labels them (`namespace`, and
 * `deployment` from its relabeling), for the alert rules and the dashboard; `extra` is appended.
 */
export function seriesSelector(scope: Construct, model: MetricsSource): (extra?: string) => string {
  const ns = namespaceOf(scope);
  return (extra = '') => `{${ns ? `namespace="${ns}",` : ''}deployment="${model.name}"${extra}}`;
}

/** What a PodMonitor needs of a served model (a `SeldonRModel` is one). */
export interface MetricsSource {
  /** Name of the SeldonDeployment: the `deployment` label of every series scraped from it. */
  readonly name: string;
  /** Labels every predictor pod of the model carries. */
  readonly podSelector: Record<string, string>;
  /** Whether the pods run the payload sink (`payloadLogging`), whose metrics are scraped too. */
  readonly hasPayloadSink: boolean;
}

/** Options of `SeldonRModel.addPodMonitor`. */
export interface ModelPodMonitorOptions {
  /**
   * Labels of the PodMonitor, for the `podMonitorSelector` of your Prometheus (kube-prometheus-stack
   * selects `release: <its release name>` by default). @default - the recommended labels only
   */
  readonly labels?: Record<string, string>;
  /** Scrape interval, a Prometheus duration. @default "30s" */
  readonly interval?: string;
  /** Scrape timeout, a Prometheus duration not longer than `interval`. @default "10s" */
  readonly scrapeTimeout?: string;
}

/** Props of `ModelPodMonitor`. */
export interface ModelPodMonitorProps extends ModelPodMonitorOptions {
  /** The model whose pods are scraped (a `SeldonRModel`). */
  readonly model: MetricsSource;
  /** Name of the PodMonitor. @default the model's name */
  readonly name?: string;
}

/** A Prometheus duration (`30s`, `1m30s`, `2h`), as prometheus-operator's CRD pattern allows it. */
export const PROMETHEUS_DURATION = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;
const UNIT_SECONDS: Record<string, number> = { y: 365 * 86400, w: 7 * 86400, d: 86400, h: 3600, m: 60, s: 1, ms: 0.001 };

/** Seconds of a Prometheus duration, or undefined when it is not one. */
export function durationSeconds(value: string): number | undefined {
  if (typeof value !== 'string' || value === '' || !PROMETHEUS_DURATION.test(value)) return undefined;
  let total = 0;
  for (const [, n, unit] of value.matchAll(/([0-9]+)(ms|y|w|d|h|m|s)/g)) total += Number(n) * UNIT_SECONDS[unit];
  return total;
}

/** A Prometheus duration prop; `positive` refuses "0". */
export function checkDuration(prop: string, value: string, positive = true): Problem[] {
  const s = durationSeconds(value);
  if (s === undefined) return [{ prop, value, problem: 'is not a Prometheus duration', fix: 'use units y, w, d, h, m, s, ms in that order, e.g. "30s", "5m", "1h30m"' }];
  if (positive && s <= 0) return [{ prop, value, problem: 'must be longer than zero', fix: 'use e.g. "30s"' }];
  return [];
}

/**
 * The relabelings of one endpoint: keep only the targets of `container` (a port name can be on
 * several containers of the pod), then label every series with the model (`deployment`, a
 * constant) and its predictor (from the pod label the constructs set). The alert rules select by
 * these two labels, and `namespace`, `pod` and `container`, which prometheus-operator adds.
 */
function relabelings(container: string | undefined, deployment: string): Endpoint['relabelings'] {
  const podLabel = (label: string) => `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;
  return [
    ...(container ? [{ action: Action.KEEP, sourceLabels: ['__meta_kubernetes_pod_container_name'], regex: container }] : []),
    { action: Action.REPLACE, targetLabel: 'deployment', replacement: deployment },
    { action: Action.REPLACE, sourceLabels: [podLabel(PREDICTOR_LABEL)], targetLabel: 'predictor' },
  ];
}

/**
 * A PodMonitor for every predictor pod of a served model. It scrapes:
 * - the R server's metrics port, `metrics` (6000) on the `model` container, path `/prometheus`
 *   (requests, latency histogram, worker restarts: `METRICS.model*`);
 * - Seldon's executor, `http` (8000) on `seldon-container-engine`, path `/prometheus` (the
 *   operator declares 8000 as both `http` and `metrics` on the executor, and `metrics` is also
 *   the model's 6000, so each endpoint keeps only its own container's target);
 * - with payload logging, the payload sink's `sink-metrics` (9102), path `/metrics` (its spool and
 *   upload counters, and the drift monitor's figures, `METRICS.monitor*`).
 * The port names are the ones the manifests declare: the model's and the sink's by this library,
 * the executor's by the Seldon operator (seldon-core 1.17.1, controllers/seldondeployment_engine.go).
 */
export class ModelPodMonitor extends Construct {
  /** Name of the PodMonitor. */
  public readonly name: string;
  /** The PodMonitor. */
  public readonly resource: PodMonitor;
  /** The scraped endpoints: container, port name, path. */
  public readonly endpoints: readonly { readonly container: string; readonly port: string; readonly path: string }[];

  constructor(scope: Construct, id: string, props: ModelPodMonitorProps) {
    super(scope, id);
    const model = props.model;
    this.name = props.name ?? model.name;
    const interval = props.interval ?? '30s';
    const scrapeTimeout = props.scrapeTimeout ?? '10s';
    validateAtSynth(this, () => {
      const out = [...checkDnsLabel('name', this.name, 253), ...checkDuration('interval', interval), ...checkDuration('scrapeTimeout', scrapeTimeout)];
      const i = durationSeconds(interval);
      const t = durationSeconds(scrapeTimeout);
      if (out.length === 0 && i !== undefined && t !== undefined && t > i) {
        out.push({ prop: 'scrapeTimeout', value: scrapeTimeout, problem: `is longer than interval "${interval}" (Prometheus refuses the scrape config)`, fix: `use at most "${interval}"` });
      }
      return out;
    });
    this.endpoints = [
      { container: MODEL_CONTAINER_NAME, port: SELDON_MODEL_METRICS_PORT_NAME, path: PATHS.modelMetrics },
      { container: SELDON_EXECUTOR_CONTAINER_NAME, port: R_MODEL_PORT_NAME, path: PATHS.modelMetrics },
      ...(model.hasPayloadSink ? [{ container: PAYLOAD_SINK.containerName, port: PAYLOAD_SINK.metricsPortName, path: PAYLOAD_SINK.metricsPath }] : []),
    ];
    const labels = { ...recommendedLabels({ name: 'r-model-metrics', instance: model.name, component: 'monitoring' }), ...(props.labels ?? {}) };
    this.resource = new PodMonitor(this, 'Resource', {
      metadata: { name: this.name, labels },
      spec: {
        selector: { matchLabels: { ...model.podSelector } },
        podMetricsEndpoints: this.endpoints.map((e): Endpoint => ({
          port: e.port,
          path: e.path,
          interval,
          scrapeTimeout,
          relabelings: relabelings(e.container, model.name),
        })),
      },
    });
  }
}
