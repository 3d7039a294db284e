/**
 * The example pipeline: MinIO stores artifacts, MLflow tracks runs and versions models, and two
 * teams' models share them. Each is the team's own R script (examples/<model>/train.R), trained
 * by an R Job that promotes `<model>@champion` past its quality gate, and served by Seldon:
 * `iris`, a random-forest classifier gated on accuracy, and `mtcars`, a linear regression gated
 * on RMSE.
 *
 * Before `kubectl apply -f dist/`, create the two Secrets the pipeline reads (see README):
 * `minio-root` (root-user, root-password) and `mlflow-s3` (access-key-id, secret-access-key).
 *
 * The KServe variant (`npm run synth -- --target kserve`, written to dist-kserve/) is the same
 * pipeline in its own namespace with both models served by KServe instead: `iris` in Serverless
 * (Knative) mode, scaling on concurrency, and `mtcars` as a raw Deployment scaling on CPU.
 *
 * The credit app (`--target credit`, dist-credit/) is a second team's app: a credit-default glm
 * in namespace `risk` with a private registry, pull secret, service account, node pool, a
 * Secret-backed token and the platform's shared MLflow (examples/credit/app.ts).
 */
import * as path from 'path';
import { App, Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import {
  KServeRModel, MinioStore, MlflowServer, ModelMonitor, ModelPromotion, NamespaceIsolation, POD_SECURITY_LABELS, PayloadLogging, RTrainingJob,
  RTrainingJobProps, SeldonRModel, TrainingScript, writeManifests,
} from './lib';
import { buildCreditApp } from './examples/credit/app';

/** Namespace of the example. */
export const NAMESPACE = 'rmlops-iris';
/** Namespace of the KServe variant (its own, so both variants can run in one cluster). */
export const KSERVE_NAMESPACE = 'rmlops-iris-kserve';

/** Where each variant of the example serves its models, and the folder `npm run synth` writes it to. */
export const TARGETS = {
  seldon: { outdir: 'dist' },
  kserve: { outdir: 'dist-kserve' },
  credit: { outdir: 'dist-credit' },
} as const;
/** A variant of the example. */
export type Target = keyof typeof TARGETS;

/** The example training scripts, wherever synth is run from. */
export const EXAMPLE_SCRIPTS = {
  iris: path.join(__dirname, 'examples', 'iris', 'train.R'),
  mtcars: path.join(__dirname, 'examples', 'mtcars', 'train.R'),
} as const;

/**
 * The Namespace (a chart of its own: a cluster-scoped object must not get `metadata.namespace`),
 * then, in the example's chart, MinIO and MLflow.
 */
function storeAndTracking(app: App, namespace: string, labels: Record<string, string>): { chart: Chart; minio: MinioStore; mlflow: MlflowServer } {
  new k8s.KubeNamespace(new Chart(app, 'namespace'), 'Namespace', { metadata: { name: namespace, labels } });
  const chart = new Chart(app, 'iris', { namespace });
  // Default deny, ingress and egress, for every pod of the namespace; each construct's own
  // NetworkPolicy then allows exactly what it is wired to (docs/network.md).
  new NamespaceIsolation(chart, 'isolation');
  const minio = new MinioStore(chart, 'minio', { bucket: 'mlflow-artifacts', storageSize: '10Gi' });
  return { chart, minio, mlflow: new MlflowServer(chart, 'mlflow', { artifactStore: minio }) };
}

/** The iris classifier's training, moving `alias` past an accuracy gate of 0.9. */
function irisTraining(chart: Chart, mlflow: MlflowServer, id: string, alias: string, schedule: Partial<RTrainingJobProps> = {}): RTrainingJob {
  return new RTrainingJob(chart, id, {
    tracking: mlflow,
    trainingScript: TrainingScript.fromFile(EXAMPLE_SCRIPTS.iris),
    registeredModelName: 'iris',
    experimentName: 'iris',
    modelAlias: alias,
    qualityMetric: 'accuracy',
    qualityThreshold: 0.9,
    ...schedule,
  });
}

/** The mtcars regression's training, moving `champion` only if the holdout RMSE is at most 4 mpg. */
function mtcarsTraining(chart: Chart, mlflow: MlflowServer): RTrainingJob {
  return new RTrainingJob(chart, 'mtcars-train', {
    tracking: mlflow,
    trainingScript: TrainingScript.fromFile(EXAMPLE_SCRIPTS.mtcars),
    registeredModelName: 'mtcars',
    experimentName: 'mtcars',
    modelAlias: 'champion',
    qualityMetric: 'rmse',
    qualityThreshold: 4,
    qualityDirection: 'lower',
  });
}

/**
 * The monitors' requests in the example: a run takes seconds once an hour, and with no CPU limit
 * it uses idle CPU, so it reserves little and dist/ keeps fitting MIN_NODE (docs/capacity.md);
 * the memory limit stays the default 1Gi.
 */
const MONITOR_REQUESTS = { resources: { cpuRequest: '5m', memoryRequest: '64Mi' }, mcResources: { cpuRequest: '1m', memoryRequest: '16Mi' } } as const;

/** Builds the example app for `target` (nothing is written). */
export function buildApp(outdir: string = TARGETS.seldon.outdir, target: Target = 'seldon'): App {
  if (target === 'kserve') return buildKServeApp(outdir);
  if (target === 'credit') return buildCreditApp(outdir);
  const app = new App({ outdir });
  // Pod Security Admission: enforce baseline (the Seldon executor sidecar is not restricted),
  // warn and audit at restricted (see POD_SECURITY_LABELS).
  const { chart, minio, mlflow } = storeAndTracking(app, NAMESPACE, { ...POD_SECURITY_LABELS });
  // Every request, response and feedback of both models goes to the store as JSONL, under
  // payloads/<namespace>/<model>/<predictor>/<day>/ (docs/payload-logging.md).
  // The sink's requests are sized for the example's light traffic so that dist/ still fits
  // MIN_NODE with seven sinks (iris: 2 pods + 1 in a rolling update, its canary 1 + 1; mtcars
  // 1 + 1): it took 470 µs of CPU per event and peaked at 15.7 MiB RSS under load
  // (docs/payload-logging.md), and it has no CPU limit, so bursts use idle CPU.
  const payloads = PayloadLogging.toBucket(minio, { resources: { cpuRequest: '2m', memoryRequest: '16Mi' } });
  const train = irisTraining(chart, mlflow, 'iris-train', 'champion');
  // The challenger: the same script retrained every Monday at 03:00 (a CronJob), moving its own
  // alias, `iris@challenger`, when it passes the gate. It answers a tenth of the requests next to
  // the champion; `npx rmlops-cdk8s promote` moves `champion` to it (docs/rollouts.md).
  const challenger = irisTraining(chart, mlflow, 'iris-challenger-train', 'challenger', { schedule: '0 3 * * 1', timeZone: 'Etc/UTC' });
  const iris = new SeldonRModel(chart, 'iris', {
    model: train.model,
    tracking: mlflow,
    replicas: 2,
    minAvailable: 1,
    canary: { model: challenger.model, traffic: 10 },
    ingress: 'istio',
    payloadLogging: payloads,
  });
  // Hourly, the last day of the champion's payloads against its training reference: drift per
  // feature in MLflow and, through the payload sink, in Prometheus (docs/monitoring.md).
  new ModelMonitor(chart, 'iris-monitor', { model: iris, ...MONITOR_REQUESTS });
  // Runs only when asked (`kubectl create job --from=cronjob/iris-promote ...`): iris@champion
  // moves to the version of iris@challenger, then the Job rolls iris's champion predictor.
  new ModelPromotion(chart, 'iris-promote', { tracking: mlflow, champion: train.model, challenger: challenger.model, serving: [iris] });
  // Scraped by prometheus-operator (PodMonitor) and alerted on (PrometheusRule): docs/monitoring.md.
  iris.addPodMonitor();
  iris.addAlertRules();
  iris.addDashboard();

  const trainMtcars = mtcarsTraining(chart, mlflow);
  // Served over the Open Inference Protocol (v2), which KServe, MLServer and Triton speak too.
  const mtcars = new SeldonRModel(chart, 'mtcars', {
    model: trainMtcars.model,
    tracking: mlflow,
    protocol: 'v2',
    autoscaling: { minReplicas: 1, maxReplicas: 3, targetCpuUtilization: 70 },
    payloadLogging: payloads,
  });
  new ModelMonitor(chart, 'mtcars-monitor', { model: mtcars, ...MONITOR_REQUESTS });
  mtcars.addPodMonitor();
  // A regression answers in milliseconds: a p99 of half a second already means trouble.
  mtcars.addAlertRules({ latencyP99Seconds: 0.5 });
  mtcars.addDashboard();
  return app;
}

/**
 * The KServe variant: MinIO, MLflow and the two training Jobs as above, and each model as an
 * InferenceService. No Seldon executor runs in these pods, and Knative's queue-proxy meets the
 * restricted Pod Security Standard, so the namespace enforces `restricted`.
 */
function buildKServeApp(outdir: string): App {
  const app = new App({ outdir });
  const { chart, mlflow } = storeAndTracking(app, KSERVE_NAMESPACE, { ...POD_SECURITY_LABELS, 'pod-security.kubernetes.io/enforce': 'restricted' });
  const train = irisTraining(chart, mlflow, 'iris-train', 'champion');
  // Knative keeps one pod warm (no scale to zero: loading the model takes seconds) and adds
  // pods past 4 requests in flight per pod. A new model version reaches it as a new revision:
  // set canaryTrafficPercent to roll it out gradually (docs/kserve.md).
  new KServeRModel(chart, 'iris', {
    model: train.model,
    tracking: mlflow,
    deploymentMode: 'Serverless',
    minReplicas: 1,
    maxReplicas: 3,
    scaleMetric: 'concurrency',
    scaleTarget: 4,
  });
  const trainMtcars = mtcarsTraining(chart, mlflow);
  // A plain Deployment, Service and HorizontalPodAutoscaler: no Knative needed.
  new KServeRModel(chart, 'mtcars', {
    model: trainMtcars.model,
    tracking: mlflow,
    deploymentMode: 'RawDeployment',
    minReplicas: 1,
    maxReplicas: 3,
    scaleMetric: 'cpu',
    scaleTarget: 70,
  });
  return app;
}

/** Writes the manifests of the example's `target` variant into `outdir` (which must exist and be empty). */
export function synth(outdir: string, target: Target = 'seldon'): void {
  writeManifests(buildApp(outdir, target), outdir);
}

// `cdk8s synth` runs this file directly and passes its output folder in CDK8S_OUTDIR.
if (require.main === module) {
  const fs = require('fs') as typeof import('fs');
  const outdir = process.env.CDK8S_OUTDIR ?? TARGETS.seldon.outdir;
  fs.mkdirSync(outdir, { recursive: true });
  synth(outdir);
}
