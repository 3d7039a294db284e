/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Strip types only: the whole project is type-checked once by `tsc --noEmit` in `npm test`,
  // instead of once per test file (the generated Seldon bindings are 1.1 MB).
  transform: { '^.+\\.ts$': '<rootDir>/test/support/esbuild-transform.js' },
  snapshotResolver: '<rootDir>/test/support/snapshot-resolver.js',
  testTimeout: 60000,
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
  // More workers than cores: the slow suites mostly wait on the R processes they start (jest's
  // default, one fewer than the cores, ran them one at a time on a 2-core machine: 160 s, not 70).
  maxWorkers: '150%',
};
