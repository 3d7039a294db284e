'use strict';
// The pipeline of dist/ with real MinIO, mc, MLflow, R and (when built) Seldon's executor on
// 127.0.0.1: provisioning, training, a missed quality gate, serving, and the serving faults.
// The steps run in order on one stack; each test asserts one thing that can fail.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Stack, request, waitFor } = require('./lib/stack');
const { executor } = require('./lib/env');
const ck = require('./lib/checks');

const EXECUTOR = executor();
const executorSkip = EXECUTOR.path ? false : `SKIPPED: Seldon executor ${EXECUTOR.reason}`;
if (executorSkip) console.log(executorSkip);

let stack;
const trained = new Map(); // training Job name -> { run_id, version, target }

const T0 = Date.now();
const mark = (what) => console.log(`[e2e +${((Date.now() - T0) / 1000).toFixed(1)} s] ${what}`);

before(async () => {
  stack = await new Stack({ name: 'e2e-pipeline', echo: !!process.env.RMLOPS_E2E_ECHO }).init();
  await stack.startArtifactStore();
  mark('MinIO ready');
});

after(async () => {
  mark('stopping the stack');
  if (stack) await stack.down();
  mark('stopped');
});

describe('provisioning', () => {
  let first;
  let bucket;
  // What provisioning controls: the buckets, the user and its policy. MinIO returns a policy's
  // actions in no fixed order and stamps UpdateDate on every `policy create`, so those two are
  // normalised; anything else that differs is a change.
  const state = () => {
    const info = JSON.parse(stack.mc(['admin', 'policy', 'info', 'e2e', policyName(), '--json']).stdout || '{}');
    const policy = info.policyInfo || info;
    delete policy.UpdateDate;
    for (const st of (policy.Policy && policy.Policy.Statement) || []) {
      for (const k of ['Action', 'Resource']) if (Array.isArray(st[k])) st[k].sort();
    }
    return [
      stack.mc(['ls', 'e2e']).out.replace(/^\[[^\]]*\]\s*/gm, ''),
      stack.mc(['admin', 'user', 'info', 'e2e', stack.cluster.secret(ns(), 'mlflow-s3', 'access-key-id'), '--json']).out,
      JSON.stringify(policy),
    ].join('\n');
  };
  const ns = () => stack.manifests.provisioningJobs()[0].metadata.namespace;
  const jobEnv = (name) => (stack.manifests.provisioningJobs()[0].spec.template.spec.containers[0].env.find((e) => e.name === name) || {}).value;
  const policyName = () => jobEnv('POLICY_NAME');

  before(async () => {
    [first] = await stack.provision();
    bucket = ck.artifactsDestination(stack).bucket;
  });

  it('the provisioning Job exits 0', () => {
    assert.equal(first.code, 0, first.output);
  });

  it("MLflow's artifact bucket exists", () => {
    const r = stack.mc(['stat', `e2e/${bucket}`]);
    assert.equal(r.code, 0, r.out);
  });

  it("MLflow's user can write the artifact bucket", () => {
    const creds = { user: stack.cluster.secret(ns(), 'mlflow-s3', 'access-key-id'), password: stack.cluster.secret(ns(), 'mlflow-s3', 'secret-access-key') };
    const probe = `${stack.dir}/probe.txt`;
    require('fs').writeFileSync(probe, 'e2e write probe\n');
    const put = stack.mc(['cp', probe, `e2e/${bucket}/e2e-probe/probe.txt`], { creds });
    assert.equal(put.code, 0, put.out);
    const rm = stack.mc(['rm', `e2e/${bucket}/e2e-probe/probe.txt`], { creds });
    assert.equal(rm.code, 0, rm.out);
  });

  it("MLflow's user is denied on another bucket", () => {
    const other = 'e2e-other-bucket';
    assert.equal(stack.mc(['mb', '--ignore-existing', `e2e/${other}`]).code, 0);
    const creds = { user: stack.cluster.secret(ns(), 'mlflow-s3', 'access-key-id'), password: stack.cluster.secret(ns(), 'mlflow-s3', 'secret-access-key') };
    const probe = `${stack.dir}/probe.txt`;
    const put = stack.mc(['cp', probe, `e2e/${other}/probe.txt`], { creds });
    assert.notEqual(put.code, 0, `MLflow's user could write ${other}: ${put.out}`);
    assert.match(put.out, /Access Denied|Insufficient permissions/i);
    const list = stack.mc(['ls', `e2e/${other}`], { creds });
    assert.notEqual(list.code, 0, `MLflow's user could list ${other}: ${list.out}`);
    assert.equal(stack.mc(['rb', `e2e/${other}`]).code, 0);
  });

  it('a second provisioning run succeeds and changes nothing', async () => {
    const before = state();
    const [second] = await stack.provision();
    assert.equal(second.code, 0, second.output);
    assert.equal(state(), before);
  });
});

describe('training through real MLflow', () => {
  before(async () => {
    await stack.startTracking();
    mark('MLflow ready');
  });

  it("MLflow accepts the Host header in-cluster clients send (from the manifests' tracking URIs) and refuses a foreign one", async () => {
    const uris = new Set();
    const collect = (o) => {
      if (Array.isArray(o)) o.forEach(collect);
      else if (o && typeof o === 'object') {
        if (o.name === 'MLFLOW_TRACKING_URI' && typeof o.value === 'string') uris.add(o.value);
        Object.values(o).forEach(collect);
      }
    };
    collect(stack.manifests.docs);
    assert.ok(uris.size > 0);
    const ask = (host) => request(stack.mlflow.port, 'GET', '/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default', { headers: { host } });
    for (const uri of uris) {
      const host = new URL(uri).host;
      const res = await ask(host);
      assert.equal(res.status, 200, `Host ${host}: HTTP ${res.status} ${res.body}`);
    }
    assert.equal((await ask('attacker.example.com')).status, 403);
  });

  for (const job of jobs()) {
    describe(`Job ${job.metadata.name}`, () => {
      let result;
      let fin;
      let run;
      const target = stackTarget(job);
      before(async () => {
        result = await stack.train(job);
        fin = ck.finishedLine(result.output);
        if (fin) run = (await ck.api(stack, 'GET', 'runs/get', { query: { run_id: fin.run_id } })).run;
        if (fin) trained.set(job.metadata.name, { ...fin, target: target() });
      });

      it('train.R exits 0 and logs the finished run', () => {
        assert.equal(result.code, 0, result.output.slice(-4000));
        assert.ok(fin, `no "training run finished" line in:\n${result.output.slice(-3000)}`);
      });

      it('the experiment exists and holds the run', async () => {
        const exp = await ck.api(stack, 'GET', 'experiments/get-by-name', { query: { experiment_name: target().experiment } });
        assert.equal(run.info.experiment_id, exp.experiment.experiment_id);
      });

      it('the run has params and metrics, including the gate metric', () => {
        assert.ok((run.data.params || []).length > 0, 'no params');
        const metrics = Object.fromEntries((run.data.metrics || []).map((m) => [m.key, m.value]));
        assert.equal(typeof metrics[target().metric], 'number', `metric ${target().metric} missing: ${JSON.stringify(metrics)}`);
      });

      it("the bundle's objects are in MinIO, listed through S3, the model file intact", () => {
        const { bucket, key } = ck.s3Location(stack, `${run.info.artifact_uri}/model`);
        const objects = ck.s3Objects(stack, bucket, key);
        assert.ok(objects['bundle.json'], `no bundle.json among ${Object.keys(objects).join(', ')}`);
        assert.ok(objects.MLmodel, `no MLmodel among ${Object.keys(objects).join(', ')}`);
        // bundle.json records the model file's size and MD5 (docs/bundle-format.md); MinIO's ETag
        // of a single-part upload is the MD5 of what it stored.
        const manifest = JSON.parse(ck.s3Cat(stack, bucket, `${key}/bundle.json`));
        const model = objects[manifest.model.file];
        assert.ok(model, `no ${manifest.model.file} among ${Object.keys(objects).join(', ')}`);
        assert.deepEqual(model, { size: manifest.model.bytes, md5: manifest.model.md5 });
      });

      it('the registered version is READY', async () => {
        const mv = (await ck.api(stack, 'GET', 'model-versions/get', { query: { name: target().model, version: fin.version } })).model_version;
        assert.equal(mv.status, 'READY');
        assert.equal(mv.run_id, fin.run_id);
      });

      it('the alias has moved to it', async () => {
        assert.equal(await ck.aliasVersion(stack, target().model, target().alias), String(fin.version));
      });

      it('the run is FINISHED', () => {
        assert.equal(run.info.status, 'FINISHED');
      });
    });
  }
});

describe('a missed quality gate', () => {
  for (const job of jobs()) {
    describe(`Job ${job.metadata.name}`, () => {
      let result;
      let before_;
      let fin;
      const target = stackTarget(job);
      before(async () => {
        before_ = await ck.aliasVersion(stack, target().model, target().alias);
        result = await stack.train(job, { env: { QUALITY_THRESHOLD: ck.unreachableThreshold(target()) } });
        fin = ck.finishedLine(result.output);
      });

      it('train.R exits 0', () => {
        assert.equal(result.code, 0, result.output.slice(-4000));
      });

      it('a new version is registered and READY', async () => {
        assert.ok(fin && Number(fin.version) > Number(before_), `version ${fin && fin.version} after ${before_}`);
        const mv = (await ck.api(stack, 'GET', 'model-versions/get', { query: { name: target().model, version: fin.version } })).model_version;
        assert.equal(mv.status, 'READY');
      });

      it('the alias does not move', async () => {
        assert.equal(fin.alias_moved, false);
        assert.equal(await ck.aliasVersion(stack, target().model, target().alias), before_);
      });
    });
  }
});

describe('serving', () => {
  for (const { sdep, predictor } of predictors()) {
    describe(`SeldonDeployment ${sdep.metadata.name}, predictor ${predictor}`, () => {
      let model;
      let target;
      let body;
      let direct;
      let ex;
      before(async () => {
        target = ck.trainingJobFor(stack, sdep, predictor);
        // A predictor whose alias no training has moved yet (e.g. a challenger trained by a
        // CronJob) gets one run of its training Job first.
        if (!(await ck.aliasVersion(stack, target.model, target.alias))) {
          const r = await stack.train(target.job);
          assert.equal(r.code, 0, r.output.slice(-3000));
        }
        model = await stack.startModel(sdep, { predictor });
      });

      it('serve.R resolves models:/<name>@<alias> through MLflow to the alias version', async () => {
        const version = await ck.aliasVersion(stack, target.model, target.alias);
        const meta = JSON.parse((await request(model.port, 'GET', '/metadata')).body);
        assert.deepEqual(meta.versions, [version]);
        const mv = (await ck.api(stack, 'GET', 'model-versions/get', { query: { name: target.model, version } })).model_version;
        assert.equal(meta.custom.run_id, mv.run_id);
      });

      it('it has no S3 credentials: the bundle came from MinIO through the MLflow proxy', () => {
        const env = Object.keys(model.spec.env);
        assert.deepEqual(env.filter((k) => /^AWS_|S3|MINIO/.test(k)), []);
        const loaded = ck.logLines(model.proc.output()).find((l) => l.msg === 'model loaded');
        assert.ok(loaded, model.proc.output());
      });

      it('predicts the example row of its bundle (read from MinIO)', async () => {
        const version = await ck.aliasVersion(stack, target.model, target.alias);
        const run = (await ck.api(stack, 'GET', 'model-versions/get', { query: { name: target.model, version } })).model_version;
        const runInfo = (await ck.api(stack, 'GET', 'runs/get', { query: { run_id: run.run_id } })).run.info;
        const { bucket, key } = ck.s3Location(stack, `${runInfo.artifact_uri}/model`);
        body = ck.exampleRequest(stack, bucket, key);
        const res = await request(model.port, 'POST', '/api/v1.0/predictions', { body });
        assert.equal(res.status, 200, res.body);
        direct = JSON.parse(res.body);
        assert.equal(direct.data.ndarray.length, 1);
      });

      // What the executor serves depends on the SeldonDeployment's protocol; the R server
      // answers both on the same port.
      const v2 = sdep.spec.protocol === 'v2';
      const node = sdep.spec.predictors.find((p) => p.name === predictor).graph.name;
      const inferPath = v2 ? `/v2/models/${node}/infer` : '/api/v1.0/predictions';
      const asProtocol = (seldon) => (v2 ? ck.v2Request(seldon) : seldon);
      const answer = (res) => (v2 ? JSON.parse(res.body).outputs : JSON.parse(res.body).data);

      it(`the R server answers ${inferPath} directly${v2 ? ' (Open Inference Protocol v2)' : ''}`, async () => {
        const res = await request(model.port, 'POST', inferPath, { body: asProtocol(body) });
        assert.equal(res.status, 200, res.body);
        if (v2) {
          const [out] = JSON.parse(res.body).outputs;
          assert.deepEqual(out.data, direct.data.ndarray.flat());
        }
      });

      describe(`through Seldon's executor (--protocol ${v2 ? 'v2' : 'seldon'})`, { skip: executorSkip }, () => {
        let viaR;
        before(async () => {
          ex = await stack.startExecutor(sdep, { predictor });
          viaR = answer(await request(model.port, 'POST', inferPath, { body: asProtocol(body) }));
        });

        it(`answers POST ${inferPath} with the R server's predictions`, async () => {
          const res = await request(ex.port, 'POST', inferPath, { body: asProtocol(body) });
          assert.equal(res.status, 200, res.body);
          assert.deepEqual(answer(res), viaR);
        });

        it(`answers ${v2 ? `/v2/models/${node}` : '/api/v1.0/metadata'}`, async () => {
          const res = await request(ex.port, 'GET', v2 ? `/v2/models/${node}` : '/api/v1.0/metadata');
          assert.equal(res.status, 200, res.body);
          const version = await ck.aliasVersion(stack, target.model, target.alias);
          assert.ok(res.body.includes(`"${version}"`) || res.body.includes(target.model), res.body);
        });

        it(`answers bad input with a 4xx and ${v2 ? 'a v2 error body' : 'a Seldon status body'}`, async () => {
          const bad = v2
            ? { inputs: [{ name: 'no-such-feature', shape: [1], datatype: 'BYTES', data: ['x'] }] }
            : { data: { names: ['no-such-feature'], ndarray: [['x']] } };
          const res = await request(ex.port, 'POST', inferPath, { body: bad });
          assert.ok(res.status >= 400 && res.status < 500, `HTTP ${res.status}: ${res.body}`);
          if (v2) {
            assert.equal(typeof JSON.parse(res.body).error, 'string', res.body);
          } else {
            const status = JSON.parse(res.body).status;
            assert.equal(status.status, 'FAILURE', res.body);
            assert.equal(status.code, res.status);
          }
        });

        it("follows an R server restart: /ready goes down, then up, and predictions resume", async () => {
          await stack.stopModel(sdep, { predictor });
          await waitFor('executor /ready != 200 after the R server stopped',
            async () => (await request(ex.port, 'GET', '/ready')).status !== 200, { timeoutMs: 30000, intervalMs: 200 });
          model = await stack.startModel(sdep, { port: model.port, wait: false, predictor });
          await waitFor('executor /ready == 200 after the R server restarted',
            async () => (await request(ex.port, 'GET', '/ready')).status === 200, { timeoutMs: 120000, intervalMs: 250, proc: model.proc });
          await waitFor('R server loaded', async () => (await request(model.port, 'GET', '/health/status')).status === 200,
            { timeoutMs: 120000, intervalMs: 250, proc: model.proc });
          const res = await request(ex.port, 'POST', inferPath, { body: asProtocol(body) });
          assert.equal(res.status, 200, res.body);
          assert.deepEqual(answer(res), viaR);
        });
      });

      it('after the alias moves to a new version, a restarted serve.R serves it', async () => {
        const r = await stack.train(target.job);
        assert.equal(r.code, 0, r.output.slice(-3000));
        const fin = ck.finishedLine(r.output);
        assert.equal(await ck.aliasVersion(stack, target.model, target.alias), String(fin.version));
        await stack.stopModel(sdep, { predictor });
        model = await stack.startModel(sdep, { port: model.port, predictor });
        const meta = JSON.parse((await request(model.port, 'GET', '/metadata')).body);
        assert.deepEqual(meta.versions, [String(fin.version)]);
        const res = await request(model.port, 'POST', '/api/v1.0/predictions', { body });
        assert.equal(res.status, 200, res.body);
        assert.equal(JSON.parse(res.body).meta.tags.model_version, String(fin.version));
      });
    });
  }
});

// dist/ is read at load time to name the tests; the stack reads it again when it starts.
function jobs() {
  return require('./lib/manifests').loadDist(require('./lib/env').DIST).trainingJobs();
}
function predictors() {
  const out = [];
  for (const sdep of require('./lib/manifests').loadDist(require('./lib/env').DIST).seldonDeployments()) {
    for (const p of sdep.spec.predictors) out.push({ sdep, predictor: p.name });
  }
  return out;
}
function stackTarget(job) {
  return () => stack.trainingTarget(job);
}
