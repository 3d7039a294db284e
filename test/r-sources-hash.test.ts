/**
 * The R library of the cache is keyed by the content hash of r/ (e2e/lib/local.js): the repository
 * and the installed package must hash alike, so what an in-place R CMD INSTALL or R CMD check
 * leaves behind, and what npm never packs, must not count; a source change must.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { rSourcesHash } = require('../e2e/lib/local.js') as { rSourcesHash: (dir: string) => string };

describe('rSourcesHash', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-rhash-'));
    fs.mkdirSync(path.join(dir, 'src'));
    fs.mkdirSync(path.join(dir, 'R'));
    fs.writeFileSync(path.join(dir, 'DESCRIPTION'), 'Package: rmlops\n');
    fs.writeFileSync(path.join(dir, 'src', 'http.c'), 'int x;\n');
    fs.writeFileSync(path.join(dir, 'R', 'serve.R'), 'f <- function() 1\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('ignores build objects, tests, the local model, check folders and .gitignore files', () => {
    const before = rSourcesHash(dir);
    expect(before).toMatch(/^[0-9a-f]{16}$/);
    for (const f of ['src/http.o', 'src/rmlops.so', 'src/rmlops.dll', 'src/.gitignore', '.Rhistory', 'rmlops_0.1.0.tar.gz']) {
      fs.writeFileSync(path.join(dir, f), 'built\n');
    }
    for (const d of ['tests/testthat', 'model', 'rmlops.Rcheck']) {
      fs.mkdirSync(path.join(dir, d), { recursive: true });
      fs.writeFileSync(path.join(dir, d, 'x'), 'x\n');
    }
    expect(rSourcesHash(dir)).toBe(before);
  });

  test('changes with any source file, and with a new one', () => {
    const before = rSourcesHash(dir);
    fs.writeFileSync(path.join(dir, 'src', 'http.c'), 'int y;\n');
    const changed = rSourcesHash(dir);
    expect(changed).not.toBe(before);
    fs.writeFileSync(path.join(dir, 'R', 'more.R'), 'g <- 2\n');
    expect(rSourcesHash(dir)).not.toBe(changed);
  });
});
