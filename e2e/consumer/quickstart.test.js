'use strict';
// npm run e2e:consumer: the README's quick-start, verbatim, from the packed tarball. It packs the
// package, creates a fresh app in a temp folder from the README's `quickstart` blocks, installs
// the tarball and the versions the README names (from the npm cache when it is warm), type-checks,
// synthesizes, validates, and applies the result to a real kube-apiserver 1.28.15 with Seldon's
// CRD and, when built, the real Seldon 1.17.1 operator's validating webhook. Then it runs
// `npx rmlops-cdk8s dev` from the installed package on that app's dist/ (e2e/consumer/dev.js).
// Build the binaries first: scripts/real/install-cluster.sh (CI does).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { ROOT, binaries, operatorBinary, ControlPlane, until } = require('../cluster/controlplane');
const { startOperator, webhookValidated } = require('../cluster/operator');
const { quickstartBlocks } = require('./readme');
const { devScenarios } = require('./dev');

const CRD = path.join(ROOT, '..', 'shared', 'crds', 'machinelearning.seldon.io_seldondeployments.yaml');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const bins = binaries();
const operator = operatorBinary();
// Bounds on each step: an npm install from a cold cache downloads about 60 MB.
const STEP_MS = { pack: 300000, block: 600000 };

if (process.env.CI === 'true') {
  for (const reason of [bins.reason, operator.reason].filter(Boolean)) {
    it('the control plane and the Seldon operator are built (CI=true)', () => assert.fail(reason));
  }
}

// Runs one `sh quickstart` block as a user's shell would, in the app's folder.
function runBlock(commands, cwd, env, timeout = STEP_MS.block) {
  const r = spawnSync('bash', ['-euo', 'pipefail', '-c', commands], {
    cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, error: r.error };
}

function ok(r, what) {
  assert.equal(r.code, 0, `${what} failed (${r.signal || r.code}${r.error ? `, ${r.error.message}` : ''}):\n${r.stdout}\n${r.stderr}`);
}

describe("the README's quick-start, from the packed tarball", { skip: bins.reason }, () => {
  const blocks = quickstartBlocks();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-quickstart-'));
  const app = path.join(work, 'app');
  const kubectlDir = path.join(work, 'path');
  const cp = new ControlPlane(bins);
  const times = {};
  let tarball;
  let op = null;
  let env;

  before(async () => {
    fs.mkdirSync(app);
    // Only kubectl from the cache's binaries goes on PATH, as a user has it.
    fs.mkdirSync(kubectlDir);
    fs.symlinkSync(bins.kubectl, path.join(kubectlDir, 'kubectl'));
    const t = Date.now();
    await cp.start();
    if (fs.existsSync(CRD)) await cp.kubectlOk(['apply', '--server-side', '-f', CRD]);
    times.controlPlane = Date.now() - t;
    env = {
      ...process.env,
      PATH: `${kubectlDir}:${process.env.PATH}`,
      KUBECONFIG: cp.kubeconfig,
      // Served from the npm cache when it holds these versions; fetched from the registry otherwise.
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      NO_COLOR: '1',
    };
  });

  after(async () => {
    await cp.stop();
    console.log(`# quick-start times (ms): ${JSON.stringify(times)}`);
    if (!process.env.RMLOPS_KEEP_TMP) fs.rmSync(work, { recursive: true, force: true });
  });

  it('the README holds the blocks: install, tsconfig.json, train.R, main.ts, synth and validate, apply', () => {
    assert.deepEqual(blocks.map((b) => b.file || 'sh'), ['sh', 'tsconfig.json', 'train.R', 'main.ts', 'sh', 'sh']);
    const [install, , , main] = blocks;
    assert.match(install.commands, /^npm install rmlops-cdk8s /m);
    // The versions the README installs are the ones this repository builds and tests with.
    for (const dep of ['cdk8s', 'cdk8s-plus-28', 'constructs', 'typescript', 'ts-node']) {
      assert.match(install.commands, new RegExp(` ${dep}@${PKG.devDependencies[dep].replace(/\./g, '\\.')}(?: |$)`, 'm'), dep);
    }
    // What the quick-start promises: imports from the package, the Namespace in its own Chart,
    // every construct of the pipeline, a gate whose metric the script returns.
    assert.match(main.content, /from 'rmlops-cdk8s';/);
    assert.match(main.content, /new k8s\.KubeNamespace\(new Chart\(app, 'namespace'\)/);
    for (const c of ['MinioStore', 'MlflowServer', 'RTrainingJob', 'SeldonRModel', 'writeManifests']) assert.match(main.content, new RegExp(`new ${c}\\(|${c}\\(app`), c);
    const metric = /qualityMetric: '([a-z_]+)'/.exec(main.content);
    assert.ok(metric, 'main.ts sets qualityMetric');
    assert.match(blocks[2].content, new RegExp(`metrics = list\\(${metric[1]} =`));
  });

  it('npm pack (prepack compiles build/)', () => {
    const t = Date.now();
    const r = runBlock(`npm pack --silent --pack-destination ${JSON.stringify(work)}`, ROOT, env, STEP_MS.pack);
    ok(r, 'npm pack');
    tarball = path.join(work, r.stdout.trim().split('\n').pop());
    assert.ok(fs.existsSync(tarball), `no tarball at ${tarball}`);
    times.pack = Date.now() - t;
  });

  it('block 1, verbatim but for the package, which is the tarball: npm init, npm install', () => {
    const t = Date.now();
    const install = blocks[0].commands;
    const lines = install.split('\n').filter((l) => /^npm install rmlops-cdk8s /.test(l));
    assert.equal(lines.length, 1);
    const r = runBlock(install.replace(/^npm install rmlops-cdk8s /m, `npm install ${tarball} `), app, env);
    ok(r, 'the install block');
    const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'rmlops-cdk8s', 'package.json'), 'utf8'));
    assert.equal(installed.version, PKG.version);
    const deps = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8')).dependencies;
    assert.match(deps['rmlops-cdk8s'], /^file:.*\.tgz$/);
    times.install = Date.now() - t;
  });

  it('the files of the app, from the README', () => {
    for (const b of blocks.filter((x) => x.file)) fs.writeFileSync(path.join(app, b.file), b.content);
    assert.deepEqual(fs.readdirSync(app).filter((f) => !f.startsWith('node_modules')).sort(),
      ['main.ts', 'package-lock.json', 'package.json', 'train.R', 'tsconfig.json']);
  });

  it('block 2: type-check, synthesize and validate, with no warning', () => {
    const t = Date.now();
    const r = runBlock(blocks[4].commands, app, env);
    ok(r, 'the synth block');
    assert.doesNotMatch(r.stderr, /warning/i, 'the quick-start synthesizes without a warning');
    assert.match(r.stdout, /^valid: \d+ object\(s\) in \d+ file\(s\)/m);
    const files = fs.readdirSync(path.join(app, 'dist')).filter((f) => f.endsWith('.yaml')).sort();
    assert.equal(files[0], '0000-namespace-risk.yaml');
    for (const kind of ['deployment-minio', 'deployment-mlflow', 'job-transmission-train', 'seldondeployment-transmission']) {
      assert.ok(files.some((f) => f.endsWith(`-${kind}.yaml`)), `${kind} in ${files.join(', ')}`);
    }
    // The user's script, read relative to the app, is what the training Job mounts.
    const cm = fs.readFileSync(path.join(app, 'dist', files.find((f) => f.endsWith('-configmap-transmission-train-script.yaml'))), 'utf8');
    assert.match(cm, /glm\(am ~ wt \+ hp/);
    times.synth = Date.now() - t;
  });

  it('the Seldon operator is running, so its webhook validates the SeldonDeployment', { skip: operator.reason }, async () => {
    op = await startOperator(cp, operator.path);
  });

  it('block 3: the namespace, the two Secrets, kubectl apply -f dist/ on the real API server', async () => {
    const t = Date.now();
    const r = runBlock(blocks[5].commands, app, env);
    ok(r, 'the apply block');
    assert.match(r.stdout, /secret\/minio-root created/);
    assert.match(r.stdout, /secret\/mlflow-s3 created/);
    assert.match(r.stdout, /seldondeployment\.machinelearning\.seldon\.io\/transmission created/);
    // Every object of dist/ is on the server, and the Secrets have the keys the pods read.
    const objects = runBlock('kubectl -n risk get deploy,svc,job,cm,pvc,sdep,secret -o name', app, env);
    ok(objects, 'kubectl get');
    for (const name of ['deployment.apps/minio', 'deployment.apps/mlflow', 'job.batch/transmission-train',
      'seldondeployment.machinelearning.seldon.io/transmission', 'secret/minio-root', 'secret/mlflow-s3']) {
      assert.ok(objects.stdout.split('\n').includes(name), `${name} in:\n${objects.stdout}`);
    }
    const keys = (name) => Object.keys(JSON.parse(runBlock(`kubectl -n risk get secret ${name} -o json`, app, env).stdout).data).sort();
    assert.deepEqual(keys('minio-root'), ['root-password', 'root-user']);
    assert.deepEqual(keys('mlflow-s3'), ['access-key-id', 'secret-access-key']);
    if (op) await until('the webhook validated transmission', () => webhookValidated(op).has('transmission'), { timeoutMs: 30000 });
    times.apply = Date.now() - t;
  });

  describe('npx rmlops-cdk8s dev, from the installed package', () => {
    devScenarios({ app: () => app, env: () => env, times });
  });
});

if (bins.reason) console.log(`# SKIPPED: ${bins.reason}`);
