// `npm run synth [-- --target seldon|kserve|all]`: writes dist/ (the Seldon variant, the default)
// or dist-kserve/ (the KServe variant) from main.ts, atomically. Synthesizes into a temporary folder
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

/** True when process `pid` exists (signal 0 only checks; EPERM means it exists but is not ours). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** The folders of one output: `dir` itself, this run's temporary copies, and how messages name it. */
function folders(outdir) {
  const dist = path.join(root, outdir);
  const tmpPrefix = `.${outdir}-tmp-`;
  return {
    dist,
    tmpPrefix,
    tmp: path.join(root, `${tmpPrefix}${process.pid}`),
    old: path.join(root, `${tmpPrefix}${process.pid}-old`),
    // Relative to where the user ran the command.
    distLabel: `${path.relative(process.cwd(), dist) || outdir}/`,
  };
}

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Restores dist/ from an interrupted swap and removes the temporary folders of dead runs. */
function recover({ dist, tmpPrefix, distLabel }) {
  const pattern = new RegExp(`^${escapeRe(tmpPrefix)}(\\d+)(-old)?$`);
  const stale = fs.readdirSync(root)
    .map((f) => ({ f, m: pattern.exec(f) }))
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

/** Synthesizes one variant into its folder; false when it failed (the folder is then unchanged). */
function synthTarget(target, outdir) {
  const f = folders(outdir);
  const { dist, tmp, old, distLabel } = f;
  recover(f);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    const { synth } = require('../main.ts');
    synth(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    console.error(`synth failed; ${distLabel} left unchanged:\n${err && err.message ? err.message : err}`);
    return false;
  }
  // Two renames: dist/ is either the old or the new output, never a mix.
  if (fs.existsSync(dist)) fs.renameSync(dist, old);
  fs.renameSync(tmp, dist);
  fs.rmSync(old, { recursive: true, force: true });
  console.log(`wrote ${fs.readdirSync(dist).filter((f) => f.endsWith('.yaml')).length} manifests to ${distLabel}`);
  return true;
}

/** The value of `--target X` / `--target=X`; "seldon" when absent. */
function targetArg(argv) {
  const i = argv.findIndex((a) => a === '--target' || a.startsWith('--target='));
  if (i < 0) return 'seldon';
  return argv[i].includes('=') ? argv[i].slice('--target='.length) : argv[i + 1];
}

function main() {
  const { TARGETS } = require('../main.ts');
  const target = targetArg(process.argv.slice(2));
  const names = Object.keys(TARGETS);
  if (target !== 'all' && !names.includes(target)) {
    console.error(`synth: --target ${target === undefined ? '(missing)' : JSON.stringify(target)}: use ${names.join(', ')} or all`);
    process.exit(2);
  }
  const chosen = target === 'all' ? names : [target];
  const failed = chosen.filter((t) => !synthTarget(t, TARGETS[t].outdir));
  if (failed.length > 0) process.exit(1);
}

main();
