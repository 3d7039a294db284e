'use strict';
// KServe v0.20.0's controller manager, run outside the cluster against the loopback API server of
// controlplane.js. What it needs there: the CRDs of the module's config/crd/full, its namespace
// and the inferenceservice-config ConfigMap of config/configmap (both copied into the cache by
// scripts/real/install-kserve.sh), with a default deployment mode that needs no Knative
// ("Standard", formerly "RawDeployment"): Knative Serving does not run here.
//
// The InferenceService webhooks (the defaulter and the validator) are registered the way
// config/webhook/manifests.yaml registers them (same paths, failurePolicy Fail) but addressed by
// URL instead of through a Service, since nothing routes Services here. The pod mutator (storage
// initializer, agent, metrics aggregation) is registered only on request (`podMutator: true`): no
// controller manager or kubelet runs, so Pods exist only when a test creates them itself.
//
// Note: controller-runtime's webhook server has no host flag in KServe's manager and binds every
// interface on the (free, per-run) webhook port; it serves TLS with a per-run CA.
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const procs = require('./procs');
const { CACHE, BIN, isExecutable, versions } = require('../lib/env');
const { freePort, goModuleVersion, until, waitForWebhookTls, webhookCerts } = require('./controlplane');

// The pin of versions.json; scripts/real/install-kserve.sh copies that version's config.
const KSERVE_VERSION = `v${versions().kserve}`;
const KSERVE_NAMESPACE = 'kserve';
const CONFIGMAP_NAME = 'inferenceservice-config';
const MUTATE_PATH = '/mutate-serving-kserve-io-v1beta1-inferenceservice';
const VALIDATE_PATH = '/validate-serving-kserve-io-v1beta1-inferenceservice';
const POD_MUTATE_PATH = '/mutate-pods';

function configDir() {
  return path.join(CACHE, 'kserve', KSERVE_VERSION);
}

// The real manager or why there is none; it is never replaced by anything else.
function kserveBinary() {
  const built = path.join(BIN, 'kserve-manager');
  const note = `${built}.unavailable`;
  if (!fs.existsSync(path.join(configDir(), 'configmap', 'inferenceservice.yaml'))) {
    // install-kserve.sh writes the note when the proxy refuses the module: that is the reason then.
    if (fs.existsSync(note)) return { reason: fs.readFileSync(note, 'utf8').trim() };
    return { reason: `no KServe CRDs/ConfigMap in ${configDir()} (run scripts/real/install-kserve.sh)` };
  }
  const fromEnv = process.env.RMLOPS_KSERVE_MANAGER;
  if (fromEnv) {
    return isExecutable(fromEnv)
      ? { path: fromEnv, source: 'RMLOPS_KSERVE_MANAGER' }
      : { reason: `RMLOPS_KSERVE_MANAGER=${fromEnv} is not an executable file` };
  }
  if (isExecutable(built)) return { path: built, source: 'e2e/go/kserve' };
  if (fs.existsSync(note)) return { reason: fs.readFileSync(note, 'utf8').trim() };
  return { reason: `no KServe manager at ${built} and RMLOPS_KSERVE_MANAGER is unset (run scripts/real/install-kserve.sh)` };
}

// Which KServe version a binary was built from (Go's embedded module info); null when unreadable.
function kserveModuleVersion(binary) {
  return goModuleVersion(binary, 'github.com/kserve/kserve');
}

// The ConfigMap of config/configmap/inferenceservice.yaml with its "deploy" section replaced: the
// shipped one defaults to "Serverless" (Knative), which needs Knative Serving. Its other sections
// are kept as KServe ships them (resource defaults, ingress, metricsAggregator, ...).
function inferenceServiceConfig({ defaultDeploymentMode = 'Standard', namespace = KSERVE_NAMESPACE, data = {} } = {}) {
  const cm = YAML.parse(fs.readFileSync(path.join(configDir(), 'configmap', 'inferenceservice.yaml'), 'utf8'));
  cm.metadata.namespace = namespace;
  delete cm.data._example; // documentation only, and most of the object's size
  cm.data.deploy = JSON.stringify({ defaultDeploymentMode });
  Object.assign(cm.data, data);
  return cm;
}

// CRDs (server-side: the InferenceService CRD is too large for client-side apply's annotation),
// the namespace and the ConfigMap. Resolves when the CRDs are Established. The two
// LLMInferenceService CRDs (4.4 MB, most of the install time) belong to cmd/llmisvc, not to this
// manager: they are left out unless `llmisvc: true`.
async function installKServe(cp, opts = {}) {
  const namespace = opts.namespace || KSERVE_NAMESPACE;
  const crdDir = path.join(configDir(), 'crd');
  const files = fs.readdirSync(crdDir).filter((f) => f.endsWith('.yaml'))
    .filter((f) => opts.llmisvc || !f.startsWith('serving.kserve.io_llminference')).sort();
  const args = ['apply', '--server-side', '--force-conflicts'];
  for (const f of files) args.push('-f', path.join(crdDir, f));
  await cp.kubectlOk(args, { timeoutMs: 300000 });
  // Polled rather than `kubectl wait`, which fails on a CRD whose status has no conditions yet.
  await until('KServe CRDs Established', async () => {
    const list = await getOrNull(cp, ['crd']);
    const ours = ((list && list.items) || []).filter((c) => c.spec.group === 'serving.kserve.io');
    const established = ours.filter((c) => ((c.status || {}).conditions || [])
      .some((k) => k.type === 'Established' && k.status === 'True'));
    return ours.length >= files.length && established.length === ours.length;
  }, { timeoutMs: 60000, everyMs: 500 });
  const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } };
  await cp.kubectlOk(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(ns) });
  const cm = inferenceServiceConfig({ ...opts, namespace });
  await cp.kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: JSON.stringify(cm) });
  return { namespace, crds: files, configMap: cm };
}

// Starts the manager (leader election off, metrics and health probes on loopback) and registers
// its InferenceService defaulter and validator by URL. `webhooks: false` leaves them unregistered:
// the controller then sees InferenceServices exactly as applied (no defaulting, no validation).
// `podMutator: true` also registers the pod mutator, with the objectSelector of
// config/webhook/manifests.yaml (pods labelled serving.kserve.io/inferenceservice).
async function startKServe(cp, binary, {
  namespace = KSERVE_NAMESPACE, webhooks = true, podMutator = false, logLevel = 'info',
} = {}) {
  const dir = path.join(cp.tmp, 'kserve');
  const { tmpdir, ca } = webhookCerts(dir, 'rmlops-e2e-kserve-webhook-ca', 'kserve-webhook-server-service');

  const webhookPort = await freePort();
  const metricsPort = await freePort();
  const probePort = await freePort();
  const proc = procs.start('kserve-manager', binary, [
    `--metrics-addr=127.0.0.1:${metricsPort}`,
    `--health-probe-addr=127.0.0.1:${probePort}`,
    `--webhook-port=${webhookPort}`,
    '--leader-elect=false',
    `--zap-log-level=${logLevel}`,
  ], {
    // POD_NAMESPACE: where the manager reads inferenceservice-config (constants.KServeNamespace).
    env: { PATH: process.env.PATH, HOME: dir, TMPDIR: tmpdir, KUBECONFIG: cp.kubeconfig, POD_NAMESPACE: namespace },
    logFile: path.join(cp.tmp, 'kserve-manager.log'),
    cwd: dir,
  });
  cp.procs.push(proc);

  await waitForWebhookTls('kserve webhook', webhookPort, ca, { timeoutMs: 90000, proc });

  if (webhooks) {
    const caBundle = fs.readFileSync(ca.crt).toString('base64');
    const rules = [{
      apiGroups: ['serving.kserve.io'], apiVersions: ['v1beta1'],
      operations: ['CREATE', 'UPDATE'], resources: ['inferenceservices'],
    }];
    const hook = (name, p, r = rules) => ({
      name,
      admissionReviewVersions: ['v1', 'v1beta1'],
      clientConfig: { url: `https://127.0.0.1:${webhookPort}${p}`, caBundle },
      failurePolicy: 'Fail',
      sideEffects: 'None',
      rules: r,
    });
    const mutating = [hook('inferenceservice.kserve-webhook-server.defaulter', MUTATE_PATH)];
    if (podMutator) {
      mutating.push({
        ...hook('inferenceservice.kserve-webhook-server.pod-mutator', POD_MUTATE_PATH,
          [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }]),
        reinvocationPolicy: 'IfNeeded',
        objectSelector: { matchExpressions: [{ key: 'serving.kserve.io/inferenceservice', operator: 'Exists' }] },
      });
    }
    const configs = [{
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'inferenceservice.serving.kserve.io' },
      webhooks: mutating,
    }, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'inferenceservice.serving.kserve.io' },
      webhooks: [hook('inferenceservice.kserve-webhook-server.validator', VALIDATE_PATH)],
    }];
    for (const c of configs) {
      await cp.kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: JSON.stringify(c) });
    }
  }
  return { proc, webhookPort, metricsPort, probePort, logFile: proc.logFile };
}

function getOrNull(cp, args) {
  return cp.kubectl(['get', ...args, '-o', 'json']).then((r) => (r.code === 0 ? JSON.parse(r.stdout) : null));
}

// The Deployment the manager generates for an InferenceService's predictor in Standard mode
// (<name>-predictor, or <name>-<predictor.name>-predictor when the predictor is named), owned
// by that InferenceService. Resolves with the Deployment object.
async function waitForPredictorDeployment(cp, namespace, isvcName, { predictorName = '', timeoutMs = 60000, proc } = {}) {
  const name = predictorName ? `${isvcName}-${predictorName}-predictor` : `${isvcName}-predictor`;
  return until(`Deployment ${namespace}/${name} generated from InferenceService ${isvcName}`, async () => {
    const d = await getOrNull(cp, ['deployment', name, '-n', namespace]);
    const owned = d && (d.metadata.ownerReferences || []).some((o) => o.kind === 'InferenceService' && o.name === isvcName);
    return owned ? d : null;
  }, { timeoutMs, everyMs: 500, proc });
}

// No kube-controller-manager runs here, so a Deployment's status never changes and the
// InferenceService never becomes Ready (its Ingress, status.url and status.address are only
// written once the predictor is ready). This writes the status a controller manager would write
// for a Deployment whose pods are all available; it is the harness standing in for the kubelet,
// and says so in the condition's message.
async function markDeploymentAvailable(cp, namespace, name) {
  const d = await cp.getJson(['deployment', name, '-n', namespace]);
  const replicas = d.spec.replicas === undefined ? 1 : d.spec.replicas;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = {
    observedGeneration: d.metadata.generation,
    replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas,
    conditions: [
      { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', lastUpdateTime: now, lastTransitionTime: now,
        message: 'set by the rmlops e2e harness: no controller manager or kubelet runs' },
      { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', lastUpdateTime: now, lastTransitionTime: now,
        message: 'set by the rmlops e2e harness: no controller manager or kubelet runs' },
    ],
  };
  await cp.kubectlOk(['patch', 'deployment', name, '-n', namespace, '--subresource=status', '--type=merge',
    '-p', JSON.stringify({ status })]);
}

// Resolves with the InferenceService once its Ready condition is True.
async function waitForInferenceServiceReady(cp, namespace, name, { timeoutMs = 60000, proc } = {}) {
  return until(`InferenceService ${namespace}/${name} Ready`, async () => {
    const o = await getOrNull(cp, ['inferenceservice', name, '-n', namespace]);
    const ready = o && ((o.status || {}).conditions || []).some((c) => c.type === 'Ready' && c.status === 'True');
    return ready ? o : null;
  }, { timeoutMs, everyMs: 500, proc });
}

// Everything the manager generated for one InferenceService (Standard mode): the InferenceService
// itself (with status), and the Deployments, Services, HorizontalPodAutoscalers and Ingresses it
// owns.
async function generatedObjects(cp, namespace, isvcName) {
  const isvc = await getOrNull(cp, ['inferenceservice', isvcName, '-n', namespace]);
  const owned = async (kind) => {
    const list = await getOrNull(cp, [kind, '-n', namespace]);
    return ((list && list.items) || []).filter((o) => (o.metadata.ownerReferences || [])
      .some((r) => r.kind === 'InferenceService' && r.name === isvcName));
  };
  return {
    inferenceService: isvc,
    deployments: await owned('deployments.apps'),
    services: await owned('services'),
    hpas: await owned('horizontalpodautoscalers.autoscaling'),
    ingresses: await owned('ingresses.networking.k8s.io'),
  };
}

module.exports = {
  KSERVE_VERSION, KSERVE_NAMESPACE, CONFIGMAP_NAME, MUTATE_PATH, VALIDATE_PATH, POD_MUTATE_PATH,
  configDir, kserveBinary, kserveModuleVersion, inferenceServiceConfig, installKServe, startKServe,
  waitForPredictorDeployment, markDeploymentAvailable, waitForInferenceServiceReady, generatedObjects,
};
