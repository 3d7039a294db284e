// The R programs and the constructs must agree on env var names, ports and paths. The
// constructs use lib/contract.ts; the rmlops R package reads its installed contract.json
// (r/inst/contract.json, generated from it, as is the identical r/contract.json) at runtime.
// This fails if the JSON is stale, or if the R code reads a name not in the contract or
// hard-codes a name, path or key instead of going through the contract.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as os from 'os';
import { CONTRACT_JSON, REPO, R_DIR } from './support/r-env';

const contract = JSON.parse(fs.readFileSync(path.join(R_DIR, 'contract.json'), 'utf8'));

function rSources(): Array<{ file: string; code: string }> {
  const files = [
    ...fs.readdirSync(R_DIR).filter((f) => f.endsWith('.R')).map((f) => path.join(R_DIR, f)),
    ...fs.readdirSync(path.join(R_DIR, 'R')).filter((f) => f.endsWith('.R')).map((f) => path.join(R_DIR, 'R', f)),
  ];
  // Comments are dropped so the checks look at code only.
  return files.map((file) => ({
    file: path.relative(REPO, file),
    code: fs.readFileSync(file, 'utf8').split('\n').map((l) => l.replace(/^\s*#.*$/, '')).join('\n'),
  }));
}

const all = (re: RegExp, s: string) => [...s.matchAll(re)].map((m) => m[1]);

describe('contract drift between lib/contract.ts, r/contract.json and the R code', () => {
  test('r/contract.json and r/inst/contract.json are up to date with lib/contract.ts (gen-contract --check)', () => {
    const run = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'gen-contract.js'), '--check'], { cwd: REPO, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(fs.readFileSync(CONTRACT_JSON, 'utf8')).toBe(fs.readFileSync(path.join(R_DIR, 'contract.json'), 'utf8'));
  });

  test('gen-contract --check fails on a stale installed copy, naming it', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-gen-'));
    try {
      for (const d of ['scripts', 'lib', 'r/inst']) fs.mkdirSync(path.join(tmp, d), { recursive: true });
      for (const f of fs.readdirSync(path.join(REPO, 'scripts'))) {
        if (f.endsWith('.js')) fs.copyFileSync(path.join(REPO, 'scripts', f), path.join(tmp, 'scripts', f));
      }
      fs.copyFileSync(path.join(REPO, 'lib', 'contract.ts'), path.join(tmp, 'lib', 'contract.ts'));
      fs.copyFileSync(path.join(R_DIR, 'contract.json'), path.join(tmp, 'r', 'contract.json'));
      fs.writeFileSync(path.join(tmp, 'r', 'inst', 'contract.json'), '{}\n');
      fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(tmp, 'node_modules'));
      const run = spawnSync(process.execPath, [path.join(tmp, 'scripts', 'gen-contract.js'), '--check'], { cwd: tmp, encoding: 'utf8' });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/r\/inst\/contract\.json stale/);
      expect(run.stderr).not.toMatch(/r\/contract\.json and/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('the package reads the contract through system.file(), not a path beside a script', () => {
    const code = rSources().find((s) => s.file === 'r/R/contract.R')!.code;
    expect(code).toMatch(/system\.file\("contract\.json", package = "rmlops"\)/);
  });

  test('the R sources are found (the scan below is not vacuous)', () => {
    const names = rSources().map((s) => s.file);
    expect(names).toEqual(expect.arrayContaining(['r/serve.R', 'r/train.R', 'r/R/contract.R', 'r/R/http_server.R']));
  });

  test('every environment variable the R code reads by name is in the contract', () => {
    const allowed = new Set(Object.values(contract.env as Record<string, string>));
    for (const { file, code } of rSources()) {
      for (const name of all(/Sys\.getenv\(\s*["']([^"']+)["']/g, code)) {
        expect(`${file}: ${name}`).toBe(allowed.has(name) ? `${file}: ${name}` : `${file}: ${name} is not in lib/contract.ts ENV`);
      }
    }
  });

  test('R reads env vars only through contract keys that exist', () => {
    const keys = new Set(Object.keys(contract.env));
    const used = new Set<string>();
    for (const { file, code } of rSources()) {
      for (const key of all(/contract_env(?:_number|_name)?\(\s*contract\s*,\s*"([^"]+)"/g, code)) {
        used.add(key);
        expect(`${file}: ${key}`).toBe(keys.has(key) ? `${file}: ${key}` : `${file}: ${key} is not a key of ENV`);
      }
      // Any other Sys.getenv must take its name from the contract, not a literal.
      const dynamic = all(/Sys\.getenv\(\s*([^,)]+)/g, code).filter((a) => !/^["']/.test(a));
      for (const arg of dynamic) expect(`${file}: Sys.getenv(${arg})`).toBe(`${file}: Sys.getenv(name)`);
    }
    expect([...used]).toEqual(expect.arrayContaining(['trackingUri', 'modelUri', 'httpPort', 'modelDir', 'maxBodyBytes',
      'experimentName', 'registeredModelName', 'modelAlias', 'qualityMetric', 'qualityThreshold', 'qualityDirection', 'mlflowWaitSeconds',
      'trainingScript']));
  });

  test('the drift monitor reads every variable of MONITOR_ENV, each through a key that exists', () => {
    const keys = Object.keys(contract.monitorEnv);
    const used = new Set<string>();
    for (const { file, code } of rSources()) {
      const found = [...all(/monitor_env\(\s*contract\s*,\s*"([^"]+)"/g, code),
        // monitor_settings()'s num("windowSeconds", ...) passes its key on to monitor_env().
        ...(file === 'r/R/monitor.R' ? all(/num\(\s*"([^"]+)"/g, code) : [])];
      for (const key of found) {
        used.add(key);
        expect(`${file}: ${key}`).toBe(keys.includes(key) ? `${file}: ${key}` : `${file}: ${key} is not a key of MONITOR_ENV`);
      }
    }
    expect([...used].sort()).toEqual([...keys].sort());
  });

  test('the R code hard-codes no env var name and no served path (they come from contract.json)', () => {
    const names = Object.values(contract.env as Record<string, string>).filter((n) => n !== 'TMPDIR');
    const paths = Object.values(contract.paths as Record<string, string>);
    for (const { file, code } of rSources()) {
      for (const lit of [...names, ...paths]) {
        expect(`${file}: ${code.includes(`"${lit}"`) || code.includes(`'${lit}'`) ? lit : 'none'}`).toBe(`${file}: none`);
      }
      for (const key of all(/contract\$paths\$(\w+)/g, code)) expect(Object.keys(contract.paths)).toContain(key);
    }
  });

  test('the server takes its default and forbidden ports from the contract', () => {
    const serve = rSources().find((s) => s.file === 'r/R/server.R')!.code;
    expect(serve).toMatch(/contract\$modelHttpPort/);
    expect(serve).toMatch(/contract\$executorPorts/);
    for (const p of [...contract.executorPorts, contract.modelHttpPort]) expect(serve).not.toMatch(new RegExp(`\\b${p}\\b`));
  });
});

// The other direction: what the constructs put into the R containers must be what R reads.
describe('env vars the constructs set on R containers are the ones the R code reads', () => {
  // Names R code reads through contract_env*(contract, "<key>").
  function namesRead(): Set<string> {
    const env = contract.env as Record<string, string>;
    const read = new Set<string>();
    for (const { code } of rSources()) {
      for (const key of all(/contract_env(?:_number)?\(\s*contract\s*,\s*"([^"]+)"/g, code)) read.add(env[key]);
    }
    return read;
  }

  function rContainers(): Record<string, string[]> {
    // Loaded lazily so a broken R setup does not hide this TypeScript-side check.
    const { Testing } = require('cdk8s');
    const lib = require('../lib');
    const chart = Testing.chart();
    const minio = new lib.MinioStore(chart, 'minio');
    const mlflow = new lib.MlflowServer(chart, 'mlflow', { artifactStore: minio });
    const train = new lib.RTrainingJob(chart, 'train', {
      tracking: mlflow, pipelineVolume: { claimName: 'shared' }, trainingScript: lib.TrainingScript.fromFile(path.join(REPO, 'examples', 'iris', 'train.R')),
    });
    new lib.SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow, maxRequestBytes: 1024 });
    const out: Record<string, string[]> = {};
    for (const obj of Testing.synth(chart)) {
      const pods = obj.kind === 'Job' && obj.metadata.name === 'train'
        ? [obj.spec.template.spec]
        : obj.kind === 'SeldonDeployment' ? obj.spec.predictors.flatMap((p: any) => p.componentSpecs.map((c: any) => c.spec)) : [];
      for (const pod of pods) {
        for (const c of pod.containers) out[`${obj.kind}/${c.name}`] = (c.env ?? []).map((e: any) => e.name);
      }
    }
    return out;
  }

  // Read by R itself or the C library, not by our code.
  const PROCESS_ENV = new Set(['HOME', 'TMPDIR']);

  test('every env var set on the training and model containers is read by the R code', () => {
    const read = namesRead();
    const containers = rContainers();
    expect(Object.keys(containers).sort()).toEqual(['Job/train', 'SeldonDeployment/model']);
    for (const [owner, names] of Object.entries(containers)) {
      const unread = names.filter((n) => !read.has(n) && !PROCESS_ENV.has(n));
      expect(`${owner}: ${unread.join(', ') || 'none unread'}`).toBe(`${owner}: none unread`);
    }
  });

  test('the training Job fails at once on the exit code train.R uses for configuration errors', () => {
    const { Testing } = require('cdk8s');
    const lib = require('../lib');
    const chart = Testing.chart();
    const mlflow = new lib.MlflowServer(chart, 'mlflow', { artifactStore: new lib.MinioStore(chart, 'minio') });
    new lib.RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: lib.TrainingScript.fromFile(path.join(REPO, 'examples', 'iris', 'train.R')) });
    const job = Testing.synth(chart).find((o: any) => o.kind === 'Job' && o.metadata.name === 'train');
    const rules = job.spec.podFailurePolicy.rules;
    expect(rules).toContainEqual(expect.objectContaining({
      action: 'FailJob',
      onExitCodes: expect.objectContaining({ operator: 'In', values: [contract.trainingConfigErrorExitCode] }),
    }));
    // train.R returns rmlops::train_main()'s status; the package maps configuration errors to the code.
    expect(rSources().find((f) => f.file === 'r/train.R')!.code).toMatch(/quit\(status = train_main\(\)/);
    expect(rSources().find((f) => f.file === 'r/R/training.R')!.code).toMatch(/contract\$trainingConfigErrorExitCode/);
  });

  test('the names each R program needs are set by its construct', () => {
    const env = contract.env as Record<string, string>;
    const containers = rContainers();
    expect(containers['Job/train']).toEqual(expect.arrayContaining([
      env.trackingUri, env.experimentName, env.registeredModelName, env.modelAlias, env.qualityMetric,
      env.qualityThreshold, env.qualityDirection, env.mlflowWaitSeconds, env.modelDir, env.trainingScript,
    ]));
    expect(containers['SeldonDeployment/model']).toEqual(expect.arrayContaining([env.modelUri, env.trackingUri, env.maxBodyBytes]));
  });
});
