// Removes the run's temporary folder that global-setup.js made and named in TMPDIR (only that).
const fs = require('fs');
const path = require('path');

module.exports = async () => {
  const dir = process.env.TMPDIR;
  if (dir && path.basename(dir).startsWith('rmlops-jest-')) fs.rmSync(dir, { recursive: true, force: true });
};
