'use strict';
// Seldon Core 1.17.1's operator in the node's cluster, as its own manifests install it: the image
// built by scripts/real/install-images.sh, the ClusterRoles of the vendored source's
// operator/config/rbac (its own RBAC, read from the source archive, not written here), a webhook
// Service with a serving certificate made for this run, and the validating webhook addressed
// through that Service. The environment is the one e2e/cluster/operator.js gives the operator
// (its manager manifest's, with ingress integrations off: no Istio or Ambassador on the node).
const { execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const path = require('path');
const YAML = require('yaml');
const { ROOT } = require('../lib/env');
const { makeCA, serverCert } = require('../cluster/controlplane');
const { operatorEnv, WEBHOOK_PATH } = require('../cluster/operator');

const NS = 'seldon-system';
const SA = 'seldon-manager';
const SOURCE = path.join(ROOT, '..', 'shared', 'third_party', 'seldon-core-1.17.1.tar.gz');
const CRD = path.join(ROOT, '..', 'shared', 'crds', 'machinelearning.seldon.io_seldondeployments.yaml');
const OPERATOR_IMAGE = 'docker.io/seldonio/seldon-core-operator:1.17.1';
const WEBHOOK_PORT = 4443;

// The operator's ClusterRoles from its source archive, bound to the operator's ServiceAccount.
function rbac() {
  const read = (f) => YAML.parse(execFileSync('tar', ['-xzOf', SOURCE, `seldon-core-1.17.1/operator/config/rbac/${f}`], { encoding: 'utf8' }));
  const roles = ['role.yaml', 'role_sas.yaml'].map(read);
  const out = [];
  for (const role of roles) {
    const name = `seldon-${role.metadata.name}`;
    out.push({ ...role, metadata: { name } });
    out.push({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: SA, namespace: NS }],
    });
  }
  return out;
}

// `dir` keeps the webhook's CA and certificate for as long as the node's state: a node restarted
// on the same kine database still runs the operator pod that mounted them.
function objects(dir) {
  const svcName = 'seldon-webhook-service';
  if (!fs.existsSync(path.join(dir, 'webhook.crt'))) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const ca = makeCA(dir, 'rmlops-node-seldon-webhook-ca');
    serverCert(dir, ca, 'webhook', `${svcName}.${NS}.svc`, [svcName, `${svcName}.${NS}`, `${svcName}.${NS}.svc`]);
  }
  const ca = { crt: path.join(dir, 'ca.crt') };
  const cert = { crt: path.join(dir, 'webhook.crt'), key: path.join(dir, 'webhook.key') };
  const b64 = (f) => fs.readFileSync(f).toString('base64');
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'seldon-webhook-server-cert', namespace: NS }, type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(cert.crt), 'tls.key': b64(cert.key) } };
  const caBundle = b64(ca.crt);
  const labels = { 'app.kubernetes.io/name': 'seldon-core-operator', 'control-plane': 'seldon-controller-manager' };
  const env = Object.entries({ ...operatorEnv(), POD_NAMESPACE: NS, TMPDIR: '/tmp' }).map(([name, value]) => ({ name, value }));
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SA, namespace: NS } },
    ...rbac(),
    secret,
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'seldon-controller-manager', namespace: NS, labels },
      spec: {
        replicas: 1, selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: SA, terminationGracePeriodSeconds: 5,
            securityContext: { runAsNonRoot: true, runAsUser: 8888, runAsGroup: 8888, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: 'manager', image: OPERATOR_IMAGE, imagePullPolicy: 'IfNotPresent',
              args: [`--webhook-port=${WEBHOOK_PORT}`, '--metrics-addr=127.0.0.1:8080', '--create-resources=false', '--log-level=INFO'],
              env, ports: [{ name: 'webhook', containerPort: WEBHOOK_PORT }],
              readinessProbe: { tcpSocket: { port: 'webhook' }, periodSeconds: 2 },
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '300Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [
                { name: 'tmp', mountPath: '/tmp' },
                // controller-runtime reads its serving certificate from $TMPDIR/k8s-webhook-server/serving-certs.
                { name: 'cert', mountPath: '/tmp/k8s-webhook-server/serving-certs', readOnly: true },
              ],
            }],
            volumes: [{ name: 'tmp', emptyDir: {} }, { name: 'cert', secret: { secretName: secret.metadata.name } }],
          },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: svcName, namespace: NS },
      spec: { selector: labels, ports: [{ port: 443, targetPort: WEBHOOK_PORT }] } },
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'seldon-validating-webhook-configuration' },
      webhooks: [{
        name: 'v1.vseldondeployment.kb.io', admissionReviewVersions: ['v1', 'v1beta1'],
        clientConfig: { service: { name: svcName, namespace: NS, path: WEBHOOK_PATH, port: 443 }, caBundle },
        failurePolicy: 'Fail', sideEffects: 'None',
        rules: [{ apiGroups: ['machinelearning.seldon.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['seldondeployments'] }],
      }],
    },
  ];
}

// Installs the CRD and the operator; resolves when the operator's pod is Ready.
async function installOperator(node) {
  await node.kubectlOk(['apply', '--server-side', '-f', CRD]);
  // Polled: kubectl 1.28's wait errors out while a new CRD has no status.conditions yet.
  for (let i = 0; ; i++) {
    const crd = await node.getJson(['crd', 'seldondeployments.machinelearning.seldon.io']);
    if (((crd.status && crd.status.conditions) || []).some((c) => c.type === 'Established' && c.status === 'True')) break;
    if (i >= 120) throw new Error('the SeldonDeployment CRD is not Established after 60 s');
    await new Promise((r) => setTimeout(r, 500));
  }
  await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects(path.join(node.run, 'seldon-webhook')) }) });
  await node.kubectlOk(['-n', NS, 'rollout', 'status', 'deploy/seldon-controller-manager', '--timeout=120s'], { timeoutMs: 150000 });
  // The API server calls the webhook through its Service: wait until kube-proxy translates the
  // Service address (until then the node's OUTPUT reject refuses it, by design).
  const ip = (await node.getJson(['-n', NS, 'service', 'seldon-webhook-service'])).spec.clusterIP;
  for (let i = 0; !(await connects(ip, 443)); i++) {
    if (i >= 60) throw new Error(`the webhook Service ${ip}:443 does not answer after 60 s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function connects(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 2000 }, () => { s.destroy(); resolve(true); });
    s.on('timeout', () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(false));
  });
}

module.exports = { installOperator, connects, OPERATOR_IMAGE, NS, SOURCE, CRD };
