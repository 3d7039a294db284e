/**
 * The package as a user gets it: `npm pack` (which runs prepack: compile to build/), install the
 * tarball into a fresh project next to the peer dependencies, compile a small app against the
 * public typings only, run it, and validate what it synthesizes.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadManifestDir, validateManifests } from './support/validate';

const ROOT = path.resolve(__dirname, '..');
const TIMEOUT_MS = 240_000;
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

/**
 * The toolchain this test proves, pinned: the README's "Supported toolchain" and the package's
 * engines/peerDependencies ranges must include exactly these (TypeScript 7 drops the JavaScript
 * compiler API ts-node uses, so the range stops before it).
 */
const TOOLCHAIN = { typescript: '5.9.3', 'ts-node': '10.9.2' } as const;

/** The versions this repository is developed against, so the install is served by the npm cache. */
function installedVersion(pkg: string): string {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
}

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      // No colour codes in captured output; CI stays as the caller set it.
      env: { ...process.env, NO_COLOR: '1', npm_config_update_notifier: 'false' },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (e: any) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const APP = `import { App, Chart } from 'cdk8s';
import {
  MinioStore, MlflowServer, RTrainingJob, SeldonRModel, R_MODEL_HTTP_PORT, TrainingScript,
} from 'rmlops-cdk8s';

const app = new App({ outdir: 'dist' });
const chart = new Chart(app, 'pipeline', { namespace: 'mlops' });

const minio = new MinioStore(chart, 'minio', {});
const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
const train = new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: TrainingScript.fromFile('train.R') });
const iris = new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow, httpPort: R_MODEL_HTTP_PORT });
const url: string = iris.predictionsUrl;

/** Never called: it only has to fail to compile. */
export function executorPortIsRejected(): void {
  // @ts-expect-error port 8000 belongs to the Seldon executor sidecar
  new SeldonRModel(chart, 'clash', { model: train.model, httpPort: 8000 });
}

app.synth();
console.log(url);
`;

describe('supported toolchain', () => {
  test('engines and peer ranges include what the consumer test installs, and stop before TypeScript 7', () => {
    expect(PKG.engines.node).toBe('>=20.0.0');
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(20);
    expect(PKG.peerDependencies.typescript).toBe('>=5.0.0 <6.0.0');
    expect(PKG.peerDependencies['ts-node']).toBe('^10.9.0');
    expect(PKG.peerDependenciesMeta).toEqual({ 'ts-node': { optional: true }, typescript: { optional: true } });
    expect(TOOLCHAIN.typescript.startsWith('5.')).toBe(true);
    expect(TOOLCHAIN['ts-node'].startsWith('10.9.')).toBe(true);
    // The repository itself builds with the same pins.
    expect(installedVersion('typescript')).toBe(TOOLCHAIN.typescript);
    expect(installedVersion('ts-node')).toBe(TOOLCHAIN['ts-node']);
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`TypeScript ${TOOLCHAIN.typescript}`);
    expect(readme).toContain(`ts-node ${TOOLCHAIN['ts-node']}`);
    expect(readme).toContain('Node.js 20');
  });

  test('runtime dependencies: the validator\'s schemas ship with the package', () => {
    expect(Object.keys(PKG.dependencies).sort()).toEqual(['kubernetes-models', 'yaml']);
    expect(PKG.dependencies['kubernetes-models']).toBe('4.4.2');
    expect(PKG.bin).toEqual({ 'rmlops-cdk8s': 'build/lib/cli.js' });
    expect(fs.readFileSync(path.join(ROOT, 'lib', 'cli.ts'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });
});

describe('consumer of the published package', () => {
  let work: string;

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-consumer-'));
  });

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('npm pack, install, compile against the typings, synth, validate', () => {
    const started = Date.now();
    const times: Record<string, number> = {};
    const lap = (name: string) => { times[name] = Date.now() - started - Object.values(times).reduce((a, b) => a + b, 0); };

    // 1. Pack (prepack compiles into build/).
    const packDir = path.join(work, 'pack');
    fs.mkdirSync(packDir);
    run('npm', ['pack', '--pack-destination', packDir, '--silent'], ROOT);
    const tarballs = fs.readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
    expect(tarballs).toHaveLength(1);
    const tarball = path.join(packDir, tarballs[0]);
    lap('pack');

    // 2. What the tarball ships: compiled code and typings, the R programs, nothing else.
    const files = run('tar', ['-tzf', tarball], work).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    expect(files).toEqual(expect.arrayContaining([
      'package.json',
      'build/lib/index.js',
      'build/lib/index.d.ts',
      'build/lib/contract.d.ts',
      'build/imports/machinelearning.seldon.io.js',
      'build/imports/machinelearning.seldon.io.d.ts',
      'r/contract.json',
      'build/lib/cli.js',
      'imports/seldondeployment-v1.validate.js',
      'imports/monitoring-coreos-v1.validate.js',
      'imports/crds/monitoring.coreos.com_podmonitors.yaml',
      'imports/k8s-models.bundle.js',
      'imports/k8s-fields.json',
    ]));
    const unwanted = files.filter((f) =>
      // TypeScript sources stay out, but for the examples' apps, shipped as reference code.
      (f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('examples/')) ||
      /^(test|bench|dist|__snapshots__|node_modules)\//.test(f) ||
      // Of scripts/, only the install script `npx rmlops-cdk8s dev` prints, and what it runs.
      (/^scripts\//.test(f) && !['scripts/real/install.sh', 'scripts/real/install-seldon.sh', 'scripts/real/install-sink.sh', 'scripts/real/lib.sh'].includes(f)) ||
      // Of sink/, what install-sink.sh builds the payload sink from, without its tests.
      (/^sink\//.test(f) && !(/^sink\/[a-z]+\.go$/.test(f) && !f.endsWith('_test.go')) && !['sink/go.mod', 'sink/go.sum'].includes(f)) ||
      // Of e2e/, only the local pipeline `npx rmlops-cdk8s dev` runs.
      (/^e2e\//.test(f) && !/^e2e\/lib\/(dev|env|local|manifests|net|procs|stack)\.js$/.test(f)) ||
      f.startsWith('r/tests/') ||
      f.startsWith('build/test/') ||
      f.endsWith('.tgz') ||
      /seldondeployments\.yaml$/.test(f));
    expect(unwanted).toEqual([]);
    // Local artifacts git ignores (a trained r/model/, .Rhistory) must not ride along either:
    // with a `files` list, npm does not consult .gitignore.
    const shipped = files.filter((f) => !f.startsWith('build/'));
    const ignored = spawnSync('git', ['check-ignore', '--', ...shipped], { cwd: ROOT, encoding: 'utf8' });
    expect(ignored.status === 0 || ignored.status === 1).toBe(true); // 1: nothing ignored
    expect(ignored.stdout.split('\n').filter(Boolean)).toEqual([]);

    // 3. A fresh project depending on the tarball and the peers, installed from the npm cache.
    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    const peers = ['cdk8s', 'cdk8s-plus-28', 'constructs'];
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({
      name: 'rmlops-consumer', version: '0.0.0', private: true,
      dependencies: {
        'rmlops-cdk8s': `file:${tarball}`,
        ...Object.fromEntries(peers.map((p) => [p, installedVersion(p)])),
        ...TOOLCHAIN,
      },
    }, null, 2));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app);
    lap('install');

    // 4. Compile with the resolution users get from `exports` (node16) and without skipLibCheck,
    // so broken shipped typings fail here, not in a user's editor.
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2020', module: 'node16', moduleResolution: 'node16', strict: true,
        noUnusedLocals: true, skipLibCheck: false, types: [], outDir: 'out',
      },
      files: ['app.ts'],
    }, null, 2));
    fs.writeFileSync(path.join(app, 'app.ts'), APP);
    fs.writeFileSync(path.join(app, 'train.R'), 'train <- function() list(model = lm(mpg ~ wt, mtcars), metrics = list(rmse = 3))\n');
    run(process.execPath, [path.join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app);
    lap('tsc');

    // 5. The @ts-expect-error line is the rejection: without it the same call must fail to compile.
    const withoutExpectation = APP.replace(/^\s*\/\/ @ts-expect-error.*\n/m, '');
    expect(withoutExpectation).not.toEqual(APP);
    fs.writeFileSync(path.join(app, 'app.ts'), withoutExpectation);
    expect(() => run(process.execPath, [path.join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--noEmit'], app))
      .toThrow(/port 8000 is owned by the Seldon executor sidecar/);
    fs.writeFileSync(path.join(app, 'app.ts'), APP);
    lap('tsc-reject');

    // 6. Synthesize and validate (and the same app through ts-node, as `cdk8s synth` runs it).
    const viaTsNode = run(process.execPath, [path.join(app, 'node_modules', 'ts-node', 'dist', 'bin.js'), '--transpile-only', 'app.ts'], app);
    expect(viaTsNode.trim()).toMatch(/^http:\/\/.*:8000\/api\/v1\.0\/predictions$/);
    fs.rmSync(path.join(app, 'dist'), { recursive: true, force: true });
    const stdout = run(process.execPath, [path.join('out', 'app.js')], app);
    expect(stdout.trim()).toMatch(/^http:\/\/.*:8000\/api\/v1\.0\/predictions$/);
    const outputs = loadManifestDir(path.join(app, 'dist'));
    const objects = outputs.flatMap((f) => f.objects);
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service', 'Job', 'SeldonDeployment', 'ConfigMap']));
    // The user's script, read relative to where the app ran, is in its ConfigMap.
    const script = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'train-script');
    expect(script.data['train.R']).toBe(fs.readFileSync(path.join(app, 'train.R'), 'utf8'));
    expect(validateManifests(objects)).toEqual([]);
    lap('synth');

    // 7. The offline validator as consuming teams run it: `npx rmlops-cdk8s validate <dir>`.
    const bin = path.join(app, 'node_modules', '.bin', 'rmlops-cdk8s');
    expect(run(bin, ['validate', 'dist'], app)).toMatch(/^valid: \d+ object\(s\) in \d+ file\(s\)/);
    const broken = path.join(app, 'broken');
    fs.mkdirSync(broken);
    for (const f of fs.readdirSync(path.join(app, 'dist'))) fs.copyFileSync(path.join(app, 'dist', f), path.join(broken, f));
    const sdepFile = fs.readdirSync(broken).find((f) => fs.readFileSync(path.join(broken, f), 'utf8').includes('kind: SeldonDeployment'))!;
    fs.writeFileSync(path.join(broken, sdepFile), fs.readFileSync(path.join(broken, sdepFile), 'utf8').replace(/replicas: 1\n/g, 'replicas: 2147483648\n'));
    const failed = spawnSync(bin, ['validate', 'broken'], { cwd: app, encoding: 'utf8' });
    expect(failed.status).toBe(1);
    // int32 past its range, in a built-in kind and in the SeldonDeployment (its generated schema).
    expect(failed.stderr).toContain(`${sdepFile}: SeldonDeployment mlops/iris: spec.predictors[0].replicas: must be <= 2147483647`);
    // The same problem on both Deployments is one line naming them.
    expect(failed.stderr).toContain(`${sdepFile}: Deployment mlops/minio, Deployment mlops/mlflow: spec.replicas: must match format "int32"`);
    // Through the package's main export too.
    const viaApi = run(process.execPath, ['-e', 'const r = require("rmlops-cdk8s").validateDirectory("broken"); console.log(r.errors.length)'], app);
    expect(Number(viaApi.trim())).toBeGreaterThan(0);
    lap('validate');

    console.log(`consumer test: ${Date.now() - started} ms ${JSON.stringify(times)}`);
  }, TIMEOUT_MS);
});
