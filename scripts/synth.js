// `npm run synth`: writes dist/ from main.ts, atomically. Synthesizes into a temporary folder
// beside dist/ and swaps it in only when synthesis and every validation succeeded, so a failed
// synth leaves the previous dist/ untouched. No type-checking here (that is `npm test`'s job).
'use strict';
// register.js strips types with esbuild and caches the output by content hash, so the 1.1 MB
// generated bindings are transpiled once, not on every synth.
require('./register');
const fs = require('fs');
const path = require('path');

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
