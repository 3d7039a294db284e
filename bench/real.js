#!/usr/bin/env node
// Real components (npm run real:install): the wall time of one real training run against MLflow
// and MinIO, and the Seldon executor hop (executor vs direct to R, keep-alive, same run).
// Part of `npm run bench`; alone, `node bench/real.js` replaces its section in bench/results.md.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { summarize } = require('./lib/stats');
const { load } = require('./lib/http-load');
const { Stack } = require('../e2e/lib/stack');
const { executor, versions } = require('../e2e/lib/env');
const ck = require('../e2e/lib/checks');

const MARK_START = '<!-- real-components:start -->';
const MARK_END = '<!-- real-components:end -->';

async function benchReal({ quick = false } = {}) {
  const stack = await new Stack({ name: 'bench-real', log: () => {} }).init();
  const out = { versions: versions(), trainings: [], executor: executor() };
  try {
    const t0 = Date.now();
    await stack.startArtifactStore();
    out.minioStartMs = Date.now() - t0;
    const [p] = await stack.provision();
    if (p.code !== 0) throw new Error(`provisioning failed:\n${p.output}`);
    const t1 = Date.now();
    await stack.startTracking();
    out.mlflowStartMs = Date.now() - t1;

    const job = stack.trainingJobs()[0];
    out.job = job.metadata.name;
    // The first run also creates the experiment and the registered model; later runs do not.
    for (let i = 0; i < (quick ? 2 : 4); i++) {
      const started = process.hrtime.bigint();
      const r = await stack.train(job);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (r.code !== 0) throw new Error(`training failed (${r.code}):\n${r.output.slice(-3000)}`);
      out.trainings.push(ms);
    }

    const sdep = stack.manifests.seldonDeployments().find((s) => ck.trainingJobFor(stack, s).job === job);
    out.sdep = sdep.metadata.name;
    const predictor = sdep.spec.predictors[0].name;
    const model = await stack.startModel(sdep, { predictor });
    const target = ck.trainingJobFor(stack, sdep, predictor);
    const version = await ck.aliasVersion(stack, target.model, target.alias);
    const mv = (await ck.api(stack, 'GET', 'model-versions/get', { query: { name: target.model, version } })).model_version;
    const runInfo = (await ck.api(stack, 'GET', 'runs/get', { query: { run_id: mv.run_id } })).run.info;
    const { bucket, key } = ck.s3Location(stack, `${runInfo.artifact_uri}/model`);
    const body = JSON.stringify(ck.exampleRequest(stack, bucket, key));
    const n = quick ? 300 : 2000;
    const opts = { path: '/api/v1.0/predictions', body, requests: n, warmup: 100 };

    if (out.executor.path) {
      // The hop alone, as before dist/ logged payloads: the logger's own cost is a figure of
      // e2e/payload.test.js (the executor with and without it, interleaved).
      const hopOnly = JSON.parse(JSON.stringify(sdep));
      for (const p of hopOnly.spec.predictors) delete p.graph.logger;
      const ex = await stack.startExecutor(hopOnly, { predictor });
      // Interleaved halves so that drift on a shared machine hits both sides alike.
      const direct = [];
      const hop = [];
      let directRps = 0;
      let hopRps = 0;
      for (let i = 0; i < 2; i++) {
        const d = await load({ port: model.port, ...opts, requests: n / 2 });
        const h = await load({ port: ex.port, ...opts, requests: n / 2 });
        direct.push(...d.latencies);
        hop.push(...h.latencies);
        directRps += d.rps / 2;
        hopRps += h.rps / 2;
      }
      out.direct = { ...summarize(direct), rps: directRps };
      out.hop = { ...summarize(hop), rps: hopRps };
      out.executorPorts = { http: ex.port, grpc: ex.grpcPort };
    } else {
      const d = await load({ port: model.port, ...opts });
      out.direct = { ...summarize(d.latencies), rps: d.rps };
    }
  } finally {
    await stack.down();
  }
  return out;
}

function reportReal(r) {
  const fmt = (x, digits = 1) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(digits)) : 'n/a');
  const lines = [MARK_START, '## 6. Real components on loopback (MLflow, MinIO, Seldon executor)', ''];
  lines.push(`${new Date().toISOString().slice(0, 10)} · ${os.cpus().length} × ${os.cpus()[0].model.trim()} · ${Math.round(os.totalmem() / 2 ** 30)} GiB`, '');
  lines.push(`MLflow ${r.versions.mlflow} (PyPI), MinIO ${r.versions.minio.release} and mc ${r.versions.mc.release} (built from their Go modules), driven by dist/ (\`npm run real:install\`).`, '');
  const tr = summarize(r.trainings);
  const row = (...cells) => lines.push(`| ${cells.join(' | ')} |`);
  row('what', 'median ms', 'min ms', 'max ms', 'runs');
  row('---', '---:', '---:', '---:', '---:');
  row(`one training run (\`${r.job}\`: Rscript start to exit, real MLflow + MinIO)`, fmt(tr.p50), fmt(Math.min(...r.trainings)), fmt(Math.max(...r.trainings)), r.trainings.length);
  row('MinIO start to ready', fmt(r.minioStartMs), '–', '–', 1);
  row('MLflow start to ready (`mlflow server` with the manifest\'s args)', fmt(r.mlflowStartMs), '–', '–', 1);
  lines.push('');
  lines.push(`### Seldon executor hop (\`${r.sdep}\`, single row, one keep-alive connection, same run)`, '');
  row('path', 'p50 ms', 'p99 ms', 'req/s', 'requests');
  row('---', '---:', '---:', '---:', '---:');
  row('direct to the R server (`POST /api/v1.0/predictions`)', fmt(r.direct.p50, 2), fmt(r.direct.p99, 2), fmt(r.direct.rps), r.direct.n);
  if (r.hop) {
    row(`through the executor (port ${r.executorPorts.http})`, fmt(r.hop.p50, 2), fmt(r.hop.p99, 2), fmt(r.hop.rps), r.hop.n);
    lines.push('', `The executor adds ${fmt(r.hop.p50 - r.direct.p50, 2)} ms at p50 and ${fmt(r.hop.p99 - r.direct.p99, 2)} ms at p99.`);
    const p = r.executor.provenance;
    lines.push(p
      ? `Executor: seldon-core ${p.version} (commit ${p.commit.slice(0, 12)}), built by \`scripts/real/install-seldon.sh\` from the source archive (sha256 ${p.archiveSha256.slice(0, 16)}…) with ${p.go}.`
      : `Executor: \`${r.executor.path}\` (${r.executor.source}).`);
  } else {
    lines.push('', `Through the executor: not measured: ${r.executor.reason}`);
  }
  lines.push('', MARK_END);
  return lines.join('\n');
}

// Replaces this section in results.md (or appends it), leaving the other sections as they are.
function writeSection(md) {
  const file = path.join(__dirname, 'results.md');
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# rmlops-cdk8s benchmark\n';
  const re = new RegExp(`${MARK_START}[\\s\\S]*?${MARK_END}`);
  const next = re.test(old) ? old.replace(re, md) : `${old.replace(/\n*$/, '\n\n')}${md}\n`;
  fs.writeFileSync(file, next);
}

module.exports = { benchReal, reportReal, writeSection, MARK_START, MARK_END };

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  benchReal({ quick })
    .then((r) => {
      const md = reportReal(r);
      if (!quick) writeSection(md);
      console.log(md);
      // CI builds the executor, so a hop that was not measured there is a broken install.
      if (!r.hop && process.env.CI === 'true') {
        console.error(`the executor hop was not measured with CI=true: ${r.executor.reason}`);
        process.exitCode = 1;
      }
    })
    .catch((err) => {
      console.error(err && err.stack ? err.stack : err);
      process.exitCode = 1;
    });
}
