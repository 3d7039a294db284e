'use strict';
// npm run e2e:node, second tier: dist/ on the real node, with the project's images from
// scripts/real/install-images.sh ($RMLOPS_CACHE/images/index.json). Today: the artifact store
// slice (MinIO, its claim, Service, NetworkPolicy and provisioning Job), applied as README step 4
// and 5 say, with the harness's hostPath volumes. The objects are found by what they are (kind and
// the app.kubernetes.io labels the constructs set), not by the example's names.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Node, RUN, binaries, imageArchives, ownImages } = require('./node');
const { volumesFor } = require('./storage');
const { loadDist } = require('../lib/manifests');
const { DIST } = require('../lib/env');

const bins = binaries();
const images = bins.reason ? [] : imageArchives();
const objects = loadDist(DIST).docs;
const store = objects.filter((o) => (o.metadata.labels || {})['app.kubernetes.io/name'] === 'minio');
const storeDeploy = store.find((o) => o.kind === 'Deployment');
const need = storeDeploy ? [storeDeploy.spec.template.spec.containers[0].image] : [];
const provision = objects.find((o) => o.kind === 'Job' && (o.metadata.labels || {})['app.kubernetes.io/component'] === 'provisioning');
if (provision) need.push(provision.spec.template.spec.containers[0].image);
const missing = need.filter((ref) => !images.some((i) => i.ref === ref));
const reason = bins.reason || (missing.length ? `images not built: ${missing.join(', ')} (run scripts/real/install-images.sh)` : false);
if (reason && process.env.CI === 'true') {
  it('the node and the artifact store images exist (CI=true)', () => assert.fail(reason));
}

describe('dist/ on the real node: the artifact store', { skip: reason }, () => {
  const node = new Node();
  const ns = storeDeploy && storeDeploy.metadata.namespace;
  const nsObj = objects.find((o) => o.kind === 'Namespace' && o.metadata.name === ns);
  // The slice: the store's own objects, the claim its pod mounts, the provisioning Job and the
  // ConfigMap it mounts.
  const claims = ((storeDeploy && storeDeploy.spec.template.spec.volumes) || []).filter((v) => v.persistentVolumeClaim).map((v) => v.persistentVolumeClaim.claimName);
  const jobMaps = ((provision && provision.spec.template.spec.volumes) || []).filter((v) => v.configMap).map((v) => v.configMap.name);
  const slice = objects.filter((o) => store.includes(o) || o === provision
    || (o.kind === 'PersistentVolumeClaim' && claims.includes(o.metadata.name))
    || (o.kind === 'ConfigMap' && jobMaps.includes(o.metadata.name)));
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

  it('the claim binds to a harness volume owned by the pod\'s user, and MinIO becomes Ready through its probes', async (t) => {
    const vols = volumesFor(path.join(RUN, 'volumes'), slice);
    assert.equal(vols.length, claims.length);
    for (const v of vols) await node.kubectl(['delete', 'pv', v.pv.metadata.name, '--wait=true']);
    const t0 = Date.now();
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...vols.map((v) => v.pv), ...slice] }) });
    for (const c of claims) {
      await node.kubectlOk(['-n', ns, 'wait', '--for=jsonpath={.status.phase}=Bound', `pvc/${c}`, '--timeout=60s'], { timeoutMs: 90000 });
    }
    await node.kubectlOk(['-n', ns, 'rollout', 'status', `deploy/${storeDeploy.metadata.name}`, '--timeout=180s'], { timeoutMs: 200000 });
    t.diagnostic(`apply to MinIO Ready: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const data = vols[0].pv.spec.hostPath.path;
    const st = fs.statSync(data);
    assert.deepEqual([st.uid, st.gid], [vols[0].owner.uid, vols[0].owner.gid]);
    assert.ok(fs.existsSync(path.join(data, '.minio.sys')), 'MinIO wrote nothing into its volume');
  });

  it('the provisioning Job completes: the bucket exists', async (t) => {
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=complete', `job/${provision.metadata.name}`, '--timeout=300s'], { timeoutMs: 320000 });
    const logs = (await node.kubectlOk(['-n', ns, 'logs', `job/${provision.metadata.name}`])).stdout;
    const buckets = provision.spec.template.spec.containers[0].env.find((e) => e.name === 'BUCKETS').value.split(/\s+/);
    assert.match(logs, new RegExp(`provisioned buckets: ${buckets.join(' ')}`));
    const vol = path.join(RUN, 'volumes');
    for (const b of buckets) {
      assert.ok(fs.readdirSync(vol).some((d) => fs.existsSync(path.join(vol, d, b))), `no bucket folder ${b} in the store's volume`);
    }
    const job = await node.getJson(['-n', ns, 'job', provision.metadata.name]);
    // The provisioning race (mc before MinIO answers) shows as failed pods before the success.
    t.diagnostic(`provisioning pods failed before success: ${job.status.failed || 0}`);
  });

  it('the store\'s NetworkPolicy: a pod in another namespace is refused, a pod with the provisioner\'s labels passes', async () => {
    const svc = store.find((o) => o.kind === 'Service');
    const port = svc.spec.ports[0].port;
    const url = `http://${svc.metadata.name}.${ns}.svc.cluster.local:${port}/minio/health/live`;
    const pod = (name, namespace, labels) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
        terminationGracePeriodSeconds: 1, automountServiceAccountToken: false,
        containers: [{ name: 'c', image: ownImages().netcheck, imagePullPolicy: 'Never', command: ['sleep', '3600'],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '32Mi' } } }],
      },
    });
    await node.kubectlOk(['create', 'namespace', OTHER]);
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      pod('outsider', OTHER, { app: 'outsider' }),
      pod('provisioner-like', ns, provision.spec.template.metadata.labels),
    ] }) });
    await node.kubectlOk(['-n', OTHER, 'wait', '--for=condition=Ready', 'pod/outsider', '--timeout=60s'], { timeoutMs: 90000 });
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/provisioner-like', '--timeout=60s'], { timeoutMs: 90000 });
    const get = (namespace, p) => node.kubectl(['-n', namespace, 'exec', p, '--', 'timeout', '3', 'wget', '-q', '-O', '-', url]);
    const ok = await get(ns, 'provisioner-like');
    assert.equal(ok.code, 0, `the provisioner's labels are refused: ${ok.stderr}`);
    const refused = await get(OTHER, 'outsider');
    assert.notEqual(refused.code, 0, 'a pod of another namespace reaches MinIO');
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
