'use strict';
// `npx rmlops-cdk8s dev` as a consumer runs it: from the package installed in the quick-start's
// app, on that app's own dist/ and train.R, with the components of the shared cache. Called by
// quickstart.test.js, which made the app.
const { it } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { CACHE } = require('../lib/env');
const { request } = require('../lib/procs');

// Bounds: MLflow's first start takes about 20 s, training and the R server's load seconds.
const READY_MS = 300000;

function devSync(app, env, args) {
  const r = spawnSync(path.join(app, 'node_modules', '.bin', 'rmlops-cdk8s'), ['dev', ...args], {
    cwd: app, env, encoding: 'utf8', timeout: 60000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Starts `rmlops-cdk8s dev` and resolves with the endpoint lines once it prints "ready.".
function devUntilReady(app, env, args) {
  const child = spawn(path.join(app, 'node_modules', '.bin', 'rmlops-cdk8s'), ['dev', ...args], {
    cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  let out = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within ${READY_MS} ms:\n${out}`)), READY_MS);
    const onData = (d) => {
      out += d;
      if (/^ready\. Ctrl-C stops everything\.$/m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`rmlops-cdk8s dev exited (${code}) before it was ready:\n${out}`));
    });
  });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, ready, exited, output: () => out };
}

const endpoint = (out, name) => {
  const m = new RegExp(`^${name}: http://127\\.0\\.0\\.1:(\\d+)(\\S*)`, 'm').exec(out);
  return m && { port: Number(m[1]), path: m[2] };
};

function devScenarios({ app, env, times }) {
  it('refuses a custom training image before starting anything, with the reason and the fix', () => {
    const dir = path.join(app(), 'dist-custom');
    fs.cpSync(path.join(app(), 'dist'), dir, { recursive: true });
    const job = fs.readdirSync(dir).find((f) => f.endsWith('-job-transmission-train.yaml'));
    const text = fs.readFileSync(path.join(dir, job), 'utf8');
    assert.match(text, /image: ghcr\.io\/rmlops\/r-train:/);
    fs.writeFileSync(path.join(dir, job), text.replace(/image: ghcr\.io\/rmlops\/r-train:\S+/, 'image: registry.example.com/risk/r-train:0.1.0-1'));
    const r = devSync(app(), env(), ['dist-custom']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /nothing was started/);
    assert.match(r.stderr, /\[Job risk\/transmission-train container train\] image = registry\.example\.com\/risk\/r-train:0\.1\.0-1: the local pipeline runs each container as a process on this machine/);
    assert.match(r.stderr, /has no container runtime to run any other image\. Fix: for a local run, synthesize with the default image/);
    assert.doesNotMatch(r.stdout, /starting from/);
  });

  it("on the example's dist/: --train refuses to replace two different scripts at once, and --job must name a Job", () => {
    const example = path.join(__dirname, '..', '..', 'dist');
    const open = devSync(app(), env(), [example, '--train', 'train.R']);
    assert.equal(open.code, 1, open.stdout + open.stderr);
    assert.match(open.stderr, /--train train\.R: the training Jobs run 2 different scripts \(iris-train, mtcars-train, iris-challenger-train\), and one script would replace them all\. Fix: name the Job it is for with --job <name>/);
    const wrong = devSync(app(), env(), [example, '--train', 'train.R', '--job', 'transmission-train']);
    assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
    assert.match(wrong.stderr, /--job transmission-train: no training Job or CronJob of that name in the dist folder \(it has iris-train, mtcars-train, iris-challenger-train\)/);
    const usage = devSync(app(), env(), [example, '--job', 'iris-train']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--job names the Job that --train is for: give --train too/);
  });

  it('lists the components it lacks, and the command that installs them, from the installed package', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-empty-cache-'));
    try {
      const r = devSync(app(), { ...env(), RMLOPS_CACHE: empty }, ['dist']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      for (const c of ['minio', 'mc', 'mlflow', 'the rmlops R package']) assert.match(r.stderr, new RegExp(`not installed: .*${c} \\(${empty}`), c);
      const pkg = path.join(app(), 'node_modules', 'rmlops-cdk8s');
      const command = `RMLOPS_CACHE=${empty} RMLOPS_SKIP_SELDON=1 bash ${path.join(pkg, 'scripts', 'real', 'install.sh')}`;
      assert.ok(r.stderr.split('\n').map((l) => l.trim()).includes(command), r.stderr);
      // The script it names ships with what it sources and reads.
      for (const f of ['scripts/real/install.sh', 'scripts/real/lib.sh', 'scripts/real/install-sink.sh', 'sink/go.mod', 'sink/go.sum', 'sink/main.go', 'versions.json', 'e2e/lib/local.js', 'r/DESCRIPTION']) {
        assert.ok(fs.existsSync(path.join(pkg, f)), f);
      }
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('runs the app: MinIO, MLflow, its own train.R (--train), the model served, then stops on SIGTERM', async (t) => {
    const started = Date.now();
    // The installed package's r/ must have its R library in the cache: the printed command,
    // as a user runs it, is idempotent and installs only what is missing.
    const pkg = path.join(app(), 'node_modules', 'rmlops-cdk8s');
    // The package's r/ is the repository's, so both use one R library of the cache.
    const rHash = (root) => spawnSync(process.execPath, [path.join(root, 'e2e', 'lib', 'local.js'), '--r-sources-hash'], { encoding: 'utf8' }).stdout.trim();
    assert.match(rHash(pkg), /^[0-9a-f]{16}$/);
    assert.equal(rHash(pkg), rHash(path.join(__dirname, '..', '..')));
    const install = spawnSync('bash', [path.join(pkg, 'scripts', 'real', 'install.sh')], {
      env: { ...env(), RMLOPS_CACHE: CACHE, RMLOPS_SKIP_SELDON: '1' }, encoding: 'utf8', timeout: 600000,
    });
    assert.equal(install.status, 0, `${install.stdout}\n${install.stderr}`);
    // --train: a changed copy of the script, so the run shows which one trained.
    const script = path.join(app(), 'train-v2.R');
    fs.writeFileSync(script, fs.readFileSync(path.join(app(), 'train.R'), 'utf8').replace('family = "binomial")', 'family = "binomial", version = "v2")'));
    const run = devUntilReady(app(), { ...env(), RMLOPS_CACHE: CACHE }, ['dist', '--train', 'train-v2.R']);
    try {
      await run.ready;
      times.devReady = Date.now() - started;
      const out = run.output();
      t.diagnostic(out.split('\n').filter((l) => /^(mlflow|predictions|model-|executor)/.test(l)).join('\n'));
      assert.match(out, /\[substitution\] Job risk\/transmission-train: ConfigMap transmission-train-script key train\.R -> .*train-v2\.R/);
      // The version the gate let through, trained by train-v2.R, is what the alias names.
      const mlflow = endpoint(out, 'mlflow');
      const alias = await request(mlflow.port, 'GET', '/api/2.0/mlflow/registered-models/alias?name=transmission&alias=champion');
      assert.equal(alias.status, 200, alias.body);
      const runId = JSON.parse(alias.body).model_version.run_id;
      const runInfo = JSON.parse((await request(mlflow.port, 'GET', `/api/2.0/mlflow/runs/get?run_id=${runId}`)).body);
      const params = Object.fromEntries(runInfo.run.data.params.map((p) => [p.key, p.value]));
      assert.equal(params.version, 'v2');
      const accuracy = runInfo.run.data.metrics.find((m) => m.key === 'accuracy').value;
      assert.ok(accuracy >= 0.8, `accuracy ${accuracy} passed the gate`);
      // A prediction, through Seldon's executor when it is installed, else the R server directly.
      const target = endpoint(out, 'predictions') || endpoint(out, 'model-transmission-default-direct');
      assert.ok(target, out);
      const res = await request(target.port, 'POST', target.path, {
        body: JSON.stringify({ data: { names: ['wt', 'hp'], ndarray: [[2.62, 110], [5.25, 230]] } }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(res.status, 200, res.body);
      const [light, heavy] = JSON.parse(res.body).data.ndarray.map((row) => (Array.isArray(row) ? row[0] : row));
      assert.ok(light > 0.5 && heavy < 0.5, `P(manual): light car ${light}, heavy car ${heavy}`);
    } finally {
      process.kill(-run.child.pid, 'SIGTERM');
      const { code } = await run.exited;
      assert.equal(code, 0, run.output());
    }
    assert.match(run.output(), /SIGTERM: stopping everything this pipeline started…\nstopped/);
    times.dev = Date.now() - started;
  });
}

module.exports = { devScenarios };
