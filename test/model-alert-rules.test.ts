// Scrape and alert (issue 22 §3): SeldonRModel.addPodMonitor and addAlertRules. The PodMonitor
// names the ports the pod really declares (ours, and the Seldon operator's on the executor); the
// PrometheusRule selects the labels the PodMonitor sets and the metric names of the contract.
// Whether the alerts fire is proved by promtool (scripts/rules-test.js, test/rules/*.yaml).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Testing } from 'cdk8s';
import {
  METRICS, MinioStore, MlflowServer, PATHS, PAYLOAD_SINK, PAYLOAD_SINK_METRICS, PayloadLogging, RTrainingJob,
  SELDON_EXECUTOR_CONTAINER_NAME, SELDON_EXECUTOR_HTTP_PORT, SELDON_MODEL_METRICS_PORT, SeldonRModel, validateManifests,
} from '../lib';
import { NS, find, fixtureScript, newChart, synthValid } from './constructs-support';

const ROOT = path.join(__dirname, '..');

function setup(opts: { payload?: boolean; alerts?: Parameters<SeldonRModel['addAlertRules']>[0]; monitor?: Parameters<SeldonRModel['addPodMonitor']>[0] } = {}) {
  const chart = newChart();
  const minio = new MinioStore(chart, 'minio', { bucket: 'artifacts' });
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
  const train = new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: fixtureScript(), registeredModelName: 'iris' });
  const model = new SeldonRModel(chart, 'iris', {
    model: train.model, tracking: mlflow,
    ...(opts.payload ? { payloadLogging: PayloadLogging.toBucket(minio, { spoolSize: '512Mi' }) } : {}),
    canary: { model: 'models:/iris@challenger', traffic: 10 }, ingress: 'istio',
  });
  const monitor = model.addPodMonitor(opts.monitor);
  const rules = model.addAlertRules(opts.alerts);
  return { chart, model, monitor, rules };
}

/** The container ports of the predictor pod as synthesized, by container. */
function declaredPorts(sdep: any): Map<string, { name: string; containerPort: number }[]> {
  const spec = sdep.spec.predictors[0].componentSpecs[0].spec;
  return new Map(spec.containers.map((c: any) => [c.name, c.ports ?? []]));
}

describe('ModelPodMonitor', () => {
  test('scrapes the R server (metrics 6000 /prometheus) and the executor (http 8000 /prometheus), each on its own container', () => {
    const out = synthValid(setup().chart);
    const pm = find(out, 'PodMonitor', 'iris');
    expect(pm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(pm.metadata.namespace).toBe(NS);
    const sdep = find(out, 'SeldonDeployment', 'iris');
    // Every predictor pod (main and canary) carries the selector's labels.
    for (const p of sdep.spec.predictors) expect(p.componentSpecs[0].metadata.labels).toMatchObject(pm.spec.selector.matchLabels);
    const eps = pm.spec.podMetricsEndpoints;
    expect(eps.map((e: any) => [e.port, e.path, e.relabelings[0].regex])).toEqual([
      ['metrics', PATHS.modelMetrics, 'model'],
      ['http', '/prometheus', SELDON_EXECUTOR_CONTAINER_NAME],
    ]);
    // The model container declares `metrics` on 6000 itself; the executor's `http` 8000 is the
    // operator's (seldon-core 1.17.1 declares http and metrics, both 8000, on it).
    expect(declaredPorts(sdep).get('model')).toContainEqual({ name: 'metrics', containerPort: SELDON_MODEL_METRICS_PORT, protocol: 'TCP' });
    expect(SELDON_EXECUTOR_HTTP_PORT).toBe(8000);
    for (const e of eps) {
      expect(e.relabelings[0]).toEqual({ action: 'keep', sourceLabels: ['__meta_kubernetes_pod_container_name'], regex: e.relabelings[0].regex });
      expect(e.relabelings).toContainEqual({ action: 'replace', targetLabel: 'deployment', replacement: 'iris' });
      expect(e.relabelings).toContainEqual({ action: 'replace', sourceLabels: ['__meta_kubernetes_pod_label_rmlops_cdk8s_predictor'], targetLabel: 'predictor' });
      expect(e.interval).toBe('30s');
      expect(e.scrapeTimeout).toBe('10s');
    }
  });

  test('the Seldon operator declares http and metrics on 8000 on the executor (the port the executor endpoint names)', () => {
    const src = path.join(ROOT, '..', 'shared', 'third_party', 'seldon-core-1.17.1.tar.gz');
    if (!fs.existsSync(src)) return; // the archive is checked in e2e/cluster too
    const { execFileSync } = require('child_process');
    const text = execFileSync('tar', ['-xzOf', src, '--wildcards', '*operator/controllers/seldondeployment_engine.go'], { encoding: 'utf8' });
    expect(text).toMatch(/ContainerPort: int32\(http_port\), Protocol: corev1\.ProtocolTCP, Name: constants\.HttpPortName/);
    expect(text).toMatch(/"--prometheus_path", getPrometheusPath\(mlDep\)/);
    expect(text).toMatch(/prometheusPath := "\/prometheus"/);
  });

  test('with payload logging, the sink\'s sink-metrics 9102 /metrics too', () => {
    const out = synthValid(setup({ payload: true }).chart);
    const eps = find(out, 'PodMonitor', 'iris').spec.podMetricsEndpoints;
    expect(eps[2]).toMatchObject({ port: PAYLOAD_SINK.metricsPortName, path: PAYLOAD_SINK.metricsPath });
    expect(eps[2].relabelings[0].regex).toBe(PAYLOAD_SINK.containerName);
    const ports = declaredPorts(find(out, 'SeldonDeployment', 'iris'));
    expect(ports.get(PAYLOAD_SINK.containerName)).toEqual([{ name: 'sink-metrics', containerPort: 9102, protocol: 'TCP' }]);
  });

  test('labels for the Prometheus selector, interval and timeout are props', () => {
    const out = synthValid(setup({ monitor: { labels: { release: 'prom' }, interval: '1m', scrapeTimeout: '20s' } }).chart);
    const pm = find(out, 'PodMonitor', 'iris');
    expect(pm.metadata.labels.release).toBe('prom');
    expect(pm.spec.podMetricsEndpoints.every((e: any) => e.interval === '1m' && e.scrapeTimeout === '20s')).toBe(true);
  });

  test.each([
    [{ interval: '30' }, /\[test\/iris\/PodMonitor\] interval = "30": is not a Prometheus duration/],
    [{ interval: '0s' }, /interval = "0s": must be longer than zero/],
    [{ interval: '10s', scrapeTimeout: '30s' }, /scrapeTimeout = "30s": is longer than interval "10s"/],
  ])('bad options fail at synth: %j', (monitor, message) => {
    expect(() => Testing.synth(setup({ monitor }).chart)).toThrow(message);
  });
});

describe('ModelAlertRules', () => {
  const exprs = (out: any[]) => Object.fromEntries(find(out, 'PrometheusRule', 'iris-alerts').spec.groups[0].rules.map((r: any) => [r.alert, r]));

  test('the alerts, their severities, and the model selected by namespace and deployment', () => {
    const { chart, rules } = setup();
    const out = synthValid(chart);
    const pr = find(out, 'PrometheusRule', 'iris-alerts');
    expect(pr.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(pr.spec.groups).toHaveLength(1);
    expect(pr.spec.groups[0].name).toBe('rmlops-iris');
    expect(rules.alerts).toEqual([
      'RmlopsModelErrorRatioHigh', 'RmlopsModelLatencyP99High', 'RmlopsModelFeatureDrift', 'RmlopsModelPredictionShift',
      'RmlopsModelMonitorStale', 'RmlopsModelWorkerRestarts',
    ]);
    for (const r of pr.spec.groups[0].rules) {
      expect(r.expr).toContain(`namespace="${NS}",deployment="iris"`);
      expect(['warning', 'critical']).toContain(r.labels.severity);
      expect(r.annotations.summary).toContain('{{ $labels.predictor }}');
    }
  });

  test('each alert reads the metric names of the contract (METRICS)', () => {
    const r = exprs(synthValid(setup().chart));
    expect(r.RmlopsModelErrorRatioHigh.expr).toContain(`${METRICS.modelRequests}{`);
    expect(r.RmlopsModelErrorRatioHigh.expr).toContain('code=~"5.."');
    expect(r.RmlopsModelLatencyP99High.expr).toContain(`histogram_quantile(0.99, sum by (namespace, deployment, predictor, le) (rate(${METRICS.modelRequestDuration}_bucket{`);
    expect(r.RmlopsModelFeatureDrift.expr).toContain(`${METRICS.monitorDriftAlarm}{`);
    expect(r.RmlopsModelFeatureDrift.expr).toMatch(/== 1$/);
    expect(r.RmlopsModelPredictionShift.expr).toContain(`${METRICS.monitorPredictionShift}{`);
    expect(r.RmlopsModelMonitorStale.expr).toMatch(new RegExp(`^time\\(\\) - max by \\(namespace, deployment, predictor\\) \\(${METRICS.monitorLastSuccess}\\{`));
    expect(r.RmlopsModelWorkerRestarts.expr).toContain(`increase(${METRICS.modelWorkerRestarts}{`);
  });

  test('thresholds and for: durations: defaults, and props', () => {
    let r = exprs(synthValid(setup().chart));
    expect(r.RmlopsModelErrorRatioHigh.expr).toMatch(/> 0\.05$/);
    expect(r.RmlopsModelErrorRatioHigh.for).toBe('5m');
    expect(r.RmlopsModelLatencyP99High.expr).toMatch(/> 1$/);
    expect(r.RmlopsModelLatencyP99High.for).toBe('10m');
    expect(r.RmlopsModelFeatureDrift.for).toBeUndefined();
    expect(r.RmlopsModelMonitorStale.expr).toMatch(/> 7200$/);
    expect(r.RmlopsModelWorkerRestarts.expr).toMatch(/\[15m\]\)\) > 0$/);
    r = exprs(synthValid(setup({
      alerts: {
        errorRatio: 0.01, errorRatioFor: '2m', latencyP99Seconds: 0.25, latencyFor: '1m', driftFor: '30m', predictionShiftPsi: 0.3,
        monitorStaleAfter: '1d', maxWorkerRestarts: 3, workerRestartsWindow: '1h', rateWindow: '10m', labels: { release: 'prom' },
      },
    }).chart));
    expect(r.RmlopsModelErrorRatioHigh.expr).toMatch(/\[10m\]\)\)\n.*\[10m\]\)\)\n\s+> 0\.01$/);
    expect(r.RmlopsModelErrorRatioHigh.for).toBe('2m');
    expect(r.RmlopsModelLatencyP99High.expr).toMatch(/> 0\.25$/);
    expect(r.RmlopsModelFeatureDrift.for).toBe('30m');
    expect(r.RmlopsModelPredictionShift.expr).toMatch(/> 0\.3$/);
    expect(r.RmlopsModelMonitorStale.expr).toMatch(/> 86400$/);
    expect(r.RmlopsModelWorkerRestarts.expr).toMatch(/\[1h\]\)\) > 3$/);
  });

  test('errors and latency count predictions (and feedback), never probes or metadata', () => {
    const r = exprs(synthValid(setup().chart));
    const routes = /route=~"([^"]+)"/.exec(r.RmlopsModelErrorRatioHigh.expr)![1].replace(/\\\\/g, '\\');
    const re = new RegExp(`^(?:${routes})$`);
    for (const p of [PATHS.modelPredict, PATHS.predictions, PATHS.feedback, PATHS.modelFeedback, '/v2/models/{model}/infer', '/v2/models/{model}/versions/{version}/infer']) {
      expect(re.test(p)).toBe(true);
    }
    for (const p of [PATHS.healthPing, PATHS.healthStatus, PATHS.v2Ready, PATHS.v2Live, '/v2/models/{model}/ready', 'other', '/api/v1x0/predictions']) {
      expect(re.test(p)).toBe(false);
    }
  });

  test('with payload logging, the sink\'s alerts on the names sink/main.go writes', () => {
    const { chart, rules } = setup({ payload: true });
    const r = exprs(synthValid(chart));
    expect(rules.alerts).toEqual(expect.arrayContaining([
      'RmlopsPayloadSinkSpoolFailures', 'RmlopsPayloadSinkUploadsFailing', 'RmlopsPayloadSinkBacklog', 'RmlopsPayloadSinkSpoolFilling',
    ]));
    expect(r.RmlopsPayloadSinkSpoolFailures.labels.severity).toBe('critical');
    expect(r.RmlopsPayloadSinkUploadsFailing.expr).toContain(`${PAYLOAD_SINK_METRICS.uploadRetries}{`);
    expect(r.RmlopsPayloadSinkUploadsFailing.expr).toContain(`unless sum by (namespace, deployment, predictor, pod) (increase(${PAYLOAD_SINK_METRICS.objectsUploaded}{`);
    expect(r.RmlopsPayloadSinkBacklog.expr).toMatch(/> 100$/);
    // Half of the 512Mi spool.
    expect(r.RmlopsPayloadSinkSpoolFilling.expr).toMatch(new RegExp(`${PAYLOAD_SINK_METRICS.spoolBytes}\\{.*> ${256 * 1024 * 1024}$`));
    const sink = fs.readFileSync(path.join(ROOT, 'sink', 'main.go'), 'utf8');
    for (const name of Object.values(PAYLOAD_SINK_METRICS)) expect(sink).toContain(`"${name}"`);
  });

  test('the R server writes the metric names the rules read (r/R/metrics.R)', () => {
    const src = fs.readFileSync(path.join(ROOT, 'r', 'R', 'metrics.R'), 'utf8');
    for (const name of [METRICS.modelRequests, `${METRICS.modelRequestDuration}_bucket`, METRICS.modelWorkerRestarts, METRICS.modelReady]) {
      expect(src).toContain(name);
    }
  });

  test.each([
    [{ errorRatio: 5 }, /\[test\/iris\/AlertRules\] errorRatio = 5: must be a share between 0 and 1/],
    [{ latencyP99Seconds: 0 }, /latencyP99Seconds = 0: must be a number above 0/],
    [{ errorRatioFor: '5 minutes' }, /errorRatioFor = "5 minutes": is not a Prometheus duration/],
    [{ monitorStaleAfter: '0' }, /monitorStaleAfter = "0": must be longer than zero/],
    [{ maxWorkerRestarts: 1.5 }, /maxWorkerRestarts = 1.5: must be a whole number/],
  ])('bad thresholds fail at synth: %j', (alerts, message) => {
    expect(() => Testing.synth(setup({ alerts: alerts as any }).chart)).toThrow(message);
  });

  test('the offline validator checks PodMonitor and PrometheusRule against the prometheus-operator 0.85.0 schemas', () => {
    const out = synthValid(setup({ payload: true }).chart);
    const pm = find(out, 'PodMonitor', 'iris');
    const pr = find(out, 'PrometheusRule', 'iris-alerts');
    expect(validateManifests([pm, pr])).toEqual([]);
    const bad = JSON.parse(JSON.stringify(pm));
    bad.spec.podMetricsEndpoints[0].prot = 'metrics';
    bad.spec.podMetricsEndpoints[1].interval = '30 seconds';
    const badRule = JSON.parse(JSON.stringify(pr));
    delete badRule.spec.groups[0].name;
    const errors = validateManifests([bad, badRule]).join('\n');
    expect(errors).toContain(`PodMonitor ${NS}/iris: spec.podMetricsEndpoints[0].prot: unknown field`);
    expect(errors).toContain(`PodMonitor ${NS}/iris: spec.podMetricsEndpoints[1].interval: must match pattern`);
    expect(errors).toContain(`PrometheusRule ${NS}/iris-alerts: spec.groups[0]: missing required field "name"`);
    expect(validateManifests([{ ...pm, apiVersion: 'monitoring.coreos.com/v1alpha1' }]).join('\n')).toContain('only monitoring.coreos.com/v1 is supported');
  });
});

describe('ModelDashboard', () => {
  test('a ConfigMap for Grafana\'s sidecar: one dashboard JSON whose panels query the model\'s series', () => {
    const { chart, model } = setup({ payload: true });
    const d = model.addDashboard();
    const out = synthValid(chart);
    const cm = find(out, 'ConfigMap', 'iris-dashboard');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(Object.keys(cm.data)).toEqual(['iris.json']);
    const dash = JSON.parse(cm.data['iris.json']);
    expect(dash.uid).toBe(`rmlops-${NS}-iris`);
    const exprs: string[] = dash.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
    expect(exprs).toEqual(d.queries);
    for (const e of exprs) expect(e).toContain(`namespace="${NS}",deployment="iris"`);
    for (const name of [METRICS.modelRequests, `${METRICS.modelRequestDuration}_bucket`, METRICS.modelReady, METRICS.modelWorkerRestarts,
      METRICS.monitorDrift, METRICS.monitorDriftAlarm, METRICS.monitorPredictionShift, METRICS.monitorPerformance, METRICS.monitorLastSuccess,
      METRICS.monitorWindowEvents, ...Object.values(PAYLOAD_SINK_METRICS).filter((n) => n !== PAYLOAD_SINK_METRICS.spoolBytes)]) {
      expect(exprs.some((e) => e.includes(`${name}{`))).toBe(true);
    }
    // Without payload logging, no sink panel.
    const plain = setup();
    const q = plain.model.addDashboard({ labels: { team: 'a' } });
    const cm2 = find(synthValid(plain.chart), 'ConfigMap', 'iris-dashboard');
    expect(cm2.metadata.labels.grafana_dashboard).toBeUndefined();
    expect(cm2.metadata.labels.team).toBe('a');
    expect(q.queries.some((e) => e.includes('rmlops_sink_'))).toBe(false);
  });
});

describe('the prometheus-operator bindings (scripts/gen-prometheus-operator.js)', () => {
  test('imports/ holds the bindings and validator generated from imports/crds (else run node scripts/gen-prometheus-operator.js)', () => {
    const res = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-prometheus-operator.js'), '--check'], { encoding: 'utf8' });
    expect(res.stderr).not.toMatch(/stale|Error/);
    expect(res.status).toBe(0);
  }, 60000);

  test('the CRDs are of the prometheus-operator release versions.json pins', () => {
    const pin = JSON.parse(fs.readFileSync(path.join(ROOT, 'versions.json'), 'utf8')).prometheusOperator.version;
    for (const p of ['podmonitors', 'servicemonitors', 'prometheusrules']) {
      const text = fs.readFileSync(path.join(ROOT, 'imports', 'crds', `monitoring.coreos.com_${p}.yaml`), 'utf8');
      expect(text).toContain(`operator.prometheus.io/version: ${pin.replace(/^v/, '')}\n`);
    }
  });

  test("Go's (?i) becomes a class of both cases per letter, which JavaScript's RegExp reads", () => {
    const { goPatterns } = require('../scripts/gen-prometheus-operator.js');
    const { pattern } = goPatterns({ pattern: '^(?i)(abort|warn)?$' });
    expect(pattern).toBe('^([aA][bB][oO][rR][tT]|[wW][aA][rR][nN])?$');
    const re = new RegExp(pattern);
    for (const ok of ['abort', 'WARN', 'Abort', '']) expect(re.test(ok)).toBe(true);
    expect(re.test('stop')).toBe(false);
    expect(() => goPatterns({ pattern: '^(?i)[a-z]$' })).toThrow(/cannot translate/);
  });
});
