'use strict';
// The harness itself, without starting anything: what it runs is what dist/ says, changed only
// by the rewrites it prints, and the images it stands in for are the pinned versions.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { DIST, versions } = require('./lib/env');
const { loadDist, Manifests } = require('./lib/manifests');
const { LocalCluster, resolveImage } = require('./lib/local');

let dir;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-harness-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function specOf(manifests, find, containerName) {
  const lines = [];
  const cluster = await new LocalCluster({ manifests, dir, log: (l) => lines.push(l) }).init();
  const owner = find(manifests);
  const spec = await cluster.container(owner, owner.spec.template, containerName || owner.spec.template.spec.containers[0].name);
  return { spec, lines };
}

describe('driven by dist/', () => {
  it('a new MLflow flag in the manifest reaches the command line, unchanged', async () => {
    const m = loadDist(DIST);
    const dep = m.trackingServer();
    dep.spec.template.spec.containers[0].args.push('--gunicorn-opts', '--timeout 120');
    const { spec } = await specOf(new Manifests(m.docs), (x) => x.trackingServer());
    assert.deepEqual(spec.command.slice(-2), ['--gunicorn-opts', '--timeout 120']);
  });

  it('a new MinIO env var flows through, Service names in it rewritten and printed', async () => {
    const m = loadDist(DIST);
    const c = m.artifactStore().spec.template.spec.containers[0];
    c.env.push({ name: 'MINIO_BROWSER_REDIRECT_URL', value: 'http://mlflow.rmlops-iris.svc:5000/x' });
    const { spec, lines } = await specOf(new Manifests(m.docs), (x) => x.artifactStore());
    assert.match(spec.env.MINIO_BROWSER_REDIRECT_URL, /^http:\/\/127\.0\.0\.1:\d+\/x$/);
    assert.ok(lines.some((l) => /MINIO_BROWSER_REDIRECT_URL: Service DNS mlflow\.rmlops-iris\.svc:5000 -> 127\.0\.0\.1:\d+/.test(l)), lines.join('\n'));
  });

  it('every difference between a container and its process is a printed rewrite', async () => {
    const m = loadDist(DIST);
    for (const find of [(x) => x.artifactStore(), (x) => x.trackingServer(), (x) => x.provisioningJobs()[0], (x) => x.trainingJobs()[0]]) {
      const owner = find(m);
      const c = owner.spec.template.spec.containers[0];
      const { spec, lines } = await specOf(m, find);
      const rewrites = lines.filter((l) => l.startsWith('[rewrite]'));
      // Each arg is the manifest's, or differs only where a printed rewrite says so.
      const manifestArgs = c.args || [];
      const processArgs = spec.command.slice(spec.command.length - manifestArgs.length);
      manifestArgs.forEach((a, i) => {
        if (a === processArgs[i]) return;
        assert.ok(rewrites.some((r) => r.includes(a) || /listen|Service DNS|emptyDir|PVC|ConfigMap|image path/.test(r)),
          `${owner.metadata.name}: arg ${a} became ${processArgs[i]} without a printed rewrite`);
      });
      for (const e of c.env || []) {
        if (e.valueFrom) {
          assert.ok(rewrites.some((r) => r.includes(`Secret ${owner.metadata.namespace}/${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`)), e.name);
        }
      }
    }
  });

  it('nothing listens beyond loopback: no 0.0.0.0 or bare :port left in any server args', async () => {
    const m = loadDist(DIST);
    for (const find of [(x) => x.artifactStore(), (x) => x.trackingServer()]) {
      const { spec } = await specOf(m, find);
      const args = spec.command.join(' ');
      assert.doesNotMatch(args, /(^|\s)(0\.0\.0\.0|:\d+)(\s|$)/, args);
    }
  });
});

describe('pins', () => {
  it('every image in dist/ that the harness runs is the version pinned in versions.json', () => {
    const m = loadDist(DIST);
    const images = new Set();
    const collect = (o) => {
      if (Array.isArray(o)) o.forEach(collect);
      else if (o && typeof o === 'object') {
        if (typeof o.image === 'string') images.add(o.image);
        Object.values(o).forEach(collect);
      }
    };
    collect(m.docs);
    assert.ok(images.size >= 4, [...images].join(', '));
    for (const image of images) resolveImage(image); // throws on a tag that differs from its pin
    const v = versions();
    assert.ok(images.has(`quay.io/minio/minio:${v.minio.release}`));
    assert.ok(images.has(`quay.io/minio/mc:${v.mc.release}`));
    assert.ok(images.has(`ghcr.io/mlflow/mlflow:v${v.mlflow}-full`));
  });

  it('a drifted tag is refused', () => {
    assert.throws(() => resolveImage('quay.io/minio/minio:RELEASE.2024-01-01T00-00-00Z'), /differs from the pin/);
  });
});
