'use strict';
// Payload logging on loopback, every part real: the iris model served by the R server, Seldon's
// executor with the graph logger that `payloadLogging` writes, the payload sink (sink/) it posts
// to, and MinIO it uploads to. The SeldonDeployment is synthesized here by the construct itself
// (SeldonRModel + PayloadLogging.toBucket) in dist/'s namespace, so its Service names and Secret
// references are dist/'s: the sink writes with the least-privilege user the provisioning Job made.
//   (a) N predictions under load -> N request/response pairs (and a feedback) in S3;
//   (b) MinIO stopped for 60 s under load, then the sink SIGKILLed once and restarted on its
//       spool -> 0 missing; duplicates counted and reported.
// Figures (no assertion on time): the latency the logger adds to the executor, the sink's CPU
// and memory. Lines starting "payload logging:" are copied into the CI summary.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { BIN, executor, isExecutable } = require('./lib/env');
const { Stack, contract, waitFor, request, sleep } = require('./lib/stack');
const { freePort } = require('./lib/net');
const ck = require('./lib/checks');
const { summarize } = require('../bench/lib/stats');

require('../scripts/register');
const { Chart, App, Testing } = require('cdk8s');
const { MinioStore, MlflowServer, PayloadLogging, SeldonRModel } = require('../lib/index.ts');
const { NAMESPACE } = require('../main.ts');

const N = Number(process.env.RMLOPS_PAYLOAD_N || 1000);
// (b): the outage and the bounded load around it.
const OUTAGE_MS = 60000;
const OUTAGE_RPS = 20;
const OUTAGE_LOAD_MS = OUTAGE_MS - 5000;
const NAME = 'iris-logged';
const PREFIX = 'payloads';
const SINK = path.join(BIN, 'payload-sink');

const missing = [];
if (!executor().path) missing.push(`Seldon's executor (${executor().reason})`);
if (!isExecutable(SINK)) missing.push(`the payload sink (${SINK}: run \`npm run real:install\`, which runs scripts/real/install-sink.sh)`);
const skip = missing.length ? `not built: ${missing.join('; ')}` : false;

// The SeldonDeployment as the construct writes it, in dist/'s namespace and with dist/'s store names.
function loggedDeployment() {
  const chart = new Chart(new App(), 'iris', { namespace: NAMESPACE });
  const minio = new MinioStore(chart, 'minio', { bucket: 'mlflow-artifacts', storageSize: '10Gi' });
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
  new SeldonRModel(chart, NAME, { model: 'models:/iris@champion', tracking: mlflow, payloadLogging: PayloadLogging.toBucket(minio, { prefix: PREFIX }) });
  return Testing.synth(chart).find((o) => o.kind === 'SeldonDeployment' && o.metadata.name === NAME);
}

// One prediction through the executor with our own puid (the executor keeps a Seldon-Puid it is given).
function predict(agent, port, body, puid) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: contract.paths.predictions, agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'seldon-puid': puid },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    });
    req.setTimeout(30000, () => req.destroy(new Error('no answer in 30 s')));
    req.on('error', (err) => resolve({ status: 0, error: err.message }));
    req.end(body);
  });
}

// `count` predictions on `connections` keep-alive connections, at most `rps` a second in all
// (0: as fast as they come), stopping at `untilMs` whatever the count. Returns the puids answered 200.
async function drive(port, body, { count, connections = 4, rps = 0, untilMs = 600000 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const ok = [];
  const failed = [];
  const latencies = [];
  const t0 = Date.now();
  let next = 0;
  try {
    await Promise.all(Array.from({ length: connections }, async () => {
      for (;;) {
        const i = next++;
        if (i >= count || Date.now() - t0 > untilMs) return;
        if (rps > 0) {
          const due = t0 + (i * 1000) / rps;
          if (due > Date.now()) await sleep(due - Date.now());
        }
        const puid = crypto.randomUUID();
        const r = await predict(agent, port, body, puid);
        if (r.status === 200) {
          ok.push(puid);
          latencies.push(r.ms);
        } else failed.push(`${r.status} ${r.error || ''}`);
      }
    }));
  } finally {
    agent.destroy();
  }
  return { ok, failed, latencies, seconds: (Date.now() - t0) / 1000 };
}

async function sinkMetrics(sink) {
  const res = await request(sink.metricsPort, 'GET', contract.payloadSink.metricsPath, { timeoutMs: 3000 });
  const out = {};
  for (const line of res.body.split('\n')) {
    const m = /^(rmlops_sink_[a-z_]+)(\{type="([a-z]+)"\})? (\d+)$/.exec(line);
    if (m) out[m[3] ? `${m[1]}.${m[3]}` : m[1]] = Number(m[4]);
  }
  return out;
}

const spooledOf = (m) => ['request', 'response', 'feedback', 'other'].reduce((s, t) => s + (m[`rmlops_sink_events_spooled_total.${t}`] || 0), 0);

// CPU seconds and peak RSS of a process, from /proc.
function procUsage(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status) || [])[1] || 0);
  return { cpuSeconds: ticks / 100, rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
}

// Every record under the prefix: { key, records } per object, read with mc as MinIO's root user.
function readLog(stack) {
  const ls = stack.mc(['ls', '--recursive', '--json', `e2e/mlflow-artifacts/${PREFIX}/`]);
  assert.equal(ls.code, 0, ls.out);
  const keys = ls.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((o) => o.type === 'file').map((o) => `${PREFIX}/${o.key}`);
  return keys.map((key) => {
    const cat = stack.mc(['cat', `e2e/mlflow-artifacts/${key}`]);
    assert.equal(cat.code, 0, cat.out);
    return { key, records: cat.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
  });
}

// For the puids given: how many have no request or no response record, and how many records are
// there more than once (by CloudEvent id, which the executor makes unique per event).
function account(objects, puids) {
  const byPuid = new Map();
  const ids = new Map();
  for (const o of objects) {
    for (const r of o.records) {
      ids.set(r.id, (ids.get(r.id) || 0) + 1);
      if (!byPuid.has(r.puid)) byPuid.set(r.puid, []);
      byPuid.get(r.puid).push(r);
    }
  }
  let missingRequests = 0;
  let missingResponses = 0;
  for (const p of puids) {
    const rs = byPuid.get(p) || [];
    if (!rs.some((r) => r.reqType === contract.payloadSink.eventTypes.request)) missingRequests++;
    if (!rs.some((r) => r.reqType === contract.payloadSink.eventTypes.response)) missingResponses++;
  }
  const duplicates = [...ids.values()].reduce((s, n) => s + n - 1, 0);
  return { missingRequests, missingResponses, duplicates, records: [...ids.values()].reduce((s, n) => s + n, 0), byPuid };
}

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

describe('payload logging: executor -> payload sink -> MinIO', { skip }, () => {
  let stack;
  let sdep;
  let sink;
  let ex;
  let body;
  let before1;
  let resultA;

  before(async () => {
    stack = await new Stack({ name: 'e2e-payload', echo: !!process.env.RMLOPS_E2E_ECHO }).init();
    await stack.startArtifactStore();
    const [p] = await stack.provision();
    assert.equal(p.code, 0, p.output);
    await stack.startTracking();
    sdep = loggedDeployment();
    const job = stack.trainingJobs().find((j) => {
      const t = stack.trainingTarget(j);
      return t.model === 'iris' && t.alias === 'champion';
    });
    const tr = await stack.train(job);
    assert.equal(tr.code, 0, tr.output.slice(-3000));
    await stack.startModel(sdep);
    const version = await ck.aliasVersion(stack, 'iris', 'champion');
    const mv = (await ck.api(stack, 'GET', 'model-versions/get', { query: { name: 'iris', version } })).model_version;
    const runInfo = (await ck.api(stack, 'GET', 'runs/get', { query: { run_id: mv.run_id } })).run.info;
    const { bucket, key } = ck.s3Location(stack, `${runInfo.artifact_uri}/model`);
    body = JSON.stringify(ck.exampleRequest(stack, bucket, key));
    // Backoff capped at 5 s instead of the default 30 s, so recovery after the outage is quick.
    sink = await stack.startPayloadSink(sdep, { env: { SINK_RETRY_MAX_MS: '5000' } });
    ex = await stack.startExecutor(sdep);
  });

  after(async () => {
    if (stack) await stack.down();
  });

  it(`(a) ${N} predictions under load give ${N} request/response pairs in S3, and feedback joins by puid`, async () => {
    before1 = procUsage(sink.proc.pid);
    const load = await drive(ex.port, body, { count: N, connections: 4 });
    assert.deepEqual(load.failed, [], 'every prediction is answered 200');
    assert.equal(load.ok.length, N);
    // Feedback for the first prediction, naming its puid as the executor expects it.
    const fb = await request(ex.port, 'POST', contract.paths.feedback, {
      body: { request: JSON.parse(body), response: {}, reward: 1 }, headers: { 'seldon-puid': load.ok[0] }, timeoutMs: 10000,
    });
    assert.equal(fb.status, 200, fb.body);
    await waitFor('every event spooled and uploaded', async () => {
      const m = await sinkMetrics(sink);
      return spooledOf(m) >= 2 * N + 1 && m.rmlops_sink_spool_segments === 0 && m.rmlops_sink_events_uploaded_total >= 2 * N + 1 && m;
    }, { timeoutMs: 90000, intervalMs: 500, proc: sink.proc });
    const after1 = procUsage(sink.proc.pid);
    const objects = readLog(stack);
    const acc = account(objects, load.ok);
    resultA = { load, acc, cpu: after1.cpuSeconds - before1.cpuSeconds, hwm: after1.hwmMiB, objects: objects.length };
    console.log(`payload logging: (a) ${N} predictions (${fmt(load.ok.length / load.seconds, 0)}/s, 4 connections) -> ${acc.records} records in ${objects.length} objects; missing ${acc.missingRequests} requests, ${acc.missingResponses} responses; duplicates ${acc.duplicates}`);
    assert.equal(acc.missingRequests, 0);
    assert.equal(acc.missingResponses, 0);
    assert.equal(acc.duplicates, 0);
    // The records: the request as sent, the response with the model's output, linked by puid.
    const rs = acc.byPuid.get(load.ok[0]);
    const req = rs.find((r) => r.reqType === contract.payloadSink.eventTypes.request);
    const res = rs.find((r) => r.reqType === contract.payloadSink.eventTypes.response);
    const feedback = rs.find((r) => r.reqType === contract.payloadSink.eventTypes.feedback);
    assert.deepEqual(req.payload, JSON.parse(body));
    assert.ok(res.payload && res.payload.data, JSON.stringify(res));
    assert.ok(feedback, `no feedback record for puid ${load.ok[0]}: ${JSON.stringify(rs)}`);
    assert.equal(feedback.payload.reward, 1);
    for (const r of [req, res]) {
      assert.deepEqual({ ns: r.namespace, isvc: r.inferenceService, endpoint: r.endpoint, component: r.component },
        { ns: NAMESPACE, isvc: NAME, endpoint: 'default', component: 'model' });
      assert.notEqual(req.id, res.id);
    }
    // The key layout of the contract: <prefix>/<namespace>/<deployment>/<predictor>/<YYYY-MM-DD>/<segment>.jsonl
    for (const o of objects) assert.match(o.key, new RegExp(`^${PREFIX}/${NAMESPACE}/${NAME}/default/\\d{4}-\\d{2}-\\d{2}/\\d{20}-[^/]+-\\d{6}\\.jsonl$`));
  });

  it('figures: the latency the logger adds to the executor, the sink\'s CPU and memory', async () => {
    // The same model behind a second executor whose graph has no logger: interleaved halves, one
    // keep-alive connection each, as bench/real.js measures the executor hop.
    const plain = JSON.parse(JSON.stringify(sdep));
    delete plain.spec.predictors[0].graph.logger;
    const ex2 = await stack.startExecutor(plain, { ports: { http: await freePort(), grpc: await freePort() } });
    const n = 300;
    const withLog = [];
    const without = [];
    for (let i = 0; i < 2; i++) {
      withLog.push(...(await drive(ex.port, body, { count: n / 2, connections: 1 })).latencies);
      without.push(...(await drive(ex2.port, body, { count: n / 2, connections: 1 })).latencies);
    }
    const w = summarize(withLog);
    const wo = summarize(without);
    console.log(`payload logging: executor with logger p50 ${fmt(w.p50)} ms p99 ${fmt(w.p99)} ms; without p50 ${fmt(wo.p50)} ms p99 ${fmt(wo.p99)} ms; the logger adds ${fmt(w.p50 - wo.p50)} ms at p50 and ${fmt(w.p99 - wo.p99)} ms at p99 (${n} single-row predictions each, interleaved)`);
    const events = 2 * N + 1;
    console.log(`payload logging: sink CPU ${fmt(resultA.cpu * 1000, 0)} ms for ${events} events (${fmt((resultA.cpu * 1e6) / events, 0)} µs/event, spool fsync and upload included); peak RSS ${fmt(resultA.hwm, 1)} MiB`);
    await ex2.proc.stop();
    assert.equal(withLog.length, n);
    assert.equal(without.length, n);
  });

  it('(b) MinIO stopped for 60 s under load, then the sink SIGKILLed once: 0 missing after recovery, duplicates counted', async () => {
    // From an empty spool, so that what the sink uploads from here on is this test's.
    const m0 = await waitFor('the spool empty before the outage', async () => {
      const m = await sinkMetrics(sink);
      return m.rmlops_sink_spool_bytes === 0 && m;
    }, { timeoutMs: 60000, intervalMs: 250, proc: sink.proc });
    const spooled0 = spooledOf(m0);
    // The load runs through most of the outage; the kill comes after it (every event the executor
    // sent is acknowledged by then: a sink that is down while the executor sends loses what it
    // sends, which is the executor's side of the guarantee) and while MinIO is still down, so the
    // killed sink certainly leaves a backlog in its spool.
    const loading = drive(ex.port, body, { count: Math.ceil((OUTAGE_LOAD_MS / 1000) * OUTAGE_RPS), connections: 2, rps: OUTAGE_RPS, untilMs: OUTAGE_LOAD_MS + 30000 });
    await sleep(5000);
    await stack.stopArtifactStore();
    const down = Date.now();
    const load = await loading;
    assert.deepEqual(load.failed, [], 'predictions do not depend on the log store');
    const mKill = await waitFor('the executor\'s events spooled', async () => {
      const m = await sinkMetrics(sink);
      return spooledOf(m) - spooled0 >= 2 * load.ok.length && m;
    }, { timeoutMs: 60000, intervalMs: 250, proc: sink.proc });
    assert.ok(mKill.rmlops_sink_upload_retries_total > m0.rmlops_sink_upload_retries_total, 'uploads failed and were retried while MinIO was down');
    assert.ok(mKill.rmlops_sink_spool_bytes > 0, 'the sink holds a backlog when it is killed');
    const pid = sink.proc.pid;
    process.kill(pid, 'SIGKILL');
    await sink.proc.exited;
    await stack.restartPayloadSink(sink);
    await sleep(Math.max(0, down + OUTAGE_MS - Date.now()));
    const mRestarted = await sinkMetrics(sink);
    await stack.startArtifactStore();
    const outageS = (Date.now() - down) / 1000;
    const mUp = await waitFor('the spool drained after the restart', async () => {
      const m = await sinkMetrics(sink);
      return m.rmlops_sink_spool_segments === 0 && m.rmlops_sink_spool_bytes === 0 && m;
    }, { timeoutMs: 180000, intervalMs: 500, proc: sink.proc });
    const objects = readLog(stack);
    const acc = account(objects, load.ok);
    console.log(`payload logging: (b) ${load.ok.length} predictions at ${OUTAGE_RPS}/s, MinIO down ${fmt(outageS, 0)} s; the sink SIGKILLed (pid ${pid}) in the outage with ${fmt(mKill.rmlops_sink_spool_bytes / 1024, 0)} KiB spooled and not uploaded (${mKill.rmlops_sink_upload_retries_total - m0.rmlops_sink_upload_retries_total} upload retries before, ${mRestarted.rmlops_sink_upload_retries_total} after its restart on the same spool); after MinIO came back it uploaded ${mUp.rmlops_sink_events_uploaded_total} events: missing ${acc.missingRequests} requests, ${acc.missingResponses} responses; duplicates ${acc.duplicates} of ${acc.records} records`);
    assert.equal(acc.missingRequests, 0);
    assert.equal(acc.missingResponses, 0);
    // Before the outage the first sink uploaded some; the restarted one uploaded the rest.
    const uploaded = mKill.rmlops_sink_events_uploaded_total - m0.rmlops_sink_events_uploaded_total + mUp.rmlops_sink_events_uploaded_total;
    assert.ok(uploaded >= 2 * load.ok.length, `uploaded ${uploaded} events of ${2 * load.ok.length}`);
  });
});
