'use strict';
// npm run e2e:node: pods on a real single node (e2e/node/node.js). Build it first:
// scripts/real/install-cluster.sh and scripts/real/install-node.sh. The node is started here
// unless `npm run node:up` already runs it (then it is left running), and stopped at the end, when
// the host must be as it was found.
//
// Network safety: every connection made here goes to a pod or Service of this node, inside its own
// network namespaces; addresses outside the node are only asked about with `ip route get`, which
// sends nothing.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Node, NET, RUN, binaries, hostState, ownImages } = require('./node');
const { volumesFor } = require('./storage');

const bins = binaries();
if (bins.reason && process.env.CI === 'true') {
  it('the node can be started (CI=true)', () => assert.fail(bins.reason));
}

const NS = 'rmlops-node-e2e';
const images = bins.reason ? {} : ownImages();
// The security context of every pod here: what Pod Security `restricted` requires.
const restricted = (uid) => ({
  pod: { runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, seccompProfile: { type: 'RuntimeDefault' } },
  container: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
});
const resources = { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '32Mi' } };

function clientPod(name, labels = {}) {
  const sc = restricted(65534);
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: name, ...labels } },
    spec: {
      securityContext: sc.pod, terminationGracePeriodSeconds: 1,
      containers: [{ name: 'client', image: images.netcheck, imagePullPolicy: 'Never', command: ['sleep', '3600'], securityContext: sc.container, resources }],
    },
  };
}

// A web server whose readiness and liveness the kubelet probes: busybox httpd on 8080, serving a
// page that names it, from the /tmp emptyDir (the root filesystem is read-only).
function webDeployment() {
  const sc = restricted(65534);
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: NS },
    spec: {
      replicas: 1, selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          securityContext: sc.pod, terminationGracePeriodSeconds: 1,
          containers: [{
            name: 'web', image: images.netcheck, imagePullPolicy: 'Never',
            command: ['sh', '-c', 'mkdir -p /tmp/www && echo "web of $POD" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'],
            env: [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/index.html', port: 'http' }, periodSeconds: 1 },
            livenessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 5 },
            securityContext: sc.container, resources,
            volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
          }],
          volumes: [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } }],
        },
      },
    },
  };
}

const service = (name, selector, port = 80, targetPort = 8080) => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS },
  spec: { selector, ports: [{ name: 'http', port, targetPort }] },
});

describe('a real single node', { skip: bins.reason }, () => {
  const node = new Node();
  let before0;
  let owned = false;

  const exec = (pod, cmd, timeoutMs = 20000) => node.kubectl(['-n', NS, 'exec', pod, '--', ...cmd], { timeoutMs });
  const apply = (objs) => node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }) });
  const waitReady = (what, timeout = '120s') => node.kubectlOk(['-n', NS, 'wait', '--for=condition=Ready', what, `--timeout=${timeout}`], { timeoutMs: 180000 });
  // One HTTP GET from a client pod; the pod's busybox wget is bounded by `timeout` (its own -T
  // option crashes this busybox build).
  const get = (pod, url, seconds = 3) => exec(pod, ['timeout', String(seconds), 'wget', '-q', '-O', '-', url]);

  const onSignal = async () => {
    if (owned) await node.down();
    process.exit(130);
  };

  before(async () => {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    before0 = hostState();
    owned = node.running().length === 0;
    await node.up({ log: (m) => process.stderr.write(`[node] ${m}\n`) });
    await node.kubectl(['delete', 'namespace', NS, '--wait=true', '--timeout=60s']);
    await node.kubectlOk(['create', 'namespace', NS]);
    await node.kubectlOk(['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/enforce-version=v1.28']);
  });

  after(async () => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (owned && node.running().length) await node.down();
  });

  it('the node is Ready, with kubelet and API server 1.28.15 from the wrapper module', async (t) => {
    // A node left up by an earlier scenario (the walkthrough's faults restart containerd and the
    // kubelet) can report NotReady for a few seconds after it was last seen Ready: wait for it.
    const t0 = Date.now();
    while (!(await node.nodeReady()) && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 500));
    const n = await node.getJson(['node', NET.nodeName]);
    const ready = n.status.conditions.find((c) => c.type === 'Ready');
    assert.equal(ready.status, 'True', `the node is not Ready 60 s on: ${ready.reason}: ${ready.message}`);
    if (Date.now() - t0 > 1000) t.diagnostic(`the node became Ready ${((Date.now() - t0) / 1000).toFixed(1)} s into this test`);
    assert.equal(n.status.nodeInfo.kubeletVersion, 'v1.28.15');
    assert.equal(n.status.nodeInfo.kubeProxyVersion, 'v1.28.15');
    assert.match(n.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/1\.6\./);
    assert.deepEqual(n.status.addresses.find((a) => a.type === 'InternalIP'), { type: 'InternalIP', address: NET.nodeIp });
    const v = JSON.parse((await node.kubectlOk(['version', '-o', 'json'])).stdout);
    assert.equal(v.serverVersion.gitVersion, 'v1.28.15');
    t.diagnostic(`startup (s): ${JSON.stringify(node.timings)}${node.alreadyUp ? ' (already up)' : ''}`);
  });

  it('the node is contained before any pod runs: no masquerade, a pod routing table, an OUTPUT reject, no DNS forward', async () => {
    const conf = JSON.parse(fs.readFileSync(path.join(RUN, 'cni', 'net.d', '10-rmlops.conflist'), 'utf8'));
    assert.equal(conf.plugins.find((p) => p.type === 'bridge').ipMasq, false);
    const rules = require('child_process').execFileSync('ip', ['rule', 'show'], { encoding: 'utf8' });
    assert.match(rules, new RegExp(`^${NET.rulePriority}:\\s+from ${NET.clusterCidr.replace(/\./g, '\\.')} lookup ${NET.table}`, 'm'));
    const table = require('child_process').execFileSync('ip', ['route', 'show', 'table', String(NET.table)], { encoding: 'utf8' });
    assert.match(table, /^unreachable default/m);
    assert.match(table, new RegExp(`^throw ${NET.clusterCidr.replace(/\./g, '\\.')}`, 'm'));
    const save = require('child_process').execFileSync('iptables-save', [], { encoding: 'utf8' });
    assert.match(save, new RegExp(`-A OUTPUT -d ${NET.serviceCidr.replace(/\./g, '\\.')} .*-j REJECT`));
    // No rule masquerades what comes from the pod range (kube-proxy's own KUBE-POSTROUTING only
    // masquerades the packets it marked: host-to-Service traffic, which stays on the node).
    assert.doesNotMatch(save, /-s 10\.244\.\S+ .*-j MASQUERADE/);
    const cm = await node.getJson(['-n', 'kube-system', 'configmap', 'coredns']);
    assert.doesNotMatch(cm.data.Corefile, /forward|proxy/);
    assert.match(cm.data.Corefile, /kubernetes cluster\.local/);
  });

  it('a Deployment becomes Ready through its kubelet probes', async () => {
    await apply([webDeployment(), service('web', { app: 'web' }), clientPod('client', { role: 'client' }), clientPod('stranger')]);
    await node.kubectlOk(['-n', NS, 'rollout', 'status', 'deploy/web', '--timeout=120s'], { timeoutMs: 150000 });
    await waitReady('pod/client');
    await waitReady('pod/stranger');
    const pod = (await node.getJson(['-n', NS, 'pods', '-l', 'app=web'])).items[0];
    const c = pod.status.containerStatuses[0];
    assert.equal(c.ready, true);
    assert.equal(c.restartCount, 0);
    assert.match(pod.status.podIP, /^10\.244\.0\.\d+$/);
  });

  it('CoreDNS resolves Services, and names outside the cluster fail without any upstream', async () => {
    const r = await exec('client', ['nslookup', `web.${NS}.svc.cluster.local`, NET.dnsIp]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const svc = await node.getJson(['-n', NS, 'service', 'web']);
    assert.match(r.stdout, new RegExp(`Address:?\\s+${svc.spec.clusterIP.replace(/\./g, '\\.')}`));
    const k = await exec('client', ['nslookup', 'kubernetes.default.svc.cluster.local', NET.dnsIp]);
    assert.match(k.stdout, /10\.96\.0\.1\b/);
    // Asked of CoreDNS only: without `forward` it answers at once and asks no one.
    const t0 = Date.now();
    const out = await exec('client', ['timeout', '5', 'nslookup', 'example.com.', NET.dnsIp]);
    assert.notEqual(out.code, 0, `example.com resolved: ${out.stdout}`);
    assert.ok(Date.now() - t0 < 5000, 'the outside name was not refused at once');
  });

  it('a Service answers by its DNS name from a client pod', async () => {
    const r = await get('client', `http://web.${NS}.svc.cluster.local/index.html`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^web of web-[a-z0-9]+-[a-z0-9]+$/m);
  });

  it('pods reach the API server through the `kubernetes` Service', async () => {
    // Plain HTTP to the TLS port: the API server's Go TLS stack answers "400 Bad Request", which
    // proves the path through the Service to the node IP without any client certificate.
    const r = await exec('client', ['sh', '-c', 'timeout 3 wget -q -O - http://kubernetes.default.svc.cluster.local:443/ 2>&1; true']);
    assert.match(r.stdout, /400 Bad Request/, r.stdout);
  });

  it('nothing leaves the node: outside and endpoint-less Service addresses are unreachable from the pod range', async () => {
    const { execFileSync } = require('child_process');
    const client = await node.getJson(['-n', NS, 'pod', 'client']);
    const gateway = /default via (\S+)/.exec(execFileSync('ip', ['route', 'show', 'default'], { encoding: 'utf8' }) || '');
    await apply([service('nobody', { app: 'nobody' }, 80, 80)]);
    const nobody = (await node.getJson(['-n', NS, 'service', 'nobody'])).spec.clusterIP;
    // The kernel's routing decision for a packet from the pod arriving on the bridge: asked, never sent.
    const outside = ['1.1.1.1', '10.0.0.1', '172.16.0.1', '192.168.1.1', ...(gateway ? [gateway[1]] : [])];
    for (const dst of [...outside, nobody]) {
      let answer;
      try {
        answer = execFileSync('ip', ['route', 'get', dst, 'from', client.status.podIP, 'iif', NET.bridge], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        answer = String(err.stderr);
      }
      assert.match(answer, /unreachable|No route to host|Network is unreachable/i, `${dst}: ${answer}`);
    }
    // Pods, the node and Services with endpoints still route.
    const toNode = execFileSync('ip', ['route', 'get', NET.nodeIp, 'from', client.status.podIP, 'iif', NET.bridge], { encoding: 'utf8' });
    assert.match(toNode, /^local /m);
    // A real connection to the endpoint-less Service from the pod: refused by the node at once.
    const t0 = Date.now();
    const r = await exec('client', ['sh', '-c', `timeout 5 nc -w 4 ${nobody} 80 </dev/null; echo rc=$?`]);
    const ms = Date.now() - t0;
    assert.doesNotMatch(r.stdout, /rc=0/, r.stdout);
    assert.ok(ms < 4000, `the connection to ${nobody} was not refused at once (${ms} ms): ${r.stdout}${r.stderr}`);
  });

  it('NetworkPolicy: default deny blocks, and allow-by-label admits only the labelled client', async () => {
    const url = `http://web.${NS}.svc.cluster.local/index.html`;
    assert.equal((await get('stranger', url)).code, 0, 'before any policy the stranger reaches web');
    await apply([{
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'default-deny', namespace: NS },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    }, {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'web-from-clients', namespace: NS },
      spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 8080 }] }] },
    }]);
    // kube-router syncs within seconds: wait (bounded) until the stranger is refused.
    let blocked = false;
    for (let i = 0; i < 15 && !blocked; i++) blocked = (await get('stranger', url, 2)).code !== 0;
    assert.ok(blocked, 'the stranger still reaches web 15 attempts after the deny policy');
    const ok = await get('client', url);
    assert.equal(ok.code, 0, `the labelled client is refused: ${ok.stderr}`);
    // CoreDNS is in another namespace and needs no policy here: the deny is ingress-only.
    assert.equal((await get('stranger', url, 2)).code !== 0, true);
  });

  it('Pod Security `restricted` is enforced on the namespace', async () => {
    const bad = clientPod('root-pod');
    bad.spec.securityContext = {};
    bad.spec.containers[0].securityContext = { runAsUser: 0 };
    const r = await node.kubectl(['apply', '-f', '-'], { input: JSON.stringify(bad) });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /violates PodSecurity "restricted:v1\.28"/);
    assert.match(r.stderr, /runAsNonRoot|allowPrivilegeEscalation|capabilities|seccompProfile/);
  });

  it('read-only root filesystem and non-root user hold at runtime', async () => {
    const pod = (await node.getJson(['-n', NS, 'pods', '-l', 'app=web'])).items[0].metadata.name;
    const id = await exec(pod, ['id', '-u']);
    assert.equal(id.stdout.trim(), '65534');
    const w = await exec(pod, ['sh', '-c', 'touch /probe 2>&1; echo rc=$?']);
    assert.match(w.stdout, /Read-only file system/);
    assert.match(w.stdout, /rc=1/);
    const tmp = await exec(pod, ['sh', '-c', 'touch /tmp/probe && echo ok']);
    assert.equal(tmp.stdout.trim(), 'ok');
  });

  it('a PVC binds to the harness\'s hostPath volume, owned by the pod\'s user', async () => {
    const uid = 10001;
    const sc = restricted(uid);
    const pvc = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: NS },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Mi' } } } };
    const writer = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'writer', namespace: NS },
      spec: {
        securityContext: { ...sc.pod, fsGroup: uid }, restartPolicy: 'Never', terminationGracePeriodSeconds: 1,
        containers: [{ name: 'w', image: images.netcheck, imagePullPolicy: 'Never', securityContext: sc.container, resources,
          command: ['sh', '-c', 'echo kept > /data/file && ls -ln /data/file && stat -c "%u:%g" /data'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
      },
    };
    const vols = volumesFor(path.join(RUN, 'volumes'), [pvc, writer]);
    assert.deepEqual(vols.map((v) => [v.owner.uid, v.owner.gid]), [[uid, uid]]);
    await node.kubectl(['delete', 'pv', vols[0].pv.metadata.name, '--wait=true']);
    await apply([vols[0].pv, pvc, writer]);
    await node.kubectlOk(['-n', NS, 'wait', '--for=jsonpath={.status.phase}=Bound', 'pvc/data', '--timeout=60s'], { timeoutMs: 90000 });
    await node.kubectlOk(['-n', NS, 'wait', '--for=jsonpath={.status.phase}=Succeeded', 'pod/writer', '--timeout=90s'], { timeoutMs: 120000 });
    const logs = (await node.kubectlOk(['-n', NS, 'logs', 'writer'])).stdout;
    assert.match(logs, new RegExp(`^\\S+\\s+\\d+\\s+${uid}\\s+${uid}\\s.*/data/file$`, 'm'));
    assert.match(logs, new RegExp(`^${uid}:${uid}$`, 'm'));
    assert.equal(fs.readFileSync(path.join(vols[0].pv.spec.hostPath.path, 'file'), 'utf8'), 'kept\n');
    const st = fs.statSync(vols[0].pv.spec.hostPath.path);
    assert.equal(st.mode & 0o777, 0o770, 'the volume is not world-writable');
  });

  it('the node stops and the host is as it was found', async (t) => {
    if (!owned) {
      t.skip('the node was already up (npm run node:up): left running');
      return;
    }
    await node.kubectl(['delete', 'namespace', NS, '--wait=false']);
    await node.down();
    owned = false;
    const now = hostState();
    assert.deepEqual(now, before0);
  });
});
