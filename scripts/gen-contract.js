// Writes the contract the R side reads from lib/contract.ts, so the R programs use the same ports,
// paths and environment variable names as the constructs. Two identical copies:
//   r/inst/contract.json  installed with the rmlops R package (read with system.file());
//   r/contract.json       beside the R sources, shipped in the npm package for consumers.
// `--check` exits 1 if either committed copy is stale.
'use strict';
require('./register');
const fs = require('fs');
const path = require('path');
const contract = require('../lib/contract.ts');

const R_DIR = path.join(__dirname, '..', 'r');
const targets = [path.join(R_DIR, 'contract.json'), path.join(R_DIR, 'inst', 'contract.json')];
const target = targets[0];

function render() {
  const picked = {
    executorPorts: contract.SELDON_EXECUTOR_PORTS,
    modelHttpPort: contract.R_MODEL_HTTP_PORT,
    modelPortName: contract.R_MODEL_PORT_NAME,
    modelMetricsPort: contract.SELDON_MODEL_METRICS_PORT,
    kserveModelMountPath: contract.KSERVE_MODEL_MOUNT_PATH,
    paths: contract.PATHS,
    env: contract.ENV,
    trainingConfigErrorExitCode: contract.TRAINING_CONFIG_ERROR_EXIT_CODE,
    metrics: contract.METRICS,
    monitor: contract.MONITOR,
    monitorEnv: contract.MONITOR_ENV,
    payloadEventTypes: contract.PAYLOAD_SINK.eventTypes,
  };
  return JSON.stringify(picked, null, 2) + '\n';
}

if (require.main === module) {
  const text = render();
  if (process.argv.includes('--check')) {
    const stale = targets.filter((t) => !fs.existsSync(t) || fs.readFileSync(t, 'utf8') !== text);
    if (stale.length > 0) {
      console.error(`${stale.map((t) => path.relative(path.join(R_DIR, '..'), t)).join(' and ')} stale: run \`node scripts/gen-contract.js\``);
      process.exit(1);
    }
  } else {
    for (const t of targets) {
      fs.mkdirSync(path.dirname(t), { recursive: true });
      fs.writeFileSync(t, text);
    }
  }
}
module.exports = { render, target, targets };
