'use strict';
// npm run e2e:node, second tier: the README's cluster walkthrough on the real node, command for
// command (e2e/node/walkthrough.js reads the steps from README.md and runs them as written), with
// the project's images from scripts/real/install-images.sh, the Seldon operator in-cluster
// (`npm run node:up`, e2e/node/seldon.js) and the harness's hostPath volumes (`npm run
// node:volumes`). Between the steps, the checks of issue 20 §3 on the same pods: predictions equal
// to R's own predict(), metrics, the canary split, NetworkPolicies, Pod Security, read-only root
// filesystems, graceful termination, and the figures of §9 (lines starting `figure:`, collected by
// .ci/run's summary). The objects are found by what they are (kind and the app.kubernetes.io
// labels the constructs set), not by the example's names, except where the README names them.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { Node, binaries, imageArchives, ownImages } = require('./node');
const { loadDist } = require('../lib/manifests');
const { missingLeaves } = require('../cluster/manifests');
const { BIN, DIST } = require('../lib/env');
const { OPERATOR_IMAGE, NS: OPERATOR_NS } = require('./seldon');
const { readWalkthrough, Walkthrough } = require('./walkthrough');

const bins = binaries();
const images = bins.reason ? [] : imageArchives();
const dist = loadDist(DIST);
const objects = dist.docs;
const sdeps = dist.seldonDeployments();
const store = objects.filter((o) => (o.metadata.labels || {})['app.kubernetes.io/name'] === 'minio');
const storeDeploy = dist.artifactStore();
const provision = dist.provisioningJobs()[0];
const tracking = dist.trackingServer();
const training = dist.byComponent('Job', 'training');
const retraining = dist.byComponent('CronJob', 'training');
const need = [...new Set(objects.flatMap((o) => {
  const spec = o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec && o.spec.template && o.spec.template.spec;
  return spec ? spec.containers.map((c) => c.image) : [];
}))];
need.push(OPERATOR_IMAGE);
const missing = need.filter((ref) => !images.some((i) => i.ref === ref));
const reason = bins.reason || (missing.length ? `images not built: ${missing.join(', ')} (run scripts/real/install-images.sh)` : false);
if (reason && process.env.CI === 'true') {
  it('the node and the artifact store images exist (CI=true)', () => assert.fail(reason));
}

const ns = storeDeploy.metadata.namespace;
const OTHER = 'rmlops-node-outsider';
// The namespace the models' NetworkPolicies admit metrics scrapes from (SeldonRModel's default
// `scrapers`), where this scenario's scraper pod runs; created if missing, never deleted.
const SCRAPERS = 'monitoring';
const iris = sdeps.find((d) => d.metadata.name === 'iris');
const main = iris.spec.predictors[0];
// What admits a pod to iris's 8000 under the default deny: the label the model's policies name.
const IRIS_CLIENT = { 'client.rmlops.io/iris': 'true' };
const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
const canary = iris.spec.predictors.find((p) => p !== main && !p.shadow);
const MODEL = main.componentSpecs[0].spec.containers[0].name;
const FEATURES = ['Sepal.Length', 'Sepal.Width', 'Petal.Length', 'Petal.Width'];
const PREDICTIONS = '/api/v1.0/predictions';
const svcUrl = (predictor, port = 8000) => `http://${iris.metadata.name}-${predictor}.${ns}.svc.cluster.local:${port}`;
const body = (rows) => JSON.stringify({ data: { names: FEATURES, ndarray: rows } });
const ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]];
const secs = (ms) => (ms / 1000).toFixed(1);

// A client pod of the netcheck image (busybox), restricted, with the given labels.
function clientPod(name, namespace, labels) {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
      terminationGracePeriodSeconds: 1, automountServiceAccountToken: false,
      containers: [{ name: 'c', image: ownImages().netcheck, imagePullPolicy: 'Never', command: ['sleep', '3600'],
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '32Mi' } } }],
    },
  };
}

async function until(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

// A POST from this process through the walkthrough's port-forward (127.0.0.1 only).
function postLocal(port, payload, agent) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: PREDICTIONS, method: 'POST', agent, timeout: 10000,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];

describe('the README walkthrough on the real node, and what each step must have done', { skip: reason }, () => {
  const node = new Node();
  const walk = new Walkthrough(readWalkthrough(), { ...process.env, PATH: `${BIN}:${process.env.PATH}` });
  const log = (m) => process.stderr.write(`[walkthrough] ${m}\n`);
  let owned = false;
  let t0;
  let firstPrediction;
  const versions = {};

  const exec = (pod, cmd, { namespace = ns, container, timeoutMs = 120000 } = {}) =>
    node.kubectl(['-n', namespace, 'exec', pod, ...(container ? ['-c', container] : []), '--', ...cmd], { timeoutMs });
  // wget from a client pod; bounded by `timeout` (this busybox's wget -T crashes).
  const wget = (pod, url, { namespace = ns, post, seconds = 5 } = {}) => exec(pod, ['timeout', String(seconds), 'wget', '-q', '-O', '-',
    ...(post ? ['--header', 'Content-Type: application/json', `--post-data=${post}`] : []), url], { namespace });
  const running = async (selector) => (await node.getJson(['-n', ns, 'pods', '-l', selector])).items
    .filter((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp);
  const predictorPods = (p) => running(`seldon-deployment-id=${iris.metadata.name},seldon-app=${iris.metadata.name}-${p.name}`);

  before(() => {
    owned = node.running().length === 0;
  });

  after(async () => {
    walk.stop();
    if (owned) await node.down();
  });

  it('README step 1: `npm run node:up` starts the node and the Seldon operator; KUBECONFIG names its admin kubeconfig', async (t) => {
    const t1 = Date.now();
    await walk.run(1, { log });
    t.diagnostic(`node:up in ${secs(Date.now() - t1)} s`);
    assert.equal(walk.env.KUBECONFIG, node.kubeconfig);
    assert.ok(await node.ready(), 'the node is not Ready after npm run node:up');
    const op = await node.getJson(['-n', OPERATOR_NS, 'deploy', 'seldon-controller-manager']);
    assert.equal(op.status.readyReplicas, 1, 'the Seldon operator is not Ready after npm run node:up');
    // A node that kept its state from an earlier run (kine's database) still has that run's
    // objects: the walkthrough starts from a cluster without them, as a user's would.
    // Their pods go at once (a leftover, not a workload to drain: the operator's grace period is
    // 20 s), then the namespaces are waited for. One at a time: kubectl stops waiting at the first
    // one that is not found.
    const t2 = Date.now();
    for (const n of [ns, OTHER]) await node.kubectl(['delete', 'namespace', n, '--ignore-not-found', '--wait=false']);
    for (const n of [ns, OTHER]) await node.kubectl(['-n', n, 'delete', 'pods', '--all', '--grace-period=0', '--force', '--wait=false']);
    await node.kubectl(['-n', SCRAPERS, 'delete', 'pod', 'scraper', '--ignore-not-found', '--grace-period=0', '--force']);
    for (const n of [ns, OTHER]) await node.kubectlOk(['delete', 'namespace', n, '--ignore-not-found', '--wait=true', '--timeout=120s'], { timeoutMs: 150000 });
    t.diagnostic(`an earlier run's namespaces deleted in ${secs(Date.now() - t2)} s`);
  });

  it('README step 2: the namespace with its Pod Security labels, and the two credential Secrets', async () => {
    await walk.run(2, { log });
    const nsObj = objects.find((o) => o.kind === 'Namespace' && o.metadata.name === ns);
    const got = await node.getJson(['namespace', ns]);
    for (const [k, v] of Object.entries(nsObj.metadata.labels)) assert.equal(got.metadata.labels[k], v, k);
    for (const name of ['minio-root', 'mlflow-s3']) {
      const s = await node.getJson(['-n', ns, 'secret', name]);
      assert.ok(Object.keys(s.data).length === 2, `${name}: ${Object.keys(s.data)}`);
    }
  });

  it('README step 3: dist/ applied at once, SeldonDeployments included; each claim bound to a harness volume', async (t) => {
    t0 = Date.now();
    const out = await walk.run(3, { log });
    t.diagnostic(`apply: ${out.map((o) => `${o.text.split(' ').slice(0, 3).join(' ')} ${o.ms} ms`).join('; ')}`);
    // dist/'s PodMonitors and PrometheusRules are stored (step 1's node:up installed prometheus-operator's
    // CRDs; no Prometheus runs here, promtool proves the rules: scripts/rules-test.js).
    for (const o of objects.filter((x) => x.kind === 'PodMonitor' || x.kind === 'PrometheusRule')) {
      const resource = { PodMonitor: 'podmonitors', PrometheusRule: 'prometheusrules' }[o.kind];
      const got = await node.getJson([`${resource}.monitoring.coreos.com`, '-n', o.metadata.namespace, o.metadata.name]);
      assert.deepEqual(missingLeaves(o, got), [], `${o.kind} ${o.metadata.name} stored as written`);
    }
    // Client pods, made now so that they are Ready when needed: one with a training Job's labels
    // (MLflow admits it), one with the provisioning Job's, one with iris's model pods' labels (its
    // policy selects it: the model pods' egress), a labelled client of iris and an unlabelled pod
    // of the namespace (the default deny isolates both), one in another namespace (no policy
    // there), and a scraper in the scrapers' namespace.
    await node.kubectlOk(['create', 'namespace', OTHER]);
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SCRAPERS } }) });
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      clientPod('trainer-like', ns, training[0].spec.template.metadata.labels),
      clientPod('predict-client', ns, { app: 'predict-client', ...IRIS_CLIENT }),
      clientPod('unlabelled', ns, { app: 'unlabelled' }),
      clientPod('model-like', ns, main.componentSpecs[0].metadata.labels),
      clientPod('provisioner-like', ns, provision.spec.template.metadata.labels),
      clientPod('outsider', OTHER, { app: 'outsider' }),
      clientPod('scraper', SCRAPERS, { app: 'scraper' }),
    ] }) });
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/predict-client', '--timeout=60s'], { timeoutMs: 90000 });
    // The first prediction, from the moment of the apply: polled from the client pod by the
    // Service's DNS name, in the background, while the walkthrough waits for training.
    firstPrediction = exec('predict-client', ['timeout', '600', 'sh', '-c',
      `until timeout 3 wget -q -O - --header 'Content-Type: application/json' --post-data='${body(ROWS)}' ${svcUrl(main.name)}${PREDICTIONS}; do usleep 250000; done`],
    { timeoutMs: 620000 }).then((r) => ({ ...r, at: Date.now() }));
    const claims = objects.filter((o) => o.kind === 'PersistentVolumeClaim');
    assert.ok(claims.length >= 2, `dist/ has ${claims.length} claims`);
    await Promise.all(claims.map((c) => node.kubectlOk(['-n', ns, 'wait', '--for=jsonpath={.status.phase}=Bound', `pvc/${c.metadata.name}`, '--timeout=60s'], { timeoutMs: 90000 })));
    const pvs = (await node.getJson(['pv'])).items.filter((v) => v.spec.claimRef && v.spec.claimRef.namespace === ns);
    assert.equal(pvs.length, claims.length);
    assert.ok(pvs.every((v) => v.spec.hostPath), 'a claim is bound to a volume that is not the harness\'s');
  });

  it('MinIO becomes Ready through its probes, writing into its volume as the pod\'s user', async (t) => {
    await node.kubectlOk(['-n', ns, 'rollout', 'status', `deploy/${storeDeploy.metadata.name}`, '--timeout=180s'], { timeoutMs: 200000 });
    t.diagnostic(`apply to MinIO Ready: ${secs(Date.now() - t0)} s`);
    const claim = storeDeploy.spec.template.spec.volumes.find((v) => v.persistentVolumeClaim).persistentVolumeClaim.claimName;
    const pv = (await node.getJson(['pv'])).items.find((v) => v.spec.claimRef && v.spec.claimRef.namespace === ns && v.spec.claimRef.name === claim);
    const st = fs.statSync(pv.spec.hostPath.path);
    assert.equal(st.uid, storeDeploy.spec.template.spec.securityContext.runAsUser);
    assert.ok(fs.existsSync(path.join(pv.spec.hostPath.path, '.minio.sys')), 'MinIO wrote nothing into its volume');
  });

  it('README step 4: the bucket is provisioned, MLflow answers by its DNS name, training registers a version and moves the alias', async (t) => {
    await walk.run(4, { log });
    const logs = (await node.kubectlOk(['-n', ns, 'logs', `job/${provision.metadata.name}`])).stdout;
    const buckets = provision.spec.template.spec.containers[0].env.find((e) => e.name === 'BUCKETS').value.split(/\s+/);
    assert.match(logs, new RegExp(`provisioned buckets: ${buckets.join(' ')}`));
    const job = await node.getJson(['-n', ns, 'job', provision.metadata.name]);
    // The provisioning race (mc before MinIO answers) shows as failed pods before the success.
    t.diagnostic(`provisioning pods failed before success: ${job.status.failed || 0}`);
    t.diagnostic(`apply to MLflow Ready: ${secs(Date.now() - t0)} s (at most: step 4 waits for it after the bucket)`);
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === tracking.metadata.name);
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/trainer-like', '--timeout=60s'], { timeoutMs: 90000 });
    const health = await wget('trainer-like', `http://${svc.metadata.name}.${ns}.svc:${svc.spec.ports[0].port}/health`);
    assert.equal(health.code, 0, health.stderr);
    assert.match(health.stdout, /OK/);
    for (const j of training) {
      await node.kubectlOk(['-n', ns, 'wait', '--for=condition=complete', `job/${j.metadata.name}`, '--timeout=600s'], { timeoutMs: 620000 });
      const env = Object.fromEntries(j.spec.template.spec.containers[0].env.filter((e) => 'value' in e).map((e) => [e.name, e.value]));
      const mv = await aliasVersion(env);
      assert.equal(mv.name, env.MLFLOW_REGISTERED_MODEL_NAME);
      assert.ok(Number(mv.version) >= 1);
      versions[`${env.MLFLOW_REGISTERED_MODEL_NAME}@${env.MLFLOW_MODEL_ALIAS}`] = Number(mv.version);
    }
    t.diagnostic(`apply to every training Job complete: ${secs(Date.now() - t0)} s; aliases ${JSON.stringify(versions)}`);
  });

  // Asked of MLflow itself, from a pod its NetworkPolicy admits: the version an alias names.
  async function aliasVersion(env) {
    const q = `registered-models/alias?name=${env.MLFLOW_REGISTERED_MODEL_NAME}&alias=${env.MLFLOW_MODEL_ALIAS}`;
    const r = await wget('trainer-like', `${env.MLFLOW_TRACKING_URI}/api/2.0/mlflow/${q}`);
    assert.equal(r.code, 0, `${q}: ${r.stderr}`);
    const mv = JSON.parse(r.stdout).model_version;
    assert.ok((mv.aliases || []).includes(env.MLFLOW_MODEL_ALIAS), `${q}: ${r.stdout}`);
    return mv;
  }

  it('README step 5: the retraining CronJob, triggered once, completes and registers a new version under its alias', async (t) => {
    const t1 = Date.now();
    await walk.run(5, { log });
    t.diagnostic(`retraining Job complete in ${secs(Date.now() - t1)} s`);
    const cj = retraining.find((c) => c.spec.jobTemplate.spec.template.spec.containers[0].env.some((e) => e.name === 'MLFLOW_MODEL_ALIAS' && e.value === 'challenger'));
    assert.ok(cj, 'dist/ has no retraining CronJob for the challenger');
    const env = Object.fromEntries(cj.spec.jobTemplate.spec.template.spec.containers[0].env.filter((e) => 'value' in e).map((e) => [e.name, e.value]));
    const mv = await aliasVersion(env);
    const champion = versions[`${env.MLFLOW_REGISTERED_MODEL_NAME}@champion`];
    assert.ok(Number(mv.version) > champion, `@challenger is version ${mv.version}, not newer than @champion ${champion}`);
    versions[`${env.MLFLOW_REGISTERED_MODEL_NAME}@challenger`] = Number(mv.version);
  });

  it('README step 6: every predictor Ready (the canary too), the executor on 8000 and R on 9000, through their probes', async (t) => {
    await walk.run(6, { log });
    for (const sdep of sdeps) {
      for (const p of sdep.spec.predictors) {
        const model = p.componentSpecs[0].spec.containers[0].name;
        const deploy = `${sdep.metadata.name}-${p.name}-0-${model}`;
        const rollout = await node.kubectl(['-n', ns, 'rollout', 'status', `deploy/${deploy}`, '--timeout=180s'], { timeoutMs: 200000 });
        if (rollout.code !== 0) {
          const why = (await node.kubectl(['-n', ns, 'get', 'pods,events', '-o', 'wide'])).stdout.split('\n')
            .filter((l) => l.includes(deploy) || /FailedScheduling|Insufficient|BackOff|Unhealthy/.test(l)).slice(-15).join('\n');
          assert.fail(`${deploy} is not Ready after 180 s:\n${why}`);
        }
        const mine = (await running(`seldon-deployment-id=${sdep.metadata.name},seldon-app=${sdep.metadata.name}-${p.name}`));
        assert.ok(mine.length >= 1, `${deploy}: no running pod`);
        for (const pod of mine) {
          const byName = Object.fromEntries(pod.spec.containers.map((c) => [c.name, c]));
          const exec1 = byName['seldon-container-engine'];
          assert.ok(exec1, `no executor in ${pod.metadata.name}: ${Object.keys(byName)}`);
          assert.ok(exec1.ports.some((x) => x.containerPort === 8000), 'the executor does not own 8000');
          assert.ok(byName[model].ports.some((x) => x.containerPort === 9000), `the model ${model} is not on 9000`);
          for (const cs of pod.status.containerStatuses) assert.equal(cs.ready, true, `${cs.name} is not Ready`);
          // §9: R server pod start to Ready, from the pod's own status (second resolution).
          const ready = pod.status.conditions.find((c) => c.type === 'Ready');
          const started = Date.parse(pod.status.startTime);
          t.diagnostic(`figure: R pod start to Ready, applied with dist/ (waiting for its alias): ${secs(Date.parse(ready.lastTransitionTime) - started)} s (${pod.metadata.name}; ${pod.status.containerStatuses.map((c) => `${c.name} ${c.restartCount} restarts`).join(', ')})`);
        }
      }
    }
  });

  let forwarded;
  it('README step 7: predictions through the Service by port-forward; iris-default answers with the champion, iris-canary with the challenger', async (t) => {
    const out = await walk.run(7, { log });
    const [pf, first, pfCanary, second] = out;
    forwarded = { main: Number(/127\.0\.0\.1:(\d+)/.exec(pf.stdout)[1]), canary: Number(/127\.0\.0\.1:(\d+)/.exec(pfCanary.stdout)[1]) };
    const a = JSON.parse(first.stdout);
    assert.deepEqual(a.data.ndarray, ['setosa']);
    assert.equal(Number(a.meta.tags.model_version), versions['iris@champion']);
    const b = JSON.parse(second.stdout);
    assert.equal(Number(b.meta.tags.model_version), versions['iris@challenger']);
    const fp = await firstPrediction;
    assert.equal(fp.code, 0, fp.stderr);
    assert.deepEqual(JSON.parse(fp.stdout).data.ndarray, ['setosa', 'virginica']);
    t.diagnostic(`figure: kubectl apply to first prediction: ${secs(fp.at - t0)} s (polled every 0.25 s from a client pod by the Service DNS name)`);
  });

  it('predictions equal R\'s own predict() on the same model, through the port-forward and from a client pod by DNS name', async (t) => {
    // R in-process, in the model container (the image's R library), on the bundle MLflow serves
    // for the predictor's own MODEL_URI, downloaded afresh: predict(), not the server.
    const pod = (await predictorPods(main))[0];
    const script = [
      'suppressMessages(library(rmlops))',
      'client <- rmlops:::mlflow_client(Sys.getenv("MLFLOW_TRACKING_URI"), wait_seconds = 0)',
      'info <- rmlops:::materialise_model(Sys.getenv("MODEL_URI"), function() client, tempdir())',
      'b <- rmlops::read_bundle(info$dir)',
      'nd <- datasets::iris[c(1, 51, 71, 78, 84, 101, 107, 120, 130, 134, 135, 150), 1:4]',
      'p <- do.call(stats::predict, c(list(b$model, newdata = nd), b$predict_args))',
      'cat(sprintf("%s %s %s %s %s %s\\n", info$version, nd[[1]], nd[[2]], nd[[3]], nd[[4]], as.character(p)), sep = "")',
    ].join('; ');
    const r = await exec(pod.metadata.name, ['Rscript', '-e', script], { container: MODEL });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
    assert.equal(lines.length, 12, r.stdout);
    assert.ok(lines.every((l) => Number(l[0]) === versions['iris@champion']), `R loaded another version: ${r.stdout}`);
    const rows = lines.map((l) => l.slice(1, 5).map(Number));
    const expected = lines.map((l) => l[5]);
    const viaForward = await postLocal(forwarded.main, body(rows));
    assert.equal(viaForward.status, 200, viaForward.body);
    assert.deepEqual(JSON.parse(viaForward.body).data.ndarray, expected);
    const viaDns = await wget('predict-client', `${svcUrl(main.name)}${PREDICTIONS}`, { post: body(rows) });
    assert.equal(viaDns.code, 0, viaDns.stderr);
    assert.deepEqual(JSON.parse(viaDns.stdout).data.ndarray, expected);
    t.diagnostic(`R predict(): ${[...new Set(expected)].map((c) => `${c} ×${expected.filter((x) => x === c).length}`).join(', ')}; the same through both paths`);
  });

  it('figures: end-to-end p50 and p99 through the port-forward, the Service and the executor (500 requests); image sizes', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const payload = body([ROWS[0]]);
    const ms = [];
    for (let i = 0; i < 500; i++) {
      const t1 = process.hrtime.bigint();
      const r = await postLocal(forwarded.main, payload, agent);
      ms.push(Number(process.hrtime.bigint() - t1) / 1e6);
      assert.equal(r.status, 200, r.body);
    }
    agent.destroy();
    ms.sort((a, b) => a - b);
    t.diagnostic(`figure: end-to-end latency through port-forward, Service and executor to R: p50 ${quantile(ms, 0.5).toFixed(1)} ms, p99 ${quantile(ms, 0.99).toFixed(1)} ms (500 sequential requests, one row)`);
    // Every image of the project's build (the index's archives carry their size), the R serve
    // image and the executor included (they are named in the SeldonDeployments, not in a pod template).
    for (const img of images.filter((i) => Number.isFinite(i.bytes))) t.diagnostic(`figure: image ${img.ref} ${Math.round(img.bytes / 1e6)} MB`);
  });

  it('the canary split: what a client without an ingress gets from each Service the operator makes', async (t) => {
    // The operator (1.17.1, no Istio or Ambassador) makes one Service per predictor,
    // `<sdep>-<predictor>`, selecting that predictor's pods only, and writes the traffic weights
    // only into Istio VirtualServices or Ambassador Mappings: no Service spans the predictors.
    const svcs = (await node.getJson(['-n', ns, 'services'])).items.filter((x) => x.spec.selector);
    const pods = (await node.getJson(['-n', ns, 'pods', '-l', `seldon-deployment-id=${iris.metadata.name}`])).items;
    const reach = {};
    for (const svc of svcs) {
      const sel = Object.entries(svc.spec.selector);
      const hit = new Set(pods.filter((p) => sel.every(([k, v]) => (p.metadata.labels || {})[k] === v)).map((p) => p.metadata.labels['seldon-app']));
      if (hit.size) reach[svc.metadata.name] = [...hit].sort().join(' + ');
    }
    t.diagnostic(`Services reaching the ${iris.metadata.name} pods: ${JSON.stringify(reach)}`);
    assert.deepEqual(Object.entries(reach).filter(([, v]) => v.includes(' + ')), [], 'a Service selects more than one predictor');
    assert.equal(reach[`${iris.metadata.name}-${main.name}`], `${iris.metadata.name}-${main.name}`);
    assert.equal(reach[`${iris.metadata.name}-${canary.name}`], `${iris.metadata.name}-${canary.name}`);
    const N = 100;
    const count = async (predictor) => {
      const loop = `i=0; while [ $i -lt ${N} ]; do timeout 3 wget -q -O - --header 'Content-Type: application/json' --post-data='${body([ROWS[0]])}' ${svcUrl(predictor)}${PREDICTIONS}; echo; i=$((i+1)); done`;
      const r = await exec('predict-client', ['timeout', '120', 'sh', '-c', loop], { timeoutMs: 150000 });
      const tags = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l).meta.tags.model_version);
      const byVersion = {};
      for (const v of tags) byVersion[v] = (byVersion[v] || 0) + 1;
      return { answered: tags.length, byVersion };
    };
    const [d, c] = await Promise.all([count(main.name), count(canary.name)]);
    t.diagnostic(`figure: canary split seen by a plain client: ${iris.metadata.name}-${main.name} ${JSON.stringify(d.byVersion)}, ${iris.metadata.name}-${canary.name} ${JSON.stringify(c.byVersion)} of ${N} each (declared traffic ${main.traffic}/${canary.traffic}: enforced only by Istio or Ambassador)`);
    assert.deepEqual(d, { answered: N, byVersion: { [versions['iris@champion']]: N } });
    assert.deepEqual(c, { answered: N, byVersion: { [versions['iris@challenger']]: N } });
  });

  it('metrics: the R server\'s /prometheus on its metrics port and the executor\'s on 8000, scraped from a pod of the scrapers\' namespace on the pod IP, move with predictions', async (t) => {
    const pod = (await predictorPods(main))[0];
    const ip = pod.status.podIP;
    const model = pod.spec.containers.find((c) => c.name === MODEL);
    const metricsPort = model.ports.find((p) => p.name === 'metrics').containerPort;
    const ann = pod.metadata.annotations || {};
    assert.equal(ann['prometheus.io/scrape'], 'true', JSON.stringify(ann));
    const execPath = ann['prometheus.io/path'];
    assert.equal(execPath, '/prometheus');
    const scrape = async () => {
      const [m, e] = await Promise.all([
        wget('scraper', `http://${ip}:${metricsPort}/prometheus`, { namespace: SCRAPERS }), wget('scraper', `http://${ip}:8000${execPath}`, { namespace: SCRAPERS }),
      ]);
      assert.equal(m.code, 0, `R metrics: ${m.stderr}`);
      assert.equal(e.code, 0, `executor metrics: ${e.stderr}`);
      const sum = (text, re) => text.split('\n').filter((l) => re.test(l)).reduce((s, l) => s + Number(l.trim().split(/\s+/).pop()), 0);
      return {
        r: sum(m.stdout, /^rmlops_requests_total\{route="\/predict",code="200"\}/),
        executor: sum(e.stdout, /^seldon_api_executor_server_requests_seconds_count\{.*code="200"/),
      };
    };
    const before1 = await scrape();
    const n = 5;
    for (let i = 0; i < n; i++) {
      const r = await wget('predict-client', `http://${ip}:8000${PREDICTIONS}`, { post: body(ROWS) });
      assert.equal(r.code, 0, r.stderr);
    }
    // The R server records a request after answering it: the last one may lag a scrape by a moment.
    let after1;
    for (let i = 0; i < 10; i++) {
      after1 = await scrape();
      if (after1.r - before1.r >= n && after1.executor - before1.executor >= n) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    t.diagnostic(`${pod.metadata.name}: rmlops_requests_total{route="/predict",code="200"} ${before1.r} -> ${after1.r}; seldon_api_executor_server_requests_seconds_count{code="200"} ${before1.executor} -> ${after1.executor}`);
    assert.ok(after1.r - before1.r >= n, `the R server counted ${after1.r - before1.r} of ${n} predictions`);
    assert.ok(after1.executor - before1.executor >= n, `the executor counted ${after1.executor - before1.executor} of ${n} predictions`);
  });

  it('NetworkPolicies on the models, under the default deny: a labelled client predicts; an unlabelled pod of the namespace and another namespace are refused on 8000 and 9000; 9000 only from the executor', async () => {
    await node.kubectlOk(['-n', OTHER, 'wait', '--for=condition=Ready', 'pod/outsider', '--timeout=60s'], { timeoutMs: 90000 });
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/unlabelled', '--timeout=60s'], { timeoutMs: 90000 });
    assert.ok(policies.some((o) => o.metadata.name === 'default-deny' && Object.keys(o.spec.podSelector).length === 0), 'dist/ has no default deny');
    const pod = (await predictorPods(main))[0];
    const bypass = `http://${iris.metadata.name}-${main.name}-${MODEL}.${ns}.svc.cluster.local:9000`;
    // A prediction where 8000 is meant to answer (a 404 would not tell a refusal apart); the R
    // server's /health/ping on 9000, which it answers to whoever reaches it.
    const get = (from, url, namespace = ns) => wget(from, url, { namespace, seconds: 3, post: url.includes(':8000') ? body(ROWS) : undefined });
    const [ok, okSvc, svc9000, ip9000, bare8000, bareSvc, bare9000, out8000, out9000, outIp] = await Promise.all([
      get('predict-client', `http://${pod.status.podIP}:8000${PREDICTIONS}`),
      get('predict-client', `${svcUrl(main.name)}${PREDICTIONS}`),
      get('predict-client', `${bypass}/health/ping`),
      get('predict-client', `http://${pod.status.podIP}:9000/health/ping`),
      get('unlabelled', `http://${pod.status.podIP}:8000${PREDICTIONS}`),
      get('unlabelled', `${svcUrl(main.name)}${PREDICTIONS}`),
      get('unlabelled', `http://${pod.status.podIP}:9000/health/ping`),
      get('outsider', `${svcUrl(main.name)}${PREDICTIONS}`, OTHER),
      get('outsider', `http://${pod.status.podIP}:9000/health/ping`, OTHER),
      get('outsider', `http://${pod.status.podIP}:8000${PREDICTIONS}`, OTHER),
    ]);
    assert.equal(ok.code, 0, `8000 from a labelled client, by pod IP: ${ok.stderr}`);
    assert.equal(okSvc.code, 0, `8000 from a labelled client, by the Service's DNS name: ${okSvc.stderr}`);
    assert.notEqual(svc9000.code, 0, `the executor bypass ${bypass} answers a labelled client`);
    assert.notEqual(ip9000.code, 0, 'the R server\'s pod IP:9000 answers a labelled client');
    assert.notEqual(bare8000.code, 0, 'an unlabelled pod of the namespace reaches the executor on the pod IP');
    assert.notEqual(bareSvc.code, 0, 'an unlabelled pod of the namespace reaches the model\'s Service on 8000');
    assert.notEqual(bare9000.code, 0, 'an unlabelled pod of the namespace reaches the R server on 9000');
    assert.notEqual(out8000.code, 0, 'a pod of another namespace reaches the model\'s Service on 8000');
    assert.notEqual(out9000.code, 0, 'a pod of another namespace reaches the R server on 9000');
    assert.notEqual(outIp.code, 0, 'a pod of another namespace reaches the executor on the pod IP');
    // The executor itself still reaches R on 9000 (over the pod's loopback): the predictions above.
  });

  it('NetworkPolicies, egress: a model pod reaches DNS, MLflow and MinIO\'s S3 port (its payload sink), not another namespace\'s pod, not DNS\'s pod on another port', async (t) => {
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/model-like', '--timeout=60s'], { timeoutMs: 90000 });
    // A listener in another namespace (no policy there): busybox httpd in the outsider pod.
    await node.kubectlOk(['-n', OTHER, 'exec', 'outsider', '--', 'httpd', '-p', '8080', '-h', '/bin']);
    const outsider = await node.getJson(['-n', OTHER, 'pod', 'outsider']);
    const dns = (await node.getJson(['-n', 'kube-system', 'pods', '-l', 'k8s-app=kube-dns'])).items.find((p) => p.status.phase === 'Running');
    const mlflow = objects.find((o) => o.kind === 'Service' && o.metadata.name === tracking.metadata.name);
    const minioSvc = store.find((o) => o.kind === 'Service');
    const mlflowUrl = `http://${mlflow.metadata.name}.${ns}.svc:${mlflow.spec.ports[0].port}/health`;
    const minioUrl = `http://${minioSvc.metadata.name}.${ns}.svc:${minioSvc.spec.ports[0].port}/minio/health/live`;
    const otherUrl = `http://${outsider.status.podIP}:8080/busybox`;
    const dnsHealth = `http://${dns.status.podIP}:8080/health`;
    // Output to /dev/null: the outsider's httpd serves the busybox binary.
    const fetch = (from, url, namespace = ns) => exec(from, ['timeout', '4', 'wget', '-q', '-O', '/dev/null', url], { namespace });
    const [toMlflow, toMinio, toOther, toDnsHealth, ctlOther, ctlDnsHealth, ctlMinio, trainerMinio, provisionerConsole] = await Promise.all([
      fetch('model-like', mlflowUrl), fetch('model-like', minioUrl), fetch('model-like', otherUrl), fetch('model-like', dnsHealth),
      fetch('scraper', otherUrl, SCRAPERS), fetch('scraper', dnsHealth, SCRAPERS), fetch('provisioner-like', minioUrl),
      fetch('trainer-like', minioUrl),
      fetch('provisioner-like', `http://${minioSvc.metadata.name}.${ns}.svc:${minioSvc.spec.ports.find((p) => p.name === 'console').port}/`),
    ]);
    t.diagnostic(`model pod: MLflow ${toMlflow.code === 0 ? 'reached' : 'refused'}, MinIO ${toMinio.code === 0 ? 'reached' : 'refused'}, another namespace's pod ${toOther.code === 0 ? 'reached' : 'refused'}, CoreDNS's 8080 ${toDnsHealth.code === 0 ? 'reached' : 'refused'}; training pod to MinIO ${trainerMinio.code === 0 ? 'reached' : 'refused'}; the provisioner to MinIO's console ${provisionerConsole.code === 0 ? 'reached' : 'refused'}`);
    // Name resolution and MLflow pass (the model pods' wiring) ...
    assert.equal(toMlflow.code, 0, `a model pod cannot reach MLflow by name: ${toMlflow.stderr}`);
    // ... and what is not wired is refused, while the same URLs answer from a pod they allow.
    assert.equal(ctlMinio.code, 0, `MinIO does not answer the provisioner: ${ctlMinio.stderr}`);
    // dist/'s models log payloads: the sink in their pods uploads to MinIO's S3 port.
    assert.equal(toMinio.code, 0, `a model pod (payload logging) cannot reach MinIO's S3 port: ${toMinio.stderr}`);
    assert.notEqual(trainerMinio.code, 0, 'a training pod reaches MinIO (it has MLflow\'s artifact proxy)');
    assert.equal(ctlOther.code, 0, `the outsider's listener does not answer a pod of no policy: ${ctlOther.stderr}`);
    assert.notEqual(toOther.code, 0, 'a model pod reaches a pod of another namespace');
    assert.equal(ctlDnsHealth.code, 0, `CoreDNS's health port does not answer a pod of no policy: ${ctlDnsHealth.stderr}`);
    assert.notEqual(toDnsHealth.code, 0, 'a model pod reaches the DNS pod on a port other than 53');
    assert.notEqual(provisionerConsole.code, 0, 'the provisioner reaches MinIO\'s console port (only 9000 is allowed)');
  });

  it('Pod Security: the namespace\'s enforce level refuses a violating pod at admission, and admitted every pod of dist/ and of the operator', async (t) => {
    const level = objects.find((o) => o.kind === 'Namespace' && o.metadata.name === ns).metadata.labels['pod-security.kubernetes.io/enforce'];
    const bad = clientPod('privileged', ns, { app: 'privileged' });
    // A capability beyond the default set: refused by "baseline". (Not `privileged`: this API
    // server refuses that for every namespace, --allow-privileged=false, before Pod Security.)
    bad.spec.containers[0].securityContext = { ...bad.spec.containers[0].securityContext, capabilities: { add: ['NET_ADMIN'] } };
    const r = await node.kubectl(['apply', '-f', '-'], { input: JSON.stringify(bad) });
    assert.notEqual(r.code, 0, 'a privileged pod was admitted');
    assert.match(r.stderr, new RegExp(`violates PodSecurity "${level}:`));
    // Every controller of the namespace has its pods: none was refused by Pod Security.
    const events = (await node.getJson(['-n', ns, 'events'])).items.filter((e) => /PodSecurity/.test(e.message || ''));
    assert.deepEqual(events.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}: ${e.message}`), []);
    const deploys = (await node.getJson(['-n', ns, 'deployments'])).items;
    for (const d of deploys) assert.ok((d.status.readyReplicas || 0) >= 1, `${d.metadata.name}: no ready pod`);
    assert.ok(deploys.some((d) => d.metadata.labels && d.metadata.labels['seldon-deployment-id']), 'no operator-made Deployment');
    // Every Job the walkthrough made (dist/'s, and the CronJob runs it triggered: kubectl marks
    // those `instantiate: manual`) succeeded. A run that crosses the hour also gets iris-monitor's
    // scheduled Job, which may still be running, or failed: before the alias exists the monitor
    // exits 1 by design (r/R/monitor.R). Of that one, only that Pod Security admitted its pods.
    const scheduled = (j) => (j.metadata.ownerReferences || []).some((o) => o.kind === 'CronJob')
      && !(j.metadata.annotations || {})['cronjob.kubernetes.io/instantiate'];
    const started = (j) => (j.status.active || 0) + (j.status.succeeded || 0) + (j.status.failed || 0) >= 1;
    const jobs = (await node.getJson(['-n', ns, 'jobs'])).items;
    for (const j of jobs.filter((x) => !scheduled(x))) assert.ok((j.status.succeeded || 0) >= 1, `${j.metadata.name}: not succeeded`);
    for (const j of jobs.filter(scheduled)) {
      // A Job made a moment ago has no pod yet: its controller's first sync is bounded.
      let job = j;
      await until(`${j.metadata.name} (made by its CronJob's schedule): a pod`,
        async () => started(job) || started(job = await node.getJson(['-n', ns, 'job', j.metadata.name])), 60000);
      t.diagnostic(`${j.metadata.name}: made by its CronJob's schedule during the run; its pods were admitted (active ${job.status.active || 0}, succeeded ${job.status.succeeded || 0}, failed ${job.status.failed || 0})`);
    }
  });

  it('read-only root filesystems and non-root users hold at runtime in every container of the namespace; the training Jobs ran so', async (t) => {
    const pods = (await node.getJson(['-n', ns, 'pods'])).items.filter((p) => !p.metadata.deletionTimestamp);
    const tasks = node.ctr(['-n', 'k8s.io', 'tasks', 'ls']).split('\n');
    const seen = new Set();
    for (const pod of pods.filter((p) => p.status.phase === 'Running' && !p.metadata.name.match(/^(trainer|predict-client|provisioner)-?/))) {
      for (const cs of pod.status.containerStatuses) {
        const spec = pod.spec.containers.find((c) => c.name === cs.name);
        // Every container dist/ declares has a read-only root; the executor is the operator's
        // (svcOrchSpec has no securityContext: see docs/real-node.md), checked for its user only.
        const declared = (spec.securityContext || {}).readOnlyRootFilesystem === true;
        if (cs.name !== 'seldon-container-engine') assert.equal(declared, true, `${pod.metadata.name}/${cs.name}`);
        // Asked of the runtime, not of the image: the container's task, then that process's
        // user and root mount on the node.
        const id = cs.containerID.replace(/^containerd:\/\//, '');
        const task = tasks.find((l) => l.startsWith(id));
        assert.ok(task, `no task for ${pod.metadata.name}/${cs.name}`);
        const pid = task.split(/\s+/)[1];
        const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        const uid = Number(status.match(/^Uid:\s+(\d+)/m)[1]);
        assert.notEqual(uid, 0, `${pod.metadata.name}/${cs.name} runs as root`);
        assert.match(status, /^CapEff:\s+0+$/m, `${pod.metadata.name}/${cs.name} has effective capabilities`);
        const root = fs.readFileSync(`/proc/${pid}/mounts`, 'utf8').split('\n').find((l) => l.split(' ')[1] === '/');
        const ro = /\sro[,\s]/.test(root);
        if (declared) assert.ok(ro, `${pod.metadata.name}/${cs.name}: / is not read-only`);
        seen.add(`${cs.name} uid ${uid} ${ro ? 'ro' : 'RW'}`);
      }
    }
    // A write attempt where the image has a shell: the R server.
    const pod = (await predictorPods(main))[0];
    const w = await exec(pod.metadata.name, ['/bin/sh', '-c', 'echo x > /probe'], { container: MODEL });
    assert.notEqual(w.code, 0);
    assert.match(w.stderr, /Read-only file system/);
    t.diagnostic(`running containers checked: ${[...seen].sort().join('; ')}`);
    // The training Jobs' pods (completed): the same settings, and they succeeded with them.
    const trainPods = (await node.getJson(['-n', ns, 'pods', '-l', 'app.kubernetes.io/component=training'])).items.filter((p) => p.status.phase === 'Succeeded');
    assert.ok(trainPods.length >= training.length + 1, `${trainPods.length} succeeded training pods`);
    for (const p of trainPods) {
      const c = p.spec.containers[0];
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, p.metadata.name);
      assert.ok((c.securityContext.runAsUser ?? p.spec.securityContext.runAsUser) > 0, p.metadata.name);
      assert.equal(p.status.containerStatuses[0].state.terminated.exitCode, 0);
    }
  });

  it('graceful termination through the operator\'s preStop: a model pod deleted under load; the preStop holds it, the executor\'s refusals are counted and bounded', async (t) => {
    const pods = await predictorPods(main);
    assert.ok(pods.length >= 2, `${pods.length} champion pods: the load needs another one to go to`);
    const victim = pods[0];
    const model = victim.spec.containers.find((c) => c.name === MODEL);
    assert.deepEqual(model.lifecycle.preStop.exec.command, ['/bin/sh', '-c', '/bin/sleep 10'], 'the operator\'s preStop');
    // Bounded: at most 400 requests in 16 s, about 20 per second, by the Service's DNS name.
    const loop = `n=0; f=0; s=$(date +%s); while [ $n -lt 400 ] && [ $(( $(date +%s) - s )) -lt 16 ]; do
      timeout 3 wget -q -O /dev/null --header 'Content-Type: application/json' --post-data='${body([ROWS[0]])}' ${svcUrl(main.name)}${PREDICTIONS} || f=$((f+1)); n=$((n+1)); usleep 40000; done; echo "$n $f"`;
    const load = exec('predict-client', ['timeout', '30', 'sh', '-c', loop], { timeoutMs: 40000 });
    await new Promise((r) => setTimeout(r, 2000));
    const t1 = Date.now();
    await node.kubectlOk(['-n', ns, 'delete', 'pod', victim.metadata.name, '--wait=true', '--timeout=60s'], { timeoutMs: 90000 });
    const gone = Date.now() - t1;
    const r = await load;
    assert.equal(r.code, 0, r.stderr);
    const [n, failed] = r.stdout.trim().split(' ').map(Number);
    t.diagnostic(`figure: graceful termination: ${failed} of ${n} requests failed while ${victim.metadata.name} terminated (deleted in ${secs(gone)} s)`);
    const ev = (await node.getJson(['-n', ns, 'events', '--field-selector', `involvedObject.name=${victim.metadata.name}`])).items;
    assert.deepEqual(ev.filter((e) => e.reason === 'FailedPreStopHook').map((e) => e.message), []);
    // The preStop (sleep 10) ran: the model container outlived the deletion by its length.
    assert.ok(gone >= 10000, `the pod was gone ${gone} ms after the delete: the preStop did not hold it`);
    assert.ok(n >= 100, `only ${n} requests were sent`);
    // Not 0: the operator gives the executor no preStop and its shutdown_delay is 0, so it closes
    // its listener at SIGTERM while kube-proxy is still removing the pod's endpoint (iptables,
    // synced at most once a second); a new connection in that window is refused. The operator
    // lets a SeldonDeployment set neither (svcOrchSpec: resources, env, replicas): see
    // docs/real-node.md, "Graceful termination". The R container's preStop holds it for 10 s,
    // so no request the executor accepted is lost; the refused ones are bounded here.
    assert.ok(failed <= Math.ceil(n * 0.05), `${failed} of ${n} requests failed while a model pod terminated`);
    await node.kubectlOk(['-n', ns, 'rollout', 'status', `deploy/${iris.metadata.name}-${main.name}-0-${MODEL}`, '--timeout=180s'], { timeoutMs: 200000 });
  });

  it('README step 8: the promotion CronJob, triggered once, moves iris@champion, and the rolled champion pods serve that version', async (t) => {
    const t1 = Date.now();
    const out = await walk.run(8, { log });
    const logs = out.find((o) => /logs job\//.test(o.text));
    t.diagnostic(`promotion and roll in ${secs(Date.now() - t1)} s: ${logs.stdout.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`);
    // The promotion reached the API server through its narrowed egress rule: the patched policy.
    const np = await node.getJson(['-n', ns, 'networkpolicy', 'iris-promote']);
    t.diagnostic(`iris-promote's egress to the API server: ${JSON.stringify(np.spec.egress[2])}`);
    // Right after the roll, the old pods' executors may still refuse a new connection (see the
    // graceful termination above): asked again, at most 20 times, until the answer comes.
    let r;
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      r = await wget('predict-client', `${svcUrl(main.name)}${PREDICTIONS}`, { post: body(ROWS) });
      if (r.code === 0) break;
      refused += 1;
      await new Promise((res) => setTimeout(res, 500));
    }
    t.diagnostic(`first prediction after the roll: ${refused} refused before it`);
    // §9: R server pod start to Ready when the model exists already (the rolled pods).
    for (const pod of await predictorPods(main)) {
      const ready = pod.status.conditions.find((c) => c.type === 'Ready');
      t.diagnostic(`figure: R pod start to Ready, the model registered: ${secs(Date.parse(ready.lastTransitionTime) - Date.parse(pod.status.startTime))} s (${pod.metadata.name}, rolled by the promotion)`);
    }
    assert.equal(r.code, 0, r.stderr);
    assert.equal(Number(JSON.parse(r.stdout).meta.tags.model_version), versions['iris@challenger']);
    assert.deepEqual(walk.ran, walk.steps.map((s) => s.n), 'the scenario did not run every step of the README walkthrough');
  });

  it('the seed\'s failure, for real: a model on 8000 makes the executor crash-loop with "address already in use"', async (t) => {
    // A hand-written SeldonDeployment as the seed wrote it: the model's own HTTP port is 8000, the
    // executor's. The model is busybox httpd (it binds 8000 first: it has no readiness delay).
    const name = 'seed-collide';
    const collide = {
      apiVersion: 'machinelearning.seldon.io/v1', kind: 'SeldonDeployment', metadata: { name, namespace: ns },
      spec: { predictors: [{
        name: 'default', replicas: 1, graph: { name: 'model', type: 'MODEL', endpoint: { type: 'REST', httpPort: 8000 } },
        componentSpecs: [{ spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{ name: 'model', image: ownImages().netcheck, imagePullPolicy: 'Never',
            command: ['sh', '-c', 'mkdir -p /tmp/w && exec httpd -f -p 8000 -h /tmp/w'],
            ports: [{ name: 'http', containerPort: 8000 }],
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '32Mi' } },
            volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }] }],
          volumes: [{ name: 'tmp', emptyDir: {} }],
        } }],
      }] },
    };
    // Room on the 2 CPUs first: dist/'s predictors go (the executor alone requests 0.5 CPU).
    await node.kubectlOk(['-n', ns, 'delete', 'sdep', ...sdeps.map((d) => d.metadata.name), '--wait=true', '--timeout=60s'], { timeoutMs: 90000 });
    await node.kubectl(['-n', ns, 'wait', '--for=delete', 'pod', '-l', 'seldon-deployment-id', '--timeout=60s'], { timeoutMs: 90000 });
    const applied1 = await node.kubectl(['apply', '-f', '-'], { input: JSON.stringify(collide) });
    if (applied1.code !== 0) {
      // The operator's webhook refusing it is the failure caught earlier: that is reported too.
      t.diagnostic(`the operator's webhook refused it: ${applied1.stderr.trim()}`);
      assert.match(applied1.stderr, /8000/);
      return;
    }
    const deploy = `${name}-default-0-model`;
    let line = null;
    for (let i = 0; i < 90 && !line; i++) {
      const pods = (await node.kubectl(['-n', ns, 'get', 'pods', '-o', 'name'])).stdout.split('\n').filter((x) => x.includes(`${deploy}-`));
      for (const pod of pods) {
        for (const prev of [[], ['--previous']]) {
          const logs = await node.kubectl(['-n', ns, 'logs', pod, '-c', 'seldon-container-engine', ...prev]);
          const m = /.*address already in use.*/.exec(logs.stdout + logs.stderr);
          if (m) line = m[0];
        }
      }
      if (!line) await new Promise((r) => setTimeout(r, 2000));
    }
    assert.ok(line, 'no "address already in use" from the executor within 180 s');
    t.diagnostic(`executor log: ${line.slice(0, 300)}`);
    await node.kubectl(['-n', ns, 'delete', 'sdep', name, '--wait=false']);
  });

  it('NetworkPolicies: a pod in another namespace is refused by MinIO and MLflow; the provisioner\'s and the trainers\' labels pass', async () => {
    const svc = store.find((o) => o.kind === 'Service');
    const url = `http://${svc.metadata.name}.${ns}.svc.cluster.local:${svc.spec.ports[0].port}/minio/health/live`;
    const mlflow = objects.find((o) => o.kind === 'Service' && o.metadata.name === tracking.metadata.name);
    const mlflowUrl = `http://${mlflow.metadata.name}.${ns}.svc.cluster.local:${mlflow.spec.ports[0].port}/health`;
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/provisioner-like', '--timeout=60s'], { timeoutMs: 90000 });
    const get = (namespace, p, u) => wget(p, u, { namespace, seconds: 3 });
    const [ok, refused, refusedMlflow, okMlflow] = await Promise.all([
      get(ns, 'provisioner-like', url), get(OTHER, 'outsider', url), get(OTHER, 'outsider', mlflowUrl), get(ns, 'trainer-like', mlflowUrl),
    ]);
    assert.equal(ok.code, 0, `the provisioner's labels are refused: ${ok.stderr}`);
    assert.notEqual(refused.code, 0, 'a pod of another namespace reaches MinIO');
    assert.notEqual(refusedMlflow.code, 0, 'a pod of another namespace reaches MLflow');
    // The same URL answers from an admitted pod: the refusal is the policy, not a wrong address.
    assert.equal(okMlflow.code, 0);
  });

  // Issue 20 §5 and §6 on this stack: the faults, then KServe on the same node (e2e/node/faults.js).
  require('./faults').register({
    node, ns, dist, clientPod,
    // After the faults, before KServe takes the node: the seed's failure above deletes the
    // SeldonDeployments, the faults' set-up brings iris back, and its pods have logged the
    // faults' predictions by then.
    afterFaults: () => require('./monitor').register({ node, ns, dist, wget, predictorPods, scrapePod: 'scraper', scrapeNamespace: SCRAPERS }),
  });

  it('the node stops and nothing of it is left', async (t) => {
    walk.stop();
    if (!owned) {
      t.skip('the node was already up (npm run node:up): left running');
      return;
    }
    await node.down();
    owned = false;
    assert.deepEqual(node.running(), []);
  });
});
