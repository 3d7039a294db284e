// versions.json and the library must pin the same real components: the MLflow image, the MinIO
// and mc release images, and the Seldon Core release the CRD bindings come from.
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_MC_IMAGE, DEFAULT_MINIO_IMAGE, DEFAULT_MLFLOW_IMAGE, KSERVE_VERSION, MLFLOW_VERSION, SELDON_CORE_VERSION } from '../lib';
import { LibraryTargets, Versions, pinDrift } from './support/pins';

const ROOT = path.join(__dirname, '..');
const versions: Versions = JSON.parse(fs.readFileSync(path.join(ROOT, 'versions.json'), 'utf8'));

function texts(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(path.join(ROOT, 'lib')).filter((f) => f.endsWith('.ts'))) {
    out[`lib/${f}`] = fs.readFileSync(path.join(ROOT, 'lib', f), 'utf8');
  }
  for (const f of ['cdk8s.yaml', 'README.md', '../shared/crds/SOURCE.md', '../shared/third_party/SOURCE.md']) {
    const file = path.join(ROOT, f);
    if (fs.existsSync(file)) out[f] = fs.readFileSync(file, 'utf8');
  }
  return out;
}

const library: LibraryTargets = {
  mlflowImage: DEFAULT_MLFLOW_IMAGE,
  mlflowVersion: MLFLOW_VERSION,
  minioImage: DEFAULT_MINIO_IMAGE,
  mcImage: DEFAULT_MC_IMAGE,
  seldonCoreVersion: SELDON_CORE_VERSION,
  kserveVersion: KSERVE_VERSION,
  texts: texts(),
};

describe('versions.json pins what the library runs', () => {
  test('the file has every pin, and only those (the e2e installer reads the same keys)', () => {
    expect(Object.keys(versions).sort()).toEqual(['fuzz', 'kserve', 'kserveCommit', 'mc', 'minio', 'mlflow', 'node', 'payloadSink', 'prometheusOperator', 'promtool', 'r', 'seldonCore', 'seldonCoreCommit', 'seldonCoreSourceSha256']);
    expect(Object.keys(versions.node).sort()).toEqual(['coredns', 'kubeRouter', 'kubernetes', 'kubernetesCommit', 'pause']);
    for (const go of [versions.minio, versions.mc]) expect(Object.keys(go).sort()).toEqual(['commit', 'goVersion', 'release']);
  });

  test('promtool: the wrapper module requires the pinned Prometheus module, whose v0.3XX.Y is release 3.XX.Y', () => {
    const gomod = fs.readFileSync(path.join(__dirname, '..', 'e2e', 'go', 'promtool', 'go.mod'), 'utf8');
    expect(gomod).toMatch(new RegExp(`^require github\\.com/prometheus/prometheus ${versions.promtool.prometheusModule.replace(/\./g, '\\.')}$`, 'm'));
    const m = /^v0\.3(\d\d)\.(\d+)$/.exec(versions.promtool.prometheusModule);
    expect(m).not.toBeNull();
    expect(versions.promtool.release).toBe(`3.${Number(m![1])}.${m![2]}`);
    expect(versions.prometheusOperator.version).toMatch(/^v\d+\.\d+\.\d+$/);
  });

  test('the library\'s default images, its Seldon target and the versions its files name agree with versions.json', () => {
    expect(pinDrift(versions, library)).toEqual([]);
  });

  test('the check is not vacuous: it scanned the files that name versions', () => {
    expect(Object.keys(library.texts)).toEqual(expect.arrayContaining(['lib/mlflow-server.ts', 'lib/minio-store.ts', 'lib/seldon-r-model.ts', 'cdk8s.yaml']));
    expect(library.texts['lib/seldon-r-model.ts']).toMatch(/seldon-core 1\.17\.1/);
  });

  // The same comparison, fed drifted values, must reject each of them.
  test.each<[string, (v: any, lib: any) => void, string]>([
    ['an MLflow bump in versions.json only', (v) => { v.mlflow = '3.10.0'; },
      'mlflow: the default image ghcr.io/mlflow/mlflow:v3.9.0-full runs 3.9.0, versions.json pins 3.10.0'],
    ['an MLflow image bump in the library only', (_v, lib) => { lib.mlflowImage = 'ghcr.io/mlflow/mlflow:v3.10.0-full'; },
      'mlflow: the default image ghcr.io/mlflow/mlflow:v3.10.0-full runs 3.10.0, versions.json pins 3.9.0'],
    ['a MinIO image bump in the library only', (_v, lib) => { lib.minioImage = 'quay.io/minio/minio:RELEASE.2025-10-15T17-29-55Z'; },
      'minio: the default image quay.io/minio/minio:RELEASE.2025-10-15T17-29-55Z has tag RELEASE.2025-10-15T17-29-55Z, versions.json pins RELEASE.2025-09-07T16-13-09Z'],
    ['an mc release bump without a new pseudo-version', (v, lib) => {
      v.mc.release = 'RELEASE.2025-09-01T00-00-00Z';
      lib.mcImage = 'quay.io/minio/mc:RELEASE.2025-09-01T00-00-00Z';
    }, 'mc: goVersion v0.0.0-20250813083541-7394ce0dd2a8 does not match release and commit (expected v0.0.0-20250901000000-7394ce0dd2a8)'],
    ['a MinIO commit that is not the pseudo-version\'s', (v) => { v.minio.commit = 'a'.repeat(40); },
      'minio: goVersion v0.0.0-20250907161309-07c3a429bfed does not match release and commit (expected v0.0.0-20250907161309-aaaaaaaaaaaa)'],
    ['a Seldon bump in versions.json only', (v) => { v.seldonCore = '1.18.2'; },
      'seldonCore: the library targets Seldon Core 1.17.1 (SELDON_CORE_VERSION), versions.json pins 1.18.2'],
    ['a Seldon version named in a lib comment', (_v, lib) => { lib.texts = { 'lib/x.ts': '// written against seldon-core 1.18.2' }; },
      'lib/x.ts: names Seldon Core 1.18.2 ("seldon-core 1.18.2"), versions.json pins 1.17.1'],
    ['a CRD taken from another commit', (_v, lib) => { lib.texts = { '../shared/crds/SOURCE.md': 'tag `v1.17.1` (commit 0000000000000000000000000000000000000000)' }; },
      '../shared/crds/SOURCE.md: the CRD was not taken from commit 822053e7bbc897f34d84aaf5892d5947163249c5 (seldonCoreCommit)'],
    ['a KServe bump in versions.json only', (v) => { v.kserve = '0.21.0'; },
      'kserve: the library targets KServe 0.20.0 (KSERVE_VERSION), versions.json pins 0.21.0'],
    ['a KServe version named in a lib comment', (_v, lib) => { lib.texts = { 'lib/x.ts': '// read from KServe v0.19.1' }; },
      'lib/x.ts: names KServe 0.19.1 ("KServe v0.19.1"), versions.json pins 0.20.0'],
    ['a KServe CRD taken from another commit', (_v, lib) => { lib.texts = { '../shared/crds/SOURCE.md': `commit ${'0'.repeat(40)}, commit 822053e7bbc897f34d84aaf5892d5947163249c5` }; },
      '../shared/crds/SOURCE.md: the KServe CRD was not taken from commit 1fb781055dd1567164358233e1125142ca6ef1fe (kserveCommit)'],
    ['a Seldon source archive hash that its record does not name', (v) => { v.seldonCoreSourceSha256 = 'b'.repeat(64); },
      `../shared/third_party/SOURCE.md: does not record the archive sha256 ${'b'.repeat(64)} (seldonCoreSourceSha256)`],
    ['a Seldon source hash that is not a sha256', (v) => { v.seldonCoreSourceSha256 = 'b9e2fdb4'; },
      'seldonCoreSourceSha256: b9e2fdb4 is not 64 lower-case hex digits'],
    ['an R version that is not x.y.z', (v) => { v.r = '4.2'; }, 'r: "4.2" is not a version x.y.z'],
  ])('rejects %s', (_label, drift, message) => {
    const v = JSON.parse(JSON.stringify(versions));
    const lib = { ...library, texts: { ...library.texts } };
    drift(v, lib);
    expect(pinDrift(v, lib)).toContain(message);
  });
});
