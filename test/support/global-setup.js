// Each jest run's temporary folders go under one folder of its own, removed by
// global-teardown.js: cdk8s's Testing.app() makes an output folder per app under os.tmpdir() and
// never removes it (about 3000 per run were left in /tmp). The workers are started after this
// hook, so they inherit TMPDIR; so do the R and Go processes the tests start.
const fs = require('fs');
const os = require('os');
const path = require('path');

module.exports = async () => {
  const root = os.tmpdir();
  const dir = fs.mkdtempSync(path.join(root, 'rmlops-jest-'));
  // What outlives a run (the installed rmlops library, keyed by content) stays in the real one.
  process.env.RMLOPS_TEST_TMP_ROOT = root;
  process.env.TMPDIR = dir;
};
