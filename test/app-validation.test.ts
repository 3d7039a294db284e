// The final objects are validated wherever an app is synthesized: writeManifests (writes nothing
// on a problem), app.synth() and Testing.synth() (through the constructs), and the offline
// validator for folders of manifests (`rmlops-cdk8s validate <dir>`).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Chart, JsonPatch, Testing, Yaml } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import {
  MANIFEST_INDEX, MinioStore, MlflowServer, RTrainingJob, SeldonRModel, validateApp, validateAppAtSynth, validateDirectory, validateManifests, writeManifests,
} from '../lib';
import { seldonOperatorObjects } from '../lib/app-validation';
import { main as cli } from '../lib/cli';
import { buildApp } from '../main';
import { fixtureScript } from './constructs-support';

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-validate-'));
}

function pipelineApp(): { app: App; chart: Chart; model: SeldonRModel; minio: MinioStore } {
  const app = Testing.app();
  const chart = new Chart(app, 'ml', { namespace: 'team-a' });
  const minio = new MinioStore(chart, 'minio');
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
  const train = new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: mlflow });
  const model = new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow });
  return { app, chart, model, minio };
}

describe('the objects the Seldon operator creates', () => {
  test('predictor Service, a Service per graph node, a Deployment per component spec', () => {
    const sdep = {
      apiVersion: 'machinelearning.seldon.io/v1', kind: 'SeldonDeployment', metadata: { name: 'iris', namespace: 'ns' },
      spec: { predictors: [{ name: 'default', graph: { name: 'model', children: [{ name: 'post' }] }, componentSpecs: [{ spec: { containers: [{ name: 'model' }, { name: 'side' }] } }] }] },
    };
    const made = seldonOperatorObjects({ object: sdep, path: 'c/iris/Resource' }).map((o) => `${o.object.kind} ${o.object.metadata.namespace}/${o.object.metadata.name}`);
    expect(made).toEqual(['Service ns/iris-default', 'Service ns/iris-default-model', 'Service ns/iris-default-post', 'Deployment ns/iris-default-0-model-side']);
  });
});

describe('writeManifests validates every object it is about to write', () => {
  test('the example app is valid and written', () => {
    const dir = tempDir();
    try {
      const written = writeManifests(buildApp(dir), dir);
      expect(fs.readdirSync(dir).sort()).toEqual([MANIFEST_INDEX, ...written.map((m) => m.file)].sort());
      expect(validateApp(buildApp(dir))).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a JsonPatch that breaks the SeldonDeployment: nothing is written, every problem is listed', () => {
    const { app, model } = pipelineApp();
    const c0 = '/spec/predictors/0/componentSpecs/0/spec/containers/0';
    // After the constructs' own checks would have passed: the hook sees the patched object.
    model.resource.addJsonPatch(JsonPatch.remove(`${c0}/readinessProbe/httpGet/port`), JsonPatch.replace(`${c0}/resources/limits/memory`, null));
    const dir = tempDir();
    try {
      expect(() => writeManifests(app, dir)).toThrow(/readinessProbe\.httpGet: missing required field "port"/);
      expect(() => writeManifests(app, dir)).toThrow(/resources\.limits\.memory: must be string/);
      expect(fs.readdirSync(dir)).toEqual([]);
      // app.synth() users get the same check.
      expect(() => app.synth()).toThrow(/\[ml\/iris\] SeldonDeployment team-a\/iris: spec\.predictors\[0\]\.componentSpecs\[0\]\.spec\.containers\[0\]\.readinessProbe\.httpGet: missing required field "port"/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('objects outside the constructs are validated too: schema, API rules, references, security, duplicates', () => {
    const app = Testing.app();
    const mine = new Chart(app, 'mine', { namespace: 'team-a' });
    new k8s.KubeDeployment(mine, 'web', {
      metadata: { name: 'web' },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'other' } }, spec: { containers: [{ name: 'web', image: 'nginx' }], volumes: [{ name: 'cfg', configMap: { name: 'absent' } }] } },
      },
    }).addJsonPatch(JsonPatch.add('/spec/replicas', 'two'));
    new k8s.KubeConfigMap(new Chart(app, 'again', { namespace: 'team-a' }), 'cm', { metadata: { name: 'same' } });
    new k8s.KubeConfigMap(new Chart(app, 'again2', { namespace: 'team-a' }), 'cm', { metadata: { name: 'same' } });
    const problems = validateApp(app);
    expect(problems).toEqual(expect.arrayContaining([
      'app: name = "same": ConfigMap team-a/same is defined twice: by again/cm, and by again2/cm; the cluster keeps only one of them. Fix: give one of them another name',
      'Deployment team-a/web: spec.replicas: must be integer',
      'Deployment team-a/web: spec.selector: does not match spec.template.metadata.labels',
      'Deployment team-a/web: spec.template.spec.volumes[0].configMap.name: no ConfigMap "absent" in the manifests (same namespace)',
      'security: Deployment team-a/web: spec.template.spec.containers[0].image: "nginx" has no tag: pin an explicit version or a digest',
    ]));
    const dir = tempDir();
    try {
      expect(() => writeManifests(app, dir)).toThrow(/problem\(s\) in the manifests; nothing written to/);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('validateAppAtSynth: app.synth() of an app without our constructs runs the same checks', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'mine', { namespace: 'team-a' });
    const cm = new k8s.KubeConfigMap(chart, 'cm', { metadata: { name: 'settings' }, data: { a: 'b' } });
    expect(() => app.synth()).not.toThrow();
    validateAppAtSynth(app);
    expect(() => app.synth()).not.toThrow();
    cm.addJsonPatch(JsonPatch.add('/data/bad key', 'x'));
    expect(() => app.synth()).toThrow('[] ConfigMap team-a/settings: data["bad key"]: "bad key" is not a valid ConfigMap/Secret key ([-._a-zA-Z0-9]+)');
  });

  test('a pipeline volume claim made elsewhere is named in options.existingClaims', () => {
    const { app, chart, minio } = pipelineApp();
    const mlflow = new MlflowServer(chart, 'mlflow2', { artifactStore: minio });
    new RTrainingJob(chart, 'handoff', { trainingScript: fixtureScript(), tracking: mlflow, pipelineVolume: { claimName: 'shared' } });
    expect(validateApp(app)).toEqual(['Job team-a/handoff: spec.template.spec.volumes[2].persistentVolumeClaim.claimName: no PersistentVolumeClaim "shared" in the manifests (same namespace) nor in options.existingClaims']);
    expect(validateApp(app, { existingClaims: ['shared'] })).toEqual([]);
  });
});

describe('offline validator: validateDirectory and `rmlops-cdk8s validate <dir>`', () => {
  const quiet = { out: [] as string[], err: [] as string[] };
  const run = (args: string[]) => {
    quiet.out = [];
    quiet.err = [];
    return cli(args, (l) => quiet.out.push(l), (l) => quiet.err.push(l));
  };

  test('dist/ is valid', () => {
    expect(validateDirectory(DIST).errors).toEqual([]);
    expect(run(['validate', DIST])).toBe(0);
    const yamls = fs.readdirSync(DIST).filter((f) => f.endsWith('.yaml')).length;
    expect(quiet.out).toEqual([`valid: ${yamls} object(s) in ${yamls} file(s)`]);
  });

  test('a broken copy of dist/: exit 1, every problem with its file, the same messages as writeManifests', () => {
    const dir = tempDir();
    try {
      for (const f of fs.readdirSync(DIST)) fs.copyFileSync(path.join(DIST, f), path.join(dir, f));
      const file = fs.readdirSync(dir).find((f) => f.includes('seldondeployment-iris'))!;
      const sdep = Yaml.load(path.join(dir, file))[0];
      delete sdep.spec.predictors[0].componentSpecs[0].spec.containers[0].readinessProbe.httpGet.port;
      fs.writeFileSync(path.join(dir, file), Yaml.stringify(sdep));
      // The same object twice, in another file.
      const service = fs.readdirSync(dir).find((f) => f.includes('service-mlflow'))!;
      const serviceIndex = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().indexOf(service);
      fs.copyFileSync(path.join(dir, service), path.join(dir, '9999-copy.yaml'));
      fs.writeFileSync(path.join(dir, '9998-broken.yaml'), 'kind: [');
      expect(run(['validate', dir])).toBe(1);
      expect(quiet.err).toEqual(expect.arrayContaining([
        `${file}: SeldonDeployment rmlops-iris/iris: spec.predictors[0].componentSpecs[0].spec.containers[0].readinessProbe.httpGet: missing required field "port"`,
        `${service}, 9999-copy.yaml: Service rmlops-iris/mlflow: metadata.name: duplicate object (also object #${serviceIndex} in the set; the cluster keeps only one)`,
        expect.stringMatching(/^9998-broken\.yaml: not valid YAML: /),
        // A copy of a written manifest that the folder's index does not list.
        expect.stringMatching(/^9999-copy\.yaml: stale manifest: /),
      ]));
      const files = fs.readdirSync(DIST).filter((f) => f.endsWith('.yaml')).length;
      expect(quiet.err[quiet.err.length - 1]).toMatch(new RegExp(`^4 problem\\(s\\) in ${files + 2} file\\(s\\), ${files + 1} object\\(s\\) in `));
      // Each problem on its own is enough to fail.
      fs.rmSync(path.join(dir, '9998-broken.yaml'));
      fs.rmSync(path.join(dir, '9999-copy.yaml'));
      expect(run(['validate', dir])).toBe(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('options: --existing-claim, --no-security, --no-references; usage errors exit 2', () => {
    const dir = tempDir();
    try {
      const app = Testing.app();
      const chart = new Chart(app, 'c', { namespace: 'ns' });
      new k8s.KubeDeployment(chart, 'd', {
        metadata: { name: 'd' },
        spec: {
          selector: { matchLabels: { app: 'd' } },
          template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'd', image: 'nginx:1.27.3', volumeMounts: [{ name: 'v', mountPath: '/v' }] }], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'data' } }] } },
        },
      });
      fs.writeFileSync(path.join(dir, 'd.yaml'), Yaml.stringify(...chart.toJson()));
      expect(run(['validate', dir])).toBe(1);
      expect(quiet.err).toContain('d.yaml: Deployment ns/d: spec.template.spec.volumes[0].persistentVolumeClaim.claimName: no PersistentVolumeClaim "data" in the manifests (same namespace) nor in options.existingClaims');
      expect(run(['validate', dir, '--existing-claim', 'ns/data', '--no-security'])).toBe(0);
      expect(run(['validate', dir, '--no-references', '--no-security'])).toBe(0);
      expect(run(['validate', dir, '--existing-claim', 'data'])).toBe(1); // the security baseline still fails
      expect(run([])).toBe(2);
      expect(run(['check', dir])).toBe(2);
      expect(run(['validate', path.join(dir, 'nope')])).toBe(2);
      expect(run(['validate', dir, '--bogus'])).toBe(2);
      fs.rmSync(path.join(dir, 'd.yaml'));
      expect(run(['validate', dir])).toBe(1);
      expect(quiet.err[0]).toBe(`${dir}: no .yaml or .yml files`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the command line runs as a program (exit codes reach the shell)', () => {
    const run = (dir: string) => spawnSync(process.execPath, ['-r', path.join(ROOT, 'scripts', 'register.js'), path.join(ROOT, 'lib', 'cli.ts'), 'validate', dir], { encoding: 'utf8' });
    const ok = run(DIST);
    expect({ status: ok.status, stderr: ok.stderr }).toEqual({ status: 0, stderr: '' });
    const dir = tempDir();
    try {
      fs.writeFileSync(path.join(dir, 'x.yaml'), 'apiVersion: v1\nkind: Service\nmetadata:\n  name: Bad_Name\n');
      const bad = run(dir);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('x.yaml: Service Bad_Name: metadata.name: "Bad_Name" is not a DNS-1035 label');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('validateManifests is exported for objects already in memory', () => {
    expect(validateManifests([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ok' } }])).toEqual([]);
    expect(validateManifests([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Not OK' } }])).toEqual(['Namespace Not OK: metadata.name: "Not OK" is not a DNS-1123 label (lower case alphanumerics and \'-\', starting and ending with an alphanumeric)']);
  });
});
