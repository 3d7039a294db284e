// `node scripts/rules-test.js [--promtool PATH] [--dist dist,dist-kserve,dist-credit]`: proves the
// alert rules with Prometheus's own promtool (scripts/real/install-promtool.sh builds it).
//   1. Extracts every PrometheusRule from the synthesized output (dist/ and its variants, plus the
//      fixture app test/rules/fixture.ts, which has payload logging) into Prometheus rule files:
//      the tests load exactly what is applied, never a copy kept by hand.
//   2. `promtool check rules` on each (PromQL, durations, annotation templates), and on the
//      Grafana dashboards' queries (ModelDashboard), written as recording rules.
//   3. `promtool test rules` with each test file of test/rules/*.yaml, once for every rule file
//      that has all the alerts its `rmlops.requires` lists, `${namespace}` and `${deployment}`
//      replaced by that rule's model. Annotations are dropped from the copies the unit tests load
//      (promtool compares them verbatim; step 2 checks their templates), labels are compared.
//   4. Fails unless every alert of every rule file has a test where it fires and one where it must
//      not (an `exp_alerts: []` case).
// Prints `promtool: N rule tests passed, 0 failed (...)`, the line .ci/run's summary greps.
'use strict';
require('./register');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const YAML = require('yaml');

const ROOT = path.join(__dirname, '..');
const TEST_DIR = path.join(ROOT, 'test', 'rules');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** Every PrometheusRule in the synthesized folders and in the fixture app, with where it came from. */
function prometheusRules(distDirs) {
  const out = [];
  for (const dir of distDirs) {
    const abs = path.join(ROOT, dir);
    if (!fs.existsSync(abs)) continue;
    for (const f of fs.readdirSync(abs).filter((f) => f.endsWith('.yaml')).sort()) {
      for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(abs, f), 'utf8'))) {
        const obj = doc.toJS();
        if (obj?.kind === 'PrometheusRule') out.push({ from: `${dir}/${f}`, obj });
      }
    }
  }
  const { buildRulesFixture } = require('../test/rules/fixture.ts');
  const { orderedManifests } = require('../lib/manifests.ts');
  for (const m of orderedManifests(buildRulesFixture())) {
    if (m.object.kind === 'PrometheusRule') out.push({ from: `test/rules/fixture.ts (${m.file})`, obj: m.object });
  }
  return out;
}

/**
 * The Grafana dashboards (ModelDashboard ConfigMaps) of the same folders and the fixture, as rule
 * files of recording rules, one per panel query, so that `promtool check rules` parses their PromQL.
 */
function dashboardRuleFiles(distDirs, dir) {
  const maps = [];
  for (const d of distDirs) {
    const abs = path.join(ROOT, d);
    if (!fs.existsSync(abs)) continue;
    for (const f of fs.readdirSync(abs).filter((f) => f.endsWith('.yaml')).sort()) {
      for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(abs, f), 'utf8'))) maps.push(doc.toJS());
    }
  }
  const { buildRulesFixture } = require('../test/rules/fixture.ts');
  const { orderedManifests } = require('../lib/manifests.ts');
  maps.push(...orderedManifests(buildRulesFixture()).map((m) => m.object));
  const out = [];
  for (const cm of maps.filter((o) => o?.kind === 'ConfigMap' && o.metadata?.labels?.['app.kubernetes.io/name'] === 'r-model-dashboard')) {
    const exprs = Object.values(cm.data).flatMap((json) => JSON.parse(json).panels.flatMap((p) => p.targets.map((t) => t.expr)));
    const file = path.join(dir, `dashboard-${cm.metadata.namespace ?? 'default'}-${cm.metadata.name}.rules.yaml`);
    fs.writeFileSync(file, YAML.stringify({ groups: [{ name: cm.metadata.name, rules: exprs.map((expr, i) => ({ record: `rmlops_dashboard:query${i}`, expr })) }] }));
    out.push({ file, queries: exprs.length });
  }
  return out;
}

/** The rule file of a PrometheusRule (its spec.groups), with and without annotations. */
function ruleFiles(rule, dir) {
  const id = `${rule.obj.metadata.namespace ?? 'default'}-${rule.obj.metadata.name}`;
  const groups = rule.obj.spec.groups;
  const full = path.join(dir, `${id}.rules.yaml`);
  const bare = path.join(dir, `${id}.unit.rules.yaml`);
  fs.writeFileSync(full, YAML.stringify({ groups }));
  fs.writeFileSync(bare, YAML.stringify({
    groups: groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations, ...r }) => r) })),
  }));
  const alerts = groups.flatMap((g) => g.rules.filter((r) => r.alert).map((r) => r.alert));
  // The model the rules watch, from their own selectors.
  const m = /deployment="([^"]+)"/.exec(groups[0]?.rules?.[0]?.expr ?? '');
  return { id, full, bare, alerts, namespace: rule.obj.metadata.namespace ?? '', deployment: m ? m[1] : '' };
}

function run(promtool, args) {
  const res = spawnSync(promtool, args, { encoding: 'utf8', timeout: 120000 });
  return { ok: res.status === 0, out: `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? String(res.error) : ''}` };
}

function main() {
  const cache = process.env.RMLOPS_CACHE ?? path.join(ROOT, '.cache');
  const promtool = arg('--promtool', path.join(cache, 'bin', 'promtool'));
  if (!fs.existsSync(promtool)) {
    console.error(`rules-test: ${promtool} not found (run bash scripts/real/install-promtool.sh)`);
    process.exit(2);
  }
  const dists = arg('--dist', 'dist,dist-kserve,dist-credit').split(',');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-rules-'));
  const failures = [];
  let passed = 0;
  let failedCases = 0;
  try {
    const rules = prometheusRules(dists);
    if (rules.length === 0) throw new Error('no PrometheusRule found: nothing to test');
    const files = rules.map((r) => ({ ...ruleFiles(r, tmp), from: r.from }));

    const check = run(promtool, ['check', 'rules', ...files.map((f) => f.full)]);
    if (!check.ok) failures.push(`promtool check rules:\n${check.out}`);
    else console.log(`promtool check rules: ${files.length} rule files, ${files.reduce((s, f) => s + f.alerts.length, 0)} alerts OK`);

    const dashboards = dashboardRuleFiles(dists, tmp);
    if (dashboards.length > 0) {
      const dash = run(promtool, ['check', 'rules', ...dashboards.map((d) => d.file)]);
      if (!dash.ok) failures.push(`promtool check rules (dashboard queries):\n${dash.out}`);
      else console.log(`promtool check rules: ${dashboards.reduce((s, d) => s + d.queries, 0)} dashboard queries of ${dashboards.length} dashboards parse`);
    }

    const tests = fs.readdirSync(TEST_DIR).filter((f) => f.endsWith('.yaml')).sort();
    // alert -> rule file id -> { fires, silent }
    const coverage = new Map(files.map((f) => [f.id, new Map(f.alerts.map((a) => [a, { fires: 0, silent: 0 }]))]));
    for (const t of tests) {
      const text = fs.readFileSync(path.join(TEST_DIR, t), 'utf8');
      const parsed = YAML.parse(text);
      const requires = parsed?.rmlops?.requires ?? [];
      if (requires.length === 0) {
        failures.push(`test/rules/${t}: no rmlops.requires (which alerts it tests)`);
        continue;
      }
      const targets = files.filter((f) => requires.every((a) => f.alerts.includes(a)));
      if (targets.length === 0) failures.push(`test/rules/${t}: no PrometheusRule has all of ${requires.join(', ')}`);
      for (const f of targets) {
        const doc = YAML.parse(text.replaceAll('${namespace}', f.namespace).replaceAll('${deployment}', f.deployment));
        delete doc.rmlops;
        doc.rule_files = [f.bare];
        const copy = path.join(tmp, `${path.basename(t, '.yaml')}.${f.id}.test.yaml`);
        fs.writeFileSync(copy, YAML.stringify(doc));
        const cases = doc.tests.flatMap((g) => g.alert_rule_test ?? []);
        const res = run(promtool, ['test', 'rules', copy]);
        if (!res.ok) {
          failedCases += cases.length;
          failures.push(`test/rules/${t} on ${f.from}:\n${res.out}`);
          continue;
        }
        passed += cases.length;
        console.log(`promtool test rules: test/rules/${t} on ${f.from}: ${cases.length} cases passed`);
        for (const c of cases) {
          const cov = coverage.get(f.id).get(c.alertname);
          if (!cov) {
            failures.push(`test/rules/${t}: alert ${c.alertname} is not in ${f.from}`);
            continue;
          }
          if ((c.exp_alerts ?? []).length > 0) cov.fires += 1;
          else cov.silent += 1;
        }
      }
    }
    for (const f of files) {
      for (const [alert, cov] of coverage.get(f.id)) {
        if (cov.fires === 0) failures.push(`${f.from}: no test where ${alert} fires`);
        if (cov.silent === 0) failures.push(`${f.from}: no test where ${alert} must not fire`);
      }
    }
    const version = run(promtool, ['--version']).out.split('\n')[0];
    const alerts = files.reduce((s, f) => s + f.alerts.length, 0);
    // A failed run counts all its cases (promtool reports them together); every other problem
    // (a rule check, a coverage gap) counts one.
    const failedRuns = failures.filter((f) => f.startsWith('test/rules/') && f.includes(' on ')).length;
    console.log(`promtool: ${passed} rule tests passed, ${failedCases + failures.length - failedRuns} failed (${alerts} alerts in ${files.length} PrometheusRules, ${version})`);
  } catch (err) {
    failures.push(String(err && err.stack ? err.stack : err));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (failures.length > 0) {
    console.error(failures.join('\n'));
    process.exit(1);
  }
}

if (require.main === module) main();
module.exports = { prometheusRules, ruleFiles };
