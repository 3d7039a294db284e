'use strict';
// A real single-node Kubernetes on this machine, from the binaries scripts/real/install-node.sh and
// install-cluster.sh build: kine + kube-apiserver + kube-controller-manager + kube-scheduler, then
// containerd (Debian) + kubelet + kube-proxy (iptables), then CoreDNS and kube-router (firewall
// only, the NetworkPolicy enforcer). `npm run node:up` / `node:down` and the scenarios of
// e2e/node/ drive it through this module.
//
// Every process is started detached in a process group of its own, its PID (with its start time,
// so that a reused PID is never taken for ours) recorded under the run folder; stopping signals
// those groups only. Everything the node changes on the host is listed in hostState() and put back
// by down(): sysctls, links, the pod range's routing rule and table, iptables chains, ipsets,
// mounts and the kubelet's cgroups. The pods are contained before any of them runs: see contain().
const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { BIN, CACHE, ROOT, isExecutable } = require('../lib/env');
const { kubectlMethods } = require('../lib/kubectl');

// The node's addresses. The node IP sits on a link of its own (a bridge without ports), so nothing of the machine's
// own interfaces is touched; the API server listens there so that pods reach the `kubernetes`
// Service through kube-proxy.
const NET = Object.freeze({
  nodeName: 'rmlops-node',
  nodeLink: 'rmlops-node',
  nodeIp: '10.201.0.1',
  bridge: 'rmlops0',
  podCidr: '10.244.0.0/24',
  clusterCidr: '10.244.0.0/16',
  serviceCidr: '10.96.0.0/16',
  dnsIp: '10.96.0.10',
  apiPort: 16443,
  // The pods' own routing table and the priority of the rule that sends them there.
  table: 2244,
  rulePriority: 100,
});
const KINE = { port: 12379, metrics: 12380 };
const KUBE_ROUTER_HEALTH = 20244;

const NODE_DIR = path.join(CACHE, 'node');
const RUN = process.env.RMLOPS_NODE_RUN || path.join(NODE_DIR, 'run');
const IMAGES = path.join(NODE_DIR, 'images');
const SHARED_IMAGES = path.join(CACHE, 'images', 'index.json');
const ETC = path.join(__dirname, 'etc');

// Start order; down() stops them in reverse.
const COMPONENTS = ['containerd', 'kine', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kube-router'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sh(cmd, args, { input, allowFail = false, timeoutMs = 60000 } = {}) {
  try {
    return execFileSync(cmd, args, { input, encoding: 'utf8', timeout: timeoutMs, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    if (allowFail) return null;
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(err.stderr || err.message || '').trim()}`);
  }
}

function readOr(file, fallback) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

// ---- what the node needs -------------------------------------------------------------------
function binaries() {
  const own = ['kine', 'kube-apiserver', 'kubectl', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'coredns', 'kube-router'];
  const host = ['containerd', 'runc', 'ctr', 'iptables', 'iptables-save', 'ipset', 'conntrack', 'ip', 'openssl'];
  const missing = own.filter((n) => !isExecutable(path.join(BIN, n))).map((n) => `${n} (${path.join(BIN, n)})`);
  for (const n of host) if (!sh('sh', ['-c', `command -v ${n}`], { allowFail: true })) missing.push(`${n} (Debian: e2e/node/packages.txt)`);
  if (!fs.existsSync('/usr/lib/cni/bridge')) missing.push('/usr/lib/cni/bridge (Debian: containernetworking-plugins)');
  if (!fs.existsSync(path.join(IMAGES, 'index.json'))) missing.push(`${IMAGES}/index.json`);
  if (process.getuid && process.getuid() !== 0) missing.push('root (the node changes iptables, links and mounts)');
  if (missing.length) return { reason: `not available: ${missing.join(', ')} (run scripts/real/install-cluster.sh and scripts/real/install-node.sh)` };
  return Object.fromEntries(own.map((n) => [n, path.join(BIN, n)]));
}

// The images the node imports: its own (pause, CoreDNS, netcheck), then those of the images build
// (scripts/real/install-images.sh), when it has run. Refs by name: ownImages().netcheck.
function ownImages() {
  const list = JSON.parse(fs.readFileSync(path.join(IMAGES, 'index.json'), 'utf8'));
  return Object.fromEntries(list.map((i) => [i.name, i.ref]));
}

function imageArchives() {
  const out = JSON.parse(fs.readFileSync(path.join(IMAGES, 'index.json'), 'utf8'));
  if (fs.existsSync(SHARED_IMAGES)) out.push(...JSON.parse(fs.readFileSync(SHARED_IMAGES, 'utf8')));
  return out;
}

// ---- the host, before and after -------------------------------------------------------------
// The sysctls the node's components may write: the node itself (forwarding, bridged traffic
// through iptables), the CNI bridge (ip_forward), the kubelet (it sets the overcommit, panic and
// key-quota values it expects unless protectKernelDefaults) and kube-proxy (conntrack, route_localnet).
const SYSCTLS = ['net/ipv4/ip_forward', 'net/bridge/bridge-nf-call-iptables', 'vm/overcommit_memory', 'vm/panic_on_oom',
  'kernel/panic', 'kernel/panic_on_oops', 'kernel/keys/root_maxkeys', 'kernel/keys/root_maxbytes',
  'net/netfilter/nf_conntrack_max', 'net/ipv4/conf/all/route_localnet'];

// Everything the node may change, in a form that compares equal when the host is as it was.
function hostState() {
  const iptables = (sh('iptables-save', [], { allowFail: true }) || '').split('\n');
  const ip6tables = (sh('ip6tables-save', [], { allowFail: true }) || '').split('\n');
  return {
    sysctls: Object.fromEntries(SYSCTLS.map((k) => [k, readOr(`/proc/sys/${k}`, null)])),
    links: sh('ip', ['-o', 'link', 'show']).split('\n').filter(Boolean).map((l) => l.split(':')[1].trim().split('@')[0]).sort(),
    rules: sh('ip', ['rule', 'show']).trim().split('\n'),
    podTable: (sh('ip', ['route', 'show', 'table', String(NET.table)], { allowFail: true }) || '').trim(),
    // Chains and rules the node's components add (kube-proxy and kube-router: KUBE-*, CNI: CNI-*).
    kubeIptables: iptables.filter((l) => /KUBE-|CNI-|rmlops/.test(l)).length,
    kubeIp6tables: ip6tables.filter((l) => /KUBE-|CNI-|rmlops/.test(l)).length,
    outputRejects: iptables.filter((l) => l.startsWith(`-A OUTPUT -d ${NET.serviceCidr}`)).length,
    ipsets: (sh('ipset', ['list', '-n'], { allowFail: true }) || '').split('\n').filter(Boolean).sort(),
    mounts: mountsUnder(RUN).length,
    netns: fs.existsSync('/var/run/netns') ? fs.readdirSync('/var/run/netns').filter((n) => n.startsWith('cni-')).sort() : [],
    kubepodsCgroups: fs.readdirSync('/sys/fs/cgroup').filter((c) => fs.existsSync(`/sys/fs/cgroup/${c}/kubepods`)).length,
  };
}

function mountsUnder(dir) {
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1])
    .filter((m) => m && (m === dir || m.startsWith(`${dir}/`) || m.startsWith('/run/netns/cni-') || m.startsWith('/var/run/netns/cni-')));
}

// ---- processes --------------------------------------------------------------------------------
const pidFile = (name) => path.join(RUN, 'pids', name);
// The command a component was started with, so that restart() starts the same one again.
const cmdFile = (name) => path.join(RUN, 'pids', `${name}.cmd.json`);
const logFile = (name) => path.join(RUN, 'logs', `${name}.log`);

// The kernel's start time of a process (field 22 of /proc/PID/stat): a PID and its start time
// identify one process for good.
function startTime(pid) {
  const stat = readOr(`/proc/${pid}/stat`, null);
  if (!stat) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // A zombie has exited: its /proc entry lasts until it is reaped, which this machine's init
  // does about every 2 s (waiting for the entry to go cost 2 s per component at each stop).
  if (fields[0] === 'Z') return null;
  return fields[19];
}

function recorded(name) {
  const [pid, started] = readOr(pidFile(name), '').split(' ');
  if (!pid) return null;
  return { pid: Number(pid), alive: startTime(pid) === started };
}

function launch(name, cmd, args, env = {}) {
  fs.mkdirSync(path.dirname(logFile(name)), { recursive: true });
  fs.mkdirSync(path.dirname(pidFile(name)), { recursive: true });
  const out = fs.openSync(logFile(name), 'a');
  // detached: a session and process group of its own, stopped by that group's id.
  const child = spawn(cmd, args, { cwd: RUN, detached: true, stdio: ['ignore', out, out], env: { PATH: process.env.PATH, HOME: RUN, ...env } });
  fs.closeSync(out);
  child.unref();
  fs.writeFileSync(pidFile(name), `${child.pid} ${startTime(child.pid)}\n`);
  fs.writeFileSync(cmdFile(name), JSON.stringify({ cmd, args, env }));
  return child.pid;
}

function logTail(name, lines = 30) {
  return readOr(logFile(name), '(no log)').split('\n').slice(-lines).join('\n');
}

async function stopProcess(name, graceMs = 10000) {
  const r = recorded(name);
  const t0 = Date.now();
  if (r && r.alive) {
    const signal = (s) => { try { process.kill(-r.pid, s); } catch { /* gone */ } };
    signal('SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && startTime(r.pid)) await sleep(100);
    // kube-apiserver, for one, keeps draining well past SIGTERM: the group is killed then.
    signal('SIGKILL');
    for (let i = 0; i < 50 && startTime(r.pid); i++) await sleep(100);
  }
  fs.rmSync(pidFile(name), { force: true });
  fs.rmSync(cmdFile(name), { force: true });
  return (Date.now() - t0) / 1000;
}

// Polls fn until truthy, bounded in time; names the component whose log explains a failure.
async function until(what, fn, { timeoutMs = 60000, everyMs = 250, component } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    if (component) {
      const r = recorded(component);
      if (!r || !r.alive) throw new Error(`${what}: ${component} exited. Log:\n${logTail(component)}`);
    }
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last: ${last.message})` : ''}${component ? `\n${component} log:\n${logTail(component)}` : ''}`);
}

// ---- PKI and kubeconfigs ------------------------------------------------------------------------
function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

// One CA; a client certificate per component (Node,RBAC authorization names them), serving
// certificates for the API server (its Service IP and the node IP) and the kubelet.
function makePki(dir) {
  if (fs.existsSync(path.join(dir, 'sa.pub'))) return;
  fs.mkdirSync(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '7', '-subj', '/CN=rmlops-node-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const issue = (name, subject, ...ext) => {
    fs.writeFileSync(path.join(dir, `${name}.ext`), [...ext, 'keyUsage=critical,digitalSignature'].join('\n') + '\n');
    openssl(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '7',
      '-out', `${name}.crt`, '-extfile', `${name}.ext`], dir);
    fs.rmSync(path.join(dir, `${name}.csr`));
    fs.rmSync(path.join(dir, `${name}.ext`));
  };
  const client = 'extendedKeyUsage=clientAuth';
  issue('apiserver', '/CN=kube-apiserver', 'extendedKeyUsage=serverAuth',
    `subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:${NET.nodeIp},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local`);
  issue('admin', '/O=system:masters/CN=rmlops-node-admin', client);
  issue('apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', client);
  issue('controller-manager', '/CN=system:kube-controller-manager', client);
  issue('scheduler', '/CN=system:kube-scheduler', client);
  issue('kube-proxy', '/CN=system:kube-proxy', client);
  issue('kube-router', '/O=system:masters/CN=kube-router', client);
  issue('kubelet', `/O=system:nodes/CN=system:node:${NET.nodeName}`, client);
  issue('kubelet-serving', `/CN=${NET.nodeName}`, 'extendedKeyUsage=serverAuth', `subjectAltName=IP:127.0.0.1,IP:${NET.nodeIp},DNS:${NET.nodeName}`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key'], dir);
  openssl(['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function writeKubeconfig(file, pki, user) {
  const b64 = (p) => fs.readFileSync(path.join(pki, p)).toString('base64');
  fs.writeFileSync(file, [
    'apiVersion: v1', 'kind: Config', 'current-context: rmlops-node',
    'clusters:', '- name: rmlops-node', '  cluster:', `    server: https://${NET.nodeIp}:${NET.apiPort}`, `    certificate-authority-data: ${b64('ca.crt')}`,
    'users:', `- name: ${user}`, '  user:', `    client-certificate-data: ${b64(`${user}.crt`)}`, `    client-key-data: ${b64(`${user}.key`)}`,
    'contexts:', '- name: rmlops-node', '  context:', '    cluster: rmlops-node', `    user: ${user}`, '',
  ].join('\n'), { mode: 0o600 });
}

// Renders a template of e2e/node/etc/ with @NAME@ placeholders.
function render(template, out, values) {
  let text = fs.readFileSync(path.join(ETC, template), 'utf8');
  for (const [k, v] of Object.entries(values)) text = text.split(`@${k}@`).join(String(v));
  const left = /@[A-Z_]+@/.exec(text);
  if (left) throw new Error(`${template}: no value for ${left[0]}`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, text);
  return out;
}

// ---- the host's network: the node link, sysctls, containment --------------------------------------
function sysctl(file, value) {
  if (fs.existsSync(file)) fs.writeFileSync(file, `${value}\n`);
}

// Pods and Services reach only each other and the node, before any pod runs:
// - the pods' source range gets a routing table of its own (an `ip rule`): the pod range is looked
//   up in the main table as usual (`throw`), the node's own addresses are in the local table,
//   which the kernel consults first, and everything else is `unreachable`, answered at once by the
//   node. Routing comes after kube-proxy's DNAT, so Services with endpoints work, whatever order
//   anyone's iptables chains are in.
// - host processes: an OUTPUT reject for Service addresses that kube-proxy did not translate (nat
//   comes before filter, so a translated connection never matches).
// - the CNI bridge does no masquerade (etc/cni.conflist) and CoreDNS has no `forward`.
function contain() {
  const rule = ['from', NET.clusterCidr, 'lookup', String(NET.table), 'priority', String(NET.rulePriority)];
  if (!sh('ip', ['rule', 'show']).includes(`lookup ${NET.table}`)) sh('ip', ['rule', 'add', ...rule]);
  sh('ip', ['route', 'replace', 'throw', NET.clusterCidr, 'table', String(NET.table)]);
  sh('ip', ['route', 'replace', 'unreachable', 'default', 'table', String(NET.table)]);
  const reject = ['OUTPUT', '-d', NET.serviceCidr, '-m', 'comment', '--comment', 'rmlops-node: untranslated Service address', '-j', 'REJECT'];
  if (sh('iptables', ['-C', ...reject], { allowFail: true }) === null) sh('iptables', ['-A', ...reject]);
}

function uncontain() {
  while (sh('ip', ['rule', 'show']).includes(`lookup ${NET.table}`)) {
    if (sh('ip', ['rule', 'del', 'from', NET.clusterCidr, 'lookup', String(NET.table), 'priority', String(NET.rulePriority)], { allowFail: true }) === null) break;
  }
  sh('ip', ['route', 'flush', 'table', String(NET.table)], { allowFail: true });
  const reject = ['OUTPUT', '-d', NET.serviceCidr, '-m', 'comment', '--comment', 'rmlops-node: untranslated Service address', '-j', 'REJECT'];
  while (sh('iptables', ['-D', ...reject], { allowFail: true }) !== null);
}

// Every rule that jumps to a KUBE-/CNI- chain, then those chains, in each table.
function removeChains() {
  for (const ipt of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle', 'raw']) {
      const save = () => (sh(`${ipt}-save`, ['-t', table], { allowFail: true }) || '').split('\n');
      for (const line of save().filter((l) => /^-A \S+ .*-j (KUBE-|CNI-)/.test(l))) {
        // iptables-save quotes as a shell would: the rule is re-read by one.
        sh('sh', ['-c', `${ipt} -t ${table} ${line.replace(/^-A/, '-D')}`], { allowFail: true });
      }
      const chains = save().map((l) => /^:((?:KUBE|CNI)-\S+)/.exec(l)).filter(Boolean).map((m) => m[1]);
      for (const c of chains) sh(ipt, ['-t', table, '-F', c], { allowFail: true });
      for (const c of chains) sh(ipt, ['-t', table, '-X', c], { allowFail: true });
    }
  }
  const sets = (sh('ipset', ['list', '-n'], { allowFail: true }) || '').split('\n').filter((s) => /^(KUBE-|kube-router|inet6:)/.test(s));
  for (const s of sets) sh('ipset', ['destroy', s], { allowFail: true });
}

// ---- the node -----------------------------------------------------------------------------------
class Node {
  constructor() {
    this.run = RUN;
    this.kubeconfig = path.join(RUN, 'admin.kubeconfig');
    this.net = NET;
    this.timings = {};
  }

  // The components whose recorded process is alive.
  running() {
    return COMPONENTS.filter((n) => { const r = recorded(n); return r && r.alive; });
  }

  // Starts the node, or returns at once when every component already runs (idempotent). A
  // half-started node from an earlier failure is stopped and cleaned up first.
  async up({ log = () => {} } = {}) {
    const bins = binaries();
    if (bins.reason) throw new Error(bins.reason);
    this.bins = bins;
    if (this.running().length === COMPONENTS.length && await this.ready()) {
      log('already up');
      this.alreadyUp = true;
      return this;
    }
    if (this.running().length) await this.down({ log });
    const t0 = Date.now();
    const mark = (what) => { this.timings[what] = (Date.now() - t0) / 1000; log(`t+${this.timings[what].toFixed(1)}s ${what}`); };
    fs.mkdirSync(RUN, { recursive: true });
    // The host as found, once: down() puts it back and the scenario compares against it.
    const before = path.join(RUN, 'host-before.json');
    if (!fs.existsSync(before)) fs.writeFileSync(before, JSON.stringify(hostState(), null, 2));

    try {
      await this.start(mark);
    } catch (err) {
      await this.down({ log });
      throw err;
    }
    return this;
  }

  async start(mark) {
    const b = this.bins;
    const pki = path.join(RUN, 'pki');
    makePki(pki);
    for (const u of ['admin', 'controller-manager', 'scheduler', 'kube-proxy', 'kube-router', 'kubelet']) {
      writeKubeconfig(path.join(RUN, `${u}.kubeconfig`), pki, u);
    }

    // The host: forwarding between the bridge and the pods, bridged traffic through iptables
    // (kube-proxy's DNAT of pod-to-pod Service traffic on one bridge), the node link, containment.
    sysctl('/proc/sys/net/ipv4/ip_forward', 1);
    sysctl('/proc/sys/net/bridge/bridge-nf-call-iptables', 1);
    // A bridge with no ports holds the node IP: this kernel has no dummy link type.
    if (sh('ip', ['link', 'show', NET.nodeLink], { allowFail: true }) === null) sh('ip', ['link', 'add', NET.nodeLink, 'type', 'bridge']);
    sh('ip', ['addr', 'replace', `${NET.nodeIp}/32`, 'dev', NET.nodeLink]);
    sh('ip', ['link', 'set', NET.nodeLink, 'up']);
    contain();
    mark('host prepared and contained');

    const values = { RUN, NODE_IP: NET.nodeIp, NODE_NAME: NET.nodeName, POD_CIDR: NET.podCidr, CLUSTER_CIDR: NET.clusterCidr,
      SERVICE_CIDR: NET.serviceCidr, DNS_IP: NET.dnsIp, BRIDGE: NET.bridge, PKI: pki, API_PORT: NET.apiPort,
      PAUSE: ownImages().pause };
    // The pods' upstream resolver file: none (dnsPolicy Default pods resolve nothing outside).
    fs.writeFileSync(path.join(RUN, 'resolv.conf'), '# rmlops node: no upstream resolver\n');
    const containerdToml = render('containerd.toml', path.join(RUN, 'containerd.toml'), values);
    render('cni.conflist', path.join(RUN, 'cni', 'net.d', '10-rmlops.conflist'), values);
    const kubeletYaml = render('kubelet.yaml', path.join(RUN, 'kubelet.yaml'), values);
    const proxyYaml = render('kube-proxy.yaml', path.join(RUN, 'kube-proxy.yaml'), values);
    this.sock = path.join(RUN, 'containerd', 'containerd.sock');

    launch('containerd', 'containerd', ['--config', containerdToml]);
    await until('containerd answers', () => this.ctr(['version'], { allowFail: true }) !== null, { timeoutMs: 30000, component: 'containerd' });
    this.importImages();
    mark('containerd up, images imported');

    fs.mkdirSync(path.join(RUN, 'kine'), { recursive: true });
    launch('kine', b.kine, ['--endpoint', `sqlite://${RUN}/kine/state.db?_journal=WAL&cache=shared&_busy_timeout=30000`,
      '--listen-address', `127.0.0.1:${KINE.port}`, '--metrics-bind-address', `127.0.0.1:${KINE.metrics}`]);
    const p = (f) => path.join(pki, f);
    launch('kube-apiserver', b['kube-apiserver'], [
      `--etcd-servers=http://127.0.0.1:${KINE.port}`,
      `--bind-address=${NET.nodeIp}`, `--secure-port=${NET.apiPort}`, `--advertise-address=${NET.nodeIp}`,
      `--tls-cert-file=${p('apiserver.crt')}`, `--tls-private-key-file=${p('apiserver.key')}`, `--client-ca-file=${p('ca.crt')}`,
      `--kubelet-client-certificate=${p('apiserver-kubelet-client.crt')}`, `--kubelet-client-key=${p('apiserver-kubelet-client.key')}`,
      `--kubelet-certificate-authority=${p('ca.crt')}`, '--kubelet-preferred-address-types=InternalIP',
      `--service-account-key-file=${p('sa.pub')}`, `--service-account-signing-key-file=${p('sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc', `--service-cluster-ip-range=${NET.serviceCidr}`,
      '--authorization-mode=Node,RBAC', '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=false', `--cert-dir=${path.join(RUN, 'apiserver-certs')}`, '--profiling=false', '--v=1',
    ]);
    await until('kube-apiserver /readyz', async () => (await this.kubectl(['get', '--raw', '/readyz'])).code === 0,
      { timeoutMs: 120000, everyMs: 500, component: 'kube-apiserver' });
    mark('kube-apiserver ready');

    const kc = (u) => path.join(RUN, `${u}.kubeconfig`);
    launch('kube-controller-manager', b['kube-controller-manager'], [
      `--kubeconfig=${kc('controller-manager')}`, `--authentication-kubeconfig=${kc('controller-manager')}`,
      `--authorization-kubeconfig=${kc('controller-manager')}`, '--bind-address=127.0.0.1', '--leader-elect=false',
      '--use-service-account-credentials=true', `--root-ca-file=${p('ca.crt')}`, `--service-account-private-key-file=${p('sa.key')}`,
      `--cluster-signing-cert-file=${p('ca.crt')}`, `--cluster-signing-key-file=${p('ca.key')}`,
      `--service-cluster-ip-range=${NET.serviceCidr}`, '--allocate-node-cidrs=false',
      '--controllers=*,-cloud-node-lifecycle', '--v=1',
    ]);
    launch('kube-scheduler', b['kube-scheduler'], [
      `--kubeconfig=${kc('scheduler')}`, `--authentication-kubeconfig=${kc('scheduler')}`, `--authorization-kubeconfig=${kc('scheduler')}`,
      '--bind-address=127.0.0.1', '--leader-elect=false', '--v=1',
    ]);
    fs.mkdirSync(path.join(RUN, 'kubelet'), { recursive: true });
    launch('kubelet', b.kubelet, [
      `--config=${kubeletYaml}`, `--kubeconfig=${kc('kubelet')}`, `--root-dir=${path.join(RUN, 'kubelet')}`,
      `--cert-dir=${path.join(RUN, 'kubelet', 'pki')}`, `--hostname-override=${NET.nodeName}`, `--node-ip=${NET.nodeIp}`,
      `--pod-infra-container-image=${values.PAUSE}`, '--v=1',
    ]);
    launch('kube-proxy', b['kube-proxy'], [`--config=${proxyYaml}`, '--v=1']);
    await until(`node ${NET.nodeName} Ready`, async () => this.nodeReady(), { timeoutMs: 120000, everyMs: 500, component: 'kubelet' });
    mark('node Ready');

    launch('kube-router', b['kube-router'], [
      `--kubeconfig=${kc('kube-router')}`, '--run-firewall=true', '--run-router=false', '--run-service-proxy=false',
      '--enable-cni=false', '--enable-ipv6=false', '--enable-pod-egress=false', `--hostname-override=${NET.nodeName}`,
      `--health-port=${KUBE_ROUTER_HEALTH}`, `--service-cluster-ip-range=${NET.serviceCidr}`, '--v=1',
    ]);
    const coredns = render('coredns.yaml', path.join(RUN, 'coredns.yaml'), { ...values, COREDNS: ownImages().coredns });
    await this.kubectlOk(['apply', '-f', coredns]);
    await until('kube-router healthy', async () => (await this.curlLocal(KUBE_ROUTER_HEALTH, '/healthz')) === 200,
      { timeoutMs: 60000, everyMs: 500, component: 'kube-router' });
    await until('CoreDNS Ready', async () => (await this.kubectl(['-n', 'kube-system', 'rollout', 'status', 'deploy/coredns', '--timeout=2s'])).code === 0,
      { timeoutMs: 120000, everyMs: 500 });
    mark('CoreDNS and kube-router ready');
  }

  // Imports every archive of imageArchives() into containerd's k8s.io namespace, skipping those
  // already imported from the same file (same size and modification time) and still present.
  importImages() {
    const stampFile = path.join(RUN, 'containerd', 'imported.json');
    const stamps = fs.existsSync(stampFile) ? JSON.parse(fs.readFileSync(stampFile, 'utf8')) : {};
    const present = new Set(this.ctr(['-n', 'k8s.io', 'images', 'ls', '-q']).split('\n'));
    for (const img of imageArchives()) {
      const st = fs.statSync(img.archive);
      const stamp = `${img.archive} ${st.size} ${st.mtimeMs}`;
      if (stamps[img.ref] === stamp && present.has(img.ref)) continue;
      this.ctr(['-n', 'k8s.io', 'images', 'import', img.archive], { timeoutMs: 300000 });
      stamps[img.ref] = stamp;
      fs.writeFileSync(stampFile, JSON.stringify(stamps, null, 2));
    }
  }

  // Stops one component (its recorded process group only, as down() does) and starts it again
  // with the command it was started with; resolves once it answers again (containerd: its API;
  // the kubelet: its healthz and the node Ready). For the fault scenarios: the pods' containers
  // are the shims' children, in groups of their own, so they outlive containerd's restart.
  async restart(name, { graceMs = 10000 } = {}) {
    if (!['containerd', 'kubelet'].includes(name)) throw new Error(`restart(${name}): only containerd and the kubelet are restarted`);
    const r = recorded(name);
    if (!r || !r.alive) throw new Error(`restart(${name}): it is not running (no live recorded process)`);
    const spec = JSON.parse(fs.readFileSync(cmdFile(name), 'utf8'));
    const t0 = Date.now();
    await stopProcess(name, graceMs);
    const stopped = (Date.now() - t0) / 1000;
    launch(name, spec.cmd, spec.args, spec.env);
    if (name === 'containerd') {
      await until('containerd answers after its restart', () => this.ctr(['version'], { allowFail: true }) !== null, { timeoutMs: 30000, component: name });
    } else {
      await until('kubelet healthz after its restart', async () => (await this.curlLocal(10248, '/healthz')) === 200, { timeoutMs: 60000, everyMs: 250, component: name });
    }
    await until(`node ${NET.nodeName} Ready after restarting ${name}`, async () => this.nodeReady(), { timeoutMs: 120000, everyMs: 500, component: name });
    return { stopped, ready: (Date.now() - t0) / 1000 };
  }

  async ready() {
    return (await this.kubectl(['get', '--raw', '/readyz'])).code === 0 && this.nodeReady();
  }

  async nodeReady() {
    const r = await this.kubectl(['get', 'node', NET.nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
    return r.code === 0 && r.stdout.trim() === 'True';
  }

  curlLocal(port, urlPath) {
    return new Promise((resolve) => {
      const req = require('http').get({ host: '127.0.0.1', port, path: urlPath, timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode); });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
    });
  }

  ctr(args, opts = {}) {
    return sh('ctr', ['-a', path.join(RUN, 'containerd', 'containerd.sock'), ...args], opts);
  }

  kubectlBin() {
    return path.join(BIN, 'kubectl');
  }

  kubectlEnv() {
    return { HOME: RUN, KUBECONFIG: this.kubeconfig };
  }

  // Stops every recorded process (by its group), removes the pods' containers, network namespaces
  // and mounts, and puts the host back as hostState() found it. Safe to call at any point, twice.
  async down({ purge = false, log = () => {} } = {}) {
    // The node's daemons and the controllers hold no state of their own: they stop together. Then
    // the API server, whose drain after SIGTERM outlasts any client left (it is killed after 2 s:
    // its state is kine's), then kine, the one that writes, with its full grace.
    const stops = {};
    const parallel = COMPONENTS.slice(COMPONENTS.indexOf('kube-controller-manager'));
    await Promise.all(parallel.map(async (name) => { stops[name] = await stopProcess(name); }));
    stops['kube-apiserver'] = await stopProcess('kube-apiserver', 2000);
    stops.kine = await stopProcess('kine');
    const sock = path.join(RUN, 'containerd', 'containerd.sock');
    if (fs.existsSync(sock) && this.ctr(['version'], { allowFail: true }) !== null) {
      const c = (args) => this.ctr(['-n', 'k8s.io', ...args], { allowFail: true }) || '';
      for (const t of c(['tasks', 'ls', '-q']).split('\n').filter(Boolean)) c(['tasks', 'kill', '-s', 'SIGKILL', t]);
      await sleep(500);
      for (const t of c(['tasks', 'ls', '-q']).split('\n').filter(Boolean)) c(['tasks', 'delete', '-f', t]);
      for (const id of c(['containers', 'ls', '-q']).split('\n').filter(Boolean)) c(['containers', 'delete', id]);
    }
    stops.containerd = await stopProcess('containerd');
    log(`stop times (s): ${JSON.stringify(stops)}`);
    // The shims containerd started are in groups of their own; each exits once its task is gone.
    for (const m of mountsUnder(RUN).sort().reverse()) sh('umount', ['-l', m], { allowFail: true });
    const beforeFile = path.join(RUN, 'host-before.json');
    const before = fs.existsSync(beforeFile) ? JSON.parse(fs.readFileSync(beforeFile, 'utf8')) : null;
    // The pods' network namespaces: those the CNI made since the host was recorded.
    for (const n of hostState().netns.filter((x) => !before || !before.netns.includes(x))) {
      fs.rmSync(path.join('/var/run/netns', n), { force: true });
    }
    removeChains();
    uncontain();
    // The pods' veths on the node's bridge (gone with their namespaces, unless one is still held).
    const enslaved = sh('ip', ['-o', 'link', 'show', 'master', NET.bridge], { allowFail: true }) || '';
    for (const l of enslaved.split('\n').filter(Boolean)) sh('ip', ['link', 'del', l.split(':')[1].trim().split('@')[0]], { allowFail: true });
    for (const link of [NET.bridge, NET.nodeLink, 'kube-dummy-if']) {
      if (!before || !before.links.includes(link)) sh('ip', ['link', 'del', link], { allowFail: true });
    }
    fs.rmSync(path.join(RUN, 'cni', 'ipam'), { recursive: true, force: true });
    // The kubelet's cgroupfs hierarchy, deepest first (empty once every container is gone).
    for (const c of fs.readdirSync('/sys/fs/cgroup')) {
      const root = `/sys/fs/cgroup/${c}/kubepods`;
      if (fs.existsSync(root)) sh('find', [root, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';'], { allowFail: true });
    }
    if (before) {
      for (const [k, v] of Object.entries(before.sysctls)) if (v !== null && readOr(`/proc/sys/${k}`, null) !== v) sysctl(`/proc/sys/${k}`, v);
      this.hostBefore = before;
      fs.rmSync(beforeFile);
    }
    if (purge) fs.rmSync(RUN, { recursive: true, force: true });
    log('stopped; host restored');
    return this.hostBefore;
  }
}

Object.assign(Node.prototype, kubectlMethods);

module.exports = { Node, NET, RUN, IMAGES, binaries, hostState, ownImages, imageArchives, ROOT };
