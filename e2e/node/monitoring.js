'use strict';
// prometheus-operator 0.85.0's CRDs (PodMonitor, ServiceMonitor, PrometheusRule; imports/crds/) in
// the node's cluster, so that `kubectl apply -f dist/` stores dist/'s PodMonitors and
// PrometheusRules as a cluster with prometheus-operator would. No Prometheus or operator runs on
// the node: the objects are stored, not acted on (promtool proves the rules: scripts/rules-test.js).
const path = require('path');
const { ROOT } = require('../lib/env');

const PLURALS = ['podmonitors', 'servicemonitors', 'prometheusrules'];
const CRDS = PLURALS.map((p) => path.join(ROOT, 'imports', 'crds', `monitoring.coreos.com_${p}.yaml`));

// Installs the CRDs server-side; resolves when all three are Established.
async function installMonitoringCrds(node) {
  for (const f of CRDS) await node.kubectlOk(['apply', '--server-side', '-f', f]);
  // Polled: kubectl 1.28's wait errors out while a new CRD has no status.conditions yet.
  for (let i = 0; ; i++) {
    let established = 0;
    for (const p of PLURALS) {
      const crd = await node.getJson(['crd', `${p}.monitoring.coreos.com`]);
      if (((crd.status && crd.status.conditions) || []).some((c) => c.type === 'Established' && c.status === 'True')) established += 1;
    }
    if (established === PLURALS.length) return;
    if (i >= 120) throw new Error('the prometheus-operator CRDs are not Established after 60 s');
    await new Promise((r) => setTimeout(r, 500));
  }
}

module.exports = { installMonitoringCrds, CRDS };
