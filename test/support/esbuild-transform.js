'use strict';
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, {
      loader: 'ts',
      format: 'cjs',
      target: 'node18',
      sourcefile: filename,
      sourcemap: true,
    });
    return { code, map };
  },
};
