// `npm run synth`: writes dist/ from main.ts, atomically. Synthesizes into a temporary folder
// beside dist/ and swaps it in only when synthesis and every validation succeeded, so a failed
// synth leaves the previous dist/ untouched. No type-checking here (that is `npm test`'s job).
'use strict';
require('./register');
const fs = require('fs');
const path = require('path');
const { transformSync } = require('esbuild');

// The generated Seldon bindings are 1.1 MB: transforming them (let alone with an inline source
// map) costs more than everything else in synth together. They are generated code nobody steps
// through, so they are compiled without a map and cached by content hash.
const crypto = require('crypto');
const importsDir = path.join(__dirname, '..', 'imports') + path.sep;
const cacheDir = path.join(__dirname, '..', 'node_modules', '.cache', 'rmlops-synth');
const withMaps = require.extensions['.ts'];
require.extensions['.ts'] = function compileTs(module, filename) {
  if (!filename.startsWith(importsDir)) return withMaps(module, filename);
  const source = fs.readFileSync(filename, 'utf8');
  const hash = crypto.createHash('sha1').update(source).digest('hex');
  const cached = path.join(cacheDir, `${path.basename(filename)}.${hash}.js`);
  let code;
  try {
    code = fs.readFileSync(cached, 'utf8');
  } catch {
    code = transformSync(source, { loader: 'ts', format: 'cjs', target: 'node18' }).code;
    try {
      fs.mkdirSync(cacheDir, { recursive: true });
      fs.writeFileSync(`${cached}.${process.pid}`, code);
      fs.renameSync(`${cached}.${process.pid}`, cached);
    } catch {
      // A read-only node_modules only costs speed.
    }
  }
  module._compile(code, filename);
};

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
const tmp = path.join(root, `.dist-tmp-${process.pid}`);
const old = path.join(root, `.dist-tmp-${process.pid}-old`);

function main() {
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    const { synth } = require('../main.ts');
    synth(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    console.error(`synth failed; ${path.relative(process.cwd(), dist) || 'dist'}/ left unchanged:\n${err && err.message ? err.message : err}`);
    process.exit(1);
  }
  // Two renames: dist/ is either the old or the new output, never a mix.
  if (fs.existsSync(dist)) fs.renameSync(dist, old);
  fs.renameSync(tmp, dist);
  fs.rmSync(old, { recursive: true, force: true });
  console.log(`wrote ${fs.readdirSync(dist).length} manifests to ${path.relative(process.cwd(), dist) || 'dist'}/`);
}

main();
