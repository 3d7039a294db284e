// `npm run e2e:helm`: the chart `npm run synth:helm` writes, rendered by a real Helm
// (scripts/real/install-helm.sh builds v3.19.0 into the cache), holds exactly dist/'s objects.
// Without the binary the tests skip, except with CI=true, where that is a failure.
'use strict';
require('../../scripts/register');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');
const YAML = require('yaml');

const ROOT = path.join(__dirname, '..', '..');
const CACHE = process.env.RMLOPS_CACHE || path.join(ROOT, '.cache');
const HELM = path.join(CACHE, 'bin', 'helm');
const HELM_VERSION = 'v3.19.0';
const missing = fs.existsSync(HELM) ? undefined : `no helm at ${HELM} (run scripts/real/install-helm.sh)`;
if (missing && process.env.CI === 'true') {
  test('helm is installed', () => assert.fail(missing));
}
const skip = missing;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: ROOT, timeout: 120000, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

const key = (o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function byKey(objects) {
  const m = new Map();
  for (const o of objects) {
    assert.ok(!m.has(key(o)), `${key(o)} twice`);
    m.set(key(o), o);
  }
  return m;
}

/** Differences between two sets of objects, as lines (empty when equal). */
function differences(expected, actual) {
  const out = [];
  const a = byKey(actual);
  for (const [k, o] of byKey(expected)) {
    if (!a.has(k)) out.push(`${k}: missing from the chart`);
    else if (!isDeepStrictEqual(o, a.get(k))) out.push(`${k}: differs`);
    a.delete(k);
  }
  for (const k of a.keys()) out.push(`${k}: only in the chart`);
  return out;
}
const { isDeepStrictEqual } = require('node:util');

function distObjects() {
  const dir = path.join(ROOT, 'dist');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => YAML.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
}

function rendered(chartDir) {
  const text = run(HELM, ['template', 'rmlops', chartDir, '--namespace', 'default']);
  return YAML.parseAllDocuments(text).map((d) => d.toJS()).filter((o) => o !== null);
}

function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-helm-'));
}

test(`helm is ${HELM_VERSION}, built from its module`, { skip }, () => {
  assert.match(run(HELM, ['version', '--short']), new RegExp(`^${HELM_VERSION.replace(/\./g, '\\.')}`));
});

test('npm run synth:helm -> helm lint passes, Chart.yaml has the version passed in', { skip }, () => {
  const out = tempDir();
  try {
    run(process.execPath, ['scripts/synth-helm.js', '--chart-version', '1.4.2-rc.1', '--app-version', '0.1.0', '--out', out]);
    const chart = path.join(out, 'rmlops-iris');
    run(HELM, ['lint', '--strict', chart]);
    const meta = YAML.parse(run(HELM, ['show', 'chart', chart]));
    assert.equal(meta.version, '1.4.2-rc.1');
    assert.equal(meta.appVersion, '0.1.0');
    assert.equal(meta.name, 'rmlops-iris');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('helm template renders exactly dist/: same objects, field by field', { skip }, () => {
  const out = tempDir();
  try {
    run(process.execPath, ['scripts/synth-helm.js', '--chart-version', '0.1.0', '--out', out]);
    const chart = path.join(out, 'rmlops-iris');
    const expected = distObjects();
    const actual = rendered(chart);
    assert.equal(actual.length, expected.length);
    assert.deepEqual(differences(expected, actual), []);
    // Helm's install order puts the Namespace and the CronJob where kubectl apply would need them.
    assert.equal(actual[0].kind, 'Namespace');
    assert.ok(actual.some((o) => o.kind === 'CronJob'));

    // The comparison can fail: a changed template and a missing one are both reported.
    const sdep = path.join(chart, 'templates', fs.readdirSync(path.join(chart, 'templates')).find((f) => f.includes('seldondeployment-iris')));
    fs.writeFileSync(sdep, fs.readFileSync(sdep, 'utf8').replace('traffic: 10', 'traffic: 20'));
    fs.rmSync(path.join(chart, 'templates', fs.readdirSync(path.join(chart, 'templates')).find((f) => f.includes('cronjob'))));
    assert.deepEqual(differences(expected, rendered(chart)), [
      'CronJob rmlops-iris/iris-challenger-train: missing from the chart',
      'SeldonDeployment rmlops-iris/iris: differs',
    ]);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('text with {{ }} (e.g. in an R script) renders verbatim, not as a template action', { skip }, () => {
  const { App, Chart, ApiObject } = require('cdk8s');
  const { writeHelmChart } = require('../../lib/helm.ts');
  const app = new App();
  const chart = new Chart(app, 'c', { namespace: 'team-a' });
  const data = { 'train.R': 'glue::glue("{{ .Release.Name }} {{x}}")\n', odd: '}} {{- "a" -}} {{' };
  new ApiObject(chart, 'cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'script' }, data });
  const out = tempDir();
  try {
    writeHelmChart(app, out, { name: 'braces', version: '0.0.1' });
    const [cm] = rendered(path.join(out, 'braces'));
    assert.deepEqual(cm.data, data);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
