#!/usr/bin/env node
// `npm run pipeline`: the stack of dist/ (or RMLOPS_DIST) on this machine until Ctrl-C or SIGTERM,
// as `npx rmlops-cdk8s dev <dist>` runs a consumer's own (e2e/lib/dev.js).
'use strict';
const { dev } = require('./lib/dev');
const { DIST } = require('./lib/env');

dev({ dist: DIST, name: 'pipeline' }).then((code) => process.exit(code), (err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
