'use strict';
// Faults around training, on a stack of its own: MLflow starting after train.R, and MinIO
// stopping in the middle of a training run.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Stack, waitFor } = require('./lib/stack');
const ck = require('./lib/checks');

let stack;
let job;
let target;

before(async () => {
  stack = await new Stack({ name: 'e2e-faults', echo: !!process.env.RMLOPS_E2E_ECHO }).init();
  await stack.startArtifactStore();
  const [p] = await stack.provision();
  assert.equal(p.code, 0, p.output);
  // One training Job is enough for these faults: they are about MLflow and MinIO, not the model.
  job = stack.trainingJobs()[0];
  target = stack.trainingTarget(job);
});

after(async () => {
  if (stack) await stack.down();
});

describe('MLflow starts after train.R', () => {
  let result;
  before(async () => {
    result = await stack.train(job, {
      onStart: async (proc) => {
        // train.R must be waiting (and saying so) before MLflow is started.
        await waitFor('train.R waiting for MLflow', () => /waiting for MLflow/.test(proc.output()), { timeoutMs: 60000, intervalMs: 200, proc });
        await stack.startTracking();
      },
    });
  });

  it('train.R waited for MLflow', () => {
    assert.match(result.output, /waiting for MLflow/);
  });

  it('then succeeded: exit 0, alias on the new version', async () => {
    assert.equal(result.code, 0, result.output.slice(-4000));
    const fin = ck.finishedLine(result.output);
    assert.ok(fin, result.output.slice(-3000));
    assert.equal(await ck.aliasVersion(stack, target.model, target.alias), String(fin.version));
  });
});

describe('MinIO stops during training', () => {
  let result;
  let aliasBefore;
  let runId;
  before(async () => {
    aliasBefore = await ck.aliasVersion(stack, target.model, target.alias);
    const exp = await ck.api(stack, 'GET', 'experiments/get-by-name', { query: { experiment_name: target.experiment } });
    const startedAfter = Date.now();
    result = await stack.train(job, {
      onStart: async (proc) => {
        // As soon as the run exists, train.R is frozen, MinIO is stopped, and train.R goes on:
        // its upload then meets an artifact store that is gone.
        const run = await waitFor('a RUNNING run of this training', async () => {
          const res = await stack.mlflowApi('POST', 'runs/search', {
            body: { experiment_ids: [exp.experiment.experiment_id], filter: "attributes.status = 'RUNNING'", max_results: 5 },
          });
          return (res.json.runs || []).find((r) => Number(r.info.start_time) >= startedAfter - 1000);
        }, { timeoutMs: 120000, intervalMs: 10, proc });
        proc.pause();
        try {
          runId = run.info.run_id;
          console.log(`[fault] run ${runId} created: train.R paused, MinIO stopped, train.R resumed`);
          await stack.stopArtifactStore('SIGKILL');
        } finally {
          proc.resume();
        }
      },
    });
  });

  after(async () => {
    await stack.startArtifactStore();
  });

  it('train.R exits non-zero', () => {
    assert.notEqual(result.code, 0, result.output.slice(-3000));
  });

  it('the run is FAILED', async () => {
    const run = (await ck.api(stack, 'GET', 'runs/get', { query: { run_id: runId } })).run;
    assert.equal(run.info.status, 'FAILED');
  });

  it('the alias does not move', async () => {
    assert.equal(await ck.aliasVersion(stack, target.model, target.alias), aliasBefore);
  });
});
