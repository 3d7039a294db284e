// Lets Node require .ts files by stripping types with esbuild. No type-checking here on purpose:
// `npm test` and `npm run compile` type-check; synth must stay fast (cdk8s issue #364).
// Transpiled files are cached by content hash, so the 1.1 MB generated Seldon bindings are
// transformed once, not on every synth.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');

const OPTIONS = { loader: 'ts', format: 'cjs', target: 'node18' };
const cacheDir = path.join(__dirname, '..', 'node_modules', '.cache', 'rmlops-esbuild');

function cachePath(source) {
  const key = crypto
    .createHash('sha256')
    .update(esbuild.version)
    .update(JSON.stringify(OPTIONS))
    .update(source)
    .digest('hex');
  return path.join(cacheDir, `${key}.js`);
}

function transpile(source, filename) {
  const cached = cachePath(source);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    // Not cached yet: fall through.
  }
  const { code } = esbuild.transformSync(source, { ...OPTIONS, sourcefile: filename });
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    // Write then rename so a concurrent reader never sees a partial file.
    const tmp = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, code);
    fs.renameSync(tmp, cached);
  } catch {
    // A read-only checkout still works, just without the cache.
  }
  return code;
}

require.extensions['.ts'] = function compileTs(module, filename) {
  module._compile(transpile(fs.readFileSync(filename, 'utf8'), filename), filename);
};
