// Snapshots live in the top-level __snapshots__/ folder (the project layout), one file per test file.
'use strict';
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const snapDir = path.join(root, '__snapshots__');

module.exports = {
  resolveSnapshotPath: (testPath, ext) =>
    path.join(snapDir, path.relative(path.join(root, 'test'), testPath) + ext),
  resolveTestPath: (snapPath, ext) =>
    path.join(root, 'test', path.relative(snapDir, snapPath).slice(0, -ext.length)),
  testPathForConsistencyCheck: path.join(root, 'test', 'some.test.ts'),
};
