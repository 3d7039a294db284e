// scripts/node-test.js runs the real-component suites (npm run e2e, e2e:cluster, e2e:helm). It must
// fail a run that executed no test, and with CI=true a run that skipped one, whatever node's own
// exit status says (node --test exits 0 for both).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const RUNNER = path.join(__dirname, '..', 'scripts', 'node-test.js');

function run(files: Record<string, string>, env: Record<string, string>, reporter = 'tap') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-node-test-'));
  try {
    for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), body);
    const { CI: _ci, ...rest } = process.env;
    const res = spawnSync(process.execPath, [RUNNER, `--test-reporter=${reporter}`, dir], {
      env: { ...rest, ...env }, encoding: 'utf8', timeout: 60000,
    });
    return { status: res.status, out: `${res.stdout}${res.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const PASSING = "const { test } = require('node:test'); test('adds', () => { if (1 + 1 !== 2) throw new Error('no'); });\n";
const SKIPPING = "const { test } = require('node:test'); test('needs a binary', { skip: 'no binary at /x: run npm run real:seldon' }, () => {});\ntest('adds', () => {});\n";
const FAILING = "const { test } = require('node:test'); test('breaks', () => { throw new Error('broken'); });\n";

describe('scripts/node-test.js', () => {
  test.each(['tap', 'spec'])('passes a run whose tests pass (%s reporter), and prints the counts', (reporter) => {
    const r = run({ 'a.test.js': PASSING }, {}, reporter);
    expect(r.status).toBe(0);
    expect(r.out).toContain('node-test: ok (tests 1, pass 1, fail 0, skipped 0)');
  });

  test('fails a run that executed no test, although node --test exits 0 for it', () => {
    const r = run({ 'a.test.js': PASSING, 'b.test.js': '// no tests here\n' }, {});
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/no test was executed in \/\S+\/b\.test\.js: that is not a pass/);
  });

  test.each(['tap', 'spec'])('with CI=true fails a run with a skip and names it (%s reporter)', (reporter) => {
    const r = run({ 'a.test.js': SKIPPING }, { CI: 'true' }, reporter);
    expect(r.status).toBe(1);
    expect(r.out).toContain('1 test(s) skipped with CI=true');
    expect(r.out).toMatch(/needs a binary.*no binary at \/x: run npm run real:seldon/);
  });

  test('fails a run given no test file at all', () => {
    const r = run({}, {});
    expect(r.status).toBe(1);
    expect(r.out).toContain('no test was executed: that is not a pass');
  });

  test('outside CI a skip stays a skip with its reason', () => {
    const r = run({ 'a.test.js': SKIPPING }, {});
    expect(r.status).toBe(0);
    expect(r.out).toContain('skipped 1');
  });

  test('fails a run with a failing test', () => {
    const r = run({ 'a.test.js': FAILING }, {});
    expect(r.status).toBe(1);
    expect(r.out).toContain('node --test exited 1');
  });
});
