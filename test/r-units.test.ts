// Runs the testthat tests of the rmlops R package (r/tests/testthat) against the package built
// from the working tree, and fails on any failure or error. The tests that need root (tmpfs
// mounts for the full-disk and read-only cases) skip themselves elsewhere; the count is printed.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { describeR, EXAMPLES_DIR, R_DIR, rPackageEnv, RSCRIPT } from './support/r-env';

describeR('R unit tests (testthat: bundle format and writes, codec, training entry, server, MLflow helpers)', () => {
  test('all testthat expectations pass', () => {
    const script = `
      library(rmlops)
      res <- as.data.frame(testthat::test_dir(${JSON.stringify(path.join(R_DIR, 'tests', 'testthat'))},
                                              package = "rmlops", load_package = "installed",
                                              reporter = "summary", stop_on_failure = FALSE))
      cat(sprintf("\\nRMLOPS_TESTTHAT tests=%d expectations=%d failed=%d errors=%d skipped=%d\\n",
                  nrow(res), sum(res$nb), sum(res$failed), sum(res$error), sum(res$skipped)))`;
    const run = spawnSync(RSCRIPT ?? 'Rscript', ['-e', script], {
      encoding: 'utf8', timeout: 240000,
      env: { ...process.env, ...rPackageEnv(), RMLOPS_EXAMPLES: EXAMPLES_DIR },
    });
    const output = `${run.stdout}\n${run.stderr}`;
    // eslint-disable-next-line no-console
    console.log(output.split('\n').filter((l) => !l.startsWith('{"level"')).slice(-15).join('\n'));
    const m = /RMLOPS_TESTTHAT tests=(\d+) expectations=(\d+) failed=(\d+) errors=(\d+) skipped=(\d+)/.exec(output);
    expect(m).not.toBeNull();
    const [, tests, expectations, failed, errors] = (m as RegExpExecArray).map(Number);
    expect({ failed, errors }).toEqual({ failed: 0, errors: 0 });
    expect(tests).toBeGreaterThan(40);
    expect(expectations).toBeGreaterThan(300);
    expect(run.status).toBe(0);
  }, 300000);
});
