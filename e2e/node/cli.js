'use strict';
// npm run node:up | node:down [-- --purge] | node:status: the single node of e2e/node/node.js.
// `up` returns once the node is Ready with CoreDNS and the NetworkPolicy enforcer, and leaves it
// running (KUBECONFIG is printed); Ctrl-C or a failure while it starts stops everything it
// started and restores the host. `down` stops it and restores the host; --purge also removes its
// state (kine's database, PKI, containerd's images), so that the next `up` starts from nothing.
const { Node, hostState, RUN } = require('./node');

const log = (m) => process.stdout.write(`[node] ${m}\n`);

async function main(cmd, flags) {
  const node = new Node();
  if (cmd === 'up') {
    let stopping = false;
    const interrupt = async () => {
      if (stopping) return;
      stopping = true;
      log('interrupted: stopping what was started');
      await node.down({ log });
      process.exit(130);
    };
    process.on('SIGINT', interrupt);
    process.on('SIGTERM', interrupt);
    await node.up({ log });
    log(`up: export KUBECONFIG=${node.kubeconfig}`);
    return;
  }
  if (cmd === 'down') {
    await node.down({ purge: flags.includes('--purge'), log });
    return;
  }
  if (cmd === 'status') {
    log(`run folder ${RUN}; running: ${node.running().join(', ') || 'nothing'}`);
    log(`host: ${JSON.stringify(hostState())}`);
    return;
  }
  throw new Error(`usage: node e2e/node/cli.js up | down [--purge] | status (got ${cmd})`);
}

main(process.argv[2], process.argv.slice(3)).catch((err) => {
  process.stderr.write(`[node] ${err.message}\n`);
  process.exit(1);
});
