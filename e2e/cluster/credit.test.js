'use strict';
// npm run e2e:cluster, the second app: dist-credit/ (examples/credit, another team's credit model
// with a private registry, a pull secret, a service account, a node pool, a Secret-backed token
// and a shared MLflow it imports) against a real kube-apiserver 1.28 with Seldon's CRD, and, when
// built, the real Seldon Core 1.17.1 operator. Proves the objects are stored as written (no pod
// setting pruned by the CRD's schema), every pod they describe is admitted under Pod Security
// "restricted", and the operator carries the pod settings into the Deployment it writes.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { ROOT, binaries, operatorBinary, ControlPlane, until } = require('./controlplane');
const { startOperator } = require('./operator');
const M = require('./manifests');

const CRD = path.join(ROOT, '..', 'shared', 'crds', 'machinelearning.seldon.io_seldondeployments.yaml');
const DIST_CREDIT = process.env.RMLOPS_DIST_CREDIT || path.join(ROOT, 'dist-credit');
const bins = binaries();
const operator = operatorBinary();
const table = (rows) => rows.map((r) => `  ${r}`).join('\n');

if (process.env.CI === 'true') {
  for (const reason of [bins.reason, operator.reason].filter(Boolean)) {
    it('the control plane and the Seldon operator are built (CI=true)', () => assert.fail(reason));
  }
}

describe('dist-credit/ (the second app) on a real API server', { skip: bins.reason || (!fs.existsSync(CRD) && `no CRD at ${CRD}`) }, () => {
  const cp = new ControlPlane(bins);
  const objects = M.distObjects(DIST_CREDIT);
  const sdep = objects.find((o) => o.obj.kind === 'SeldonDeployment').obj;
  const job = objects.find((o) => o.obj.kind === 'Job').obj;
  const podSettings = (spec) => ({
    serviceAccountName: spec.serviceAccountName,
    imagePullSecrets: spec.imagePullSecrets,
    nodeSelector: spec.nodeSelector,
    tolerations: spec.tolerations,
  });

  before(async () => {
    await cp.start();
    await cp.kubectlOk(['apply', '--server-side', '-f', CRD]);
    await until('CRD Established', async () => {
      const crd = await cp.getJson(['crd', 'seldondeployments.machinelearning.seldon.io']);
      return ((crd.status && crd.status.conditions) || []).some((c) => c.type === 'Established' && c.status === 'True');
    }, { timeoutMs: 60000, everyMs: 250 });
  });

  after(async () => {
    await cp.stop();
  });

  it('the Seldon operator starts (its webhook then validates the SeldonDeployment)', { skip: operator.reason }, async (t) => {
    const op = await startOperator(cp, operator.path);
    t.diagnostic(`operator ${operator.path}; webhook on port ${op.webhookPort}`);
  });

  it('kubectl apply --server-side dist-credit/: every object is accepted and stored as written, pod settings included', async (t) => {
    assert.deepEqual(podSettings(job.spec.template.spec), podSettings(sdep.spec.predictors[0].componentSpecs[0].spec));
    assert.equal(job.spec.template.spec.serviceAccountName, 'credit-runner');
    const r = await cp.kubectl(['apply', '--server-side', '-f', DIST_CREDIT]);
    if (r.stderr.trim()) t.diagnostic(`stderr:\n${table(r.stderr.trim().split('\n'))}`);
    assert.equal(r.code, 0, `kubectl apply failed:\n${r.stderr}`);
    const problems = [];
    for (const { file, obj } of objects) {
      const kind = obj.kind === 'SeldonDeployment' ? 'seldondeployments.machinelearning.seldon.io' : obj.kind;
      const got = await cp.getJson([kind, obj.metadata.name, ...(obj.metadata.namespace ? ['-n', obj.metadata.namespace] : [])]);
      const diff = M.missingLeaves(obj, got);
      if (diff.length) problems.push(`${file} ${M.ref(obj)}:\n${table(diff)}`);
    }
    for (const { obj } of objects.filter((o) => o.obj.kind === 'Namespace')) await M.ensureDefaultServiceAccount(cp, obj.metadata.name);
    t.diagnostic(`${objects.length} objects accepted: ${objects.map((o) => M.ref(o.obj)).join(', ')}`);
    assert.deepEqual(problems, [], 'objects stored differently from dist-credit/');
  });

  it('every pod template is admitted as a Pod in namespace risk (its own labels) and under enforce=restricted', async (t) => {
    await M.psaNamespace(cp, 'psa-restricted', 'restricted');
    const rows = [];
    for (const tpl of M.podTemplates(objects)) {
      for (const ns of ['risk', 'psa-restricted']) rows.push(await M.dryRunPod(cp, tpl, ns));
    }
    t.diagnostic(table(rows.map((r) => `${r.admitted ? 'PASS' : 'FAIL'} ${r.source} in ${r.namespace}${r.admitted ? '' : `: ${r.error}`}`)));
    assert.equal(rows.length, 4);
    assert.deepEqual(rows.filter((r) => !r.admitted).map((r) => `${r.source} in ${r.namespace}: ${r.error}`), []);
  });

  it('the operator writes the predictor Deployment with the service account, pull secret, node pool and env', { skip: operator.reason }, async (t) => {
    const ns = sdep.metadata.namespace;
    const dep = await until('the operator\'s Deployment for credit', async () => (await cp.getJson(['deployments', '-n', ns])).items
      .find((d) => (d.metadata.ownerReferences || []).some((o) => o.kind === 'SeldonDeployment' && o.name === sdep.metadata.name)),
    { timeoutMs: 90000, everyMs: 1000 });
    const spec = dep.spec.template.spec;
    t.diagnostic(`${dep.metadata.name}: ${JSON.stringify(podSettings(spec))}`);
    assert.deepEqual(podSettings(spec), podSettings(sdep.spec.predictors[0].componentSpecs[0].spec));
    const model = spec.containers.find((c) => c.name === 'model');
    assert.ok(model.image.startsWith('registry.risk.example.com/mirror/rmlops/r-serve:'), model.image);
    assert.deepEqual(model.env.find((e) => e.name === 'RISK_MODEL_OWNER'), { name: 'RISK_MODEL_OWNER', value: 'risk-team' });
  });
});
