'use strict';
// npm run e2e:cluster, KServe part 2: the real KServe 0.20.0 controller manager (built from its Go
// module by scripts/real/install-kserve.sh) reconciles dist-kserve/ on the loopback
// kube-apiserver, with its InferenceService defaulting and validating webhooks registered. No
// Knative, kubelet or controller manager runs: what KServe writes is checked, nothing is scheduled.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const { binaries, ControlPlane, until } = require('./controlplane');
const M = require('./manifests');
const { listeners } = require('./procs');
const K = require('./kserve');

const bins = binaries();
const kserve = K.kserveBinary();
const table = (rows) => rows.map((r) => `  ${r}`).join('\n');
const envOf = (c) => Object.fromEntries((c.env || []).map((e) => [e.name, e.value]));

if (bins.reason && process.env.CI === 'true') {
  it('the control plane binaries exist (CI=true)', () => assert.fail(bins.reason));
}

describe("KServe 0.20.0's controller reconciles dist-kserve/", { skip: bins.reason || kserve.reason }, () => {
  const cp = new ControlPlane(bins);
  const objects = M.distObjects(M.DIST_KSERVE);
  const isvc = (name) => objects.find((o) => o.obj.kind === 'InferenceService' && o.obj.metadata.name === name).obj;
  const mtcars = isvc('mtcars');
  const iris = isvc('iris');
  const ns = mtcars.metadata.namespace;
  let mgr;
  let generated;

  before(async () => {
    await cp.start();
    await K.installKServe(cp, { defaultDeploymentMode: 'Standard' });
    mgr = await K.startKServe(cp, kserve.path, { webhooks: true });
  });

  after(async () => {
    await cp.stop();
  });

  it(`the manager binary is KServe ${K.KSERVE_VERSION}`, (t) => {
    const v = K.kserveModuleVersion(kserve.path);
    t.diagnostic(`${kserve.path} (${kserve.source}): github.com/kserve/kserve ${v}`);
    if (v !== null) assert.equal(v, K.KSERVE_VERSION);
  });

  it("dist-kserve/ is admitted through KServe's webhooks and stored as written (the defaulter rewrites nothing of ours)", async () => {
    const r = await cp.kubectl(['apply', '--server-side', '-f', M.DIST_KSERVE]);
    assert.equal(r.code, 0, r.stderr);
    for (const { obj } of objects.filter((o) => o.obj.kind === 'Namespace')) await M.ensureDefaultServiceAccount(cp, obj.metadata.name);
    for (const o of [mtcars, iris]) {
      const got = await cp.getJson(['inferenceservices.serving.kserve.io', o.metadata.name, '-n', ns]);
      assert.deepEqual(M.missingLeaves(o, got), [], `${o.metadata.name} stored differently`);
    }
  });

  it("the validating webhook is live: an InferenceService it must refuse (PYTHONPATH in the env) is refused", async (t) => {
    const bad = JSON.parse(JSON.stringify(mtcars));
    bad.metadata.name = 'blocked-env';
    bad.spec.predictor.containers[0].env.push({ name: 'PYTHONPATH', value: '/x' });
    const r = await cp.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(bad) });
    t.diagnostic(r.stderr.trim());
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /admission webhook .*kserve.* denied the request/);
    assert.match(r.stderr, /PYTHONPATH/);
  });

  it('its defaulter rewrites the old mode name "RawDeployment" to "Standard" (why KServeRModel writes the new names)', async () => {
    const old = JSON.parse(JSON.stringify(mtcars));
    old.metadata.name = 'old-mode-name';
    old.metadata.annotations['serving.kserve.io/deploymentMode'] = 'RawDeployment';
    await cp.kubectlOk(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(old) });
    const got = await cp.getJson(['inferenceservices.serving.kserve.io', 'old-mode-name', '-n', ns]);
    assert.equal(got.metadata.annotations['serving.kserve.io/deploymentMode'], 'Standard');
  });

  it('mtcars (Standard): the Deployment mtcars-predictor runs our container as written, plus INFERENCE_SERVICE_NAME', async (t) => {
    await K.waitForPredictorDeployment(cp, ns, 'mtcars', { proc: mgr.proc, timeoutMs: 90000 });
    generated = await K.generatedObjects(cp, ns, 'mtcars');
    const ours = mtcars.spec.predictor.containers[0];
    const spec = generated.deployments.find((d) => d.metadata.name === 'mtcars-predictor').spec.template.spec;
    t.diagnostic(`containers: ${spec.containers.map((c) => c.name).join(', ')}; env added: ${spec.containers[0].env.filter((e) => !ours.env.some((o) => o.name === e.name)).map((e) => `${e.name}=${e.value}`).join(', ')}`);
    assert.deepEqual(spec.containers.map((c) => c.name), ['kserve-container']);
    const c = spec.containers[0];
    assert.deepEqual(M.missingLeaves(ours, c), [], 'our container is not kept as written');
    // Nothing of KServe's resource defaults: all four values were ours.
    assert.deepEqual(c.resources, ours.resources);
    const env = envOf(c);
    assert.equal(env.INFERENCE_SERVICE_NAME, 'mtcars');
    assert.equal(env.PORT, '8080');
    assert.equal(c.env.filter((e) => e.name === 'PORT').length, 1);
    assert.equal(spec.automountServiceAccountToken, false);
    assert.deepEqual(spec.volumes, mtcars.spec.predictor.volumes);
  });

  it('the Service mtcars-predictor routes port 80 to 8080 (http1), the HPA scales 1..3 on CPU at 70 %', () => {
    assert.ok(generated, 'no generated objects (previous test failed)');
    const svc = generated.services.find((s) => s.metadata.name === 'mtcars-predictor');
    assert.ok(svc, `Services: ${generated.services.map((s) => s.metadata.name)}`);
    assert.deepEqual(svc.spec.ports.map((p) => [p.name, p.port, p.targetPort]), [['http1', 80, 8080]]);
    const hpa = generated.hpas.find((h) => h.metadata.name === 'mtcars-predictor');
    assert.ok(hpa, `HPAs: ${generated.hpas.map((h) => h.metadata.name)}`);
    assert.equal(hpa.spec.minReplicas, 1);
    assert.equal(hpa.spec.maxReplicas, 3);
    const cpu = hpa.spec.metrics.find((m) => m.resource && m.resource.name === 'cpu');
    assert.equal(cpu.resource.target.averageUtilization, 70);
  });

  it('the pod template carries our prometheus.io annotations (port 6000, /prometheus) and passes Pod Security restricted in our namespace', async () => {
    assert.ok(generated, 'no generated objects (previous test failed)');
    const d = generated.deployments.find((x) => x.metadata.name === 'mtcars-predictor');
    const ann = d.spec.template.metadata.annotations || {};
    assert.equal(ann['prometheus.io/port'], '6000');
    assert.equal(ann['prometheus.io/path'], '/prometheus');
    const pod = await M.dryRunPod(cp, { source: 'Deployment/mtcars-predictor', name: 'gen-mtcars-predictor', metadata: d.spec.template.metadata, spec: d.spec.template.spec }, ns);
    assert.ok(pod.admitted, pod.error);
  });

  it('once its Deployment is available (status set by the harness: no kubelet), mtcars is Ready with its in-cluster address', async (t) => {
    await K.markDeploymentAvailable(cp, ns, 'mtcars-predictor');
    const ready = await K.waitForInferenceServiceReady(cp, ns, 'mtcars', { proc: mgr.proc, timeoutMs: 90000 });
    t.diagnostic(`status.url ${ready.status.url}; status.address.url ${ready.status.address && ready.status.address.url}`);
    assert.equal(ready.status.address.url, `http://mtcars-predictor.${ns}.svc.cluster.local`);
  });

  it('iris (Knative) without Knative Serving: KServe refuses to reconcile it and creates nothing', async (t) => {
    const log = () => fs.readFileSync(mgr.logFile, 'utf8');
    await until('the manager reports Knative missing for iris', async () => /is Knative, but Knative Serving is not available/.test(log()) && /iris/.test(log()),
      { timeoutMs: 60000, everyMs: 500, proc: mgr.proc });
    const owned = await K.generatedObjects(cp, ns, 'iris');
    t.diagnostic(log().split('\n').filter((l) => l.includes('Knative Serving is not available')).slice(0, 1).join('\n'));
    assert.deepEqual([...owned.deployments, ...owned.services, ...owned.hpas].map((o) => o.metadata.name), []);
  });

  it('every process listens on loopback only, except the KServe webhook (TLS with a per-run CA; the manager has no host flag)', (t) => {
    const rows = [];
    for (const p of cp.procs) for (const l of listeners(p.pid)) rows.push({ process: p.name, ...l });
    t.diagnostic(table(rows.map((r) => `${r.process}: ${r.address}:${r.port}`)));
    const off = rows.filter((r) => !(r.address.startsWith('127.') || r.address === '::1'));
    const known = off.filter((r) => r.process === 'kserve-manager' && r.port === mgr.webhookPort);
    assert.deepEqual(off.filter((r) => !known.includes(r)), []);
    assert.ok(rows.some((r) => r.process === 'kserve-manager'), 'no listener found for the manager');
  });
});

if (kserve.reason) console.log(`# KServe controller scenarios SKIPPED: ${kserve.reason}`);
