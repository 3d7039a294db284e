// The example app (main.ts) and the dist/ it synthesizes: order, determinism, security defaults,
// references that resolve, no credentials, and the atomic `npm run synth`.
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { buildApp, EXAMPLE_SCRIPTS, NAMESPACE, synth } from '../main';
import { ANNOTATIONS, ENV, MONITOR_ENV, orderedManifests, LABELS, PART_OF, PATHS, PAYLOAD_SINK, SINK_ENV } from '../lib';
import { containers, envOf, expectMountsResolve, expectRestricted, podSpecs } from './constructs-support';

const root = path.join(__dirname, '..');

function readDir(dir: string): Record<string, string> {
  return Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
}

function synthToTemp(): Record<string, string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-synth-'));
  try {
    synth(dir);
    return readDir(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('the example app: iris and mtcars', () => {
  const manifests = orderedManifests(buildApp());
  const objects = manifests.map((m) => m.object);

  test('snapshot of the whole app (the example scripts\' text and hash redacted: their owners edit them)', () => {
    const redacted = JSON.parse(JSON.stringify(manifests));
    for (const { object } of redacted) {
      if (object.kind === 'ConfigMap' && /-train-script$/.test(object.metadata.name)) {
        for (const key of Object.keys(object.data)) object.data[key] = '<the example script>';
      }
      const annotations = (object.spec?.template ?? object.spec?.jobTemplate?.spec?.template)?.metadata?.annotations;
      if (annotations?.[ANNOTATIONS.trainingScriptSha256]) annotations[ANNOTATIONS.trainingScriptSha256] = '<its sha256>';
    }
    expect(redacted).toMatchSnapshot();
  });

  test('iris and mtcars log their payloads and are monitored: each monitor uploads where its model\'s sink reads', () => {
    const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name) as any;
    for (const model of ['iris', 'mtcars']) {
      const sdep = find('SeldonDeployment', model);
      for (const p of sdep.spec.predictors) {
        expect({ model, predictor: p.name, logger: p.graph.logger?.url }).toEqual({ model, predictor: p.name, logger: `http://localhost:${PAYLOAD_SINK.eventsPort}/` });
      }
      const sink = sdep.spec.predictors[0].componentSpecs[0].spec.containers.find((c: any) => c.name === PAYLOAD_SINK.containerName);
      const pod = find('CronJob', `${model}-monitor`).spec.jobTemplate.spec.template.spec;
      const upload = envOf(pod.containers.find((c: any) => c.name === 'upload'));
      const drift = envOf(pod.initContainers.find((c: any) => c.name === 'drift'));
      expect(envOf(sink)[SINK_ENV.monitorKey]).toBe(`payloads/monitoring/${NAMESPACE}/${model}/default/metrics.prom`);
      expect(upload.METRICS_KEY).toBe(envOf(sink)[SINK_ENV.monitorKey]);
      expect(drift).toMatchObject({
        [ENV.registeredModelName]: model, [ENV.modelAlias]: 'champion', [MONITOR_ENV.deployment]: model, [MONITOR_ENV.predictor]: 'default',
      });
    }
  });

  test('iris speaks the Seldon protocol and mtcars the Open Inference Protocol v2, probes to match', () => {
    const sdep = (name: string) => objects.find((o) => o.kind === 'SeldonDeployment' && o.metadata.name === name) as any;
    const model = (name: string) => sdep(name).spec.predictors[0].componentSpecs[0].spec.containers[0];
    expect(sdep('iris').spec.protocol).toBe('seldon');
    expect(model('iris').readinessProbe.httpGet.path).toBe(PATHS.healthStatus);
    expect(sdep('mtcars').spec.protocol).toBe('v2');
    expect(model('mtcars').readinessProbe.httpGet.path).toBe('/v2/health/ready');
    expect(model('mtcars').livenessProbe.httpGet.path).toBe('/v2/health/live');
  });

  test('objects by kind', () => {
    const kinds: Record<string, number> = {};
    for (const o of objects) kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
    expect(kinds).toEqual({
      // NetworkPolicies: the namespace's default deny, MinIO, its provisioning Job, MLflow, three
      // training workloads, two models and their labelled clients, the promotion, and the two
      // drift monitors.
      Namespace: 1, ConfigMap: 6, PersistentVolumeClaim: 2, Service: 2, NetworkPolicy: 14,
      // CronJobs: the challenger's training, the promotion, and the two drift monitors.
      Deployment: 2, Job: 3, CronJob: 4, SeldonDeployment: 2,
      // Scrape, alert and a Grafana dashboard (a ConfigMap) per model (docs/monitoring.md).
      PodMonitor: 2, PrometheusRule: 2,
      // The promotion Job's identity: it may patch the iris SeldonDeployment, nothing else.
      ServiceAccount: 1, Role: 1, RoleBinding: 1,
    });
  });

  test('apply order: namespace first, scripts before their Jobs, store before its Job, MLflow before training, custom resources (Seldon, monitoring) last', () => {
    const files = manifests.map((m) => m.file);
    expect(files).toEqual([...files].sort());
    const at = (kind: string, name: string) => objects.findIndex((o) => o.kind === kind && o.metadata.name === name);
    expect(at('Namespace', NAMESPACE)).toBe(0);
    expect(at('PersistentVolumeClaim', 'minio-data')).toBeLessThan(at('Deployment', 'minio'));
    expect(at('Service', 'minio')).toBeLessThan(at('Job', 'minio-provision'));
    expect(at('Deployment', 'minio')).toBeLessThan(at('Job', 'minio-provision'));
    expect(at('Deployment', 'mlflow')).toBeLessThan(at('Job', 'iris-train'));
    expect(at('Deployment', 'mlflow')).toBeLessThan(at('Job', 'mtcars-train'));
    expect(at('ConfigMap', 'iris-train-script')).toBeLessThan(at('Job', 'iris-train'));
    expect(at('ConfigMap', 'mtcars-train-script')).toBeLessThan(at('Job', 'mtcars-train'));
    expect(objects.slice(-6).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'SeldonDeployment/iris', 'PodMonitor/iris', 'PrometheusRule/iris-alerts',
      'SeldonDeployment/mtcars', 'PodMonitor/mtcars', 'PrometheusRule/mtcars-alerts',
    ]);
  });

  test('everything but the Namespace is in the namespace and carries the recommended labels', () => {
    for (const o of objects.slice(1)) {
      expect(o.metadata.namespace).toBe(NAMESPACE);
      expect(o.metadata.labels[LABELS.partOf]).toBe(PART_OF);
      for (const key of [LABELS.name, LABELS.instance, LABELS.component, LABELS.managedBy]) expect(o.metadata.labels[key]).toBeDefined();
    }
    expect(objects[0].metadata.namespace).toBeUndefined();
  });

  test('names are explicit DNS labels, without hash suffixes', () => {
    for (const o of objects) {
      expect(o.metadata.name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
      expect(o.metadata.name.length).toBeLessThanOrEqual(63);
      expect(o.metadata.name).not.toMatch(/-c8[0-9a-f]{6}$/);
    }
  });

  test('every container: non-root, read-only root fs, no escalation, ALL dropped, seccomp, resources, pinned', () => {
    const all = containers(objects);
    // The challenger's and the promotion's CronJobs and the iris canary predictor included; the
    // payload sinks of the three predictors and the monitors' three steps each.
    expect(all).toHaveLength(19);
    for (const { owner, container, pod } of all) {
      expectRestricted(owner, container, pod, owner === 'CronJob/iris-promote' ? 'iris-promote' : undefined);
      expectMountsResolve(container, pod);
    }
  });

  test('every Service selects the pods of a workload in the app', () => {
    const pods = podSpecs(objects);
    for (const svc of objects.filter((o) => o.kind === 'Service')) {
      const selected = pods.filter((p) => Object.entries(svc.spec.selector).every(([k, v]) => p.labels[k] === v));
      expect({ svc: svc.metadata.name, selected: selected.length }).toEqual({ svc: svc.metadata.name, selected: 1 });
      const ports = selected[0].spec.containers.flatMap((c: any) => c.ports ?? []);
      for (const p of svc.spec.ports) expect(ports.some((cp: any) => cp.name === p.targetPort)).toBe(true);
    }
  });

  test('every NetworkPolicy selects pods and admits only pods that exist', () => {
    const pods = podSpecs(objects);
    const matches = (sel: Record<string, string>) => pods.filter((p) => Object.entries(sel).every(([k, v]) => p.labels[k] === v)).length;
    const predictorCount = (name: string) => objects.find((o) => o.kind === 'SeldonDeployment' && o.metadata.name === name)?.spec.predictors.length;
    for (const np of objects.filter((o) => o.kind === 'NetworkPolicy')) {
      // The default deny selects every pod of the namespace, and allows nothing.
      if (np.metadata.name === 'default-deny') {
        expect(np.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
        continue;
      }
      // A model's clients' policy selects the user's labelled pods, none of the app's.
      if (np.metadata.name.endsWith('-clients')) {
        expect(Object.keys(np.spec.podSelector.matchLabels)).toEqual([`client.rmlops.io/${np.metadata.name.replace(/-clients$/, '')}`]);
        expect(matches(np.spec.podSelector.matchLabels)).toBe(0);
      }
      // A model's policy covers all its predictors (iris: main and canary); the others one workload.
      else expect({ np: np.metadata.name, pods: matches(np.spec.podSelector.matchLabels) }).toEqual({ np: np.metadata.name, pods: predictorCount(np.metadata.name) ?? 1 });
      // Peers without a namespaceSelector are pods of the app, except a model's labelled clients
      // (the user's pods); a namespaceSelector admits pods outside the app (Istio's gateway,
      // monitoring, the DNS), an ipBlock an address outside the pods (the API server).
      for (const [dir, key] of [['ingress', 'from'], ['egress', 'to']] as const) {
        for (const rule of np.spec[dir] ?? []) {
          for (const peer of rule[key]) {
            if (peer.namespaceSelector || peer.ipBlock) continue;
            const clientLabel = Object.keys(peer.podSelector.matchLabels).every((k) => k.startsWith('client.rmlops.io/'));
            expect({ np: np.metadata.name, peer, pods: clientLabel ? 0 : matches(peer.podSelector.matchLabels) > 0 })
              .toEqual({ np: np.metadata.name, peer, pods: clientLabel ? 0 : true });
          }
        }
      }
    }
  });

  test('every PVC and ConfigMap a pod uses is in the app', () => {
    const pvcs = new Set(objects.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => o.metadata.name));
    const cms = new Set(objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name));
    const used = podSpecs(objects).flatMap((p) => p.spec.volumes ?? []);
    for (const v of used) {
      if (v.persistentVolumeClaim) expect(pvcs.has(v.persistentVolumeClaim.claimName)).toBe(true);
      if (v.configMap) expect(cms.has(v.configMap.name)).toBe(true);
    }
    expect([...pvcs].every((claim) => used.some((v) => v.persistentVolumeClaim?.claimName === claim))).toBe(true);
  });

  test('each model: its own script, Job, gate and SeldonDeployment; one MLflow admits all four pods', () => {
    const get = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
    const cases = [
      { model: 'iris', metric: 'accuracy', threshold: '0.9', direction: 'higher', replicas: 2 },
      // mtcars autoscales: the HorizontalPodAutoscaler owns the count.
      { model: 'mtcars', metric: 'rmse', threshold: '4', direction: 'lower', replicas: undefined },
    ] as const;
    for (const c of cases) {
      const script = fs.readFileSync(EXAMPLE_SCRIPTS[c.model], 'utf8');
      expect(get('ConfigMap', `${c.model}-train-script`).data).toEqual({ 'train.R': script });
      const job = get('Job', `${c.model}-train`);
      expect(job.spec.template.metadata.annotations[ANNOTATIONS.trainingScriptSha256])
        .toBe(createHash('sha256').update(fs.readFileSync(EXAMPLE_SCRIPTS[c.model])).digest('hex'));
      const container = job.spec.template.spec.containers[0];
      expect(container.command).toEqual(['Rscript', '/opt/rmlops/train.R']);
      expect(envOf(container)).toMatchObject({
        [ENV.registeredModelName]: c.model,
        [ENV.experimentName]: c.model,
        [ENV.qualityMetric]: c.metric,
        [ENV.qualityThreshold]: c.threshold,
        [ENV.qualityDirection]: c.direction,
        [ENV.trainingScript]: '/etc/rmlops/training/train.R',
      });
      expect(job.spec.template.spec.volumes).toContainEqual({ name: 'training-script', configMap: { name: `${c.model}-train-script`, defaultMode: 0o444 } });
      const sdep = get('SeldonDeployment', c.model);
      expect(sdep.metadata.namespace).toBe(NAMESPACE);
      const predictor = sdep.spec.predictors[0];
      expect(predictor.replicas).toBe(c.replicas);
      const model = predictor.componentSpecs[0].spec.containers[0];
      expect(model.command).toEqual(['Rscript', '/opt/rmlops/serve.R']);
      expect(envOf(model)[ENV.modelUri]).toBe(`models:/${c.model}@champion`);
    }
    const admitted = get('NetworkPolicy', 'mlflow').spec.ingress[0].from.map((p: any) => p.podSelector.matchLabels[LABELS.instance]);
    expect(admitted.sort()).toEqual(['iris', 'iris-challenger-train', 'iris-monitor', 'iris-promote', 'iris-train', 'mtcars', 'mtcars-monitor', 'mtcars-train']);
  });

  test('no credential values: no Secret objects, credentials only as secretKeyRef', () => {
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    for (const { container } of containers(objects)) {
      for (const e of container.env ?? []) {
        if (/PASSWORD|SECRET|ACCESS_KEY|TOKEN|USER$|BACKEND_STORE_URI/.test(e.name)) {
          expect({ name: e.name, value: e.value, ref: e.valueFrom?.secretKeyRef !== undefined }).toEqual({ name: e.name, value: undefined, ref: true });
        }
      }
    }
  });
});

describe('dist/', () => {
  test('synth is deterministic: twice gives byte-identical files', () => {
    expect(synthToTemp()).toEqual(synthToTemp());
  });

  test('the committed dist/ is up to date (run `npm run synth`)', () => {
    expect(readDir(path.join(root, 'dist'))).toEqual(synthToTemp());
  });

  test('every file holds one object that parses back', () => {
    for (const [file, text] of Object.entries(readDir(path.join(root, 'dist')))) {
      const docs = Yaml.load(path.join(root, 'dist', file));
      expect({ file, docs: docs.length }).toEqual({ file, docs: 1 });
      expect(text.endsWith('\n')).toBe(true);
    }
  });
});

describe('scripts/synth.js', () => {
  // A sandbox with the real scripts and library, so the test can break main.ts safely.
  let sandbox: string;
  beforeAll(() => {
    sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-synth-script-'));
    for (const d of ['node_modules', 'lib', 'imports', 'examples']) fs.symlinkSync(path.join(root, d), path.join(sandbox, d), 'dir');
    fs.mkdirSync(path.join(sandbox, 'scripts'));
    for (const f of ['synth.js', 'register.js']) fs.copyFileSync(path.join(root, 'scripts', f), path.join(sandbox, 'scripts', f));
    fs.copyFileSync(path.join(root, 'main.ts'), path.join(sandbox, 'main.ts'));
  });
  afterAll(() => fs.rmSync(sandbox, { recursive: true, force: true }));

  const run = () => spawnSync(process.execPath, ['scripts/synth.js'], { cwd: sandbox, encoding: 'utf8' });
  const leftovers = () => fs.readdirSync(sandbox).filter((f) => f.startsWith('.dist-tmp-'));

  test('writes dist/ equal to the committed one', () => {
    const r = run();
    expect(r.status).toBe(0);
    expect(readDir(path.join(sandbox, 'dist'))).toEqual(readDir(path.join(root, 'dist')));
    expect(leftovers()).toEqual([]);
  });

  test('on a validation error: exit 1, the error with path/value/fix, the old dist/ untouched', () => {
    const before = readDir(path.join(sandbox, 'dist'));
    const main = fs.readFileSync(path.join(root, 'main.ts'), 'utf8').replace('replicas: 2', 'replicas: -1');
    expect(main).toContain('replicas: -1');
    fs.writeFileSync(path.join(sandbox, 'main.ts'), main);
    const r = run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('[iris/iris] replicas = -1: is not a valid replica count');
    expect(r.stderr).toContain('Fix: use an integer such as 1');
    expect(readDir(path.join(sandbox, 'dist'))).toEqual(before);
    expect(leftovers()).toEqual([]);
  });

  test('recovers from a run killed between its two renames: dist/ comes back from .dist-tmp-<pid>-old/', () => {
    const good = fs.readFileSync(path.join(root, 'main.ts'), 'utf8');
    fs.writeFileSync(path.join(sandbox, 'main.ts'), good);
    expect(run().status).toBe(0);
    const before = readDir(path.join(sandbox, 'dist'));
    // What a run with a dead pid leaves behind: no dist/, its -old folder and its new output.
    const deadPid = 999999999;
    fs.renameSync(path.join(sandbox, 'dist'), path.join(sandbox, `.dist-tmp-${deadPid}-old`));
    fs.mkdirSync(path.join(sandbox, `.dist-tmp-${deadPid}`));
    fs.writeFileSync(path.join(sandbox, `.dist-tmp-${deadPid}`, 'partial.yaml'), 'kind: Partial\n');
    // A live run's temporary folder (this jest worker's pid) must be left alone.
    const live = path.join(sandbox, `.dist-tmp-${process.pid}`);
    fs.mkdirSync(live);
    // Make this synth fail, so what ends up in dist/ is only what recovery restored.
    fs.writeFileSync(path.join(sandbox, 'main.ts'), good.replace('replicas: 2', 'replicas: -1'));
    const r = run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`recovered dist/ from .dist-tmp-${deadPid}-old/`);
    expect(readDir(path.join(sandbox, 'dist'))).toEqual(before);
    expect(leftovers()).toEqual([`.dist-tmp-${process.pid}`]);
    fs.rmSync(live, { recursive: true, force: true });
    fs.writeFileSync(path.join(sandbox, 'main.ts'), good);
    expect(run().status).toBe(0);
    expect(leftovers()).toEqual([]);
  });

  test('temporary folders are git-ignored', () => {
    for (const dir of ['.dist-tmp-123/', '.dist-tmp-123-old/']) {
      const ignored = spawnSync('git', ['check-ignore', '-q', dir], { cwd: root, encoding: 'utf8' });
      expect({ dir, status: ignored.status, stderr: ignored.stderr }).toEqual({ dir, status: 0, stderr: '' });
    }
  });
});
