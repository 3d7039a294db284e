/**
 * The second app: another team's credit-default model, built only from the library's props (no
 * JsonPatch anywhere). The risk team runs in its own namespace `risk`, pulls every image from
 * its private registry with a pull secret, runs its pods as its own service account on its own
 * node pool, reads a token from a Secret, and tracks to the platform team's shared MLflow in
 * namespace `mlops`, whose NetworkPolicy admits namespaces labelled as its clients
 * (docs/shared-mlflow.md).
 *
 * Before `kubectl apply -f dist-credit/`, the risk team creates in `risk` (see README):
 * the pull secret `risk-registry` (type kubernetes.io/dockerconfigjson) and the Secret
 * `credit-feature-store` (key `token`). No MinIO or MLflow Secret: the platform team owns those.
 */
import * as path from 'path';
import { App, Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import {
  MlflowServer, NamespaceIsolation, POD_SECURITY_LABELS, PodSettings, RTrainingJob, RmlopsDefaults, SeldonRModel, TrainingScript,
} from '../../lib';

/** Namespace of the risk team. */
export const CREDIT_NAMESPACE = 'risk';
/** Where the platform team's MLflow runs, and the namespace labels its NetworkPolicy admits clients by. */
export const PLATFORM_MLFLOW = {
  namespace: 'mlops',
  serviceName: 'mlflow',
  clientNamespaceLabels: { 'mlflow.platform.example.com/client': 'true' },
} as const;
/** The risk team's registry mirror: every default image is pulled from it, tags unchanged. */
export const CREDIT_REGISTRY = 'registry.risk.example.com/mirror';
/** The credit model's training script. */
export const CREDIT_SCRIPT = path.join(__dirname, 'train.R');

/** Builds the credit app (nothing is written). */
export function buildCreditApp(outdir: string): App {
  const app = new App({ outdir });
  // Before any construct: every default image from the mirror, with the pull secret.
  RmlopsDefaults.set(app, { imageRegistry: CREDIT_REGISTRY, imagePullSecrets: ['risk-registry'] });

  // The Namespace in its own chart (a cluster-scoped object gets no metadata.namespace), labelled
  // for Pod Security and as a client of the platform's MLflow.
  new k8s.KubeNamespace(new Chart(app, 'namespace'), 'Namespace', {
    metadata: { name: CREDIT_NAMESPACE, labels: { ...POD_SECURITY_LABELS, ...PLATFORM_MLFLOW.clientNamespaceLabels } },
  });
  const chart = new Chart(app, 'credit', { namespace: CREDIT_NAMESPACE });
  // Default deny in `risk`; the constructs' policies open DNS, the platform's MLflow and the
  // model's clients (docs/network.md).
  new NamespaceIsolation(chart, 'isolation');
  // The team's service account; its token is mounted nowhere (every pod sets automount false).
  new k8s.KubeServiceAccount(chart, 'ServiceAccount', {
    metadata: { name: 'credit-runner', labels: { 'app.kubernetes.io/part-of': 'rmlops' } },
    automountServiceAccountToken: false,
  });
  const mlflow = MlflowServer.fromAttributes(chart, 'platform-mlflow', {
    namespace: PLATFORM_MLFLOW.namespace,
    serviceName: PLATFORM_MLFLOW.serviceName,
    allowsNamespaceLabels: { ...PLATFORM_MLFLOW.clientNamespaceLabels },
  });

  // The risk team's node pool, tainted for it.
  const pod: PodSettings = {
    serviceAccountName: 'credit-runner',
    nodeSelector: { 'node.risk.example.com/pool': 'r-models' },
    tolerations: [{ key: 'node.risk.example.com/pool', operator: 'Equal', value: 'r-models', effect: 'NoSchedule' }],
  };
  const train = new RTrainingJob(chart, 'credit-train', {
    ...pod,
    tracking: mlflow,
    trainingScript: TrainingScript.fromFile(CREDIT_SCRIPT),
    registeredModelName: 'credit-default',
    experimentName: 'credit-default',
    modelAlias: 'champion',
    qualityMetric: 'auc',
    qualityThreshold: 0.65,
    qualityDirection: 'higher',
    // A token the script may use to read features; from a Secret, never in the manifest.
    env: { FEATURE_STORE_TOKEN: { secret: 'credit-feature-store', key: 'token' } },
  });
  new SeldonRModel(chart, 'credit', {
    ...pod,
    model: train.model,
    tracking: mlflow,
    protocol: 'v2',
    replicas: 2,
    minAvailable: 1,
    env: { RISK_MODEL_OWNER: 'risk-team' },
  });
  return app;
}
