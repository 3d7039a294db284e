'use strict';
// Where the real components live on this machine, and their pins.
const fs = require('fs');
const path = require('path');

// The repository, or the installed package (which ships this folder for `npx rmlops-cdk8s dev`).
const ROOT = path.resolve(__dirname, '..', '..');
// In a repository checkout; an installed package has no .git and runs the shipped install script.
const IN_REPOSITORY = fs.existsSync(path.join(ROOT, '.git'));
// An installed package's own folder is replaced by every `npm install`: its cache lives in the
// user's cache folder instead (the path CI uses too).
const CACHE = process.env.RMLOPS_CACHE
  || (IN_REPOSITORY ? path.join(ROOT, '.cache') : path.join(require('os').homedir(), '.cache', 'rmlops-cdk8s'));
const BIN = path.join(CACHE, 'bin');
const VENV_BIN = path.join(CACHE, 'mlflow-venv', 'bin');
// Holds one R library per content hash of r/ (scripts/real/install.sh; e2e/lib/local.js rLibFor).
const R_LIB = path.join(CACHE, 'r-lib');
const DIST = process.env.RMLOPS_DIST || path.join(ROOT, 'dist');
const DIST_KSERVE = process.env.RMLOPS_DIST_KSERVE || path.join(ROOT, 'dist-kserve');

function versions() {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'versions.json'), 'utf8'));
}

function isExecutable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

// A Seldon 1.17.1 binary ('executor' or 'operator'), or why there is none; never substituted by
// anything else. scripts/real/install-seldon.sh builds both from the source archive in
// ../shared/third_party and writes <binary>.source.json (archive sha256, commit, binary sha256)
// beside each; RMLOPS_SELDON_EXECUTOR / RMLOPS_SELDON_OPERATOR name prebuilt ones instead.
function seldonBinary(name) {
  const variable = `RMLOPS_SELDON_${name.toUpperCase()}`;
  const fromEnv = process.env[variable];
  if (fromEnv) {
    return isExecutable(fromEnv)
      ? { path: fromEnv, source: variable }
      : { reason: `${variable}=${fromEnv} is not an executable file` };
  }
  const built = path.join(BIN, `seldon-${name}`);
  if (!isExecutable(built)) {
    return { reason: `no ${name} binary at ${built}: run \`${installCommand()}\` (scripts/real/install-seldon.sh builds it from ../shared/third_party/seldon-core-${versions().seldonCore}.tar.gz), or set ${variable}` };
  }
  const record = `${built}.source.json`;
  const provenance = fs.existsSync(record) ? JSON.parse(fs.readFileSync(record, 'utf8')) : null;
  return { path: built, source: 'scripts/real/install-seldon.sh', provenance };
}

const executor = () => seldonBinary('executor');

// The command that installs the components below: `npm run real:install` in the repository; in an
// installed package its shipped install script, told where the cache is and to skip Seldon's
// executor (built from a source archive only the repository has; the pipeline runs without it).
function installCommand() {
  if (IN_REPOSITORY) return 'npm run real:install';
  return `RMLOPS_CACHE=${CACHE} RMLOPS_SKIP_SELDON=1 bash ${path.join(ROOT, 'scripts', 'real', 'install.sh')}`;
}

// What `npm run real:install` must have produced; the message says what is missing.
function missingComponents() {
  const need = [
    [path.join(BIN, 'minio'), 'minio'],
    [path.join(BIN, 'mc'), 'mc'],
    [path.join(VENV_BIN, 'mlflow'), 'mlflow'],
  ];
  return need.filter(([p]) => !isExecutable(p)).map(([p, n]) => `${n} (${p})`);
}

module.exports = { ROOT, IN_REPOSITORY, CACHE, installCommand, BIN, VENV_BIN, R_LIB, DIST, DIST_KSERVE, versions, executor, seldonBinary, missingComponents, isExecutable };
