#!/usr/bin/env node
// `npm run pipeline`: the stack of dist/ on this machine (MinIO, provisioning, MLflow, every
// training Job once, every model served, and Seldon's executor in front of each when it is
// built), until Ctrl-C or SIGTERM. Then everything it started is stopped.
'use strict';
const { Stack } = require('./lib/stack');
const { executor } = require('./lib/env');

async function main() {
  const quiet = [];
  const stack = await new Stack({
    name: 'pipeline',
    echo: !!process.env.RMLOPS_PIPELINE_ECHO,
    log: (line) => (process.env.RMLOPS_PIPELINE_VERBOSE ? console.log(line) : quiet.push(line)),
  }).init();

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping everything this pipeline started…`);
    await stack.down();
    console.log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  try {
    console.log(`starting from ${stack.manifests.docs.length} manifests (logs in ${stack.logDir}; RMLOPS_PIPELINE_VERBOSE=1 prints every rewrite)…`);
    await stack.up();
  } catch (err) {
    for (const line of quiet) console.error(line);
    console.error(err.message);
    await stack.down();
    process.exit(1);
  }

  const ex = executor();
  const { user, password } = stack.minioEnv();
  const consoleCp = Object.keys(stack.minio.spec.ports).find((cp) => Number(stack.minio.spec.ports[cp]) !== stack.minio.port);
  console.log('');
  console.log(`mlflow: http://127.0.0.1:${stack.mlflow.port}`);
  console.log(`minio-s3: http://127.0.0.1:${stack.minio.port}`);
  if (consoleCp) console.log(`minio-console: http://127.0.0.1:${stack.minio.spec.ports[consoleCp]} (user ${user}, password ${password})`);
  let first = true;
  for (const [key, m] of stack.models) {
    const e = stack.executors.get(key);
    const name = key.replace('/', '-');
    if (e) {
      // One line is exactly `predictions: …` (the first predictor's executor); the others are named.
      console.log(`${first ? 'predictions' : `predictions-${name}`}: http://127.0.0.1:${e.port}/api/v1.0/predictions`);
      first = false;
    }
    console.log(`model-${name}-direct: http://127.0.0.1:${m.port}/api/v1.0/predictions (R server, no executor)`);
  }
  if (!ex.path) console.log(`executor: unavailable (${ex.reason}); no predictions line, use the R servers' direct URLs above`);
  console.log('\nready. Ctrl-C stops everything.');
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
