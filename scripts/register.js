// Lets Node require .ts files by stripping types with esbuild. No type-checking here on purpose:
// `npm test` and `npm run compile` type-check; synth must stay fast (cdk8s issue #364).
'use strict';
const fs = require('fs');
const { transformSync } = require('esbuild');

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, {
    loader: 'ts',
    format: 'cjs',
    target: 'node18',
    sourcefile: filename,
    sourcemap: 'inline',
  });
  module._compile(code, filename);
};
