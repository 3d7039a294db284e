#!/usr/bin/env node
// Runs `node --test` with the given arguments, passes its output through, and then judges the
// run by its closing counts as well as its exit status:
//   - no test executed is a failure (a suite whose files were not found, a file that declared no
//     test, or a run whose every test was filtered out must not read as a pass);
//   - with CI=true, a skipped test is a failure: every real-component scenario is built by .ci/run,
//     so a skip there means a broken install, and a check that is skipped cannot fail.
// Outside CI a skip stays a skip; the test's own skip reason says what to run.
// Usage: node scripts/node-test.js [node --test options] FILES_OR_DIRS...
'use strict';
const { spawn } = require('child_process');

// The closing lines of both reporters: TAP ("# pass 3") and spec ("ℹ pass 3").
const COUNT = /^(?:# |ℹ )(tests|pass|fail|cancelled|skipped|todo) (\d+)\s*$/;
// A skipped test's line: TAP ("ok 3 - name # SKIP why") and spec ("﹣ name (1ms) # why").
const SKIPPED = /# SKIP\b|^\s*﹣ /;
// Node 20 reports a test file that declared no test as one passing top-level test named after the
// file's path: TAP "ok 1 - /abs/x.test.js", spec "✔ /abs/x.test.js (12ms)".
const EMPTY_FILE = /^(?:ok \d+ - |✔ )(\/\S+\.[cm]?js)(?: \(.*\))?\s*$/;

function main(args) {
  const child = spawn(process.execPath, ['--test', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const counts = {};
  const skipped = [];
  const empty = [];
  let partial = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop();
    for (const line of lines) read(line);
  });
  function read(line) {
    const m = COUNT.exec(line);
    if (m) counts[m[1]] = (counts[m[1]] || 0) + Number(m[2]);
    else if (SKIPPED.test(line)) skipped.push(line.trim());
    else if (EMPTY_FILE.test(line)) empty.push(EMPTY_FILE.exec(line)[1]);
  }
  // Ctrl-C reaches the child through the terminal's process group; wait for its clean-up.
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('close', (code, signal) => {
    if (partial) read(partial);
    const problems = [];
    if (code !== 0) problems.push(`node --test exited ${signal || code}`);
    if (counts.tests === undefined) problems.push('no closing counts from node --test');
    else if (counts.tests === 0) problems.push('no test was executed: that is not a pass');
    if (empty.length) problems.push(`no test was executed in ${empty.join(', ')}: that is not a pass`);
    if (process.env.CI === 'true' && (counts.skipped || 0) > 0) {
      problems.push(`${counts.skipped} test(s) skipped with CI=true, where every real component is built:\n  ${skipped.join('\n  ')}`);
    }
    const summary = `tests ${counts.tests || 0}, pass ${counts.pass || 0}, fail ${counts.fail || 0}, skipped ${counts.skipped || 0}`;
    if (problems.length) {
      console.error(`\nnode-test: FAILED (${summary}): ${problems.join('; ')}`);
      process.exit(1);
    }
    console.log(`\nnode-test: ok (${summary})`);
  });
}

main(process.argv.slice(2));
