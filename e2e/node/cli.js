'use strict';
// npm run node:up | node:down [-- --purge] | node:status | node:volumes -- <dir> |
// node:import -- <docker-archive.tar>: the single node of e2e/node/node.js.
// `up` returns once the node is Ready with CoreDNS and the NetworkPolicy enforcer, prometheus-operator's
// CRDs installed (for dist/'s PodMonitors and PrometheusRules), and the Seldon operator Ready in-cluster (when its image and source are there), and leaves it running
// (KUBECONFIG is printed); Ctrl-C or a failure while it starts stops everything it started and
// restores the host. `down` stops it and restores the host; --purge also removes its state
// (kine's database, PKI, containerd's images), so that the next `up` starts from nothing.
// `volumes` makes a hostPath volume for each claim of a manifest folder (the node has no
// provisioner); `import` loads an image archive (your own training image) into the node.
const fs = require('fs');
const { Node, hostState, imageArchives, RUN } = require('./node');
const { provisionVolumes } = require('./storage');
const { installOperator, OPERATOR_IMAGE, SOURCE, CRD } = require('./seldon');
const { installMonitoringCrds } = require('./monitoring');

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
    await installMonitoringCrds(node);
    log('prometheus-operator CRDs Established (PodMonitor, ServiceMonitor, PrometheusRule; no Prometheus runs here)');
    const missing = [SOURCE, CRD].filter((f) => !fs.existsSync(f));
    if (!imageArchives().some((i) => i.ref === OPERATOR_IMAGE)) missing.push(`${OPERATOR_IMAGE} (scripts/real/install-images.sh)`);
    if (missing.length) {
      log(`the Seldon operator is not installed: missing ${missing.join(', ')}`);
    } else {
      const t0 = Date.now();
      await installOperator(node);
      log(`the Seldon operator is Ready in seldon-system (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
    log(`up: export KUBECONFIG=${node.kubeconfig}`);
    return;
  }
  if (cmd === 'volumes') {
    if (!flags[0]) throw new Error('usage: npm run node:volumes -- <manifest folder, e.g. dist/>');
    await provisionVolumes(node, flags[0], { log });
    return;
  }
  if (cmd === 'import') {
    if (!flags[0]) throw new Error('usage: npm run node:import -- <docker-archive .tar>');
    node.ctr(['-n', 'k8s.io', 'images', 'import', flags[0]], { timeoutMs: 300000 });
    log(`imported ${flags[0]}`);
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
  throw new Error(`usage: node e2e/node/cli.js up | down [--purge] | status | volumes <dir> | import <archive> (got ${cmd})`);
}

main(process.argv[2], process.argv.slice(3)).catch((err) => {
  process.stderr.write(`[node] ${err.message}\n`);
  process.exit(1);
});
