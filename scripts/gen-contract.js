// Writes r/contract.json from lib/contract.ts so the R programs read the same ports, paths and
// environment variable names as the constructs. `--check` exits 1 if the committed file is stale.
'use strict';
require('./register');
const fs = require('fs');
const path = require('path');
const contract = require('../lib/contract.ts');

const target = path.join(__dirname, '..', 'r', 'contract.json');

function render() {
  const picked = {
    executorPorts: contract.SELDON_EXECUTOR_PORTS,
    modelHttpPort: contract.R_MODEL_HTTP_PORT,
    modelPortName: contract.R_MODEL_PORT_NAME,
    paths: contract.PATHS,
    env: contract.ENV,
    trainingConfigErrorExitCode: contract.TRAINING_CONFIG_ERROR_EXIT_CODE,
  };
  return JSON.stringify(picked, null, 2) + '\n';
}

if (process.argv.includes('--check')) {
  const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  if (current !== render()) {
    console.error('r/contract.json is stale: run `node scripts/gen-contract.js`');
    process.exit(1);
  }
} else {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, render());
}
module.exports = { render, target };
