'use strict';
// Issue 20 §5: KServe 0.20.0's controller manager in-cluster on the real node, as its own install
// manifests run it (config/rbac, config/manager, config/webhook of the module, which
// scripts/real/install-kserve.sh copies into the cache), from the image that
// scripts/real/install-images.sh builds; then dist-kserve/'s Standard (raw Deployment) `mtcars`
// trained and served, and a prediction by the predictor Service's DNS name from a client pod.
//
// cert-manager does not run here. KServe's webhooks are not optional (the defaulter and the pod
// mutator are part of how an InferenceService becomes pods, and the manager will not start without
// a serving certificate), so the harness does what a user without cert-manager does: it makes a CA
// and a serving certificate for the webhook Service with openssl, puts them in the Secret the
// manager mounts (kserve-webhook-server-cert), and the CA in each webhook's caBundle.
//
// Registered by e2e/node/faults.js after the faults, in the same node run: the SeldonDeployments
// are deleted first, since the node has 2 CPUs.
const { it } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const { RUN } = require('./node');
const { volumesFor } = require('./storage');
const { connects } = require('./seldon');
const { loadDist } = require('../lib/manifests');
const { DIST, DIST_KSERVE } = require('../lib/env');
const { makeCA, serverCert } = require('../cluster/controlplane');
const K = require('../cluster/kserve');
const { imageRefs } = require('../../scripts/real/images');

const NS = K.KSERVE_NAMESPACE;
const SA = 'kserve-controller-manager';
const SERVICE = 'kserve-webhook-server-service';
const SECRET = 'kserve-webhook-server-cert';
const IMAGE = imageRefs()['kserve-controller'];
// The files of KServe's install that install-kserve.sh copies (relative to the config folder).
const INSTALL = ['rbac/service_account.yaml', 'rbac/role.yaml', 'rbac/role_binding.yaml', 'rbac/leader_election_role.yaml',
  'rbac/leader_election_role_binding.yaml', 'manager/manager.yaml', 'webhook/manifests.yaml', 'webhook/service.yaml'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Why the scenario cannot run, or null.
function missing() {
  const gone = INSTALL.filter((f) => !fs.existsSync(path.join(K.configDir(), f)));
  return gone.length ? `KServe's install manifests are not in ${K.configDir()}: ${gone.join(', ')} (run scripts/real/install-kserve.sh)` : null;
}

const readAll = (f) => YAML.parseAllDocuments(fs.readFileSync(path.join(K.configDir(), f), 'utf8')).map((d) => d.toJS()).filter((o) => o && o.kind);

// KServe's install objects for namespace `kserve`, as kustomize's config/default would render them
// but for what differs here (each is said where it is made):
// - the image is the one built here, never pulled;
// - no kube-rbac-proxy sidecar (config/default's auth proxy patch): its image is not built, and
//   the manager's metrics stay on 127.0.0.1:8080 inside the pod, as that patch sets;
// - the readiness probe's 30 s initial delay is cut to 2 s: the webhook Service is waited for
//   anyway, and 30 s of a CI run would buy nothing.
function installObjects(dir) {
  const svcDns = `${SERVICE}.${NS}.svc`;
  if (!fs.existsSync(path.join(dir, 'webhook.crt'))) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const ca = makeCA(dir, 'rmlops-node-kserve-webhook-ca');
    serverCert(dir, ca, 'webhook', svcDns, [SERVICE, `${SERVICE}.${NS}`, svcDns]);
  }
  const b64 = (f) => fs.readFileSync(path.join(dir, f)).toString('base64');
  const out = [];
  for (const f of INSTALL) {
    for (const o of readAll(f)) {
      if (o.kind === 'Secret') continue; // manager.yaml's empty kserve-webhook-server-secret: unused.
      const namespaced = !['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].includes(o.kind);
      if (namespaced) o.metadata.namespace = NS;
      delete o.metadata.creationTimestamp;
      for (const s of o.subjects || []) s.namespace = NS;
      // The harness's mark, so that its clean-up finds what it applied.
      o.metadata.labels = { ...(o.metadata.labels || {}), 'rmlops-node/kserve': 'true' };
      for (const w of o.webhooks || []) {
        w.clientConfig.service.name = SERVICE;
        w.clientConfig.service.namespace = NS;
        w.clientConfig.caBundle = b64('ca.crt');
      }
      if (o.kind === 'Deployment') {
        const c = o.spec.template.spec.containers.find((x) => x.name === 'manager');
        c.image = IMAGE;
        c.imagePullPolicy = 'IfNotPresent';
        c.args = ['--metrics-addr=127.0.0.1:8080', '--leader-elect'];
        c.readinessProbe.initialDelaySeconds = 2;
        c.readinessProbe.periodSeconds = 2;
      }
      out.push(o);
    }
  }
  out.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: SECRET, namespace: NS }, type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64('webhook.crt'), 'tls.key': b64('webhook.key') } });
  return out;
}

const DIST_NS = loadDist(DIST_KSERVE).inferenceServices()[0].metadata.namespace;

// The install, up to the manager's Deployment applied: dist-kserve/'s namespace of an earlier run
// on a node left up goes, then KServe's CRDs (the InferenceService CRD alone is 1.9 MB: the API
// server takes tens of seconds over them on this machine), its ConfigMap and install objects.
// e2e/node/faults.js starts it in the background while its first scenario waits for R pods, so
// that the API server's work overlaps; the KServe scenario awaits it. Resolves with its seconds.
async function beginInstall(node) {
  const why = missing();
  if (why) throw new Error(why);
  const t0 = Date.now();
  // The namespaces of an earlier run on this node's state: dist-kserve/'s goes, and the
  // controller's may still be terminating (the clean-up does not wait for it).
  await node.kubectl(['delete', 'namespace', DIST_NS, '--ignore-not-found', '--wait=true', '--timeout=120s'], { timeoutMs: 150000 });
  for (let i = 0; ; i++) {
    const r = await node.kubectl(['get', 'namespace', NS, '-o', 'jsonpath={.status.phase}']);
    if (r.code !== 0 || r.stdout !== 'Terminating') break;
    if (i >= 120) throw new Error(`namespace ${NS} of an earlier run is still Terminating after 120 s`);
    await sleep(1000);
  }
  await K.installKServe(node, { defaultDeploymentMode: 'Standard' });
  const crds = (Date.now() - t0) / 1000;
  await node.kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', '-'],
    { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: installObjects(path.join(node.run, 'kserve-webhook')) }) });
  return { crds, applied: (Date.now() - t0) / 1000 };
}

// `installing()`: the promise of beginInstall(), or null when nothing started it.
function register({ node, clientPod, installing = () => null }) {
  const seldonNs = loadDist(DIST).artifactStore().metadata.namespace;
  const kdist = loadDist(DIST_KSERVE);
  const mtcars = kdist.inferenceServices().find((o) => o.metadata.name === 'mtcars');
  const ns = mtcars.metadata.namespace;
  // What mtcars needs: everything but the Knative iris InferenceService (no Knative here: KServe
  // refuses it, e2e/cluster shows how) and the Jobs that train models other than mtcars.
  const trainsOther = (o) => o.kind === 'Job' && ((o.metadata.labels || {})['app.kubernetes.io/component'] === 'training')
    && !o.spec.template.spec.containers[0].env.some((e) => e.name === 'MLFLOW_REGISTERED_MODEL_NAME' && e.value === 'mtcars');
  const stack = kdist.docs.filter((o) => o.kind !== 'InferenceService' && !trainsOther(o));
  const mtcarsTrain = kdist.byComponent('Job', 'training').filter((o) => !trainsOther(o));
  const t0 = {};

  it('KServe: the SeldonDeployments go (2 CPUs), and KServe\'s controller runs in-cluster with its own RBAC and webhooks', async (t) => {
    t0.all = Date.now();
    // Room on the 2 CPUs: the SeldonDeployments go (their pods hold 0.5 CPU); MinIO and MLflow of
    // the Seldon stack stay (0.2 CPU), and the node's stop removes them.
    await node.kubectl(['-n', seldonNs, 'delete', 'sdep', '--all', '--wait=false']);
    const install = await (installing() || beginInstall(node));
    t.diagnostic(`KServe's CRDs Established in ${install.crds.toFixed(1)} s, its install applied in ${install.applied.toFixed(1)} s (begun ${installing() ? 'in the background earlier' : 'here'})`);
    const r = await node.kubectl(['-n', NS, 'rollout', 'status', 'deploy/kserve-controller-manager', '--timeout=180s'], { timeoutMs: 200000 });
    if (r.code !== 0) {
      const logs = await node.kubectl(['-n', NS, 'logs', 'deploy/kserve-controller-manager', '--tail=20']);
      assert.fail(`the KServe controller is not Ready: ${r.stderr}\n${logs.stdout}${logs.stderr}`);
    }
    // The API server calls the webhooks through the Service: wait until kube-proxy translates it.
    const ip = (await node.getJson(['-n', NS, 'service', SERVICE])).spec.clusterIP;
    for (let i = 0; !(await connects(ip, 443)); i++) {
      if (i >= 60) assert.fail(`the KServe webhook Service ${ip}:443 does not answer after 60 s`);
      await sleep(1000);
    }
    const pod = (await node.getJson(['-n', NS, 'pods', '-l', 'control-plane=kserve-controller-manager'])).items[0];
    t.diagnostic(`controller ${pod.spec.containers[0].image} Ready, ${((Date.now() - t0.all) / 1000).toFixed(1)} s into this test`);
    assert.equal(pod.spec.serviceAccountName, SA);
    assert.equal(pod.spec.containers[0].image, IMAGE);
  });

  it('KServe: dist-kserve/\'s namespace, Secrets, MinIO, MLflow and the mtcars training Job; mtcars is trained', async (t) => {
    const nsObj = stack.find((o) => o.kind === 'Namespace' && o.metadata.name === ns);
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(nsObj) });
    const hex = () => crypto.randomBytes(16).toString('hex');
    await node.kubectlOk(['-n', ns, 'create', 'secret', 'generic', 'minio-root', '--from-literal=root-user=admin', `--from-literal=root-password=${hex()}`]);
    await node.kubectlOk(['-n', ns, 'create', 'secret', 'generic', 'mlflow-s3', '--from-literal=access-key-id=mlflow', `--from-literal=secret-access-key=${hex()}`]);
    const vols = volumesFor(path.join(RUN, 'volumes'), stack);
    for (const v of vols) {
      await node.kubectl(['delete', 'pv', v.pv.metadata.name, '--wait=true']);
      for (const f of fs.readdirSync(v.pv.spec.hostPath.path)) fs.rmSync(path.join(v.pv.spec.hostPath.path, f), { recursive: true, force: true });
    }
    t0.apply = Date.now();
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...vols.map((v) => v.pv), ...stack] }) });
    for (const job of mtcarsTrain) {
      const r = await node.kubectl(['-n', ns, 'wait', '--for=condition=complete', `job/${job.metadata.name}`, '--timeout=420s'], { timeoutMs: 440000 });
      if (r.code !== 0) {
        const why = (await node.kubectl(['-n', ns, 'get', 'pods,events'])).stdout.split('\n').slice(-15).join('\n');
        assert.fail(`${job.metadata.name} did not complete: ${r.stderr}\n${why}`);
      }
    }
    t.diagnostic(`apply to mtcars trained: ${((Date.now() - t0.apply) / 1000).toFixed(1)} s`);
  });

  it('KServe: the Standard mtcars InferenceService becomes Ready through the real controller, and predicts by its Service DNS name', async (t) => {
    const t1 = Date.now();
    const applied = await node.kubectl(['apply', '-f', '-'], { input: JSON.stringify(mtcars) });
    assert.equal(applied.code, 0, `the InferenceService is refused: ${applied.stderr}`);
    const r = await node.kubectl(['-n', ns, 'wait', '--for=condition=Ready', 'inferenceservice/mtcars', '--timeout=180s'], { timeoutMs: 200000 });
    if (r.code !== 0) {
      const why = (await node.kubectl(['-n', ns, 'get', 'inferenceservice,deploy,pods,events'])).stdout.split('\n').slice(-20).join('\n');
      const logs = (await node.kubectl(['-n', NS, 'logs', 'deploy/kserve-controller-manager', '--tail=10'])).stdout;
      assert.fail(`mtcars is not Ready: ${r.stderr}\n${why}\n${logs}`);
    }
    const isvc = await node.getJson(['-n', ns, 'inferenceservice', 'mtcars']);
    t.diagnostic(`mtcars Ready ${((Date.now() - t1) / 1000).toFixed(1)} s after its apply; status.address.url ${isvc.status.address && isvc.status.address.url}`);
    assert.equal(isvc.status.address.url, `http://mtcars-predictor.${ns}.svc.cluster.local`);
    const pods = (await node.getJson(['-n', ns, 'pods', '-l', 'serving.kserve.io/inferenceservice=mtcars'])).items.filter((p) => !p.metadata.deletionTimestamp);
    assert.ok(pods.length >= 1);
    const spec = pods[0].spec;
    t.diagnostic(`predictor pod ${pods[0].metadata.name}: containers ${spec.containers.map((c) => c.name).join(', ')}; init ${(spec.initContainers || []).map((c) => c.name).join(', ') || 'none'}`);
    assert.deepEqual(spec.containers.map((c) => c.name), ['kserve-container']);
    assert.ok(spec.containers[0].ports.some((p) => p.containerPort === 8080));

    // Labelled as mtcars's client: dist-kserve/'s default deny and mtcars's policies admit only those.
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(clientPod('kserve-client', ns, { app: 'kserve-client', 'client.rmlops.io/mtcars': 'true' })) });
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/kserve-client', '--timeout=60s'], { timeoutMs: 90000 });
    const body = JSON.stringify({ inputs: [
      { name: 'wt', shape: [1], datatype: 'FP64', data: [2.62] }, { name: 'hp', shape: [1], datatype: 'FP64', data: [110] },
      { name: 'cyl', shape: [1], datatype: 'BYTES', data: ['6'] }, { name: 'manual', shape: [1], datatype: 'BOOL', data: [true] },
    ] });
    const p = await node.kubectl(['-n', ns, 'exec', 'kserve-client', '--', 'timeout', '10', 'wget', '-q', '-O', '-',
      '--header', 'Content-Type: application/json', `--post-data=${body}`, `${isvc.status.address.url}/v2/models/mtcars/infer`]);
    assert.equal(p.code, 0, p.stderr);
    t.diagnostic(`OIP v2 prediction by ${isvc.status.address.url}: ${p.stdout.slice(0, 300)}`);
    const out = JSON.parse(p.stdout);
    assert.equal(out.model_name, 'mtcars');
    const value = out.outputs[0].data[0];
    assert.ok(Number.isFinite(value) && value > 5 && value < 50, `mpg ${value}`);
    t.diagnostic(`KServe part: ${((Date.now() - t0.all) / 1000).toFixed(1)} s`);
  });

  // The node's state (kine's database) outlives the node: what is left running here would start
  // again with the next node and hold its CPU. The InferenceService goes first, while the
  // controller runs to remove its finalizer; then the cluster-wide webhooks, which would refuse
  // every InferenceService while no controller answers them, and the namespaces. Their pods need
  // not be gone: once each has its deletion mark, the next kubelet never starts it again.
  it('KServe: clean-up, so that the next node starts without this stack', async (t) => {
    const t1 = Date.now();
    await node.kubectlOk(['-n', ns, 'delete', 'inferenceservice', 'mtcars', '--ignore-not-found', '--wait=true', '--timeout=60s'], { timeoutMs: 90000 });
    await node.kubectlOk(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', '-l', 'rmlops-node/kserve', '--ignore-not-found']);
    await node.kubectlOk(['delete', 'namespace', ns, NS, '--ignore-not-found', '--wait=false']);
    const left = async () => {
      const pods = [];
      for (const n of [ns, NS]) {
        const r = await node.kubectl(['-n', n, 'get', 'pods', '-o', 'json']);
        if (r.code === 0) pods.push(...JSON.parse(r.stdout).items.filter((p) => !p.metadata.deletionTimestamp));
      }
      return pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    };
    const deadline = Date.now() + 30000;
    while ((await left()).length && Date.now() < deadline) await sleep(500);
    assert.deepEqual(await left(), [], 'pods without a deletion mark 30 s after their namespaces were deleted');
    t.diagnostic(`clean-up: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  });
}

module.exports = { register, beginInstall, installObjects };
