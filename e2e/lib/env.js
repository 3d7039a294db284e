'use strict';
// Where the real components live on this machine, and their pins.
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const CACHE = process.env.RMLOPS_CACHE || path.join(ROOT, '.cache');
const BIN = path.join(CACHE, 'bin');
const VENV_BIN = path.join(CACHE, 'mlflow-venv', 'bin');
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

// The real Seldon executor, or why there is none. Never substituted by anything else.
function executor() {
  const fromEnv = process.env.RMLOPS_SELDON_EXECUTOR;
  if (fromEnv) {
    return isExecutable(fromEnv)
      ? { path: fromEnv }
      : { reason: `RMLOPS_SELDON_EXECUTOR=${fromEnv} is not an executable file` };
  }
  const built = path.join(BIN, 'seldon-executor');
  if (isExecutable(built)) return { path: built };
  const unavailable = `${built}.unavailable`;
  if (fs.existsSync(unavailable)) return { reason: fs.readFileSync(unavailable, 'utf8').trim() };
  const wrapper = path.join(ROOT, 'e2e', 'go', 'executor', 'build.sh');
  return {
    reason: fs.existsSync(wrapper)
      ? `no executor binary at ${built}: run \`npm run real:install\` (it calls e2e/go/executor/build.sh), or set RMLOPS_SELDON_EXECUTOR`
      : `no executor binary at ${built} and no wrapper module at e2e/go/executor/ to build it from; set RMLOPS_SELDON_EXECUTOR to a built seldon-core 1.17.1 executor`,
  };
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

module.exports = { ROOT, CACHE, BIN, VENV_BIN, R_LIB, DIST, DIST_KSERVE, versions, executor, missingComponents, isExecutable };
