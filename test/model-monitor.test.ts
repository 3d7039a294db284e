// ModelMonitor: the CronJob's three steps (fetch with mc, drift in R, upload with mc), the
// contract they share with R and with the payload sink, the sink wiring, bad input, and the fetch
// and upload scripts run by /bin/sh with an mc stand-in.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart, Size, Testing } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-28';
import {
  DEFAULT_MC_IMAGE, DEFAULT_R_TRAINING_IMAGE, ENV, MONITOR, MONITOR_CONTAINERS, MONITOR_ENV, MONITOR_METRICS_FILE, MONITOR_PAYLOAD_DIR,
  METRICS, MinioStore, MlflowServer, ModelMonitor, ModelMonitorProps, PAYLOAD_SINK, PayloadLogging, RTrainingJob, SINK_ENV, SeldonRModel,
} from '../lib';
import { NS, envOf, expectMountsResolve, expectRestricted, find, fixtureScript, newChart, synthValid } from './constructs-support';

interface Setup {
  readonly logging?: boolean;
  readonly canary?: boolean;
  readonly model?: string;
  readonly namespace?: string | null;
}

function setup(props: Partial<ModelMonitorProps> = {}, s: Setup = {}) {
  const chart = newChart(s.namespace === undefined ? NS : s.namespace);
  const minio = new MinioStore(chart, 'minio', { bucket: 'artifacts' });
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
  const train = new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: fixtureScript(), registeredModelName: 'iris' });
  const common = {
    model: s.model ?? train.model,
    tracking: mlflow,
    ...(s.logging === false ? {} : { payloadLogging: PayloadLogging.toBucket(minio) }),
  };
  const model = s.canary
    ? new SeldonRModel(chart, 'iris', { ...common, canary: { model: 'models:/iris@challenger', traffic: 10 }, ingress: 'istio' })
    : new SeldonRModel(chart, 'iris', common);
  const monitor = new ModelMonitor(chart, 'iris-monitor', { model, ...props });
  return { chart, minio, mlflow, model, monitor };
}

const podOf = (out: any[], name = 'iris-monitor') => find(out, 'CronJob', name).spec.jobTemplate.spec.template.spec;
const step = (pod: any, name: string) => [...pod.initContainers, ...pod.containers].find((c: any) => c.name === name);
const sinkOf = (out: any[], predictor = 0) => find(out, 'SeldonDeployment', 'iris').spec.predictors[predictor].componentSpecs[0].spec.containers
  .find((c: any) => c.name === PAYLOAD_SINK.containerName);

describe('ModelMonitor', () => {
  test('a CronJob: schedule, no overlapping runs, bounded history and run time', () => {
    const out = synthValid(setup().chart);
    const cj = find(out, 'CronJob', 'iris-monitor');
    expect(cj.metadata.namespace).toBe(NS);
    expect(cj.spec).toMatchObject({ schedule: '0 * * * *', concurrencyPolicy: 'Forbid', successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 3 });
    expect(cj.spec.jobTemplate.spec).toMatchObject({ activeDeadlineSeconds: 1800, backoffLimit: 1 });
    // R's configuration-error status (2) fails the Job at once.
    expect(cj.spec.jobTemplate.spec.podFailurePolicy.rules).toEqual([
      { action: 'FailJob', onExitCodes: { containerName: 'drift', operator: 'In', values: [2] }, onPodConditions: [] },
    ]);
    expect(cj.spec.jobTemplate.spec.template.spec.restartPolicy).toBe('Never');
  });

  test('three steps in order: fetch (mc), drift (R), upload (mc), on the pinned images', () => {
    const pod = podOf(synthValid(setup().chart));
    expect(pod.initContainers.map((c: any) => c.name)).toEqual([MONITOR_CONTAINERS.fetch, MONITOR_CONTAINERS.drift]);
    expect(pod.containers.map((c: any) => c.name)).toEqual([MONITOR_CONTAINERS.upload]);
    // The image the MinIO provisioning Job uses, pinned the same way.
    expect(DEFAULT_MC_IMAGE).toMatch(/^quay\.io\/minio\/mc:RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$/);
    expect(step(pod, 'fetch').image).toBe(DEFAULT_MC_IMAGE);
    expect(step(pod, 'upload').image).toBe(DEFAULT_MC_IMAGE);
    expect(step(pod, 'drift').image).toBe(DEFAULT_R_TRAINING_IMAGE);
    // monitor_main() returns the exit status; quit() makes it the container's.
    expect(step(pod, 'drift').command).toEqual(['Rscript', '-e', 'quit(status = rmlops::monitor_main(), save = "no")']);
    expect(step(pod, 'fetch').command.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expectRestricted('iris-monitor', c, pod);
      expectMountsResolve(c, pod);
      expect(c.volumeMounts).toContainEqual({ name: 'monitor', mountPath: MONITOR.payloadMount });
    }
  });

  test('the R step\'s environment is the contract: MONITOR_ENV with the R package\'s default thresholds, the model\'s MLflow env', () => {
    const pod = podOf(synthValid(setup().chart));
    expect(envOf(step(pod, 'drift'))).toEqual({
      [MONITOR_ENV.payloadDir]: `${MONITOR.payloadMount}/payloads`,
      [MONITOR_ENV.metricsFile]: `${MONITOR.payloadMount}/metrics.prom`,
      [MONITOR_ENV.windowSeconds]: '86400',
      [MONITOR_ENV.minRows]: '200',
      [MONITOR_ENV.psiThreshold]: '0.25',
      [MONITOR_ENV.ksThreshold]: '0.2',
      [MONITOR_ENV.chisqPThreshold]: '0.001',
      [MONITOR_ENV.deployment]: 'iris',
      [MONITOR_ENV.predictor]: 'default',
      [ENV.trackingUri]: `http://mlflow.${NS}.svc:5000`,
      [ENV.registeredModelName]: 'iris',
      [ENV.modelAlias]: 'champion',
      [ENV.mlflowWaitSeconds]: '120',
      [ENV.tmpDir]: '/tmp',
      HOME: '/tmp',
    });
    expect(MONITOR_PAYLOAD_DIR).toBe('/var/run/rmlops-monitor/payloads');
    expect(MONITOR_METRICS_FILE).toBe('/var/run/rmlops-monitor/metrics.prom');
  });

  test('keys follow the contract\'s layouts; credentials only by Secret reference', () => {
    const { chart, monitor } = setup();
    const out = synthValid(chart);
    const pod = podOf(out);
    expect(monitor.payloadFolder).toBe(`payloads/${NS}/iris/default`);
    expect(PAYLOAD_SINK.keyLayout.startsWith('<prefix>/<namespace>/<deployment>/<predictor>/')).toBe(true);
    expect(monitor.metricsKey).toBe(MONITOR.metricsKey.replace('<prefix>', 'payloads').replace('<namespace>', NS).replace('<deployment>', 'iris').replace('<predictor>', 'default'));
    const s3 = {
      S3_ENDPOINT: `http://minio.${NS}.svc:9000`,
      S3_BUCKET: 'artifacts',
      S3_ACCESS_KEY_ID: { secretKeyRef: { name: 'mlflow-s3', key: 'access-key-id' } },
      S3_SECRET_ACCESS_KEY: { secretKeyRef: { name: 'mlflow-s3', key: 'secret-access-key' } },
      HOME: '/tmp',
      MC_CONFIG_DIR: '/tmp/.mc',
    };
    expect(envOf(step(pod, 'fetch'))).toEqual({ PAYLOAD_FOLDER: monitor.payloadFolder, WINDOW_SECONDS: '86400', DEST: MONITOR_PAYLOAD_DIR, ...s3 });
    expect(envOf(step(pod, 'upload'))).toEqual({ METRICS_FILE: MONITOR_METRICS_FILE, METRICS_KEY: monitor.metricsKey, ...s3 });
    expect(JSON.stringify(find(out, 'CronJob', 'iris-monitor'))).not.toMatch(/SECRET_ACCESS_KEY","value"/);
  });

  test('the payload sink of the monitored predictor serves the figures: SINK_MONITOR_KEY is the monitor\'s key; the canary\'s sink is left alone', () => {
    const { chart, monitor } = setup({ sinkPollSeconds: 30 }, { canary: true });
    const out = synthValid(chart);
    const env = envOf(sinkOf(out, 0));
    expect(env[SINK_ENV.monitorKey]).toBe(monitor.metricsKey);
    expect(env[SINK_ENV.monitorPollSeconds]).toBe('30');
    expect(SINK_ENV.monitorKey).toBe('SINK_MONITOR_KEY');
    const canary = envOf(sinkOf(out, 1));
    expect(canary[SINK_ENV.monitorKey]).toBeUndefined();
  });

  test('a canary can have a monitor of its own', () => {
    const { chart, monitor } = setup({ predictor: 'canary' }, { canary: true });
    const out = synthValid(chart);
    expect(monitor.payloadFolder).toBe(`payloads/${NS}/iris/canary`);
    expect(envOf(step(podOf(out), 'drift'))).toMatchObject({ [ENV.modelAlias]: 'challenger', [MONITOR_ENV.predictor]: 'canary' });
    expect(envOf(sinkOf(out, 1))[SINK_ENV.monitorKey]).toBe(monitor.metricsKey);
    expect(envOf(sinkOf(out, 0))[SINK_ENV.monitorKey]).toBeUndefined();
  });

  test('NetworkPolicies admit the monitor pods to MinIO\'s S3 API and to MLflow', () => {
    const out = synthValid(setup().chart);
    const selector = { 'app.kubernetes.io/instance': 'iris-monitor', 'app.kubernetes.io/name': 'r-monitor' };
    for (const np of ['minio', 'mlflow']) {
      const from = find(out, 'NetworkPolicy', np).spec.ingress.flatMap((r: any) => r.from);
      expect({ np, admitted: from.some((f: any) => JSON.stringify(f.podSelector?.matchLabels) === JSON.stringify(selector)) }).toEqual({ np, admitted: true });
    }
    expect(find(out, 'CronJob', 'iris-monitor').spec.jobTemplate.spec.template.metadata.labels).toMatchObject(selector);
  });

  test('props: schedule, window, thresholds, Cpu/Size resources, pod settings', () => {
    const out = synthValid(setup({
      schedule: '*/15 * * * *', timeZone: 'Etc/UTC', windowSeconds: 3600, minRows: 50, psiThreshold: 0.25, ksThreshold: 0.1, chisqPThreshold: 0.001,
      resources: { cpuRequest: Cpu.millis(200), memoryLimit: Size.gibibytes(2) }, mcResources: { memoryLimit: '64Mi' }, payloadSize: '2Gi',
      activeDeadlineSeconds: 600, env: { R_MAX_VSIZE: '1Gb' }, nodeSelector: { pool: 'batch' },
    }).chart);
    const cj = find(out, 'CronJob', 'iris-monitor');
    expect(cj.spec).toMatchObject({ schedule: '*/15 * * * *', timeZone: 'Etc/UTC' });
    expect(cj.spec.jobTemplate.spec.activeDeadlineSeconds).toBe(600);
    const pod = podOf(out);
    expect(pod.nodeSelector).toEqual({ pool: 'batch' });
    const drift = step(pod, 'drift');
    expect(envOf(drift)).toMatchObject({
      [MONITOR_ENV.windowSeconds]: '3600', [MONITOR_ENV.minRows]: '50', [MONITOR_ENV.psiThreshold]: '0.25', [MONITOR_ENV.ksThreshold]: '0.1',
      [MONITOR_ENV.chisqPThreshold]: '0.001', R_MAX_VSIZE: '1Gb',
    });
    expect(envOf(step(pod, 'fetch')).WINDOW_SECONDS).toBe('3600');
    expect(drift.resources).toEqual({ requests: { 'cpu': '200m', 'memory': '256Mi', 'ephemeral-storage': '2Gi' }, limits: { memory: '2048Mi' } });
    expect(step(pod, 'upload').resources).toEqual({ requests: { cpu: '20m', memory: '32Mi' }, limits: { memory: '64Mi' } });
    expect(pod.volumes).toContainEqual({ name: 'monitor', emptyDir: { sizeLimit: '2Gi' } });
  });
});

describe('the payload sink serves only the monitor\'s families', () => {
  test('sink/monitor.go lists exactly METRICS.monitor*', () => {
    const src = fs.readFileSync(path.join(__dirname, '..', 'sink', 'monitor.go'), 'utf8');
    const block = /var monitorFamilies = \[\]string\{([^}]*)\}/.exec(src);
    expect(block).not.toBeNull();
    const go = [...block![1].matchAll(/"([a-z_]+)"/g)].map((m) => m[1]).sort();
    const ts = Object.entries(METRICS).filter(([k]) => k.startsWith('monitor')).map(([, v]) => v).sort();
    expect(ts.length).toBeGreaterThan(0);
    expect(go).toEqual(ts);
  });
});

describe('ModelMonitor bad input is reported at synth', () => {
  const lines = (chart: Chart): string[] => {
    try {
      Testing.synth(chart);
      return [];
    } catch (e) {
      return (e as Error).message.split('\n').map((l) => l.trim());
    }
  };

  test('a model without payload logging', () => {
    expect(lines(setup({}, { logging: false }).chart)).toContain(
      '[test/iris-monitor] model = "iris": does not log its payloads, so the monitor would have nothing to read. Fix: give the SeldonRModel `payloadLogging: PayloadLogging.toBucket(store)`');
  });

  test('a predictor the model does not have', () => {
    expect(lines(setup({ predictor: 'blue' }).chart)).toContain(
      '[test/iris-monitor] predictor = "blue": is not a predictor of "iris" (it has "default"). Fix: name one of them, or leave the prop out for the main predictor');
  });

  test('a model URI without a registered name and alias', () => {
    expect(lines(setup({}, { model: 'models:/iris/3' }).chart)).toContain(
      '[test/iris-monitor] model = "models:/iris/3": is what predictor "default" loads; the monitor needs a registered model and alias ("models:/<name>@<alias>") to find the version\'s training reference in MLflow. Fix: serve a training job\'s `model` (e.g. `train.model`)');
  });

  test('two monitors on one predictor', () => {
    const { chart, model } = setup();
    new ModelMonitor(chart, 'again', { model });
    expect(lines(chart)).toContain(
      '[test/again] predictor = "default": of "iris" already has a ModelMonitor, and its payload sink serves one set of figures. Fix: monitor each predictor once');
  });

  test('a chart without a namespace (the namespace is part of the keys)', () => {
    expect(lines(setup({}, { namespace: null }).chart)).toContain(
      '[test/iris-monitor] model = "iris": is in a chart without a namespace, and the namespace is part of the payload log\'s keys. Fix: give the chart a namespace: `new Chart(app, id, { namespace })`');
  });

  test('thresholds, window, schedule, images', () => {
    const got = lines(setup({
      psiThreshold: 0, ksThreshold: 1.5, chisqPThreshold: Number.NaN, windowSeconds: 10, schedule: 'hourly', mcImage: 'quay.io/minio/mc', minRows: 0,
    }).chart);
    expect(got).toEqual(expect.arrayContaining([
      '[test/iris-monitor] psiThreshold = 0: is not above 0. Fix: use a value such as 0.25',
      '[test/iris-monitor] ksThreshold = 1.5: is not between 0 and 1 (exclusive). Fix: use a value such as 0.2',
      expect.stringMatching(/^\[test\/iris-monitor\] chisqPThreshold = null: .*Fix: /),
      expect.stringMatching(/^\[test\/iris-monitor\] windowSeconds = 10: .*Fix: /),
      expect.stringMatching(/^\[test\/iris-monitor\] minRows = 0: .*Fix: /),
      expect.stringMatching(/^\[test\/iris-monitor\] schedule = "hourly": .*Fix: /),
      expect.stringMatching(/^\[test\/iris-monitor\] mcImage = "quay.io\/minio\/mc": .*Fix: /),
    ]));
  });
});

/**
 * The fetch and upload steps run by /bin/sh with a stand-in `mc` on PATH that records its calls
 * and answers `ls` from a listing. This checks which day folders are copied for a window; the
 * e2e figure (c) runs the same scripts against the real mc and MinIO.
 */
describe('ModelMonitor fetch and upload scripts (sh, mc stand-in)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86400000).toISOString().slice(0, 10);

  function run(container: 'fetch' | 'upload', listing: string[], env: Record<string, string> = {}, lsFails = false, lsRefused = 0) {
    const { chart } = setup({ windowSeconds: 2 * 86400 });
    const c = step(podOf(synthValid(chart)), container);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-monitor-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'listing'), listing.map((d) => `[2026-12-05 07:00:00 UTC]     0B ${d}/\n`).join(''));
    fs.writeFileSync(path.join(dir, 'mc'), [
      '#!/bin/sh',
      `echo "$*" >> "${dir}/calls"`,
      // The first `lsRefused` listings fail as a connection the network does not admit yet.
      `if [ "$1" = ls ] && [ "$(grep -c '^ls ' "${dir}/calls")" -le ${lsRefused} ]; then echo 'mc: <ERROR> Unable to list folder. dial tcp 10.96.0.9:9000: connect: connection refused' >&2; exit 1; fi`,
      `if [ "$1" = ls ]; then ${lsFails ? 'echo "mc: <ERROR> Access Denied." >&2; exit 1' : `cat "${dir}/listing"`}; fi`,
      // `mc cp --recursive --quiet <src>/<day>/ <dest>/`: one object per day copied.
      'if [ "$1" = cp ] && [ "$2" = --recursive ]; then d=$(basename "$4"); touch "$5/$d-0001.jsonl"; fi',
      'exit 0',
      '',
    ].join('\n'), { mode: 0o755 });
    const plain = Object.fromEntries(Object.entries(envOf(c)).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
    const r = spawnSync(c.command[0], c.command.slice(1), {
      env: { ...plain, PATH: `${dir}:${process.env.PATH}`, S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's', DEST: path.join(dir, 'payloads'), ...env },
      encoding: 'utf8', timeout: 20000,
    });
    const calls = fs.existsSync(path.join(dir, 'calls')) ? fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n') : [];
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, calls, dir };
  }

  test('fetch copies the day folders the window touches that exist, and nothing else', () => {
    const r = run('fetch', [day(-5), day(-1), day(0)]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.calls[0]).toBe(`alias set store http://minio.${NS}.svc:9000 k s --api S3v4 --path on`);
    expect(r.calls[1]).toBe(`ls store/artifacts/payloads/${NS}/iris/default/`);
    // The window is 2 days: today, yesterday and the day before could hold records; only two exist.
    const cps = r.calls.filter((c) => c.startsWith('cp '));
    expect(cps).toEqual([day(-1), day(0)].map((d) => `cp --recursive --quiet store/artifacts/payloads/${NS}/iris/default/${d}/ ${r.dir}/payloads/`));
    expect(fs.readdirSync(path.join(r.dir, 'payloads')).sort()).toEqual([`${day(-1)}-0001.jsonl`, `${day(0)}-0001.jsonl`]);
    expect(r.stdout).toMatch(/^fetch: 2 object\(s\) of /);
  });

  test('fetch with no payloads yet succeeds with an empty folder; an S3 error fails the step', () => {
    const empty = run('fetch', []);
    expect(empty.code).toBe(0);
    expect(fs.readdirSync(path.join(empty.dir, 'payloads'))).toEqual([]);
    const denied = run('fetch', [day(0)], {}, true);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('Access Denied');
    expect(denied.calls.filter((c) => c.startsWith('cp '))).toEqual([]);
  });

  test('fetch retries a refused connection (a new pod before the policy agent admits it), bounded; an S3 error is not retried', () => {
    const r = run('fetch', [day(0)], { HOME: os.tmpdir() }, false, 2);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.calls.filter((c) => c.startsWith('ls ')).length).toBe(3);
    expect(r.calls.filter((c) => c.startsWith('cp '))).toHaveLength(1);
    const denied = run('fetch', [day(0)], { HOME: os.tmpdir() }, true);
    expect(denied.calls.filter((c) => c.startsWith('ls ')).length).toBe(1);
  });

  test('upload puts the metrics file at the monitor\'s key with one cp', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-metrics-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'metrics.prom'), 'rmlops_monitor_window_events 5\n');
    const r = run('upload', [], { METRICS_FILE: path.join(dir, 'metrics.prom') });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.calls.slice(1)).toEqual([`cp --quiet ${dir}/metrics.prom store/artifacts/payloads/monitoring/${NS}/iris/default/metrics.prom`]);
  });
});
