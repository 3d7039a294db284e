'use strict';
// kubectl as the harnesses run it: methods mixed into a cluster class (the loopback control plane
// of e2e/cluster, the single node of e2e/node), which supplies `kubectlBin()` and `kubectlEnv()`.
const { execFile } = require('child_process');

const kubectlMethods = {
  // Resolves with code, stdout and stderr; never throws for a non-zero exit (callers assert on it).
  kubectl(args, { input, timeoutMs = 120000 } = {}) {
    return new Promise((resolve) => {
      const child = execFile(this.kubectlBin(), args, {
        env: { PATH: process.env.PATH, ...this.kubectlEnv() }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024,
      }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, args });
      });
      if (input !== undefined) child.stdin.end(input);
    });
  },

  async kubectlOk(args, opts) {
    const r = await this.kubectl(args, opts);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
    return r;
  },

  async getJson(args) {
    return JSON.parse((await this.kubectlOk(['get', ...args, '-o', 'json'])).stdout);
  },
};

module.exports = { kubectlMethods };
