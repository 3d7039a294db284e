/**
 * A Grafana dashboard of a served model's figures, as a ConfigMap that Grafana's dashboard sidecar
 * (kube-prometheus-stack's `grafana_dashboard: "1"` label) loads: the same series the alert rules
 * read (docs/monitoring.md). The queries are checked by `promtool check rules` in
 * scripts/rules-test.js.
 */
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { METRICS, PAYLOAD_SINK_METRICS } from './contract';
import { PREDICTION_ROUTES, routeRegex } from './model-alert-rules';
import { MetricsSource, seriesSelector } from './model-pod-monitor';
import { namespaceOf, recommendedLabels } from './pod-defaults';
import { checkDnsLabel, validateAtSynth } from './validate';

/** Options of `SeldonRModel.addDashboard`. */
export interface ModelDashboardOptions {
  /** Labels of the ConfigMap: what your Grafana's dashboard sidecar selects. @default { grafana_dashboard: "1" } */
  readonly labels?: Record<string, string>;
  /** Window of the rates the panels plot, a Prometheus duration. @default "5m" */
  readonly rateWindow?: string;
}

/** Props of `ModelDashboard`. */
export interface ModelDashboardProps extends ModelDashboardOptions {
  /** The model (a `SeldonRModel`). */
  readonly model: MetricsSource;
  /** Name of the ConfigMap. @default "<model>-dashboard" */
  readonly name?: string;
}

/** One panel: a title, a unit and its PromQL queries (legend by label). */
interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly queries: readonly { readonly expr: string; readonly legend: string }[];
}

/**
 * The dashboard: traffic by status, error ratio, latency quantiles, workers and restarts, drift
 * per feature, the prediction shift, the monitor's age and, with payload logging, the sink's
 * spool and uploads. `panels` lists each panel's queries (scripts/rules-test.js checks them).
 */
export class ModelDashboard extends Construct {
  /** Name of the ConfigMap. */
  public readonly name: string;
  /** The ConfigMap holding `<model>.json`. */
  public readonly resource: k8s.KubeConfigMap;
  /** The PromQL of every panel, in order. */
  public readonly queries: readonly string[];

  constructor(scope: Construct, id: string, props: ModelDashboardProps) {
    super(scope, id);
    const model = props.model;
    this.name = props.name ?? `${model.name}-dashboard`;
    const w = props.rateWindow ?? '5m';
    validateAtSynth(this, () => checkDnsLabel('name', this.name, 253));
    const ns = namespaceOf(this);
    const sel = seriesSelector(this, model);
    const predictions = `,route=~"${routeRegex(PREDICTION_ROUTES)}"`;
    const panels: Panel[] = [
      {
        title: 'Requests by route and status', unit: 'reqps',
        queries: [{ expr: `sum by (predictor, route, code) (rate(${METRICS.modelRequests}${sel()}[${w}]))`, legend: '{{predictor}} {{route}} {{code}}' }],
      },
      {
        title: 'Error ratio (5xx of predictions)', unit: 'percentunit',
        queries: [{
          expr: `sum by (predictor) (rate(${METRICS.modelRequests}${sel(`${predictions},code=~"5.."`)}[${w}])) / sum by (predictor) (rate(${METRICS.modelRequests}${sel(predictions)}[${w}]))`,
          legend: '{{predictor}}',
        }],
      },
      {
        title: 'Prediction latency', unit: 's',
        queries: [0.5, 0.99].map((q) => ({
          expr: `histogram_quantile(${q}, sum by (predictor, le) (rate(${METRICS.modelRequestDuration}_bucket${sel(predictions)}[${w}])))`,
          legend: `{{predictor}} p${q * 100}`,
        })),
      },
      {
        title: 'Model ready and worker restarts', unit: 'short',
        queries: [
          { expr: `min by (predictor) (${METRICS.modelReady}${sel()})`, legend: '{{predictor}} ready' },
          { expr: `sum by (predictor) (increase(${METRICS.modelWorkerRestarts}${sel()}[${w}]))`, legend: '{{predictor}} restarts' },
        ],
      },
      {
        title: 'Drift per feature', unit: 'short',
        queries: [
          { expr: `max by (predictor, feature, statistic) (${METRICS.monitorDrift}${sel()})`, legend: '{{predictor}} {{feature}} {{statistic}}' },
          { expr: `max by (predictor, feature) (${METRICS.monitorDriftAlarm}${sel()})`, legend: '{{predictor}} {{feature}} alarm' },
        ],
      },
      {
        title: 'Prediction shift and performance', unit: 'short',
        queries: [
          { expr: `max by (predictor, statistic) (${METRICS.monitorPredictionShift}${sel()})`, legend: '{{predictor}} shift {{statistic}}' },
          { expr: `max by (predictor, metric) (${METRICS.monitorPerformance}${sel()})`, legend: '{{predictor}} {{metric}}' },
        ],
      },
      {
        title: 'Drift monitor: age of the last success, events in its window', unit: 's',
        queries: [
          { expr: `time() - max by (predictor) (${METRICS.monitorLastSuccess}${sel()})`, legend: '{{predictor}} age' },
          { expr: `max by (predictor) (${METRICS.monitorWindowEvents}${sel()})`, legend: '{{predictor}} events' },
        ],
      },
    ];
    if (model.hasPayloadSink) {
      panels.push({
        title: 'Payload sink: spool and uploads', unit: 'short',
        queries: [
          { expr: `sum by (predictor, pod) (${PAYLOAD_SINK_METRICS.spoolSegments}${sel()})`, legend: '{{pod}} segments waiting' },
          { expr: `sum by (predictor, pod) (increase(${PAYLOAD_SINK_METRICS.objectsUploaded}${sel()}[${w}]))`, legend: '{{pod}} objects uploaded' },
          { expr: `sum by (predictor, pod) (increase(${PAYLOAD_SINK_METRICS.uploadRetries}${sel()}[${w}]))`, legend: '{{pod}} upload retries' },
          { expr: `sum by (predictor, pod) (increase(${PAYLOAD_SINK_METRICS.spoolFailures}${sel()}[${w}]))`, legend: '{{pod}} events lost' },
        ],
      });
    }
    this.queries = panels.flatMap((p) => p.queries.map((q) => q.expr));
    const datasource = { type: 'prometheus', uid: '${datasource}' };
    const dashboard = {
      title: `rmlops ${ns ? `${ns}/` : ''}${model.name}`,
      uid: `rmlops-${ns ? `${ns}-` : ''}${model.name}`.slice(0, 40),
      tags: ['rmlops'],
      schemaVersion: 39,
      time: { from: 'now-6h', to: 'now' },
      refresh: '1m',
      templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' }] },
      panels: panels.map((p, i) => ({
        id: i + 1,
        type: 'timeseries',
        title: p.title,
        datasource,
        gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
        fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
        targets: p.queries.map((q, j) => ({ refId: String.fromCharCode(65 + j), datasource, expr: q.expr, legendFormat: q.legend })),
      })),
    };
    const labels = { ...recommendedLabels({ name: 'r-model-dashboard', instance: model.name, component: 'monitoring' }), ...(props.labels ?? { grafana_dashboard: '1' }) };
    this.resource = new k8s.KubeConfigMap(this, 'Resource', {
      metadata: { name: this.name, labels },
      data: { [`${model.name}.json`]: JSON.stringify(dashboard, null, 1) },
    });
  }
}
