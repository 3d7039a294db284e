'use strict';
// Storage on the single node: static hostPath PersistentVolumes that the harness makes, one per
// PersistentVolumeClaim, bound by claimRef. A dynamic provisioner would need one more controller
// and its image on the node for nothing the scenarios test: PVCs bind the way they do on a user's
// cluster either way (the claim names no storageClassName and waits for a matching volume).
//
// The kubelet applies fsGroup only to volume types that support ownership management, and hostPath
// is not one: the folder is created owned by the uid and gid of the pod that mounts it (its
// runAsUser, and its fsGroup or runAsGroup), mode 0770, as a provisioner that sets ownership would.
const fs = require('fs');
const path = require('path');

// The pod templates of workload objects (Deployment, StatefulSet, Job, CronJob, Pod).
function podSpecs(obj) {
  const s = obj.spec || {};
  if (obj.kind === 'Pod') return [s];
  if (obj.kind === 'CronJob') return [s.jobTemplate && s.jobTemplate.spec && s.jobTemplate.spec.template && s.jobTemplate.spec.template.spec].filter(Boolean);
  return [s.template && s.template.spec].filter(Boolean);
}

// The uid and gid that own a claim's folder: those of the first pod in `objects` that mounts it.
// Throws when no pod mounts it, or the pod runs as root or as an unknown user (then nobody knows
// which owner the folder needs).
function claimOwner(objects, namespace, claim) {
  for (const obj of objects) {
    if ((obj.metadata.namespace || 'default') !== namespace) continue;
    for (const spec of podSpecs(obj)) {
      const mounts = (spec.volumes || []).some((v) => v.persistentVolumeClaim && v.persistentVolumeClaim.claimName === claim);
      if (!mounts) continue;
      const sc = spec.securityContext || {};
      const c = (spec.containers || [])[0] || {};
      const csc = c.securityContext || {};
      const uid = csc.runAsUser ?? sc.runAsUser;
      const gid = sc.fsGroup ?? csc.runAsGroup ?? sc.runAsGroup;
      if (!Number.isInteger(uid) || uid === 0 || !Number.isInteger(gid)) {
        throw new Error(`[${namespace}/${claim}] mounted by ${obj.kind} ${obj.metadata.name}, which sets no non-root runAsUser and fsGroup: the volume's owner is unknown. Fix: set securityContext.runAsUser and fsGroup on the pod.`);
      }
      return { uid, gid, by: `${obj.kind}/${obj.metadata.name}` };
    }
  }
  throw new Error(`[${namespace}/${claim}] no pod in the objects mounts this claim: its owner is unknown`);
}

// A PersistentVolume for `pvc`, its folder under `root` created with the owner of claimOwner().
function hostPathVolume(root, pvc, owner) {
  const ns = pvc.metadata.namespace || 'default';
  const name = `rmlops-${ns}-${pvc.metadata.name}`.slice(0, 63);
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.chownSync(dir, owner.uid, owner.gid);
  fs.chmodSync(dir, 0o770);
  const size = (((pvc.spec || {}).resources || {}).requests || {}).storage || '1Gi';
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'rmlops-node-harness' } },
    spec: {
      capacity: { storage: size },
      accessModes: pvc.spec.accessModes || ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: pvc.spec.storageClassName || '',
      volumeMode: 'Filesystem',
      claimRef: { namespace: ns, name: pvc.metadata.name },
      hostPath: { path: dir, type: 'Directory' },
    },
  };
}

// The volumes for every claim in `objects`.
function volumesFor(root, objects) {
  return objects.filter((o) => o.kind === 'PersistentVolumeClaim').map((pvc) => {
    const owner = claimOwner(objects, pvc.metadata.namespace || 'default', pvc.metadata.name);
    return { pv: hostPathVolume(root, pvc, owner), owner };
  });
}

// `npm run node:volumes -- <dir>`: a volume for each claim of the manifests in `dir`, applied to
// the node (what a dynamic provisioner does on a user's cluster). A volume whose claim is gone, or
// was made again (another uid), is deleted and its folder emptied before it is made again, as a
// `Delete` reclaim policy would; one bound to the claim that exists is left as it is. Returns the
// volumes, each with `recycled` when it was made anew.
async function provisionVolumes(node, dir, { log = () => {} } = {}) {
  const { loadDist } = require('../lib/manifests');
  const objects = loadDist(dir).docs;
  const vols = volumesFor(path.join(node.run, 'volumes'), objects);
  for (const v of vols) {
    const { name } = v.pv.metadata;
    const { namespace, name: claim } = v.pv.spec.claimRef;
    const got = await node.kubectl(['get', 'pv', name, '-o', 'json']);
    v.recycled = true;
    if (got.code === 0) {
      const ref = JSON.parse(got.stdout).spec.claimRef || {};
      const pvc = await node.kubectl(['-n', namespace, 'get', 'pvc', claim, '-o', 'jsonpath={.metadata.uid}']);
      if (!ref.uid || (pvc.code === 0 && pvc.stdout.trim() === ref.uid)) {
        v.recycled = false;
        continue;
      }
      await node.kubectlOk(['delete', 'pv', name, '--wait=true', '--timeout=60s'], { timeoutMs: 90000 });
    }
    const folder = v.pv.spec.hostPath.path;
    for (const f of fs.readdirSync(folder)) fs.rmSync(path.join(folder, f), { recursive: true, force: true });
    log(`volume ${name} for ${namespace}/${claim}: ${folder}, owner ${v.owner.uid}:${v.owner.gid}`);
  }
  const fresh = vols.filter((v) => v.recycled).map((v) => v.pv);
  if (fresh.length) await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: fresh }) });
  return vols;
}

module.exports = { claimOwner, hostPathVolume, volumesFor, provisionVolumes };
