// Runs the testthat unit tests in r/tests/testthat and fails on any failure or error.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { describeR, R_DIR, RSCRIPT } from './support/r-env';

describeR('R unit tests (testthat: bundle, codec and validation, model URIs, MLflow helpers)', () => {
  test('all testthat expectations pass', () => {
    const script = `
      res <- as.data.frame(testthat::test_dir(${JSON.stringify(path.join(R_DIR, 'tests', 'testthat'))},
                                              reporter = "summary", stop_on_failure = FALSE))
      cat(sprintf("\\nRMLOPS_TESTTHAT tests=%d expectations=%d failed=%d errors=%d skipped=%d\\n",
                  nrow(res), sum(res$nb), sum(res$failed), sum(res$error), sum(res$skipped)))`;
    const run = spawnSync(RSCRIPT ?? 'Rscript', ['-e', script], { encoding: 'utf8', timeout: 120000 });
    const output = `${run.stdout}\n${run.stderr}`;
    // eslint-disable-next-line no-console
    console.log(output.split('\n').slice(-15).join('\n'));
    const m = /RMLOPS_TESTTHAT tests=(\d+) expectations=(\d+) failed=(\d+) errors=(\d+) skipped=(\d+)/.exec(output);
    expect(m).not.toBeNull();
    const [, tests, expectations, failed, errors] = (m as RegExpExecArray).map(Number);
    expect({ failed, errors }).toEqual({ failed: 0, errors: 0 });
    expect(tests).toBeGreaterThan(10);
    expect(expectations).toBeGreaterThan(50);
    expect(run.status).toBe(0);
  }, 120000);
});
