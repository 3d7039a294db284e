'use strict';
// The pipeline of dist/ on loopback: MinIO, its provisioning Job with mc, MLflow, the training
// Jobs, the R model servers and Seldon's executor, each started from its own manifest.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { BIN, DIST, ROOT, executor, installCommand, missingComponents } = require('./env');
const { loadDist } = require('./manifests');
const { LocalCluster, freePort, portIsFree } = require('./local');
const { Proc, waitFor, request, sleep } = require('./procs');

const contract = JSON.parse(fs.readFileSync(path.join(ROOT, 'r', 'contract.json'), 'utf8'));
// The payload sink's part of the contract is not the R programs' business, so it is not in
// r/contract.json. In the repository it is read from lib/contract.ts itself (types stripped by
// scripts/register.js, which needs esbuild, a dev dependency); the installed package has neither,
// and reads its compiled build/lib/contract.js instead (`npx rmlops-cdk8s dev`).
const { PAYLOAD_SINK, SINK_ENV } = fs.existsSync(path.join(ROOT, 'lib', 'contract.ts'))
  ? (require('../../scripts/register'), require('../../lib/contract.ts'))
  : require('../../build/lib/contract.js');
contract.payloadSink = PAYLOAD_SINK;
contract.sinkEnv = SINK_ENV;
const envName = (key) => contract.env[key];
const containerEnv = (c, name) => ((c.env || []).find((e) => e.name === name) || {}).value;

// Upper bound on any Job here; the manifests' activeDeadlineSeconds apply when shorter.
const JOB_CAP_MS = 600000;

class Stack {
  constructor({ dist = DIST, echo = false, log = console.log, name = 'e2e' } = {}) {
    const missing = missingComponents();
    if (missing.length) throw new Error(`not installed: ${missing.join(', ')}: run \`${installCommand()}\``);
    this.manifests = loadDist(dist);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `rmlops-${name}-`));
    this.logDir = path.join(this.dir, 'logs');
    fs.mkdirSync(this.logDir);
    this.echo = echo;
    this.log = log;
    this.procs = [];
    this.cluster = new LocalCluster({ manifests: this.manifests, dir: this.dir, log });
    this.models = new Map(); // sdep name -> { proc, port }
    this.executors = new Map();
    this.sinks = new Map(); // sdep/predictor -> { proc, spec, eventsPort, metricsPort }
    this.inference = new Map(); // InferenceService name -> { proc, port, mode, metricsPort }
  }

  async init() {
    await this.cluster.init();
    return this;
  }

  track(proc) {
    this.procs.push(proc);
    return proc.start();
  }

  async spawnContainer(owner, podTemplate, containerName, opts = {}) {
    const spec = await this.cluster.container(owner, podTemplate, containerName, opts);
    const proc = new Proc(opts.name || spec.label.replace(/\//g, '-'), spec, { logDir: this.logDir, echo: this.echo });
    this.track(proc);
    return { proc, spec };
  }

  // Waits until the container's readiness probe (an httpGet in the manifest) answers 200.
  async ready(spec, proc, timeoutMs = 120000) {
    const probe = spec.container.readinessProbe && spec.container.readinessProbe.httpGet;
    if (!probe) throw new Error(`${spec.label} has no HTTP readiness probe to wait on`);
    const cp = typeof probe.port === 'number' ? probe.port : spec.container.ports.find((p) => p.name === probe.port).containerPort;
    const port = spec.ports[cp];
    await waitFor(`${spec.label} ready (GET ${probe.path} on 127.0.0.1:${port})`,
      async () => (await request(port, 'GET', probe.path, { timeoutMs: 3000 })).status === 200,
      { timeoutMs, intervalMs: 250, proc });
    return port;
  }

  // ---- MinIO --------------------------------------------------------------------------------
  async startArtifactStore() {
    const dep = this.manifests.artifactStore();
    const c = dep.spec.template.spec.containers[0];
    const { proc, spec } = await this.spawnContainer(dep, dep.spec.template, c.name, { name: 'minio' });
    this.minio = { proc, spec, dep, port: await this.ready(spec, proc) };
    return this.minio;
  }

  async stopArtifactStore(signal = 'SIGTERM') {
    if (this.minio) await this.minio.proc.stop({ signal });
  }

  minioEnv() {
    const env = this.minio.spec.env;
    return { user: env.MINIO_ROOT_USER, password: env.MINIO_ROOT_PASSWORD, port: this.minio.port };
  }

  // mc as root (or as `creds`) against the local MinIO, configured by env only (no config file).
  mc(args, { creds } = {}) {
    const { user, password, port } = this.minioEnv();
    const c = creds || { user, password };
    const res = spawnSync(path.join(BIN, 'mc'), ['--no-color', ...args], {
      encoding: 'utf8',
      timeout: 60000,
      env: {
        PATH: process.env.PATH,
        HOME: this.dir,
        MC_CONFIG_DIR: path.join(this.dir, 'mc-test'),
        MC_HOST_e2e: `http://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@127.0.0.1:${port}`,
      },
    });
    return { code: res.status, out: `${res.stdout}${res.stderr}`, stdout: res.stdout };
  }

  // ---- provisioning Job ---------------------------------------------------------------------
  async provision() {
    const results = [];
    for (const job of this.manifests.provisioningJobs()) results.push(await this.runJob(job));
    return results;
  }

  async runJob(job, opts = {}) {
    const c = opts.container || job.spec.template.spec.containers[0].name;
    const { proc, spec } = await this.spawnContainer(job, job.spec.template, c, opts);
    if (opts.onStart) await opts.onStart(proc);
    const deadline = Math.min(JOB_CAP_MS, (job.spec.activeDeadlineSeconds || 600) * 1000, opts.timeoutMs || Infinity);
    const code = await proc.wait(deadline);
    return { code, output: proc.output(), proc, spec };
  }

  // One pod of a Job or CronJob with init containers: each init container in order, each to
  // completion, then the (single) container, all on the same emptyDir folders. Stops at the first
  // failure, as the kubelet does with restartPolicy Never. Returns each step's code and output.
  async runPod(owner, podTemplate, { name = owner.metadata.name, env = {}, timeoutMs = JOB_CAP_MS } = {}) {
    const pod = `${name}-${Date.now()}`;
    const steps = [];
    const all = [...(podTemplate.spec.initContainers || []), ...podTemplate.spec.containers];
    for (const c of all) {
      const { proc } = await this.spawnContainer(owner, podTemplate, c.name, { name: `${name}-${c.name}`, pod, env: env[c.name] || {} });
      const code = await proc.wait(timeoutMs);
      steps.push({ name: c.name, code, output: proc.output() });
      if (code !== 0) break;
    }
    return { ok: steps.length === all.length && steps.every((s) => s.code === 0), steps };
  }

  // The Job a CronJob would create now, run once as one pod.
  async runCronJob(cronJob, opts = {}) {
    const spec = cronJob.spec.jobTemplate.spec;
    const timeoutMs = Math.min(JOB_CAP_MS, (spec.activeDeadlineSeconds || 600) * 1000);
    return this.runPod(cronJob, spec.template, { timeoutMs, ...opts });
  }

  // ---- MLflow -------------------------------------------------------------------------------
  async startTracking({ wait = true } = {}) {
    const dep = this.manifests.trackingServer();
    const c = dep.spec.template.spec.containers[0];
    const { proc, spec } = await this.spawnContainer(dep, dep.spec.template, c.name, { name: 'mlflow' });
    const svcPort = spec.ports[c.ports[0].containerPort];
    this.mlflow = { proc, spec, dep, port: svcPort };
    if (wait) await this.ready(spec, proc, 180000);
    return this.mlflow;
  }

  async mlflowApi(method, endpoint, { query, body } = {}) {
    const qs = query ? `?${new URLSearchParams(query)}` : '';
    const res = await request(this.mlflow.port, method, `/api/2.0/mlflow/${endpoint}${qs}`, { body, timeoutMs: 30000 });
    let json;
    try {
      json = JSON.parse(res.body || '{}');
    } catch {
      json = { raw: res.body };
    }
    return { status: res.status, json };
  }

  // ---- training -----------------------------------------------------------------------------
  trainingJobs() {
    return this.manifests.trainingJobs();
  }

  // What the training Job registers: name, alias, experiment (from its env, by contract names).
  trainingTarget(job) {
    const c = job.spec.template.spec.containers[0];
    return {
      experiment: containerEnv(c, envName('experimentName')),
      model: containerEnv(c, envName('registeredModelName')),
      alias: containerEnv(c, envName('modelAlias')),
      metric: containerEnv(c, envName('qualityMetric')),
      threshold: containerEnv(c, envName('qualityThreshold')),
      direction: containerEnv(c, envName('qualityDirection')),
    };
  }

  async train(job, opts = {}) {
    return this.runJob(job, { name: `train-${job.metadata.name}`, ...opts });
  }

  // ---- serving ------------------------------------------------------------------------------
  // The model container of a SeldonDeployment's predictor, with the env the Seldon operator
  // injects, listening where the executor will look for it.
  modelContainer(sdep, predictor) {
    const pred = predictor ? sdep.spec.predictors.find((p) => p.name === predictor) : sdep.spec.predictors[0];
    if (!pred) throw new Error(`SeldonDeployment ${sdep.metadata.name} has no predictor ${predictor}`);
    const comp = pred.componentSpecs[0];
    const c = comp.spec.containers.find((x) => x.name === pred.graph.name);
    if (!c) throw new Error(`SeldonDeployment ${sdep.metadata.name}: no container named like its graph node ${pred.graph.name}`);
    return { pred, comp, c };
  }

  // One model server per predictor, as the operator makes one Deployment per predictor.
  modelKey(sdep, predictor) {
    return `${sdep.metadata.name}/${this.modelContainer(sdep, predictor).pred.name}`;
  }

  async startModel(sdep, { port, env, wait = true, predictor } = {}) {
    const { pred, comp, c } = this.modelContainer(sdep, predictor);
    const http = (c.ports || []).find((p) => p.name === contract.modelPortName);
    const metrics = (c.ports || []).find((p) => p.name === 'metrics');
    const local = port || (await freePort());
    const ports = {};
    if (http) ports[http.containerPort] = local;
    const injected = {
      [envName('httpPort')]: local,
      PREDICTIVE_UNIT_SERVICE_PORT: local,
      PREDICTIVE_UNIT_ID: pred.graph.name,
      PREDICTOR_ID: pred.name,
      SELDON_DEPLOYMENT_ID: sdep.metadata.name,
    };
    if (metrics && envName('metricsPort')) {
      ports[metrics.containerPort] = await freePort();
      injected[envName('metricsPort')] = ports[metrics.containerPort];
      if (envName('metricsEndpoint')) injected[envName('metricsEndpoint')] = contract.paths.modelMetrics || '/prometheus';
    }
    const owner = { ...sdep, kind: 'SeldonDeployment' };
    const { proc, spec } = await this.spawnContainer(owner, comp, c.name, {
      name: `serve-${sdep.metadata.name}-${pred.name}`,
      label: `seldondeployment/${sdep.metadata.name}/${pred.name}/${c.name}`,
      ports,
      extraEnv: injected,
      extraEnvWhy: 'as the Seldon operator injects it:',
      env,
    });
    const entry = { proc, spec, port: local, sdep, predictor: pred.name };
    this.models.set(this.modelKey(sdep, pred.name), entry);
    if (wait) await this.ready(spec, proc, 180000);
    return entry;
  }

  async stopModel(sdep, { predictor } = {}) {
    const m = this.models.get(this.modelKey(sdep, predictor));
    if (m) await m.proc.stop();
  }

  // ---- KServe ---------------------------------------------------------------------------------
  // The kserve-container of an InferenceService's predictor (a custom predictor is a pod spec
  // inline), run with its own command and env plus what Knative and KServe inject. KServe makes
  // one Deployment (or Knative revision) of it; here one process.
  // opts.storageDir: where "KServe's storage initializer" put STORAGE_URI's files (the caller
  // downloads them); the env then names that folder, as KServe's webhook rewrites it to /mnt/models.
  async startInferenceService(isvc, { env = {}, wait = true, storageDir } = {}) {
    const pred = isvc.spec.predictor;
    const c = (pred.containers || []).find((x) => x.name === 'kserve-container');
    if (!c) throw new Error(`InferenceService ${isvc.metadata.name} has no kserve-container`);
    const annotations = isvc.metadata.annotations || {};
    const mode = { Serverless: 'Knative', RawDeployment: 'Standard' }[annotations['serving.kserve.io/deploymentMode']]
      || annotations['serving.kserve.io/deploymentMode'] || 'Knative';
    const http = (c.ports || [])[0];
    const local = await freePort();
    const ports = { [http ? http.containerPort : 8080]: local };
    const label = `inferenceservice/${isvc.metadata.name}/${c.name}`;
    // KServe sets INFERENCE_SERVICE_NAME on every predictor container; Knative sets PORT to the
    // container's port (here: its local stand-in) and refuses it from the user.
    const injected = { INFERENCE_SERVICE_NAME: isvc.metadata.name };
    if (mode === 'Knative') injected[envName('port')] = local;
    const overrides = { ...env };
    const manifestEnv = Object.fromEntries((c.env || []).map((e) => [e.name, e.value]));
    if (mode !== 'Knative' && manifestEnv[envName('port')] !== undefined) overrides[envName('port')] = local;
    // The R server's metrics port, as the Prometheus annotations name it, to a free local port.
    const metricsPort = annotations['prometheus.io/port'] || annotations['prometheus.kserve.io/port'];
    const metricsPath = annotations['prometheus.io/path'] || annotations['prometheus.kserve.io/path'];
    const metricsLocal = metricsPort ? await freePort() : undefined;
    if (metricsPort) {
      this.cluster.note(`${label}: metrics port ${metricsPort} (Prometheus annotation) -> 127.0.0.1:${metricsLocal}`);
      overrides[envName('metricsPort')] = metricsLocal;
    }
    const storage = manifestEnv[envName('storageUri')];
    if (storage !== undefined && storageDir) {
      this.cluster.note(`${label}: KServe's storage initializer downloads ${storage} into /mnt/models -> ${storageDir}`);
      overrides[envName('storageUri')] = storageDir;
    }
    const { proc, spec } = await this.spawnContainer(isvc, { metadata: { labels: pred.labels || {} }, spec: pred }, c.name, {
      name: `serve-isvc-${isvc.metadata.name}`,
      label,
      ports,
      extraEnv: injected,
      extraEnvWhy: mode === 'Knative' ? 'as Knative and KServe inject it:' : 'as KServe injects it:',
      env: overrides,
    });
    const entry = { proc, spec, port: local, isvc, mode, metricsPort: metricsLocal, metricsPath };
    this.inference.set(isvc.metadata.name, entry);
    if (wait) await this.ready(spec, proc, 180000);
    return entry;
  }

  // ---- Seldon's executor ----------------------------------------------------------------------
  // The predictor spec as the operator hands it to the executor: each graph node's endpoint
  // names the host and port of its container in the same pod.
  // A graph node's logger URL names a port on the pod's loopback (the payload sink): it goes to
  // that container's local stand-in, as every other port of the pod does.
  predictorForExecutor(sdep, predictor, modelPort) {
    const pred = JSON.parse(JSON.stringify(this.modelContainer(sdep, predictor).pred));
    const sink = this.sinks.get(this.modelKey(sdep, predictor));
    const fill = (node) => {
      node.endpoint = { ...(node.endpoint || {}), service_host: '127.0.0.1', service_port: modelPort, httpPort: modelPort, type: (node.endpoint && node.endpoint.type) || 'REST' };
      if (node.logger && node.logger.url) {
        const u = new URL(node.logger.url);
        const local = sink && ['localhost', '127.0.0.1'].includes(u.hostname) && Number(u.port) === sink.podEventsPort ? sink.eventsPort : undefined;
        if (!local) throw new Error(`graph node ${node.name}: logger url ${node.logger.url} names no container of this pod the harness started (start the payload sink first)`);
        const to = `http://127.0.0.1:${local}${u.pathname}`;
        this.cluster.note(`executor: graph node ${node.name} logger url ${node.logger.url} -> ${to} (the payload sink's local port)`);
        node.logger = { ...node.logger, url: to };
      }
      for (const ch of node.children || []) fill(ch);
    };
    if ((pred.graph.children || []).length) throw new Error('graphs with children are not mapped to local ports yet');
    fill(pred.graph);
    return pred;
  }

  async executorPorts() {
    const [http, grpc] = contract.executorPorts;
    if ((await portIsFree(http)) && (await portIsFree(grpc))) return { http, grpc };
    const other = { http: await freePort(), grpc: await freePort() };
    this.log(`[rewrite] executor ports ${http}/${grpc} are busy on this machine -> ${other.http}/${other.grpc}`);
    return other;
  }

  async startExecutor(sdep, { ports, predictor } = {}) {
    const ex = executor();
    if (!ex.path) throw new Error(`executor unavailable: ${ex.reason}`);
    const key = this.modelKey(sdep, predictor);
    const model = this.models.get(key);
    if (!model) throw new Error(`start the model of ${key} first`);
    const p = ports || (await this.executorPorts());
    // A graph that logs payloads posts them to the sink in its pod: started here from its
    // manifest, as the pod would run it, unless the caller started it (with its own env).
    const { pred: manifestPred } = this.modelContainer(sdep, predictor);
    if (manifestPred.graph.logger && !this.sinks.has(key)) await this.startPayloadSink(sdep, { predictor });
    const pred = this.predictorForExecutor(sdep, predictor, model.port);
    this.cluster.note(`executor ${key}: graph node ${pred.graph.name} endpoint -> service_host 127.0.0.1, httpPort ${model.port} (the operator fills these in)`);
    const spec = {
      label: `executor/${key}`,
      command: [ex.path, '--sdep', sdep.metadata.name, '--namespace', sdep.metadata.namespace, '--predictor', pred.name,
        '--http_port', String(p.http), '--grpc_port', String(p.grpc), '--protocol', sdep.spec.protocol || 'seldon',
        '--transport', sdep.spec.transport || 'rest'],
      env: {
        ENGINE_PREDICTOR: Buffer.from(JSON.stringify(pred)).toString('base64'),
        JAEGER_DISABLED: 'true',
        HOME: this.dir,
      },
      cwd: this.dir,
      pathDirs: [],
    };
    const proc = new Proc(`executor-${key.replace('/', '-')}`, spec, { logDir: this.logDir, echo: this.echo });
    this.track(proc);
    const entry = { proc, port: p.http, grpcPort: p.grpc };
    this.executors.set(key, entry);
    await waitFor(`executor ${key} ready (GET /ready on 127.0.0.1:${p.http})`,
      async () => (await request(p.http, 'GET', '/ready', { timeoutMs: 3000 })).status === 200,
      { timeoutMs: 60000, intervalMs: 250, proc });
    return entry;
  }

  // ---- the payload sink --------------------------------------------------------------------------
  // The sink container of a predictor's pod (payloadLogging), from its manifest. Its events port is
  // bound to the pod's loopback in the manifest (SINK_LISTEN 127.0.0.1:<port>) and its metrics on
  // all interfaces: both move to free local ports. The spool emptyDir is one folder for the life
  // of this "pod": restartPayloadSink starts the same container again on it, as the kubelet
  // restarts a container in place.
  async startPayloadSink(sdep, { predictor, env = {}, wait = true } = {}) {
    const { pred, comp } = this.modelContainer(sdep, predictor);
    const c = comp.spec.containers.find((x) => x.name === contract.payloadSink.containerName);
    if (!c) throw new Error(`SeldonDeployment ${sdep.metadata.name}/${pred.name} has no ${contract.payloadSink.containerName} container (payloadLogging unset?)`);
    const manifestEnv = Object.fromEntries((c.env || []).map((e) => [e.name, e.value]));
    const listen = manifestEnv[contract.sinkEnv.listen];
    const podEventsPort = Number(String(listen).split(':').pop());
    const eventsPort = await freePort();
    const metricsPort = await freePort();
    const owner = { ...sdep, kind: 'SeldonDeployment' };
    const label = `seldondeployment/${sdep.metadata.name}/${pred.name}/${c.name}`;
    this.cluster.note(`${label}: ${contract.sinkEnv.listen} ${listen} (the pod's loopback) -> 127.0.0.1:${eventsPort}`);
    const spec = await this.cluster.container(owner, comp, c.name, {
      label,
      ports: { [contract.payloadSink.metricsPort]: metricsPort },
      env: { [contract.sinkEnv.listen]: `127.0.0.1:${eventsPort}`, [contract.sinkEnv.metricsListen]: `127.0.0.1:${metricsPort}`, ...env },
    });
    const entry = { spec, eventsPort, metricsPort, podEventsPort, starts: 0 };
    this.sinks.set(this.modelKey(sdep, pred.name), entry);
    await this.runPayloadSink(entry, wait);
    return entry;
  }

  async runPayloadSink(entry, wait) {
    entry.starts++;
    entry.proc = new Proc(`payload-sink-${entry.starts}`, entry.spec, { logDir: this.logDir, echo: this.echo });
    this.track(entry.proc);
    if (wait) {
      await waitFor(`payload sink ready (GET ${contract.payloadSink.healthPath} on 127.0.0.1:${entry.metricsPort})`,
        async () => (await request(entry.metricsPort, 'GET', contract.payloadSink.healthPath, { timeoutMs: 3000 })).status === 200,
        { timeoutMs: 30000, intervalMs: 100, proc: entry.proc });
    }
    return entry;
  }

  // The same container again, on the same spool folder and ports.
  async restartPayloadSink(entry) {
    if (entry.proc && entry.proc.running) throw new Error('the payload sink is still running: stop or kill it first');
    return this.runPayloadSink(entry, true);
  }

  // ---- everything -----------------------------------------------------------------------------
  async up({ train = true, serve = true, executors = true } = {}) {
    await this.startArtifactStore();
    for (const r of await this.provision()) {
      if (r.code !== 0) throw new Error(`provisioning failed (${r.code}):\n${r.output}`);
    }
    await this.startTracking();
    if (train) {
      for (const job of this.trainingJobs()) {
        const r = await this.train(job);
        if (r.code !== 0) throw new Error(`training ${job.metadata.name} failed (${r.code}):\n${r.output.slice(-4000)}`);
      }
    }
    if (serve) {
      for (const sdep of this.manifests.seldonDeployments()) {
        for (const pred of sdep.spec.predictors) {
          await this.startModel(sdep, { predictor: pred.name });
          if (executors && executor().path) await this.startExecutor(sdep, { predictor: pred.name });
        }
      }
    }
    return this;
  }

  async down({ keep = false } = {}) {
    for (const p of [...this.procs].reverse()) {
      const t = Date.now();
      await p.stop({ graceMs: 10000 });
      if (Date.now() - t > 2000) this.log(`stopping ${p.name} took ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
    if (!keep && !process.env.RMLOPS_E2E_KEEP) fs.rmSync(this.dir, { recursive: true, force: true });
    else this.log(`kept ${this.dir}`);
  }
}

module.exports = { Stack, contract, sleep, request, waitFor };
