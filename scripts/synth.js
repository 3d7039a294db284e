// `npm run synth`: writes dist/ from main.ts, atomically. Synthesizes into a temporary folder
// beside dist/ and swaps it in only when synthesis and every validation succeeded, so a failed
// synth leaves the previous dist/ untouched. No type-checking here (that is `npm test`'s job).
//
// Crash recovery: the swap is two renames (dist/ -> .dist-tmp-<pid>-old/, .dist-tmp-<pid>/ -> dist/).
// A process killed between them leaves no dist/, only .dist-tmp-<pid>-old/ (the previous output,
// complete) and .dist-tmp-<pid>/ (the new one, also complete). The next run first puts the -old
// folder back as dist/, then deletes the leftovers of dead runs. Leftovers of a run that is still
// alive (a concurrent synth) are left alone. All these folders are git-ignored (.dist-tmp-*/).
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
// How messages name dist/, relative to where the user ran the command.
const distLabel = `${path.relative(process.cwd(), dist) || 'dist'}/`;

/** True when process `pid` exists (signal 0 only checks; EPERM means it exists but is not ours). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Restores dist/ from an interrupted swap and removes the temporary folders of dead runs. */
function recover() {
  const stale = fs.readdirSync(root)
    .map((f) => ({ f, m: /^\.dist-tmp-(\d+)(-old)?$/.exec(f) }))
    .filter(({ m }) => m && Number(m[1]) !== process.pid && !alive(Number(m[1])))
    .map(({ f, m }) => ({ dir: path.join(root, f), old: m[2] !== undefined }));
  if (!fs.existsSync(dist)) {
    // The newest previous output, if several runs died (each left its own -old).
    const olds = stale.filter((s) => s.old).sort((a, b) => fs.statSync(b.dir).mtimeMs - fs.statSync(a.dir).mtimeMs);
    if (olds.length > 0) {
      fs.renameSync(olds[0].dir, dist);
      console.error(`recovered ${distLabel} from ${path.basename(olds[0].dir)}/ (an earlier synth was interrupted mid-swap)`);
    }
  }
  for (const s of stale) fs.rmSync(s.dir, { recursive: true, force: true });
}

function main() {
  recover();
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    const { synth } = require('../main.ts');
    synth(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    console.error(`synth failed; ${distLabel} left unchanged:\n${err && err.message ? err.message : err}`);
    process.exit(1);
  }
  // Two renames: dist/ is either the old or the new output, never a mix.
  if (fs.existsSync(dist)) fs.renameSync(dist, old);
  fs.renameSync(tmp, dist);
  fs.rmSync(old, { recursive: true, force: true });
  console.log(`wrote ${fs.readdirSync(dist).length} manifests to ${distLabel}`);
}

main();
