'use strict';
// A Kubernetes control plane on loopback: kine (SQLite) as the storage backend and the real
// kube-apiserver, with certificates generated for this run. No controller manager, scheduler or
// kubelet runs: objects are stored and admitted, nothing is scheduled.
const { execFileSync } = require('child_process');
const fs = require('fs');
const https = require('https');
const tls = require('tls');
const net = require('net');
const os = require('os');
const path = require('path');
const procs = require('./procs');
const { kubectlMethods } = require('../lib/kubectl');

const { ROOT, BIN, isExecutable, seldonBinary } = require('../lib/env');

function binaries() {
  const want = ['kube-apiserver', 'kubectl', 'kine'].map((n) => path.join(BIN, n));
  const missing = want.filter((p) => !isExecutable(p));
  return missing.length
    ? { reason: `not built: ${missing.join(', ')} (run scripts/real/install-cluster.sh)` }
    : { apiserver: want[0], kubectl: want[1], kine: want[2] };
}

// The real operator or why there is none; it is never replaced by anything else.
const operatorBinary = () => seldonBinary('operator');

const { freePort } = require('../lib/net');

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

// EC P-256 throughout: key generation is instant, and both the API server (serving, client and
// service-account keys) and controller-runtime's webhook server accept it.
function makeCA(dir, cn) {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { crt: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
}

function issue(dir, ca, name, subject, ext) {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial',
    '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`], dir);
  return { crt: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

function serverCert(dir, ca, name, cn, dnsNames) {
  const san = ['IP:127.0.0.1', ...dnsNames.map((d) => `DNS:${d}`)].join(',');
  return issue(dir, ca, name, `/CN=${cn}`, [
    `subjectAltName=${san}`, 'extendedKeyUsage=serverAuth', 'keyUsage=critical,digitalSignature',
  ]);
}

// A controller's webhook serving certificate, per run. controller-runtime reads it from
// $TMPDIR/k8s-webhook-server/serving-certs and neither the Seldon operator nor KServe's manager has
// a flag to move it, so the process gets a TMPDIR of its own: returned with the CA to trust.
function webhookCerts(dir, caName, serviceName) {
  const tmpdir = path.join(dir, 'tmp');
  const certDir = path.join(tmpdir, 'k8s-webhook-server', 'serving-certs');
  fs.mkdirSync(certDir, { recursive: true });
  const pki = path.join(dir, 'pki');
  fs.mkdirSync(pki);
  const ca = makeCA(pki, caName);
  const cert = serverCert(pki, ca, 'webhook', serviceName, ['localhost']);
  fs.copyFileSync(cert.crt, path.join(certDir, 'tls.crt'));
  fs.copyFileSync(cert.key, path.join(certDir, 'tls.key'));
  return { tmpdir, ca };
}

// Resolves once a webhook server answers TLS on 127.0.0.1:port with a certificate `ca` signed.
async function waitForWebhookTls(what, port, ca, { timeoutMs, proc }) {
  await until(`${what} serving TLS on 127.0.0.1`, () => new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(ca.crt), servername: 'localhost' },
      () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
  }), { timeoutMs, everyMs: 500, proc });
}

// Which version of `modulePath` a Go binary was built from (its embedded module info); null when
// unreadable (no go, not a module build) or a source-checkout build ("(devel)").
function goModuleVersion(binary, modulePath) {
  try {
    const info = execFileSync('go', ['version', '-m', binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    // The main package's module is recorded as "mod", the others as "dep".
    const m = new RegExp(`^\\s*(?:mod|dep)\\s+${modulePath.replace(/[.]/g, '\\.')}\\s+(\\S+)`, 'm').exec(info);
    return m && m[1] !== '(devel)' ? m[1] : null;
  } catch {
    return null;
  }
}

function kubeconfig(file, server, ca, client) {
  const b64 = (p) => fs.readFileSync(p).toString('base64');
  fs.writeFileSync(file, [
    'apiVersion: v1', 'kind: Config', 'current-context: e2e',
    'clusters:', '- name: e2e', '  cluster:', `    server: ${server}`, `    certificate-authority-data: ${b64(ca.crt)}`,
    'users:', '- name: admin', '  user:', `    client-certificate-data: ${b64(client.crt)}`, `    client-key-data: ${b64(client.key)}`,
    'contexts:', '- name: e2e', '  context:', '    cluster: e2e', '    user: admin', '',
  ].join('\n'), { mode: 0o600 });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Polls fn until it returns a truthy value or the deadline passes; the last error is reported.
async function until(what, fn, { timeoutMs = 60000, everyMs = 250, proc } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    if (proc && proc.exitCode !== undefined) {
      throw new Error(`${what}: ${proc.name} exited (${proc.exitCode}):\n${procs.tail(proc)}`);
    }
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const logs = proc ? `\n${proc.name} log:\n${procs.tail(proc)}` : '';
      throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last: ${last.message})` : ''}${logs}`);
    }
    await sleep(everyMs);
  }
}

function httpsGet(url, { ca, cert, key }) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, {
      ca: fs.readFileSync(ca), cert: cert && fs.readFileSync(cert), key: key && fs.readFileSync(key), timeout: 5000,
    }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

class ControlPlane {
  constructor(bins) {
    this.bins = bins;
    this.procs = [];
  }

  async start() {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-cluster-'));
    const pki = path.join(this.tmp, 'pki');
    fs.mkdirSync(pki);
    this.ca = makeCA(pki, 'rmlops-e2e-ca');
    const serving = serverCert(pki, this.ca, 'apiserver', 'kube-apiserver',
      ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc']);
    // system:masters: the harness (and the operator, which runs with the same credentials) is
    // cluster admin; RBAC itself is not under test here.
    this.admin = issue(pki, this.ca, 'admin', '/O=system:masters/CN=rmlops-e2e-admin',
      ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature']);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key'], pki);
    openssl(['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], pki);

    const kinePort = await freePort();
    const kineMetrics = await freePort();
    const db = path.join(this.tmp, 'kine');
    fs.mkdirSync(db);
    this.kine = procs.start('kine', this.bins.kine, [
      '--endpoint', `sqlite://${db}/state.db?_journal=WAL&cache=shared&_busy_timeout=30000`,
      '--listen-address', `127.0.0.1:${kinePort}`,
      '--metrics-bind-address', `127.0.0.1:${kineMetrics}`,
    ], { env: { PATH: process.env.PATH, HOME: this.tmp }, logFile: path.join(this.tmp, 'kine.log'), cwd: this.tmp });
    this.procs.push(this.kine);
    await until('kine listening', () => new Promise((resolve) => {
      const s = net.connect(kinePort, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    }), { timeoutMs: 30000, proc: this.kine });

    this.port = await freePort();
    this.server = `https://127.0.0.1:${this.port}`;
    this.apiserver = procs.start('kube-apiserver', this.bins.apiserver, [
      `--etcd-servers=http://127.0.0.1:${kinePort}`,
      '--bind-address=127.0.0.1', `--secure-port=${this.port}`, '--advertise-address=127.0.0.1',
      // The built-in "kubernetes" Service would get 127.0.0.1 as its endpoint, which Endpoints
      // validation forbids; nothing here routes to it.
      '--endpoint-reconciler-type=none',
      `--tls-cert-file=${serving.crt}`, `--tls-private-key-file=${serving.key}`,
      `--client-ca-file=${this.ca.crt}`,
      `--service-account-key-file=${path.join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(pki, 'sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=RBAC',
      `--cert-dir=${path.join(this.tmp, 'apiserver-certs')}`,
      '--profiling=false',
      '--v=1',
    ], { env: { PATH: process.env.PATH, HOME: this.tmp }, logFile: path.join(this.tmp, 'kube-apiserver.log'), cwd: this.tmp });
    this.procs.push(this.apiserver);
    const auth = { ca: this.ca.crt, cert: this.admin.crt, key: this.admin.key };
    await until('kube-apiserver /readyz', async () => (await httpsGet(`${this.server}/readyz`, auth)).status === 200,
      { timeoutMs: 120000, everyMs: 500, proc: this.apiserver });

    this.kubeconfig = path.join(this.tmp, 'kubeconfig');
    kubeconfig(this.kubeconfig, this.server, this.ca, this.admin);
    return this;
  }

  kubectlBin() {
    return this.bins.kubectl;
  }

  kubectlEnv() {
    return { HOME: this.tmp, KUBECONFIG: this.kubeconfig };
  }

  async stop() {
    for (const p of this.procs.slice().reverse()) await procs.stop(p);
    if (this.tmp && !process.env.RMLOPS_KEEP_TMP) fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

Object.assign(ControlPlane.prototype, kubectlMethods);

module.exports = {
  ROOT, BIN, binaries, operatorBinary, ControlPlane, freePort, makeCA, serverCert, until, sleep, webhookCerts, waitForWebhookTls,
  goModuleVersion,
};
