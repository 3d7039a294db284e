// writeManifests owns its output folder: it creates it, replaces it whole (never a half-written
// set), removes the manifests of objects the app no longer has, and refuses a folder holding files
// it did not write. validateDirectory reports a stale manifest left by an earlier write.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Chart, Testing } from 'cdk8s';
import {
  MANIFEST_INDEX, MANIFEST_MARKER, MinioStore, MlflowServer, RTrainingJob, SeldonRModel, validateDirectory, writeManifests,
} from '../lib';
import { fixtureScript } from './constructs-support';

function modelApp(modelName: string): App {
  const app = Testing.app();
  const chart = new Chart(app, 'ml', { namespace: 'team-a' });
  const minio = new MinioStore(chart, 'minio');
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
  const train = new RTrainingJob(chart, 'train', { trainingScript: fixtureScript(), tracking: mlflow });
  new SeldonRModel(chart, modelName, { model: train.model, tracking: mlflow });
  return app;
}

const yamls = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
const contents = (dir: string) => Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));

let root: string;
beforeEach(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-manifests-')); });
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('writeManifests', () => {
  test('creates a missing folder (and its parents), marks every file and lists them in the index', () => {
    const dir = path.join(root, 'a', 'b', 'dist');
    const written = writeManifests(modelApp('iris'), dir);
    expect(yamls(dir)).toEqual(written.map((m) => m.file).sort());
    for (const f of yamls(dir)) expect(fs.readFileSync(path.join(dir, f), 'utf8').split('\n')[0]).toBe(MANIFEST_MARKER);
    expect(fs.readFileSync(path.join(dir, MANIFEST_INDEX), 'utf8')).toBe(`${MANIFEST_MARKER}\n${written.map((m) => `${m.file}\n`).join('')}`);
    expect(fs.readdirSync(path.join(root, 'a', 'b'))).toEqual(['dist']);
    expect(validateDirectory(dir).errors).toEqual([]);
  });

  test('a renamed model: its old manifest is removed, the folder holds exactly the new set', () => {
    const dir = path.join(root, 'dist');
    writeManifests(modelApp('iris'), dir);
    expect(yamls(dir)).toContain(yamls(dir).find((f) => f.endsWith('-seldondeployment-iris.yaml')));
    const second = writeManifests(modelApp('credit'), dir);
    expect(yamls(dir)).toEqual(second.map((m) => m.file).sort());
    expect(yamls(dir).filter((f) => f.includes('iris'))).toEqual([]);
    expect(yamls(dir).filter((f) => f.endsWith('-seldondeployment-credit.yaml'))).toHaveLength(1);
    expect(validateDirectory(dir).errors).toEqual([]);
    // Nothing left beside it: the temporary and the previous folder are gone.
    expect(fs.readdirSync(root)).toEqual(['dist']);
  });

  test('refuses a folder holding a file it did not write, and changes nothing', () => {
    const dir = path.join(root, 'dist');
    writeManifests(modelApp('iris'), dir);
    fs.writeFileSync(path.join(dir, 'zz-mine.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mine\n');
    fs.writeFileSync(path.join(dir, 'README.md'), 'notes\n');
    const before = contents(dir);
    expect(() => writeManifests(modelApp('credit'), dir)).toThrow(
      `[${dir}] outdir = ${JSON.stringify(dir)}: holds 2 file(s) writeManifests did not write (no first line "${MANIFEST_MARKER.slice(0, 40)}…"): `
      + 'README.md, zz-mine.yaml; writing would replace or delete them. Fix: move them out of the folder, or write the manifests into a folder of their own (an empty or missing one)');
    expect(contents(dir)).toEqual(before);
    expect(fs.readdirSync(root)).toEqual(['dist']);
  });

  test('a marked file that was edited is still its own; a sub-folder is not', () => {
    const dir = path.join(root, 'dist');
    writeManifests(modelApp('iris'), dir);
    const f = yamls(dir)[0];
    fs.appendFileSync(path.join(dir, f), '# a note\n');
    expect(() => writeManifests(modelApp('iris'), dir)).not.toThrow();
    fs.mkdirSync(path.join(dir, 'extra'));
    expect(() => writeManifests(modelApp('iris'), dir)).toThrow(/holds 1 file\(s\) writeManifests did not write .*: extra; /);
  });

  test('outdir that is a file, or the current folder: a clear error, nothing written', () => {
    const file = path.join(root, 'dist');
    fs.writeFileSync(file, 'x');
    expect(() => writeManifests(modelApp('iris'), file)).toThrow(
      `[${file}] outdir = ${JSON.stringify(file)}: is a file, not a folder. Fix: give the path of a folder for the manifests (it is created if missing)`);
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
    const cwd = process.cwd();
    const here = path.join(root, 'here');
    fs.mkdirSync(here);
    process.chdir(here);
    try {
      expect(() => writeManifests(modelApp('iris'), '.')).toThrow(/outdir = "\.": is the current folder \(or contains it\), which writeManifests replaces as a whole\. Fix: write the manifests into a folder of their own/);
    } finally {
      process.chdir(cwd);
    }
    expect(fs.readdirSync(here)).toEqual([]);
  });

  test('a write that fails half-way (disk full) leaves the previous set whole and no temporary folder', () => {
    const dir = path.join(root, 'dist');
    writeManifests(modelApp('iris'), dir);
    const before = contents(dir);
    // The module object itself (an `import * as` namespace cannot be spied on).
    const fsModule = require('fs') as typeof fs;
    const real = fsModule.writeFileSync;
    let calls = 0;
    jest.spyOn(fsModule, 'writeFileSync').mockImplementation((...args: any[]) => {
      if (++calls === 3) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return (real as any)(...args);
    });
    expect(() => writeManifests(modelApp('credit'), dir)).toThrow(/ENOSPC/);
    expect(calls).toBe(3);
    expect(contents(dir)).toEqual(before);
    expect(fs.readdirSync(root)).toEqual(['dist']);
  });
});

describe('validateDirectory and stale manifests', () => {
  test('a renamed model copied over an older output without deleting: the old manifest is reported as stale', () => {
    const old = path.join(root, 'old');
    const fresh = path.join(root, 'fresh');
    writeManifests(modelApp('iris'), old);
    writeManifests(modelApp('credit'), fresh);
    // What `cp fresh/* fresh/.rmlops-manifests old/` (or rsync without --delete) leaves.
    for (const f of fs.readdirSync(fresh)) fs.copyFileSync(path.join(fresh, f), path.join(old, f));
    const stale = yamls(old).filter((f) => !yamls(fresh).includes(f));
    expect(stale.length).toBeGreaterThan(0);
    const errors = validateDirectory(old).errors;
    expect(errors.filter((e) => e.includes('stale manifest'))).toEqual(stale.map((f) => `${f}: stale manifest: written by writeManifests, but not by its last write to this folder (not listed in ${MANIFEST_INDEX}; a renamed or removed object?). Fix: delete it, or write the app again with writeManifests, which replaces the whole folder`));
  });

  test('a listed manifest that is missing is reported; hand-written files beside the set are not stale', () => {
    const dir = path.join(root, 'dist');
    writeManifests(modelApp('iris'), dir);
    const gone = yamls(dir).find((f) => f.includes('networkpolicy'))!;
    fs.rmSync(path.join(dir, gone));
    expect(validateDirectory(dir).errors).toContain(`${MANIFEST_INDEX}: the last writeManifests wrote ${gone}, missing from ${dir}. Fix: write the app again with writeManifests, or restore the file(s)`);
    writeManifests(modelApp('iris'), dir);
    const copy = path.join(root, 'copy');
    fs.mkdirSync(copy);
    for (const f of yamls(dir)) fs.copyFileSync(path.join(dir, f), path.join(copy, f));
    // Without the index (only the YAML copied) there is no last write to compare with.
    expect(validateDirectory(copy).errors).toEqual([]);
  });
});
