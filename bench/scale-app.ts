/**
 * Synth-scaling workload: one MinIO and one MLflow, then `n` R models, each with its own
 * training job. Run as `node -r ./scripts/register.js bench/scale-app.ts <n> <outdir>`; prints
 * one JSON line with the object count and this process's peak RSS.
 */
import * as path from 'path';
import { App, Chart } from 'cdk8s';
import { MinioStore, MlflowServer, RTrainingJob, SeldonRModel, TrainingScript, writeManifests } from '../lib';

export function buildScaleApp(n: number, outdir: string): App {
  const app = new App({ outdir });
  const chart = new Chart(app, 'scale', { namespace: 'rmlops-scale' });
  const minio = new MinioStore(chart, 'minio', { bucket: 'mlflow-artifacts' });
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
  for (let i = 0; i < n; i++) {
    const name = `model-${i}`;
    const train = new RTrainingJob(chart, `${name}-train`, {
      tracking: mlflow,
      trainingScript: TrainingScript.fromFile(path.join(__dirname, '..', 'examples', 'iris', 'train.R')),
      registeredModelName: name,
      experimentName: name,
    });
    new SeldonRModel(chart, name, { model: train.model, tracking: mlflow });
  }
  return app;
}

if (require.main === module) {
  const n = Number(process.argv[2]);
  const outdir = process.argv[3];
  const manifests = writeManifests(buildScaleApp(n, outdir), outdir);
  // maxRSS is in KiB on Linux.
  console.log(JSON.stringify({ n, objects: manifests.length, peakRssMiB: process.resourceUsage().maxRSS / 1024 }));
}
