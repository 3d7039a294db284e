'use strict';
// npm run e2e:cluster, KServe part: dist-kserve/ against a real kube-apiserver 1.28 with KServe
// 0.20.0's InferenceService CRD installed. Neither KServe's controller nor Knative runs here
// (docs/kserve.md): this proves the API server stores our InferenceServices as written (no field
// pruned by the CRD's structural schema) and admits every pod they describe under Pod Security
// "restricted", in the namespace dist-kserve/ creates too.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { ROOT, binaries, ControlPlane, until } = require('./controlplane');
const M = require('./manifests');

const CRD = path.join(ROOT, '..', 'shared', 'crds', 'serving.kserve.io_inferenceservices.yaml');
const bins = binaries();
const table = (rows) => rows.map((r) => `  ${r}`).join('\n');

if (bins.reason && process.env.CI === 'true') {
  it('the control plane binaries exist (CI=true)', () => assert.fail(bins.reason));
}

describe('dist-kserve/ on a real API server with the KServe 0.20.0 CRD', { skip: bins.reason || (!fs.existsSync(CRD) && `no CRD at ${CRD}`) }, () => {
  const cp = new ControlPlane(bins);
  const objects = M.distObjects(M.DIST_KSERVE);
  const isvcs = objects.filter((o) => o.obj.kind === 'InferenceService').map((o) => o.obj);

  before(async () => {
    await cp.start();
  });

  after(async () => {
    await cp.stop();
  });

  it('the InferenceService CRD installs server-side and becomes Established', async (t) => {
    const r = await cp.kubectlOk(['apply', '--server-side', '-f', CRD]);
    t.diagnostic(r.stdout.trim());
    await until('CRD Established', async () => {
      const crd = await cp.getJson(['crd', 'inferenceservices.serving.kserve.io']);
      return ((crd.status && crd.status.conditions) || []).some((c) => c.type === 'Established' && c.status === 'True');
    }, { timeoutMs: 60000, everyMs: 250 });
  });

  it('kubectl apply --server-side dist-kserve/: every object is accepted and stored as written', async (t) => {
    assert.ok(isvcs.length >= 2, `expected InferenceServices in ${M.DIST_KSERVE}`);
    const r = await cp.kubectl(['apply', '--server-side', '-f', M.DIST_KSERVE]);
    if (r.stderr.trim()) t.diagnostic(`stderr:\n${table(r.stderr.trim().split('\n'))}`);
    assert.equal(r.code, 0, `kubectl apply failed:\n${r.stderr}`);
    const problems = [];
    for (const { file, obj } of objects) {
      const kind = obj.kind === 'InferenceService' ? 'inferenceservices.serving.kserve.io' : obj.kind;
      const args = [kind, obj.metadata.name, ...(obj.metadata.namespace ? ['-n', obj.metadata.namespace] : [])];
      const diff = M.missingLeaves(obj, await cp.getJson(args));
      if (diff.length) problems.push(`${file} ${M.ref(obj)}:\n${table(diff)}`);
    }
    for (const { obj } of objects.filter((o) => o.obj.kind === 'Namespace')) await M.ensureDefaultServiceAccount(cp, obj.metadata.name);
    t.diagnostic(`${objects.length} objects accepted`);
    assert.deepEqual(problems, [], 'objects stored differently from dist-kserve/');
  });

  it('a field the CRD does not have: server-side apply refuses it, a plain create drops it silently (why the offline validator rejects unknown fields)', async (t) => {
    const obj = JSON.parse(JSON.stringify(isvcs[0]));
    obj.metadata.name = 'pruned';
    obj.spec.predictor.replicaz = 3;
    const ssa = await cp.kubectl(['apply', '--server-side', '--validate=false', '-f', '-'], { input: JSON.stringify(obj) });
    t.diagnostic(`server-side apply: ${ssa.stderr.trim()}`);
    assert.notEqual(ssa.code, 0);
    assert.match(ssa.stderr, /\.spec\.predictor\.replicaz: field not declared in schema/);
    const created = await cp.kubectl(['create', '--validate=false', '-f', '-'], { input: JSON.stringify(obj) });
    assert.equal(created.code, 0, created.stderr);
    const got = await cp.getJson(['inferenceservices.serving.kserve.io', 'pruned', '-n', obj.metadata.namespace]);
    t.diagnostic(`create --validate=false: stored, predictor keys ${Object.keys(got.spec.predictor).sort().join(', ')}`);
    assert.equal(got.spec.predictor.replicaz, undefined);
  });

  it('every pod an InferenceService describes is admitted under restricted, also in the namespace dist-kserve/ creates', async (t) => {
    await M.psaNamespace(cp, 'psa-restricted', 'restricted');
    const home = objects.find((o) => o.obj.kind === 'Namespace').obj;
    assert.equal(home.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    const rows = [];
    for (const tpl of M.podTemplates(objects)) {
      rows.push(await M.dryRunPod(cp, tpl, 'psa-restricted'));
      rows.push(await M.dryRunPod(cp, tpl, home.metadata.name));
    }
    t.diagnostic(table(rows.map((r) => `${r.admitted ? 'PASS' : 'FAIL'} ${r.source} in ${r.namespace}${r.admitted ? '' : `: ${r.error}`}`)));
    assert.ok(rows.some((r) => /InferenceService/.test(r.source)), 'no InferenceService pod templates');
    assert.deepEqual(rows.filter((r) => !r.admitted).map((r) => `${r.source}: ${r.error}`), []);
  });
});

if (bins.reason) console.log(`# SKIPPED: ${bins.reason}`);
