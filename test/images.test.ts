// The images scripts/real/install-images.sh builds carry exactly the refs the manifests and the
// library name: every image of dist/ and dist-kserve/, each default image of lib/, and the
// executor image the Seldon operator is told to inject. A bump of a pin (versions.json, the R
// package's version) without the default that names it, or the reverse, fails here.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  DEFAULT_MC_IMAGE, DEFAULT_MINIO_IMAGE, DEFAULT_MLFLOW_IMAGE, DEFAULT_PAYLOAD_SINK_IMAGE, DEFAULT_R_SERVING_IMAGE, DEFAULT_R_TRAINING_IMAGE,
  KSERVE_VERSION,
} from '../lib';
import { packedFiles } from './support/pack';

const { imageRefs } = require('../scripts/real/images.js') as { imageRefs: (root?: string) => Record<string, string> };

const ROOT = path.join(__dirname, '..');

function manifestImages(dir: string): string[] {
  const out = new Set<string>();
  for (const f of fs.readdirSync(path.join(ROOT, dir)).filter((x) => /\.ya?ml$/.test(x))) {
    for (const m of fs.readFileSync(path.join(ROOT, dir, f), 'utf8').matchAll(/^\s*(?:-\s+)?image:\s*"?([^"\s]+)"?\s*$/gm)) out.add(m[1]);
  }
  return [...out].sort();
}

describe('scripts/real/images.js: the refs install-images.sh builds', () => {
  const refs = imageRefs();

  test('every image dist/ and dist-kserve/ name is built, under the same ref', () => {
    const named = [...new Set([...manifestImages('dist'), ...manifestImages('dist-kserve')])].sort();
    expect(named.length).toBeGreaterThanOrEqual(5);
    expect(named.filter((ref) => !Object.values(refs).includes(ref))).toEqual([]);
  });

  test('each default image of lib/ is the ref built from its pin', () => {
    expect({
      'r-serve': DEFAULT_R_SERVING_IMAGE,
      'r-train': DEFAULT_R_TRAINING_IMAGE,
      minio: DEFAULT_MINIO_IMAGE,
      mc: DEFAULT_MC_IMAGE,
      mlflow: DEFAULT_MLFLOW_IMAGE,
      'payload-sink': DEFAULT_PAYLOAD_SINK_IMAGE,
    }).toEqual({ 'r-serve': refs['r-serve'], 'r-train': refs['r-train'], minio: refs.minio, mc: refs.mc, mlflow: refs.mlflow, 'payload-sink': refs['payload-sink'] });
  });

  test('the executor image is the one the harness\'s Seldon operator injects (EXECUTOR_CONTAINER_IMAGE_AND_VERSION)', () => {
    const operator = fs.readFileSync(path.join(ROOT, 'e2e', 'cluster', 'operator.js'), 'utf8');
    const m = /const EXECUTOR_IMAGE = '([^']+)'/.exec(operator);
    expect(m).not.toBeNull();
    expect(refs['seldon-executor']).toBe(m![1]);
    expect(refs['seldon-operator']).toMatch(/^docker\.io\/seldonio\/seldon-core-operator:\d+\.\d+\.\d+$/);
  });

  test('the KServe controller image carries the KServe release the library targets', () => {
    expect(refs['kserve-controller']).toBe(`docker.io/kserve/kserve-controller:v${KSERVE_VERSION}`);
  });

  test('the refs follow their pins: a bumped versions.json or R package version moves them off lib/\'s defaults', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-images-'));
    try {
      const v = JSON.parse(fs.readFileSync(path.join(ROOT, 'versions.json'), 'utf8'));
      v.mlflow = '3.10.0';
      v.minio.release = 'RELEASE.2026-01-01T00-00-00Z';
      v.seldonCore = '1.17.2';
      fs.writeFileSync(path.join(tmp, 'versions.json'), JSON.stringify(v));
      fs.mkdirSync(path.join(tmp, 'r'));
      const description = fs.readFileSync(path.join(ROOT, 'r', 'DESCRIPTION'), 'utf8');
      fs.writeFileSync(path.join(tmp, 'r', 'DESCRIPTION'), description.replace(/^Version:.*$/m, 'Version: 0.2.0'));
      const bumped = imageRefs(tmp);
      expect(bumped.mlflow).toBe('ghcr.io/mlflow/mlflow:v3.10.0-full');
      expect(bumped.minio).toBe('quay.io/minio/minio:RELEASE.2026-01-01T00-00-00Z');
      expect(bumped['seldon-executor']).toBe('docker.io/seldonio/seldon-core-executor:1.17.2');
      expect(bumped['r-serve']).toBe('ghcr.io/rmlops/r-serve:0.2.0');
      for (const [name, ref] of Object.entries({ mlflow: DEFAULT_MLFLOW_IMAGE, minio: DEFAULT_MINIO_IMAGE, 'r-serve': DEFAULT_R_SERVING_IMAGE })) {
        expect(bumped[name]).not.toBe(ref);
      }
      fs.writeFileSync(path.join(tmp, 'r', 'DESCRIPTION'), 'Package: rmlops\n');
      expect(() => imageRefs(tmp)).toThrow(/no Version: line/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('docs/images.md: the one command and the recipes are what the script and the package build', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'images.md'), 'utf8');
  const script = fs.readFileSync(path.join(ROOT, 'scripts', 'real', 'install-images.sh'), 'utf8');
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

  test('`npm run images -- r` is install-images.sh with the alias r for the two R images', () => {
    expect(doc).toContain('npm run images -- r ');
    expect(pkg.scripts.images).toBe('bash scripts/real/install-images.sh');
    expect(script).toMatch(/\[\[ "\$\{WANT\[\$i\]\}" == r \]\] && WANT\[\$i\]="r-serve r-train"/);
    // The recipe check runs whenever r-train is built, so `r` checks the extension recipe too.
    expect(script).toMatch(/recipe_check\(\) \{\n\s+wanted r-train \|\| return 0/);
  });

  test('every build argument the docs pass to r/Dockerfile.extend is an ARG of it, and the script builds it with the same ones', () => {
    const args = (text: string) => new Set([...text.matchAll(/--build-arg "?([A-Z_]+)=/g)].map((m) => m[1]));
    const extend = fs.readFileSync(path.join(ROOT, 'r', 'Dockerfile.extend'), 'utf8');
    const declared = new Set([...extend.matchAll(/^ARG ([A-Z_]+)/gm)].map((m) => m[1]));
    expect([...args(doc)].sort()).toEqual(['IMAGE', 'PACKAGES']);
    expect([...args(doc)].filter((a) => !declared.has(a))).toEqual([]);
    expect([...args(script)].filter((a) => a !== 'BASE_IMAGE').sort()).toEqual(['IMAGE', 'PACKAGES']);
  });

  test('`docker build` from node_modules/rmlops-cdk8s/r works: the package ships every file the R Dockerfiles COPY', () => {
    const packed = packedFiles();
    const missing: string[] = [];
    for (const file of ['Dockerfile.serve', 'Dockerfile.train', 'Dockerfile.extend']) {
      expect(packed).toContain(`r/${file}`);
      const text = fs.readFileSync(path.join(ROOT, 'r', file), 'utf8').replace(/\\\n/g, ' ');
      for (const m of text.matchAll(/^COPY\s+(.+)$/gm)) {
        const sources = m[1].trim().split(/\s+/).filter((p) => !p.startsWith('--')).slice(0, -1);
        for (const src of sources) {
          const rel = `r/${src.replace(/\/$/, '')}`;
          if (!packed.some((f) => f === rel || f.startsWith(`${rel}/`))) missing.push(`${file}: COPY ${src}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
