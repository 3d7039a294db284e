/**
 * The iris example pipeline: MinIO stores artifacts, MLflow tracks runs and versions models,
 * an R Job trains and promotes `iris@champion`, and Seldon serves it.
 *
 * Before `kubectl apply -f dist/`, create the two Secrets the pipeline reads (see README):
 * `minio-root` (root-user, root-password) and `mlflow-s3` (access-key-id, secret-access-key).
 */
import { App, Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { MinioStore, MlflowServer, RTrainingJob, SeldonRModel, writeManifests } from './lib';

/** Namespace of the example. */
export const NAMESPACE = 'rmlops-iris';

/** Builds the example app (nothing is written). */
export function buildApp(outdir = 'dist'): App {
  const app = new App({ outdir });

  // The namespace has a chart of its own: a cluster-scoped object must not get `metadata.namespace`.
  const base = new Chart(app, 'namespace');
  new k8s.KubeNamespace(base, 'Namespace', { metadata: { name: NAMESPACE } });

  const chart = new Chart(app, 'iris', { namespace: NAMESPACE });
  const minio = new MinioStore(chart, 'minio', { bucket: 'mlflow-artifacts', storageSize: '10Gi' });
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
  const train = new RTrainingJob(chart, 'iris-train', {
    tracking: mlflow,
    registeredModelName: 'iris',
    experimentName: 'iris',
    modelAlias: 'champion',
    qualityMetric: 'accuracy',
    qualityThreshold: 0.9,
  });
  new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow, replicas: 2 });
  return app;
}

/** Writes the example's manifests into `outdir` (which must exist and be empty). */
export function synth(outdir: string): void {
  writeManifests(buildApp(outdir), outdir);
}

// `cdk8s synth` runs this file directly and passes its output folder in CDK8S_OUTDIR.
if (require.main === module) {
  const fs = require('fs') as typeof import('fs');
  const outdir = process.env.CDK8S_OUTDIR ?? 'dist';
  fs.mkdirSync(outdir, { recursive: true });
  synth(outdir);
}
