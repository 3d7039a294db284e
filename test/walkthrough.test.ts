// The README's cluster walkthrough is the tested one (issue 20 §10): e2e/node/dist.test.js reads
// its steps from README.md and runs them as written. These checks run without a node: the block
// parses into numbered steps, names only objects dist/ has (or the operator makes from them), and
// the scenario runs every step, in order.
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { parseWalkthrough, readWalkthrough } = require('../e2e/node/walkthrough');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const objects: any[] = fs.readdirSync(DIST).filter((f) => f.endsWith('.yaml')).sort()
  .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(DIST, f), 'utf8')).map((d) => d.toJSON())).filter((o) => o);
const steps: { n: number; title: string; commands: { text: string; background: boolean }[] }[] = readWalkthrough(path.join(ROOT, 'README.md'));
const commands = steps.flatMap((s) => s.commands.map((c) => c.text));

describe('the README walkthrough', () => {
  test('parses into steps 1..N, each with commands; one command starts the node', () => {
    expect(steps.length).toBeGreaterThanOrEqual(7);
    expect(steps.map((s) => s.n)).toEqual(steps.map((_, i) => i + 1));
    expect(steps[0].commands[0].text).toBe('npm run node:up');
  });

  test('dist/ is applied once, whole: `kubectl apply -f dist/` (the namespace file first, for the Secrets)', () => {
    const applies = commands.filter((c) => /kubectl apply -f dist/.test(c));
    expect(applies).toEqual(['kubectl apply -f dist/0000-namespace-rmlops-iris.yaml', 'kubectl apply -f dist/']);
    expect(commands.indexOf('npm run node:volumes -- dist/')).toBe(commands.indexOf('kubectl apply -f dist/') - 1);
  });

  test('names only files, namespaces and objects that dist/ has, or that the operator makes from its SeldonDeployments', () => {
    const names = new Set<string>();
    for (const o of objects) names.add(`${o.kind}/${o.metadata.name}`);
    for (const sdep of objects.filter((o) => o.kind === 'SeldonDeployment')) {
      for (const p of sdep.spec.predictors) {
        names.add(`Service/${sdep.metadata.name}-${p.name}`);
        names.add(`Deployment/${sdep.metadata.name}-${p.name}-0-${p.componentSpecs[0].spec.containers[0].name}`);
      }
    }
    const created = new Set<string>();
    const kinds: Record<string, string> = { job: 'Job', cronjob: 'CronJob', deploy: 'Deployment', deployment: 'Deployment', svc: 'Service', sdep: 'SeldonDeployment' };
    const namespaces = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
    for (const c of commands) {
      for (const m of c.matchAll(/\bdist\/(\S+\.yaml)/g)) expect(fs.existsSync(path.join(DIST, m[1]))).toBe(true);
      for (const m of c.matchAll(/-n (\S+)/g)) expect([...namespaces]).toContain(m[1]);
      const job = /create job --from=cronjob\/\S+ (\S+)/.exec(c);
      if (job) created.add(`Job/${job[1]}`);
      for (const m of c.matchAll(/\b(job|cronjob|deploy|deployment|svc)\/([a-z0-9-]+)/g)) {
        const ref = `${kinds[m[1]]}/${m[2]}`;
        expect({ command: c, ref, known: names.has(ref) || created.has(ref) }).toEqual({ command: c, ref, known: true });
      }
      const sdep = /get sdep (\S+)/.exec(c);
      if (sdep) expect(names.has(`SeldonDeployment/${sdep[1]}`)).toBe(true);
    }
  });

  test('e2e/node/dist.test.js runs every step, in order, from the README (no copy of the commands)', () => {
    const scenario = fs.readFileSync(path.join(ROOT, 'e2e', 'node', 'dist.test.js'), 'utf8');
    const run = [...scenario.matchAll(/walk\.run\((\d+)/g)].map((m) => Number(m[1]));
    expect(run).toEqual(steps.map((s) => s.n));
    expect(scenario).toMatch(/readWalkthrough\(\)/);
    expect(scenario).not.toMatch(/kubectl apply -f dist/);
  });

  test('the parser: continuation lines join, trailing comments go, `&` starts a background command, numbering is checked', () => {
    const md = ['<!-- walkthrough -->', '```sh', '# 1. One', 'a \\', '  b   # note', 'c &', '# 2. Two', 'd', '```'].join('\n');
    expect(parseWalkthrough(md)).toEqual([
      { n: 1, title: 'One', commands: [{ text: 'a \\\n  b', background: false }, { text: 'c', background: true }] },
      { n: 2, title: 'Two', commands: [{ text: 'd', background: false }] },
    ]);
    expect(() => parseWalkthrough(md.replace('# 2. Two', '# 3. Two'))).toThrow(/step 3 where 2 was expected/);
    expect(() => parseWalkthrough('no marker')).toThrow(/marker/);
  });
});
