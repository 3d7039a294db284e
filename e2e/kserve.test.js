'use strict';
// The KServe variant of the example (dist-kserve/) with real MinIO, mc, MLflow and R on
// 127.0.0.1: each InferenceService's kserve-container runs with its own command and env, plus
// what Knative and KServe inject (printed), and answers the Open Inference Protocol as KServe's
// router would call it. A storage URI goes through a real S3 download from MinIO, as KServe's
// storage initializer does. KServe's controller and Knative do not run here (no kubelet).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Stack, request, waitFor, contract } = require('./lib/stack');
const { loadDist } = require('./lib/manifests');
const { DIST_KSERVE, ROOT } = require('./lib/env');
const ck = require('./lib/checks');

const T0 = Date.now();
const mark = (what) => console.log(`[e2e-kserve +${((Date.now() - T0) / 1000).toFixed(1)} s] ${what}`);
const envOf = (c) => Object.fromEntries((c.env || []).map((e) => [e.name, e.value]));

let stack;

before(async () => {
  stack = await new Stack({ dist: DIST_KSERVE, name: 'e2e-kserve', echo: !!process.env.RMLOPS_E2E_ECHO }).init();
  await stack.startArtifactStore();
  for (const r of await stack.provision()) assert.equal(r.code, 0, r.output);
  await stack.startTracking();
  mark('MinIO and MLflow ready');
  for (const job of stack.trainingJobs()) {
    const r = await stack.train(job);
    assert.equal(r.code, 0, r.output.slice(-3000));
  }
  mark(`trained ${stack.trainingJobs().length} models`);
});

after(async () => {
  if (stack) await stack.down();
  mark('stopped');
});

// The registered model and alias an InferenceService loads (its MODEL_URI), and where the alias
// version's bundle is in MinIO.
async function bundleOf(isvc) {
  const uri = envOf(isvc.spec.predictor.containers[0])[contract.env.modelUri] || '';
  const m = /^models:\/([^/@]+)@([^/@]+)$/.exec(uri);
  assert.ok(m, `InferenceService ${isvc.metadata.name}: ${contract.env.modelUri}=${uri} is not models:/<name>@<alias>`);
  const version = await ck.aliasVersion(stack, m[1], m[2]);
  assert.ok(version, `${m[1]}@${m[2]} was not moved by training`);
  const mv = (await ck.api(stack, 'GET', 'model-versions/get', { query: { name: m[1], version } })).model_version;
  const run = (await ck.api(stack, 'GET', 'runs/get', { query: { run_id: mv.run_id } })).run.info;
  return { model: m[1], version, runId: mv.run_id, ...ck.s3Location(stack, `${run.artifact_uri}/model`) };
}

describe('dist-kserve/', () => {
  it('holds one InferenceService per model, one in each deployment mode', () => {
    const modes = stack.manifests.inferenceServices().map((i) => [i.metadata.name, i.metadata.annotations['serving.kserve.io/deploymentMode']]);
    assert.deepEqual(modes, [['iris', 'Knative'], ['mtcars', 'Standard']]);
    assert.deepEqual(stack.manifests.seldonDeployments(), []);
  });
});

for (const isvc of loadDist(DIST_KSERVE).inferenceServices()) {
  const name = isvc.metadata.name;
  describe(`InferenceService ${name}`, () => {
    let m;
    let bundle;
    let body;
    before(async () => {
      const live = stack.manifests.inferenceServices().find((i) => i.metadata.name === name);
      bundle = await bundleOf(live);
      body = ck.v2Request(ck.exampleRequest(stack, bundle.bucket, bundle.key));
      m = await stack.startInferenceService(live);
      mark(`${name} (${m.mode}) ready on 127.0.0.1:${m.port}`);
    });

    it('binds the port KServe routes to, from PORT (Knative injects it; Standard mode sets it in the manifest)', () => {
      const c = m.isvc.spec.predictor.containers[0];
      assert.equal(c.ports.length, 1);
      assert.equal(c.ports[0].containerPort, 8080);
      assert.equal(envOf(c).PORT, m.mode === 'Knative' ? undefined : '8080');
      const listening = ck.logLines(m.proc.output()).find((l) => l.msg === 'listening');
      assert.ok(listening, m.proc.output());
      assert.equal(listening.port, m.port);
      assert.equal(m.spec.env.PORT, String(m.port));
    });

    it('answers GET /v2/health/live and /v2/health/ready (its probes) with 200', async () => {
      for (const p of ['/v2/health/live', '/v2/health/ready']) assert.equal((await request(m.port, 'GET', p)).status, 200, p);
      assert.equal(m.isvc.spec.predictor.containers[0].readinessProbe.httpGet.path, '/v2/health/ready');
    });

    it(`is the model "${name}" in the v2 paths (the InferenceService's name), with the alias version`, async () => {
      const res = await request(m.port, 'GET', `/v2/models/${name}`);
      assert.equal(res.status, 200, res.body);
      const meta = JSON.parse(res.body);
      assert.equal(meta.name, name);
      assert.deepEqual(meta.versions, [bundle.version]);
      assert.ok(meta.inputs.length > 0 && meta.outputs.length > 0, res.body);
      assert.equal((await request(m.port, 'GET', `/v2/models/${name}/ready`)).status, 200);
    });

    it(`POST /v2/models/${name}/infer: the bundle's example row gives named, typed outputs`, async () => {
      const res = await request(m.port, 'POST', `/v2/models/${name}/infer`, { body });
      assert.equal(res.status, 200, res.body);
      const out = JSON.parse(res.body);
      assert.equal(out.model_name, name);
      assert.equal(out.model_version, bundle.version);
      assert.ok(out.outputs.length >= 1);
      for (const o of out.outputs) {
        assert.equal(typeof o.name, 'string');
        assert.ok(['FP64', 'FP32', 'INT32', 'INT64', 'BYTES', 'BOOL'].includes(o.datatype), JSON.stringify(o));
        assert.equal(o.shape[0], 1);
      }
      // Inputs by name: the same tensors in reverse order give the same answer.
      const reversed = { ...body, inputs: [...body.inputs].reverse() };
      const again = await request(m.port, 'POST', `/v2/models/${name}/infer`, { body: reversed });
      assert.deepEqual(JSON.parse(again.body).outputs, out.outputs);
    });

    it('answers client mistakes with a 4xx and a v2 error body', async () => {
      const wrong = await request(m.port, 'POST', '/v2/models/not-this-model/infer', { body });
      assert.equal(wrong.status, 404, wrong.body);
      assert.equal(typeof JSON.parse(wrong.body).error, 'string');
      const badType = { inputs: body.inputs.map((t, i) => (i === 0 ? { ...t, datatype: 'FP99' } : t)) };
      const bad = await request(m.port, 'POST', `/v2/models/${name}/infer`, { body: badType });
      assert.equal(bad.status, 400, bad.body);
      assert.match(JSON.parse(bad.body).error, /FP99/);
    });

    it('serves Prometheus metrics where its annotations say, counting the inferences', async () => {
      assert.ok(m.metricsPort, 'no Prometheus port annotation');
      // Workers publish their counters at most once a second: a scrape may lag by that much.
      const counted = /rmlops_requests_total\{route="[^"]*infer[^"]*",code="200"\} [1-9]/;
      let res;
      await waitFor('the inferences in the metrics', async () => {
        res = await request(m.metricsPort, 'GET', m.metricsPath);
        return res.status === 200 && counted.test(res.body);
      }, { timeoutMs: 5000, intervalMs: 250 });
      assert.match(res.body, /rmlops_model_ready 1/);
      assert.match(res.body, new RegExp(`rmlops_model_info\\{model_name="[^"]+",model_version="${bundle.version}",run_id="${bundle.runId}"\\} 1`));
    });
  });
}

describe('a storage URI (s3://) through the storage initializer', () => {
  let obj;
  let bundle;
  let dir;
  before(async () => {
    const iris = stack.manifests.inferenceServices().find((i) => i.metadata.name === 'iris');
    bundle = await bundleOf(iris);
    // An InferenceService of the same construct, serving the bundle straight from S3 (no MLflow).
    require(path.join(ROOT, 'scripts', 'register.js'));
    const { App, Chart } = require('cdk8s');
    const { KServeRModel } = require(path.join(ROOT, 'lib'));
    const chart = new Chart(new App(), 'storage', { namespace: iris.metadata.namespace });
    new KServeRModel(chart, 'iris-s3', { model: `s3://${bundle.bucket}/${bundle.key}`, deploymentMode: 'RawDeployment' });
    obj = chart.toJson().find((o) => o.kind === 'InferenceService');
    // What KServe's storage initializer does before the container starts: download the prefix.
    dir = path.join(stack.dir, 'storage-initializer', 'iris-s3');
    fs.mkdirSync(dir, { recursive: true });
    const r = stack.mc(['cp', '--recursive', `e2e/${bundle.bucket}/${bundle.key}/`, `${dir}/`]);
    assert.equal(r.code, 0, r.out);
  });

  it('the manifest hands the URI to KServe as STORAGE_URI, with no MODEL_URI and no MLflow', () => {
    const env = envOf(obj.spec.predictor.containers[0]);
    assert.equal(env[contract.env.storageUri], `s3://${bundle.bucket}/${bundle.key}`);
    assert.equal(env[contract.env.modelUri], undefined);
    assert.equal(env[contract.env.trackingUri], undefined);
  });

  it('the server loads the downloaded bundle and infers', async () => {
    const m = await stack.startInferenceService(obj, { storageDir: dir });
    const body = ck.v2Request(ck.exampleRequest(stack, bundle.bucket, bundle.key));
    const res = await request(m.port, 'POST', '/v2/models/iris-s3/infer', { body });
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse(res.body).model_name, 'iris-s3');
    await m.proc.stop();
  });

  it('a remote STORAGE_URI that nothing downloaded stops the server at once with exit 2 and a JSON log line', async () => {
    const m = await stack.startInferenceService({ ...obj, metadata: { ...obj.metadata, name: 'iris-s3-raw' } }, { wait: false });
    const code = await m.proc.wait(30000);
    assert.equal(code, 2, m.proc.output());
    const line = ck.logLines(m.proc.output()).find((l) => l.level === 'error');
    assert.match(line.msg, /was not downloaded/);
  });
});
