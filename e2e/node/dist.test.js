'use strict';
// npm run e2e:node, second tier: dist/ on the real node, with the project's images from
// scripts/real/install-images.sh ($RMLOPS_CACHE/images/index.json), applied as README steps 4 to
// 6 say, with the harness's hostPath volumes: MinIO and its bucket, MLflow, the training Jobs, and
// the SeldonDeployments through the real Seldon operator running in-cluster (e2e/node/seldon.js). The objects are found by what they are (kind and the app.kubernetes.io labels the
// constructs set), not by the example's names.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Node, RUN, binaries, imageArchives, ownImages } = require('./node');
const { volumesFor } = require('./storage');
const { loadDist } = require('../lib/manifests');
const { DIST } = require('../lib/env');
const { installOperator, OPERATOR_IMAGE } = require('./seldon');

const bins = binaries();
const images = bins.reason ? [] : imageArchives();
const dist = loadDist(DIST);
const objects = dist.docs;
// SeldonDeployments go last, once training has moved the aliases: applied together, serving pods
// waiting for an alias hold the CPU the training Jobs need on a 2-CPU node (docs/real-node.md).
const applied = objects.filter((o) => o.kind !== 'SeldonDeployment');
const sdeps = dist.seldonDeployments();
const store = objects.filter((o) => (o.metadata.labels || {})['app.kubernetes.io/name'] === 'minio');
const storeDeploy = dist.artifactStore();
const provision = dist.provisioningJobs()[0];
const tracking = dist.trackingServer();
const training = dist.byComponent('Job', 'training');
const need = [...new Set(applied.flatMap((o) => {
  const spec = o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec && o.spec.template && o.spec.template.spec;
  return spec ? spec.containers.map((c) => c.image) : [];
}))];
need.push(OPERATOR_IMAGE);
const missing = need.filter((ref) => !images.some((i) => i.ref === ref));
const reason = bins.reason || (missing.length ? `images not built: ${missing.join(', ')} (run scripts/real/install-images.sh)` : false);
if (reason && process.env.CI === 'true') {
  it('the node and the artifact store images exist (CI=true)', () => assert.fail(reason));
}

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

describe('dist/ on the real node: artifact store, tracking server, training', { skip: reason }, () => {
  const node = new Node();
  const ns = storeDeploy && storeDeploy.metadata.namespace;
  const nsObj = objects.find((o) => o.kind === 'Namespace' && o.metadata.name === ns);
  const claims = applied.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => o.metadata.name);
  let owned = false;
  const OTHER = 'rmlops-node-outsider';

  before(async () => {
    owned = node.running().length === 0;
    await node.up({ log: (m) => process.stderr.write(`[node] ${m}\n`) });
    await node.kubectl(['delete', 'namespace', ns, OTHER, '--wait=true', '--timeout=90s'], { timeoutMs: 120000 });
  });

  after(async () => {
    if (owned) await node.down();
  });

  it('README step 4: the namespace and the two credential Secrets', async () => {
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(nsObj) });
    const hex = () => crypto.randomBytes(16).toString('hex');
    await node.kubectlOk(['-n', ns, 'create', 'secret', 'generic', 'minio-root', '--from-literal=root-user=admin', `--from-literal=root-password=${hex()}`]);
    await node.kubectlOk(['-n', ns, 'create', 'secret', 'generic', 'mlflow-s3', '--from-literal=access-key-id=mlflow', `--from-literal=secret-access-key=${hex()}`]);
  });

  let t0;
  let vols;
  it('README step 5: dist/ applied (but the SeldonDeployments), each claim bound to a harness volume', async () => {
    vols = volumesFor(path.join(RUN, 'volumes'), applied);
    assert.equal(vols.length, claims.length);
    assert.ok(claims.length >= 2, `dist/ has ${claims.length} claims`);
    for (const v of vols) {
      await node.kubectl(['delete', 'pv', v.pv.metadata.name, '--wait=true']);
      // A fresh volume per run: the store and the tracking database start empty, as on a new cluster.
      for (const f of fs.readdirSync(v.pv.spec.hostPath.path)) fs.rmSync(path.join(v.pv.spec.hostPath.path, f), { recursive: true, force: true });
    }
    t0 = Date.now();
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...vols.map((v) => v.pv), ...applied] }) });
    for (const c of claims) {
      await node.kubectlOk(['-n', ns, 'wait', '--for=jsonpath={.status.phase}=Bound', `pvc/${c}`, '--timeout=60s'], { timeoutMs: 90000 });
    }
  });

  it('MinIO becomes Ready through its probes, writing into its volume as the pod\'s user', async (t) => {
    await node.kubectlOk(['-n', ns, 'rollout', 'status', `deploy/${storeDeploy.metadata.name}`, '--timeout=180s'], { timeoutMs: 200000 });
    t.diagnostic(`apply to MinIO Ready: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const claim = storeDeploy.spec.template.spec.volumes.find((v) => v.persistentVolumeClaim).persistentVolumeClaim.claimName;
    const vol = vols.find((v) => v.pv.spec.claimRef.name === claim);
    const data = vol.pv.spec.hostPath.path;
    const st = fs.statSync(data);
    assert.deepEqual([st.uid, st.gid], [vol.owner.uid, vol.owner.gid]);
    assert.ok(fs.existsSync(path.join(data, '.minio.sys')), 'MinIO wrote nothing into its volume');
  });

  it('the provisioning Job completes: the bucket exists', async (t) => {
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=complete', `job/${provision.metadata.name}`, '--timeout=300s'], { timeoutMs: 320000 });
    const logs = (await node.kubectlOk(['-n', ns, 'logs', `job/${provision.metadata.name}`])).stdout;
    const buckets = provision.spec.template.spec.containers[0].env.find((e) => e.name === 'BUCKETS').value.split(/\s+/);
    assert.match(logs, new RegExp(`provisioned buckets: ${buckets.join(' ')}`));
    for (const b of buckets) {
      assert.ok(vols.some((v) => fs.existsSync(path.join(v.pv.spec.hostPath.path, b))), `no bucket folder ${b} in the store's volume`);
    }
    const job = await node.getJson(['-n', ns, 'job', provision.metadata.name]);
    // The provisioning race (mc before MinIO answers) shows as failed pods before the success.
    t.diagnostic(`provisioning pods failed before success: ${job.status.failed || 0}`);
  });

  it('MLflow becomes Ready through its probes and answers by its Service DNS name', async (t) => {
    await node.kubectlOk(['-n', ns, 'rollout', 'status', `deploy/${tracking.metadata.name}`, '--timeout=300s'], { timeoutMs: 320000 });
    t.diagnostic(`apply to MLflow Ready: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // From a pod that MLflow's NetworkPolicy admits: one with a training Job's labels.
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(clientPod('trainer-like', ns, training[0].spec.template.metadata.labels)) });
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/trainer-like', '--timeout=60s'], { timeoutMs: 90000 });
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === tracking.metadata.name);
    const r = await node.kubectl(['-n', ns, 'exec', 'trainer-like', '--', 'timeout', '5', 'wget', '-q', '-O', '-',
      `http://${svc.metadata.name}.${ns}.svc:${svc.spec.ports[0].port}/health`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /OK/);
  });

  it('training completes, registers a version and moves the alias', async (t) => {
    for (const job of training) {
      await node.kubectlOk(['-n', ns, 'wait', '--for=condition=complete', `job/${job.metadata.name}`, '--timeout=600s'], { timeoutMs: 620000 });
      const logs = (await node.kubectlOk(['-n', ns, 'logs', `job/${job.metadata.name}`])).stdout;
      const env = Object.fromEntries(job.spec.template.spec.containers[0].env.filter((e) => 'value' in e).map((e) => [e.name, e.value]));
      t.diagnostic(`${job.metadata.name}: ${logs.trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`);
      // Asked of MLflow itself: the alias names a registered version.
      const q = `registered-models/alias?name=${env.MLFLOW_REGISTERED_MODEL_NAME}&alias=${env.MLFLOW_MODEL_ALIAS}`;
      const r = await node.kubectl(['-n', ns, 'exec', 'trainer-like', '--', 'timeout', '5', 'wget', '-q', '-O', '-',
        `${env.MLFLOW_TRACKING_URI}/api/2.0/mlflow/${q}`]);
      assert.equal(r.code, 0, `${q}: ${r.stderr}`);
      const mv = JSON.parse(r.stdout).model_version;
      assert.equal(mv.name, env.MLFLOW_REGISTERED_MODEL_NAME);
      assert.ok(Number(mv.version) >= 1);
      assert.ok((mv.aliases || []).includes(env.MLFLOW_MODEL_ALIAS));
    }
    t.diagnostic(`apply to every training Job complete: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  it('the Seldon operator runs in-cluster with its own RBAC and webhook', async (t) => {
    const t1 = Date.now();
    await installOperator(node);
    t.diagnostic(`operator Ready in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  });

  it('each SeldonDeployment\'s first predictor yields pods with the executor on 8000 and R on 9000, both Ready', async (t) => {
    const t1 = Date.now();
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: sdeps }) });
    const pods = [];
    for (const sdep of sdeps) {
      const p = sdep.spec.predictors[0];
      const model = p.componentSpecs[0].spec.containers[0].name;
      const deploy = `${sdep.metadata.name}-${p.name}-0-${model}`;
      await until(`deployment ${deploy} created by the operator`, async () => (await node.kubectl(['-n', ns, 'get', 'deploy', deploy])).code === 0, 120000);
      const rollout = await node.kubectl(['-n', ns, 'rollout', 'status', `deploy/${deploy}`, '--timeout=180s'], { timeoutMs: 200000 });
      if (rollout.code !== 0) {
        // What the pods say: scheduling, container states, recent events.
        const why = (await node.kubectl(['-n', ns, 'get', 'pods,events', '-o', 'wide'])).stdout.split('\n')
          .filter((l) => l.includes(deploy) || /FailedScheduling|Insufficient|BackOff|Unhealthy/.test(l)).slice(-15).join('\n');
        assert.fail(`${deploy} is not Ready after 180 s:\n${why}`);
      }
      t.diagnostic(`SeldonDeployment ${sdep.metadata.name} predictor ${p.name} Ready ${((Date.now() - t1) / 1000).toFixed(1)} s after its apply`);
      const mine = (await node.getJson(['-n', ns, 'pods', '-l', `seldon-deployment-id=${sdep.metadata.name}`])).items
        .filter((x) => x.metadata.name.startsWith(`${deploy}-`) && x.status.phase === 'Running' && !x.metadata.deletionTimestamp);
      assert.equal(mine.length, p.replicas || 1, `${deploy}: ${mine.length} running pods`);
      for (const pod of mine) {
        const byName = Object.fromEntries(pod.spec.containers.map((c) => [c.name, c]));
        const exec = byName['seldon-container-engine'];
        assert.ok(exec, `no executor in ${pod.metadata.name}: ${Object.keys(byName)}`);
        assert.ok(exec.ports.some((x) => x.containerPort === 8000), 'the executor does not own 8000');
        assert.ok(byName[model].ports.some((x) => x.containerPort === 9000), `the model ${model} is not on 9000`);
        for (const cs of pod.status.containerStatuses) assert.equal(cs.ready, true, `${cs.name} is not Ready`);
        t.diagnostic(`${pod.metadata.name}: ${pod.status.containerStatuses.map((c) => `${c.name} ready, ${c.restartCount} restarts`).join('; ')}`);
        pods.push(pod);
      }
    }
    // The other predictors, as they are (not asserted here: see docs/real-node.md, "What the node
    // showed about dist/"): the canary waits for iris@challenger, which no Job here trains.
    await new Promise((r) => setTimeout(r, 5000));
    const all = (await node.getJson(['-n', ns, 'pods', '-l', 'seldon-deployment-id'])).items;
    for (const pod of all.filter((x) => !pods.includes(x) && !pods.some((y) => y.metadata.name === x.metadata.name))) {
      const sched = (pod.status.conditions || []).find((c) => c.type === 'PodScheduled');
      t.diagnostic(`${pod.metadata.name}: ${pod.status.phase}${sched && sched.status === 'False' ? ` (${sched.message})` : ''}; ready ${(pod.status.containerStatuses || []).filter((c) => c.ready).length}/${pod.spec.containers.length}`);
    }
  });

  it('predictions through the executor by the Service DNS name, from a client pod', async (t) => {
    const sdep = sdeps.find((d) => d.metadata.name === 'iris') || sdeps[0];
    const svc = `${sdep.metadata.name}-${sdep.spec.predictors[0].name}`;
    const body = JSON.stringify({ data: { names: ['Sepal.Length', 'Sepal.Width', 'Petal.Length', 'Petal.Width'], ndarray: [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]] } });
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(clientPod('predict-client', ns, { app: 'predict-client' })) });
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/predict-client', '--timeout=60s'], { timeoutMs: 90000 });
    const t1 = Date.now();
    const r = await node.kubectl(['-n', ns, 'exec', 'predict-client', '--', 'timeout', '10', 'wget', '-q', '-O', '-',
      '--header', 'Content-Type: application/json', `--post-data=${body}`, `http://${svc}.${ns}.svc.cluster.local:8000/api/v1.0/predictions`]);
    assert.equal(r.code, 0, r.stderr);
    t.diagnostic(`prediction in ${Date.now() - t1} ms (kubectl exec included): ${r.stdout.slice(0, 300)}`);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.data.ndarray, ['setosa', 'virginica']);
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

  it('NetworkPolicies: a pod in another namespace is refused by MinIO and MLflow; the provisioner\'s labels pass to MinIO', async () => {
    const svc = store.find((o) => o.kind === 'Service');
    const port = svc.spec.ports[0].port;
    const url = `http://${svc.metadata.name}.${ns}.svc.cluster.local:${port}/minio/health/live`;
    const mlflow = objects.find((o) => o.kind === 'Service' && o.metadata.name === tracking.metadata.name);
    const mlflowUrl = `http://${mlflow.metadata.name}.${ns}.svc.cluster.local:${mlflow.spec.ports[0].port}/health`;
    const pod = clientPod;
    await node.kubectlOk(['create', 'namespace', OTHER]);
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      pod('outsider', OTHER, { app: 'outsider' }),
      pod('provisioner-like', ns, provision.spec.template.metadata.labels),
    ] }) });
    await node.kubectlOk(['-n', OTHER, 'wait', '--for=condition=Ready', 'pod/outsider', '--timeout=60s'], { timeoutMs: 90000 });
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/provisioner-like', '--timeout=60s'], { timeoutMs: 90000 });
    const get = (namespace, p, u = url) => node.kubectl(['-n', namespace, 'exec', p, '--', 'timeout', '3', 'wget', '-q', '-O', '-', u]);
    const ok = await get(ns, 'provisioner-like');
    assert.equal(ok.code, 0, `the provisioner's labels are refused: ${ok.stderr}`);
    const refused = await get(OTHER, 'outsider');
    assert.notEqual(refused.code, 0, 'a pod of another namespace reaches MinIO');
    const refusedMlflow = await get(OTHER, 'outsider', mlflowUrl);
    assert.notEqual(refusedMlflow.code, 0, 'a pod of another namespace reaches MLflow');
    // The same URL answers from an admitted pod: the refusal is the policy, not a wrong address.
    assert.equal((await get(ns, 'trainer-like', mlflowUrl)).code, 0);
  });

  it('read-only root filesystem and the non-root user hold in the MinIO pod', async () => {
    const pod = (await node.getJson(['-n', ns, 'pods', '-l', 'app.kubernetes.io/name=minio', '--field-selector=status.phase=Running'])).items[0];
    const c = pod.spec.containers[0].securityContext;
    assert.equal(c.readOnlyRootFilesystem, true);
    const status = pod.status.containerStatuses[0];
    assert.equal(status.ready, true);
    // Asked of the runtime, not of the image (which may have no shell): the container's task PID,
    // then that process's user and root mount on the node.
    const id = status.containerID.replace(/^containerd:\/\//, '');
    const task = node.ctr(['-n', 'k8s.io', 'tasks', 'ls']).split('\n').find((l) => l.startsWith(id));
    assert.ok(task, `no task for container ${id}`);
    const pid = task.split(/\s+/)[1];
    assert.match(pid, /^\d+$/);
    const uid = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)[1];
    assert.equal(Number(uid), storeDeploy.spec.template.spec.securityContext.runAsUser);
    const mounts = fs.readFileSync(`/proc/${pid}/mounts`, 'utf8').split('\n');
    assert.match(mounts.find((l) => l.split(' ')[1] === '/'), /\sro[,\s]/);
  });

  // Issue 20 §5 and §6 on this stack: the faults, then KServe on the same node (e2e/node/faults.js).
  require('./faults').register({ node, ns, dist, clientPod });

  it('the node stops and nothing of it is left', async (t) => {
    if (!owned) {
      t.skip('the node was already up (npm run node:up): left running');
      return;
    }
    await node.down();
    owned = false;
    assert.deepEqual(node.running(), []);
  });
});
