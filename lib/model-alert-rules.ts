/**
 * Alerting on a served model: a prometheus-operator PrometheusRule (monitoring.coreos.com/v1) on
 * the series `ModelPodMonitor` scrapes, each threshold and `for:` duration a prop. Every alert is
 * proved with `promtool test rules` on the synthesized object (scripts/rules-test.js,
 * test/rules/; docs/monitoring.md lists them).
 */
import { Construct } from 'constructs';
import { PrometheusRule, PrometheusRuleSpecGroupsRules as Rule, PrometheusRuleSpecGroupsRulesExpr as Expr } from '../imports/monitoring.coreos.com';
import { METRICS, PATHS, PAYLOAD_SINK_METRICS } from './contract';
import { MetricsSource, checkDuration, durationSeconds, seriesSelector } from './model-pod-monitor';
import { recommendedLabels } from './pod-defaults';
import { Problem, checkDnsLabel, checkFiniteNumber, parseQuantity, validateAtSynth } from './validate';

/** Options of `SeldonRModel.addAlertRules`: thresholds and how long each must hold (`for:`). */
export interface ModelAlertRulesOptions {
  /** Labels of the PrometheusRule, for the `ruleSelector` of your Prometheus (kube-prometheus-stack: `release: <name>`). @default - the recommended labels only */
  readonly labels?: Record<string, string>;
  /** Window of the rates behind the error ratio and the latency quantile, a Prometheus duration. @default "5m" */
  readonly rateWindow?: string;
  /** Share of prediction and feedback requests answered 5xx above which `RmlopsModelErrorRatioHigh` fires (0 < x < 1). @default 0.05 */
  readonly errorRatio?: number;
  /** How long the error ratio must stay above `errorRatio`. @default "5m" */
  readonly errorRatioFor?: string;
  /** 99th percentile of prediction latency, in seconds, above which `RmlopsModelLatencyP99High` fires. @default 1 */
  readonly latencyP99Seconds?: number;
  /** How long the p99 must stay above `latencyP99Seconds`. @default "10m" */
  readonly latencyFor?: string;
  /** How long a feature's drift alarm (`rmlops_monitor_drift_alarm == 1`) must hold before `RmlopsModelFeatureDrift` fires. @default "0m" (the monitor already judged a whole window) */
  readonly driftFor?: string;
  /** PSI of the prediction distribution above which `RmlopsModelPredictionShift` fires. @default 0.2 */
  readonly predictionShiftPsi?: number;
  /** Age of the drift monitor's last successful run past which `RmlopsModelMonitorStale` fires (set it above the monitor's schedule period). @default "2h" */
  readonly monitorStaleAfter?: string;
  /** R server workers replaced within `workerRestartsWindow` above which `RmlopsModelWorkerRestarts` fires. @default 0 (any restart) */
  readonly maxWorkerRestarts?: number;
  /** Window over which worker restarts are counted. @default "15m" */
  readonly workerRestartsWindow?: string;
  /** Sealed spool segments waiting for upload above which `RmlopsPayloadSinkBacklog` fires (payload logging only). @default 100 */
  readonly sinkBacklogSegments?: number;
  /** How long the backlog must stay above `sinkBacklogSegments`. @default "10m" */
  readonly sinkBacklogFor?: string;
  /** How long uploads must fail (retries and no object written) before `RmlopsPayloadSinkUploadsFailing` fires. @default "10m" */
  readonly sinkUploadFailingFor?: string;
}

/** Props of `ModelAlertRules`. */
export interface ModelAlertRulesProps extends ModelAlertRulesOptions {
  /** The model the rules watch (a `SeldonRModel`). */
  readonly model: MetricsSource;
  /** Name of the PrometheusRule. @default "<model>-alerts" */
  readonly name?: string;
  /** Size of the payload sink's spool volume; with it, `RmlopsPayloadSinkSpoolFilling` fires at half of it. @default - no such alert */
  readonly sinkSpoolSize?: string;
}

/** The R server routes of predictions (by route label: the path, v2 paths as templates). */
export const PREDICTION_ROUTES = [PATHS.modelPredict, PATHS.predictions, '/v2/models/.+/infer'];
/** Predictions and feedback: the requests whose 5xx count as errors (probes and metadata do not). */
const SERVED_ROUTES = [...PREDICTION_ROUTES, PATHS.modelFeedback, PATHS.feedback];
/** Labels every alert is grouped by: the model and its predictor (canary and shadow apart). */
const BY = 'namespace, deployment, predictor';

/** A PromQL regex literal matching any of `alternatives` (dots escaped unless part of `.+`). */
export function routeRegex(alternatives: readonly string[]): string {
  return alternatives.map((a) => a.replace(/\.(?!\+)/g, '\\\\.')).join('|');
}

/**
 * The alert rules of one model, in one group `rmlops-<model>`:
 * - `RmlopsModelErrorRatioHigh`: share of 5xx among prediction and feedback requests (`rmlops_requests_total`);
 * - `RmlopsModelLatencyP99High`: p99 of prediction latency (`rmlops_request_duration_seconds_bucket`);
 * - `RmlopsModelFeatureDrift`: a feature's drift over its threshold (`rmlops_monitor_drift_alarm == 1`);
 * - `RmlopsModelPredictionShift`: PSI of the predictions (`rmlops_monitor_prediction_shift`);
 * - `RmlopsModelMonitorStale`: the drift monitor's last success too old (`rmlops_monitor_last_success_timestamp_seconds`);
 * - `RmlopsModelWorkerRestarts`: R server workers replaced (`rmlops_worker_restarts_total`);
 * - with payload logging, `RmlopsPayloadSinkSpoolFailures` (events lost), `RmlopsPayloadSinkUploadsFailing`,
 *   `RmlopsPayloadSinkBacklog` and, given `sinkSpoolSize`, `RmlopsPayloadSinkSpoolFilling`.
 * Each selects the model's series by `namespace` and `deployment`, the labels `ModelPodMonitor` sets.
 */
export class ModelAlertRules extends Construct {
  /** Name of the PrometheusRule. */
  public readonly name: string;
  /** The PrometheusRule. */
  public readonly resource: PrometheusRule;
  /** Names of the alerts, in the rule group's order. */
  public readonly alerts: readonly string[];

  constructor(scope: Construct, id: string, props: ModelAlertRulesProps) {
    super(scope, id);
    const model = props.model;
    this.name = props.name ?? `${model.name}-alerts`;
    const o = {
      rateWindow: props.rateWindow ?? '5m',
      errorRatio: props.errorRatio ?? 0.05,
      errorRatioFor: props.errorRatioFor ?? '5m',
      latencyP99Seconds: props.latencyP99Seconds ?? 1,
      latencyFor: props.latencyFor ?? '10m',
      driftFor: props.driftFor ?? '0m',
      predictionShiftPsi: props.predictionShiftPsi ?? 0.2,
      monitorStaleAfter: props.monitorStaleAfter ?? '2h',
      maxWorkerRestarts: props.maxWorkerRestarts ?? 0,
      workerRestartsWindow: props.workerRestartsWindow ?? '15m',
      sinkBacklogSegments: props.sinkBacklogSegments ?? 100,
      sinkBacklogFor: props.sinkBacklogFor ?? '10m',
      sinkUploadFailingFor: props.sinkUploadFailingFor ?? '10m',
    };
    validateAtSynth(this, () => checkOptions(this.name, o, props.sinkSpoolSize));

    const sel = seriesSelector(this, model);
    const staleSeconds = durationSeconds(o.monitorStaleAfter) ?? 0;
    const who = '{{ $labels.namespace }}/{{ $labels.deployment }} predictor {{ $labels.predictor }}';
    const rules: Rule[] = [
      alert('RmlopsModelErrorRatioHigh', 'critical', o.errorRatioFor,
        `sum by (${BY}) (rate(${METRICS.modelRequests}${sel(`,route=~"${routeRegex(SERVED_ROUTES)}",code=~"5.."`)}[${o.rateWindow}]))\n`
        + `  / sum by (${BY}) (rate(${METRICS.modelRequests}${sel(`,route=~"${routeRegex(SERVED_ROUTES)}"`)}[${o.rateWindow}]))\n`
        + `  > ${o.errorRatio}`,
        `${who}: {{ $value | humanizePercentage }} of predictions and feedback answered 5xx`,
        `More than ${o.errorRatio * 100}% of the requests to the R server were answered 5xx over ${o.rateWindow}, for ${o.errorRatioFor}. Its log lines carry each failure's cause.`),
      alert('RmlopsModelLatencyP99High', 'warning', o.latencyFor,
        `histogram_quantile(0.99, sum by (${BY}, le) (rate(${METRICS.modelRequestDuration}_bucket${sel(`,route=~"${routeRegex(PREDICTION_ROUTES)}"`)}[${o.rateWindow}])))\n`
        + `  > ${o.latencyP99Seconds}`,
        `${who}: p99 prediction latency {{ $value | humanizeDuration }}`,
        `The 99th percentile of the R server's prediction latency over ${o.rateWindow} stayed above ${o.latencyP99Seconds}s for ${o.latencyFor} (without the executor's hop). More workers (CPU) or replicas help when the pod is saturated.`),
      alert('RmlopsModelFeatureDrift', 'warning', o.driftFor,
        `max by (${BY}, feature) (${METRICS.monitorDriftAlarm}${sel()}) == 1`,
        `${who}: feature {{ $labels.feature }} drifted`,
        'The drift monitor found this feature\'s distribution in the payload log over its threshold against the training reference (rmlops_monitor_drift carries the statistics; the monitoring run in MLflow has the details).'),
      alert('RmlopsModelPredictionShift', 'warning', o.driftFor,
        `max by (${BY}) (${METRICS.monitorPredictionShift}${sel(',statistic="psi"')}) > ${o.predictionShiftPsi}`,
        `${who}: prediction distribution shifted (PSI {{ $value }})`,
        `The PSI of the model's predictions in the monitored window against the training reference is above ${o.predictionShiftPsi}.`),
      alert('RmlopsModelMonitorStale', 'warning', '0m',
        `time() - max by (${BY}) (${METRICS.monitorLastSuccess}${sel()}) > ${staleSeconds}`,
        `${who}: drift monitor last succeeded {{ $value | humanizeDuration }} ago`,
        `The drift monitor has not completed a run for more than ${o.monitorStaleAfter}: drift goes unseen. Check the monitor CronJob's Jobs and logs.`),
      alert('RmlopsModelWorkerRestarts', 'warning', '0m',
        `sum by (${BY}) (increase(${METRICS.modelWorkerRestarts}${sel()}[${o.workerRestartsWindow}])) > ${o.maxWorkerRestarts}`,
        `${who}: {{ $value | humanize }} R workers replaced in ${o.workerRestartsWindow}`,
        'R server workers died and were replaced (a crash in R or native code, or the memory limit): requests they held failed. The pod log names the exit status.'),
    ];
    if (model.hasPayloadSink) {
      rules.push(
        alert('RmlopsPayloadSinkSpoolFailures', 'critical', '0m',
          `sum by (${BY}) (increase(${PAYLOAD_SINK_METRICS.spoolFailures}${sel()}[5m])) > 0`,
          `${who}: payload events could not be spooled (lost)`,
          'The payload sink answered events 5xx because it could not write its spool (volume full or failing); the executor does not retry, so these predictions are missing from the payload log.'),
        alert('RmlopsPayloadSinkUploadsFailing', 'warning', o.sinkUploadFailingFor,
          `sum by (${BY}, pod) (increase(${PAYLOAD_SINK_METRICS.uploadRetries}${sel()}[5m])) > 0\n`
          + `  unless sum by (${BY}, pod) (increase(${PAYLOAD_SINK_METRICS.objectsUploaded}${sel()}[5m])) > 0`,
          `${who}: pod {{ $labels.pod }} cannot upload payload logs to S3`,
          `The payload sink's uploads have failed and none succeeded for ${o.sinkUploadFailingFor}: events wait in the spool (nothing is lost until it fills). Check the S3 endpoint and credentials.`),
        alert('RmlopsPayloadSinkBacklog', 'warning', o.sinkBacklogFor,
          `max by (${BY}, pod) (${PAYLOAD_SINK_METRICS.spoolSegments}${sel()}) > ${o.sinkBacklogSegments}`,
          `${who}: pod {{ $labels.pod }} has {{ $value }} payload segments waiting for upload`,
          `More than ${o.sinkBacklogSegments} sealed segments waited for upload for ${o.sinkBacklogFor}: the sink uploads slower than the model is asked.`),
      );
      const spoolBytes = props.sinkSpoolSize !== undefined ? parseQuantity(props.sinkSpoolSize) : undefined;
      if (spoolBytes !== undefined && spoolBytes > 0) {
        rules.push(alert('RmlopsPayloadSinkSpoolFilling', 'critical', '5m',
          `max by (${BY}, pod) (${PAYLOAD_SINK_METRICS.spoolBytes}${sel()}) > ${Math.floor(spoolBytes / 2)}`,
          `${who}: pod {{ $labels.pod }}'s payload spool is {{ $value | humanize1024 }}B, over half of ${props.sinkSpoolSize}`,
          `The spool volume is ${props.sinkSpoolSize}; past it the kubelet evicts the pod. Uploads are behind or failing.`));
      }
    }
    this.alerts = rules.map((r) => r.alert!);
    const labels = { ...recommendedLabels({ name: 'r-model-alerts', instance: model.name, component: 'monitoring' }), ...(props.labels ?? {}) };
    this.resource = new PrometheusRule(this, 'Resource', {
      metadata: { name: this.name, labels },
      spec: { groups: [{ name: `rmlops-${model.name}`, rules }] },
    });
  }
}

function alert(name: string, severity: 'warning' | 'critical', forDuration: string, expr: string, summary: string, description: string): Rule {
  return {
    alert: name,
    expr: Expr.fromString(expr),
    ...(forDuration !== '0m' && forDuration !== '0' ? { for: forDuration } : {}),
    labels: { severity },
    annotations: { summary, description },
  };
}

function checkOptions(name: string, o: Record<string, string | number>, sinkSpoolSize: string | undefined): Problem[] {
  const out: Problem[] = [...checkDnsLabel('name', name, 253)];
  for (const k of ['rateWindow', 'errorRatioFor', 'latencyFor', 'driftFor', 'monitorStaleAfter', 'workerRestartsWindow', 'sinkBacklogFor', 'sinkUploadFailingFor']) {
    out.push(...checkDuration(k, o[k] as string, ['rateWindow', 'monitorStaleAfter', 'workerRestartsWindow'].includes(k)));
  }
  const ratio = o.errorRatio as number;
  if (checkFiniteNumber('errorRatio', ratio).length > 0 || ratio <= 0 || ratio >= 1) {
    out.push({ prop: 'errorRatio', value: ratio, problem: 'must be a share between 0 and 1 (exclusive)', fix: 'use e.g. 0.05 for 5%' });
  }
  for (const k of ['latencyP99Seconds', 'predictionShiftPsi']) {
    const v = o[k] as number;
    if (checkFiniteNumber(k, v).length > 0 || v <= 0) out.push({ prop: k, value: v, problem: 'must be a number above 0', fix: k === 'latencyP99Seconds' ? 'use e.g. 0.5' : 'use e.g. 0.2' });
  }
  for (const k of ['maxWorkerRestarts', 'sinkBacklogSegments']) {
    const v = o[k] as number;
    if (!Number.isInteger(v) || v < 0) out.push({ prop: k, value: v, problem: 'must be a whole number, 0 or more', fix: 'use e.g. 0' });
  }
  if (sinkSpoolSize !== undefined && !(parseQuantity(sinkSpoolSize)! > 0)) {
    out.push({ prop: 'sinkSpoolSize', value: sinkSpoolSize, problem: 'is not a positive quantity', fix: 'use the spool size, e.g. "1Gi"' });
  }
  return out;
}
