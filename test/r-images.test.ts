// Static checks of the R images' Dockerfiles: pinned base, the shared package list, no Python,
// non-root numeric user, TMPDIR for a read-only root, entrypoints that exist. The images built
// from them are checked inside by scripts/real/install-images.sh (a CI step).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { EXAMPLES_DIR, R_DIR } from './support/r-env';

const contract = JSON.parse(fs.readFileSync(path.join(R_DIR, 'contract.json'), 'utf8'));
const packages = fs.readFileSync(path.join(R_DIR, 'packages.txt'), 'utf8').split('\n')
  .map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));

const PACKAGES_TXT = path.join(R_DIR, 'packages.txt');
const BASE = new Set(['base', 'stats', 'utils', 'methods', 'datasets', 'tools', 'grDevices', 'graphics', 'parallel']);

// Package names of a DESCRIPTION dependency field, without version constraints.
function descriptionField(field: string): string[] {
  const text = fs.readFileSync(path.join(R_DIR, 'DESCRIPTION'), 'utf8');
  const m = new RegExp(`^${field}:([^]*?)(?=^\\S)`, 'm').exec(text);
  return m ? m[1].split(',').map((x) => x.replace(/\(.*\)/, '').trim()).filter(Boolean) : [];
}
const TEST_ONLY = ['r-cran-testthat', 'r-cran-withr', 'r-cran-rpart', 'r-cran-rserve'];

// Runs a shell pipeline that reads packages.txt (as written in a Dockerfile or .ci/run).
function packagesFrom(pipeline: string): string[] {
  return execFileSync('bash', ['-c', pipeline], { encoding: 'utf8' }).split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

function instructions(file: string): Array<[string, string]> {
  const text = fs.readFileSync(path.join(R_DIR, file), 'utf8').replace(/\\\n/g, ' ');
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => { const i = l.indexOf(' '); return [l.slice(0, i).toUpperCase(), l.slice(i + 1).trim()]; });
}

describe('r/packages.txt', () => {
  test('lists only Debian R packages, one per line', () => {
    expect(packages.length).toBeGreaterThan(3);
    for (const p of packages) expect(p).toMatch(/^(r-base-core|r-cran-[a-z0-9.]+)$/);
  });

  test('.ci/run, with its own parsing, reads every package and nothing else', () => {
    const ci = fs.readFileSync(path.join(R_DIR, '..', '.ci', 'run'), 'utf8');
    const m = /mapfile -t PACKAGES < <\((.+)\)\n/.exec(ci);
    expect(m).not.toBeNull();
    const read = packagesFrom((m as RegExpExecArray)[1].replace(/r\/packages\.txt/g, PACKAGES_TXT));
    expect(read).toEqual(packages);
    for (const p of read) expect(p).toMatch(/^[a-z0-9.+-]+$/);
  });

  test('test-only packages sit below the "# ci-only" marker', () => {
    const lines = fs.readFileSync(PACKAGES_TXT, 'utf8').split('\n');
    const marker = lines.findIndex((l) => l.startsWith('# ci-only'));
    expect(marker).toBeGreaterThan(0);
    for (const p of TEST_ONLY) expect(lines.indexOf(p)).toBeGreaterThan(marker);
    for (const p of ['r-base-core', 'r-cran-jsonlite', 'r-cran-httr', 'r-cran-randomforest']) {
      expect(lines.indexOf(p)).toBeGreaterThanOrEqual(0);
      expect(lines.indexOf(p)).toBeLessThan(marker);
    }
  });

  test('contains every package the R code and the examples call with pkg::, and the package\'s Imports above the marker', () => {
    const dirs = [R_DIR, path.join(R_DIR, 'R'), ...fs.readdirSync(EXAMPLES_DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join(EXAMPLES_DIR, d.name))];
    const code = dirs.flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.R')).map((f) => fs.readFileSync(path.join(d, f), 'utf8'))).join('\n');
    const used = new Set([...code.matchAll(/\b([A-Za-z][A-Za-z0-9.]*)::/g)].map((m) => m[1]).filter((p) => !BASE.has(p) && p !== 'rmlops'));
    expect([...used]).toEqual(expect.arrayContaining(['jsonlite', 'httr', 'randomForest']));
    for (const p of used) expect(packages).toContain(`r-cran-${p.toLowerCase()}`);
    const lines = fs.readFileSync(PACKAGES_TXT, 'utf8').split('\n');
    const marker = lines.findIndex((l) => l.startsWith('# ci-only'));
    for (const p of descriptionField('Imports').filter((x) => !BASE.has(x))) {
      expect(`${p}: ${lines.indexOf(`r-cran-${p.toLowerCase()}`) >= 0 && lines.indexOf(`r-cran-${p.toLowerCase()}`) < marker}`).toBe(`${p}: true`);
    }
    for (const p of descriptionField('Suggests')) expect(packages).toContain(`r-cran-${p.toLowerCase()}`);
  });
});

describe.each([
  ['Dockerfile.train', 'train.R'],
  ['Dockerfile.serve', 'serve.R'],
])('r/%s', (file, entry) => {
  const ins = instructions(file);
  const all = (k: string) => ins.filter(([i]) => i === k).map(([, v]) => v);

  test('base image is Debian bookworm (R 4.2.2, as CI): a BASE_IMAGE argument whose default is pinned to an exact date tag or digest', () => {
    // scripts/real/install-images.sh passes its own debootstrapped bookworm as BASE_IMAGE.
    expect(all('FROM')).toEqual(['${BASE_IMAGE}']);
    const arg = all('ARG').map((a) => /^BASE_IMAGE=(\S+)$/.exec(a)).filter(Boolean);
    expect(arg).toHaveLength(1);
    expect(arg[0]![1]).toMatch(/^debian:bookworm-\d{8}(-slim)?(@sha256:[0-9a-f]{64})?$/);
    // The ARG comes before FROM, so that FROM can read it.
    expect(ins.findIndex(([i]) => i === 'ARG')).toBeLessThan(ins.findIndex(([i]) => i === 'FROM'));
  });

  test('installs the shared package list minus the test-only packages, without recommends, and no Python', () => {
    const run = all('RUN').join(' ');
    expect(all('COPY')).toContain('packages.txt /opt/rmlops/packages.txt');
    const m = /apt-get install -y --no-install-recommends \$\(([^)]+)\)\s+&&/.exec(run);
    expect(m).not.toBeNull();
    const installed = packagesFrom((m as RegExpExecArray)[1].replace(/\/opt\/rmlops\/packages\.txt/g, PACKAGES_TXT));
    expect(installed).toEqual(packages.filter((p) => !TEST_ONLY.includes(p)));
    expect(installed).toEqual(expect.arrayContaining(['r-base-core', 'r-cran-jsonlite', 'r-cran-httr', 'r-cran-randomforest']));
    expect(run.replace(/! command -v \S+/g, '')).not.toMatch(/python|pip/i);
    expect(run).toMatch(/! command -v python3/);
  });

  test('apt reads the base image\'s own bookworm sources (the archive CI installs R from), and records what it installed', () => {
    const run = all('RUN').join(' ');
    expect(run).not.toMatch(/sources\.list|snapshot\.debian\.org/);
    expect(run).toMatch(/dpkg-query -W .*> \/opt\/rmlops\/dpkg-versions\.txt/);
  });

  test('copies the whole of src/ (every C file R CMD INSTALL links), with build objects kept out by .dockerignore', () => {
    expect(all('COPY')).toContain('src/ /tmp/rmlops-src/src/');
    expect(all('COPY').filter((c) => c.startsWith('src/'))).toEqual(['src/ /tmp/rmlops-src/src/']);
    expect(fs.readdirSync(path.join(R_DIR, 'src')).filter((f) => f.endsWith('.c')).sort()).toEqual(expect.arrayContaining(['http.c', 'process.c']));
    const ignore = fs.readFileSync(path.join(R_DIR, '.dockerignore'), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['src/*.o', 'src/*.so']));
  });

  test('is the recipe scripts/real/install-images.sh builds (buildah bud of this file, not a copy)', () => {
    const script = fs.readFileSync(path.join(R_DIR, '..', 'scripts', 'real', 'install-images.sh'), 'utf8');
    expect(script).toMatch(/B bud .*--build-arg "BASE_IMAGE=\$BASE_REF"/);
    expect(script).toContain('-f "$ROOT/r/Dockerfile.${name#r-}"');
    expect(script).toMatch(/for name in r-serve r-train; do/);
    expect(file).toBe(`Dockerfile.${entry.replace(/\.R$/, '')}`);
  });

  test('runs as a non-root numeric user with TMPDIR on the writable /tmp volume', () => {
    const user = all('USER');
    expect(user).toHaveLength(1);
    expect(user[0]).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    expect(all('ENV').join(' ')).toMatch(/TMPDIR=\/tmp\b/);
  });

  test('installs the rmlops package (with its contract.json) by R CMD INSTALL, and the entrypoint calls it', () => {
    const copies = all('COPY');
    expect(copies).toEqual(expect.arrayContaining([
      'DESCRIPTION NAMESPACE /tmp/rmlops-src/', 'R/ /tmp/rmlops-src/R/', 'man/ /tmp/rmlops-src/man/', 'inst/ /tmp/rmlops-src/inst/',
    ]));
    expect(fs.existsSync(path.join(R_DIR, 'inst', 'contract.json'))).toBe(true);
    const run = all('RUN').join(' ');
    expect(run).toMatch(/R CMD INSTALL \/tmp\/rmlops-src/);
    // Installed before the non-root USER line, as root, into the site library.
    const order = ins.map(([i, v]) => `${i} ${v}`);
    expect(order.findIndex((l) => l.includes('R CMD INSTALL'))).toBeLessThan(order.findIndex((l) => l.startsWith('USER')));
    expect(copies).toContain(`${entry} /opt/rmlops/${entry}`);
    const script = fs.readFileSync(path.join(R_DIR, entry), 'utf8');
    expect(script).toMatch(/^library\(rmlops\)$/m);
    expect(script).toMatch(entry === 'train.R' ? /train_main\(\)/ : /serve_main\(\)/);
    expect(all('ENTRYPOINT')).toEqual([JSON.stringify(['Rscript', `/opt/rmlops/${entry}`]).replace(/,/g, ', ')]);
    for (const c of copies) {
      for (const src of c.split(/\s+/).slice(0, -1)) expect(`${src}: ${fs.existsSync(path.join(R_DIR, src))}`).toBe(`${src}: true`);
    }
  });

  if (entry === 'serve.R') {
    test('exposes the contract model port', () => {
      expect(all('EXPOSE')).toEqual([String(contract.modelHttpPort)]);
    });
  }
});
