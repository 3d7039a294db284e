/**
 * A model with payload logging, so the rule tests (scripts/rules-test.js) also cover the payload
 * sink's alerts while the example app in dist/ may have none. Synthesized like dist/, never written.
 */
import { App, Chart } from 'cdk8s';
import { MinioStore, MlflowServer, PayloadLogging, SeldonRModel } from '../../lib';

export function buildRulesFixture(): App {
  const app = new App({ outdir: 'unused' });
  const chart = new Chart(app, 'fixture', { namespace: 'rules-fixture' });
  const minio = new MinioStore(chart, 'minio', { bucket: 'artifacts' });
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
  const model = new SeldonRModel(chart, 'logged', {
    model: 'models:/logged@champion',
    tracking: mlflow,
    payloadLogging: PayloadLogging.toBucket(minio, { spoolSize: '2Gi' }),
  });
  model.addPodMonitor();
  model.addAlertRules();
  model.addDashboard();
  return app;
}
