'use strict';
// Seldon Core's operator, run outside the cluster against the loopback API server, with the
// validating webhook registered the way the Helm chart registers it (same path, failurePolicy
// Fail) but addressed by URL instead of through a Service, since nothing routes Services here.
const fs = require('fs');
const path = require('path');
const procs = require('./procs');
const { freePort, goModuleVersion, waitForWebhookTls, webhookCerts } = require('./controlplane');

const EXECUTOR_IMAGE = 'docker.io/seldonio/seldon-core-executor:1.17.1';
const WEBHOOK_PATH = '/validate-machinelearning-seldon-io-v1-seldondeployment';

// The operator's environment as its own manager manifest (operator/config/manager/manager.yaml)
// sets it, with the executor image of 1.17.1 and DEFAULT_USER_ID from the Helm chart's
// defaultUserID. Ingress integrations are off: neither Istio nor Ambassador runs here, and
// Ambassador v2 would make the operator watch CRDs this cluster does not have.
function operatorEnv() {
  return {
    EXECUTOR_CONTAINER_IMAGE_AND_VERSION: EXECUTOR_IMAGE,
    EXECUTOR_CONTAINER_IMAGE_PULL_POLICY: 'IfNotPresent',
    EXECUTOR_PROMETHEUS_PATH: '/prometheus',
    EXECUTOR_SERVER_PORT: '8000',
    EXECUTOR_SERVER_GRPC_PORT: '5001',
    EXECUTOR_CONTAINER_USER: '8888',
    EXECUTOR_CONTAINER_SERVICE_ACCOUNT_NAME: 'default',
    EXECUTOR_SERVER_METRICS_PORT_NAME: 'metrics',
    EXECUTOR_REQUEST_LOGGER_DEFAULT_ENDPOINT: 'http://default-broker',
    EXECUTOR_REQUEST_LOGGER_WORK_QUEUE_SIZE: '10000',
    EXECUTOR_REQUEST_LOGGER_WRITE_TIMEOUT_MS: '2000',
    EXECUTOR_DEFAULT_CPU_REQUEST: '0.5',
    EXECUTOR_DEFAULT_MEMORY_REQUEST: '512Mi',
    EXECUTOR_DEFAULT_CPU_LIMIT: '0.5',
    EXECUTOR_DEFAULT_MEMORY_LIMIT: '512Mi',
    EXECUTOR_FULL_HEALTH_CHECKS: 'false',
    DEFAULT_USER_ID: '8888',
    USE_EXECUTOR: 'true',
    PREDICTIVE_UNIT_HTTP_SERVICE_PORT: '9000',
    PREDICTIVE_UNIT_GRPC_SERVICE_PORT: '9500',
    PREDICTIVE_UNIT_METRICS_PORT_NAME: 'metrics',
    PREDICTIVE_UNIT_DEFAULT_ENV_SECRET_REF_NAME: '',
    AMBASSADOR_ENABLED: 'false',
    ISTIO_ENABLED: 'false',
    KEDA_ENABLED: 'false',
    DEPLOYMENT_NAME_AS_PREFIX: 'false',
    CONTROLLER_ID: '',
    POD_NAMESPACE: 'seldon-system',
    WATCH_NAMESPACE: '',
    SELDON_LOG_LEVEL: 'INFO',
  };
}

async function startOperator(cp, binary) {
  const dir = path.join(cp.tmp, 'operator');
  const { tmpdir, ca } = webhookCerts(dir, 'rmlops-e2e-webhook-ca', 'seldon-webhook-service');

  const webhookPort = await freePort();
  const metricsPort = await freePort();
  const proc = procs.start('seldon-operator', binary, [
    `--metrics-addr=127.0.0.1:${metricsPort}`,
    `--webhook-port=${webhookPort}`,
    '--log-level=INFO',
  ], {
    env: { ...operatorEnv(), PATH: process.env.PATH, HOME: dir, TMPDIR: tmpdir, KUBECONFIG: cp.kubeconfig },
    logFile: path.join(cp.tmp, 'seldon-operator.log'),
    cwd: dir,
  });
  cp.procs.push(proc);

  await waitForWebhookTls('operator webhook', webhookPort, ca, { timeoutMs: 60000, proc });

  const caBundle = fs.readFileSync(ca.crt).toString('base64');
  const webhook = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'seldon-validating-webhook-configuration' },
    webhooks: [{
      name: 'v1.vseldondeployment.kb.io',
      admissionReviewVersions: ['v1', 'v1beta1'],
      clientConfig: { url: `https://127.0.0.1:${webhookPort}${WEBHOOK_PATH}`, caBundle },
      failurePolicy: 'Fail',
      sideEffects: 'None',
      rules: [{
        apiGroups: ['machinelearning.seldon.io'], apiVersions: ['v1'],
        operations: ['CREATE', 'UPDATE'], resources: ['seldondeployments'],
      }],
    }],
  };
  await cp.kubectlOk(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(webhook) });
  return { proc, webhookPort, metricsPort, logFile: proc.logFile };
}

// The names the operator's webhook logged as validated ("Validating v1 Webhook called for CREATE"):
// proof that the API server really called it, not only that the object was stored.
function webhookValidated(op) {
  const names = new Set();
  for (const line of fs.readFileSync(op.logFile, 'utf8').split('\n')) {
    if (!/Validating v1 webhook called for (CREATE|UPDATE)/i.test(line)) continue;
    const m = /"name":\s*"([^"]+)"/.exec(line) || /name[=\s]+"?([a-z0-9-]+)/.exec(line);
    if (m) names.add(m[1]);
  }
  return names;
}

// Which operator source a binary was built from, from the module build info Go embeds: a binary
// handed in through RMLOPS_SELDON_OPERATOR is checked, not trusted. null when unreadable (no go,
// or not a Go module build).
function operatorModuleVersion(binary) {
  return goModuleVersion(binary, 'github.com/seldonio/seldon-core/operator');
}

module.exports = { startOperator, operatorEnv, operatorModuleVersion, webhookValidated, EXECUTOR_IMAGE, WEBHOOK_PATH };
