// Removes the run's temporary folder that global-setup.js made (and only that one).
const fs = require('fs');
const path = require('path');

module.exports = async () => {
  const dir = process.env.RMLOPS_TEST_RUN_TMP;
  if (dir && path.basename(dir).startsWith('rmlops-jest-')) fs.rmSync(dir, { recursive: true, force: true });
};
