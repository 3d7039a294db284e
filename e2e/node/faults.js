'use strict';
// Issue 20 §6, the faults, on the dist/ stack that e2e/node/dist.test.js brought up (MinIO, MLflow,
// trained models) on the real node. register() declares the tests inside that file's describe(),
// after the walkthrough's own tests and before the node stops:
//   - the MinIO pod is deleted: it comes back Ready with its data, and a logged model still
//     downloads through MLflow's artifact proxy, byte for byte;
//   - a model pod is deleted, then every pod of the predictor: predictions through the Service
//     resume; a bounded probe loop (5 requests a second, at most 60 s) from a client pod counts the
//     failed requests and the seconds from the delete to the first good prediction;
//   - containerd, then the kubelet, are restarted (by their recorded PIDs, Node.restart()): the
//     pods come back Ready and predictions work;
//   - the model's container with a memory limit below its working set is OOMKilled.
// Then the KServe scenario of e2e/node/kserve.js, whose install begins in the background during
// the set-up here (it needs the CPU the SeldonDeployments hold, so it runs last).
// Every loop is bounded in count and time, and every request goes to a pod or Service of the node.
// The set-up re-applies the iris SeldonDeployment (the walkthrough's collision test deletes it):
// where the SeldonDeployment is already Ready it costs nothing.
const { it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const http = require('http');
const kserve = require('./kserve');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The host's uptime in seconds: the same clock as /proc/uptime inside the node's pods.
const uptime = () => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

async function until(what, fn, timeoutMs, everyMs = 1000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

// The probe: `count` predictions through the Service, one every 0.2 s (5 a second at most), from
// a client pod; each line is the pod's /proc/uptime and ok|fail. A prediction is good when the
// executor answers 200 with the expected class in it. busybox's `wget -T` crashes here: `timeout`
// bounds each request instead.
const PROBE = [
  'n=0',
  'while [ "$n" -lt "$3" ]; do',
  '  read up rest </proc/uptime',
  '  out=$(timeout 2 wget -q -O - --header "Content-Type: application/json" --post-data="$2" "$1" 2>/dev/null)',
  '  case "$out" in *"$4"*) echo "$up ok" ;; *) echo "$up fail" ;; esac',
  '  n=$((n + 1))',
  '  sleep 0.2',
  'done',
].join('\n');

// A pod's containers' memory (cgroup v1, as the kubelet reads it): rss and the working set
// (usage minus inactive file pages), in bytes, of the container named `name`.
function containerMemory(node, pod, name) {
  const status = pod.status.containerStatuses.find((c) => c.name === name);
  const id = status.containerID.replace(/^containerd:\/\//, '');
  const task = node.ctr(['-n', 'k8s.io', 'tasks', 'ls']).split('\n').find((l) => l.startsWith(id));
  assert.ok(task, `no task for ${pod.metadata.name}/${name}`);
  const pid = task.split(/\s+/)[1];
  const cg = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:memory:/.test(l)).split(':')[2];
  const dir = `/sys/fs/cgroup/memory${cg}`;
  const stat = Object.fromEntries(fs.readFileSync(`${dir}/memory.stat`, 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
  const usage = Number(fs.readFileSync(`${dir}/memory.usage_in_bytes`, 'utf8'));
  return { rss: stat.total_rss, workingSet: usage - stat.total_inactive_file };
}

const mib = (b) => `${(b / 1048576).toFixed(0)} MiB`;

// Probe results [{ at, ok }] as figures: requests, failed, the seconds from t0 to the first good
// prediction after the first failure (to the first good one when none failed), and whether the
// last one was good.
function summarize(results, t0) {
  const failed = results.filter((x) => !x.ok);
  const after = failed.length ? results.filter((x) => x.ok && x.at > failed[0].at) : results.filter((x) => x.ok);
  return {
    requests: results.length,
    failed: failed.length,
    firstGood: after.length ? after[0].at - t0 : null,
    recovered: results.length > 0 && results[results.length - 1].ok,
  };
}

// The same probe from the node itself, for the faults during which `kubectl exec` cannot work
// (the kubelet stopped): one prediction every 0.2 s to the Service's ClusterIP, which kube-proxy
// translates to a pod of the node (an untranslated Service address is rejected by the node's
// OUTPUT rule, so nothing leaves the machine), until `stop()` resolves true or `maxSeconds`.
async function hostProbe(ip, port, urlPath, body, expect, stop, maxSeconds) {
  const results = [];
  const t0 = uptime();
  const once = () => new Promise((resolve) => {
    const req = http.request({ host: ip, port, path: urlPath, method: 'POST', timeout: 2000,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve(res.statusCode === 200 && data.includes(expect)));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end(body);
  });
  for (let i = 0; i < maxSeconds * 5 && uptime() - t0 < maxSeconds; i++) {
    const at = uptime();
    results.push({ at, ok: await once() });
    if (await stop()) break;
    await sleep(Math.max(0, 200 - (uptime() - at) * 1000));
  }
  return results;
}

function register({ node, ns, dist, clientPod, afterFaults }) {
  const sdeps = dist.seldonDeployments();
  const sdep = sdeps.find((d) => d.metadata.name === 'iris') || sdeps[0];
  const predictor = sdep.spec.predictors[0];
  const model = predictor.componentSpecs[0].spec.containers[0];
  const deploy = `${sdep.metadata.name}-${predictor.name}-0-${model.name}`;
  const url = `http://${sdep.metadata.name}-${predictor.name}.${ns}.svc.cluster.local:8000/api/v1.0/predictions`;
  const body = JSON.stringify({ data: { names: ['Sepal.Length', 'Sepal.Width', 'Petal.Length', 'Petal.Width'], ndarray: [[5.1, 3.5, 1.4, 0.2]] } });
  const expect = 'setosa';
  const storeDeploy = dist.artifactStore();
  const storeSelector = Object.entries(storeDeploy.spec.template.metadata.labels).map(([k, v]) => `${k}=${v}`).join(',');
  const trainer = dist.byComponent('Job', 'training').find((j) => j.spec.template.spec.containers[0].env.some((e) => e.name === 'MLFLOW_REGISTERED_MODEL_NAME' && e.value === sdep.metadata.name));
  const trainerEnv = Object.fromEntries(trainer.spec.template.spec.containers[0].env.filter((e) => 'value' in e).map((e) => [e.name, e.value]));
  const figures = {};
  let kserveInstall = null;

  const exec = (pod, args, timeoutMs = 30000) => node.kubectl(['-n', ns, 'exec', pod, '--', ...args], { timeoutMs });
  const predictorPods = async () => (await node.getJson(['-n', ns, 'pods', '-l', `seldon-deployment-id=${sdep.metadata.name}`])).items
    .filter((p) => p.metadata.name.startsWith(`${deploy}-`));
  const readyPods = (pods) => pods.filter((p) => !p.metadata.deletionTimestamp && p.status.phase === 'Running'
    && (p.status.containerStatuses || []).every((c) => c.ready));

  // `count` probe requests; resolves with [{ at, ok }] (at: uptime seconds in the pod).
  async function probe(count) {
    const r = await exec('fault-probe', ['sh', '-c', PROBE, 'probe', url, body, String(count), expect], 30000 + count * 2500);
    assert.equal(r.code, 0, `the probe loop failed: ${r.stderr}`);
    return r.stdout.trim().split('\n').filter(Boolean).map((l) => { const [at, res] = l.split(' '); return { at: Number(at), ok: res === 'ok' }; });
  }

  // Probes in chunks of 5 s from the fault at `t0` (host uptime) until a whole chunk is good
  // (predictions resumed, or never stopped), or 60 s: at most 300 requests. Resolves with the
  // failed count and the seconds from t0 to the first good prediction after the first failure (or
  // to the first good one when none failed).
  async function probeThrough(t0) {
    const results = [];
    while (uptime() - t0 < 60) {
      const chunk = await probe(25);
      results.push(...chunk);
      if (chunk.every((x) => x.ok)) break;
    }
    return summarize(results, t0);
  }

  // Through MLflow's artifact proxy, from a pod MLflow's NetworkPolicy admits: the champion's
  // files and the sha256 of its model.rds.
  async function championArtifact() {
    const api = `${trainerEnv.MLFLOW_TRACKING_URI}/api/2.0`;
    const get = async (u) => {
      const r = await exec('fault-trainer', ['timeout', '10', 'wget', '-q', '-O', '-', u]);
      assert.equal(r.code, 0, `${u}: ${r.stderr}`);
      return r.stdout;
    };
    const name = trainerEnv.MLFLOW_REGISTERED_MODEL_NAME;
    const mv = JSON.parse(await get(`${api}/mlflow/registered-models/alias?name=${name}&alias=${trainerEnv.MLFLOW_MODEL_ALIAS}`)).model_version;
    const uri = JSON.parse(await get(`${api}/mlflow/model-versions/get-download-uri?name=${name}&version=${mv.version}`)).artifact_uri;
    assert.match(uri, /^mlflow-artifacts:/, `the champion's files are not behind the artifact proxy: ${uri}`);
    const dir = uri.replace(/^mlflow-artifacts:(\/\/[^/]*)?\/*/, '');
    const files = (JSON.parse(await get(`${api}/mlflow-artifacts/artifacts?path=${encodeURIComponent(dir)}`)).files || []).map((f) => f.path).sort();
    const r = await exec('fault-trainer', ['sh', '-c', 'timeout 10 wget -q -O - "$1" | sha256sum', 'sh', `${api}/mlflow-artifacts/artifacts/${dir}/model.rds`]);
    assert.equal(r.code, 0, r.stderr);
    return { version: mv.version, uri, files, sha256: r.stdout.split(' ')[0] };
  }

  it('faults, set up: the iris SeldonDeployment serves again, a probe pod and an MLflow client pod', async (t) => {
    // KServe's install (e2e/node/kserve.js) begins now, in the background: its CRDs keep the API
    // server busy for tens of seconds, while this waits for R pods. Its failure is the KServe
    // scenario's, reported there.
    kserveInstall = kserve.beginInstall(node);
    kserveInstall.catch(() => {});
    // What the walkthrough left: its own collision SeldonDeployment goes, dist/'s iris comes back.
    await node.kubectl(['-n', ns, 'delete', 'sdep', 'seed-collide', '--ignore-not-found', '--wait=true', '--timeout=60s'], { timeoutMs: 90000 });
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      sdep,
      // Labelled as the model's client: under the namespace's default deny only those reach 8000.
      clientPod('fault-probe', ns, { app: 'fault-probe', [`client.rmlops.io/${sdep.metadata.name}`]: 'true' }),
      clientPod('fault-trainer', ns, trainer.spec.template.metadata.labels),
    ] }) });
    const t1 = Date.now();
    await until(`deployment ${deploy}`, async () => (await node.kubectl(['-n', ns, 'get', 'deploy', deploy])).code === 0, 120000);
    await node.kubectlOk(['-n', ns, 'rollout', 'status', `deploy/${deploy}`, '--timeout=180s'], { timeoutMs: 200000 });
    await node.kubectlOk(['-n', ns, 'wait', '--for=condition=Ready', 'pod/fault-probe', 'pod/fault-trainer', '--timeout=60s'], { timeoutMs: 90000 });
    t.diagnostic(`${deploy} Ready ${((Date.now() - t1) / 1000).toFixed(1)} s after its apply`);
    const warm = await probe(5);
    assert.deepEqual(warm.map((x) => x.ok), [true, true, true, true, true], 'predictions fail before any fault');
  });

  it('fault: the MinIO pod is deleted; it comes back Ready with its data, and the logged model still downloads', async (t) => {
    const before = await championArtifact();
    assert.ok(before.files.some((f) => f.endsWith('model.rds')), `no model.rds in ${before.files}`);
    const old = (await node.getJson(['-n', ns, 'pods', '-l', storeSelector])).items.map((p) => p.metadata.name);
    assert.equal(old.length, 1, `MinIO pods: ${old}`);
    const t0 = Date.now();
    await node.kubectlOk(['-n', ns, 'delete', 'pod', old[0], '--wait=false']);
    const back = await until('a new MinIO pod Ready', async () => readyPods((await node.getJson(['-n', ns, 'pods', '-l', storeSelector])).items)
      .find((p) => p.metadata.name !== old[0]), 120000, 500);
    figures.minio = (Date.now() - t0) / 1000;
    t.diagnostic(`MinIO pod deleted to a new one (${back.metadata.name}) Ready: ${figures.minio.toFixed(1)} s`);
    // The same files, the same bytes, through MLflow and the new MinIO pod. MLflow may answer
    // 5xx while MinIO restarts: bounded retries.
    let after;
    await until('the champion downloads again', async () => {
      try {
        after = await championArtifact();
        return true;
      } catch {
        return false;
      }
    }, 60000, 1000);
    t.diagnostic(`champion v${after.version} (${after.uri}): ${after.files.join(', ')}; model.rds sha256 ${after.sha256.slice(0, 16)}…`);
    assert.deepEqual(after, before);
    assert.match(after.sha256, /^[0-9a-f]{64}$/);
  });

  it('fault: a model pod is deleted, then every pod of the predictor; predictions through the Service resume', async (t) => {
    // One pod of the predictor's replicas: the other keeps answering through the Service.
    const pods = readyPods(await predictorPods());
    assert.equal(pods.length, predictor.replicas || 1);
    const replicas = pods.length;
    const freshReady = (gone) => async () => {
      const now = readyPods(await predictorPods());
      return now.length === replicas && now.every((p) => !gone.includes(p.metadata.name));
    };
    let t0 = uptime();
    await node.kubectlOk(['-n', ns, 'delete', 'pod', pods[0].metadata.name, '--wait=false']);
    const one = await probeThrough(t0);
    t.diagnostic(`one of ${replicas} model pods deleted: ${one.failed} of ${one.requests} requests failed; first good prediction ${one.firstGood === null ? 'none' : `${one.firstGood.toFixed(1)} s`} after the delete`);
    assert.ok(one.recovered, 'predictions did not resume within 60 s');

    // Every pod at once (the replacement just made included): the Service has no ready endpoint
    // until a new pod is Ready, so this is how long a predictor with one replica is down.
    const all = (await predictorPods()).filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name);
    t0 = uptime();
    await node.kubectlOk(['-n', ns, 'delete', 'pod', ...all, '--wait=false']);
    const every = await probeThrough(t0);
    figures.modelPod = { one, every };
    t.diagnostic(`all ${all.length} model pods deleted: ${every.failed} of ${every.requests} requests failed; first good prediction ${every.firstGood === null ? 'none' : `${every.firstGood.toFixed(1)} s`} after the delete`);
    assert.ok(every.failed > 0, 'no request failed while no pod of the predictor existed: the probe does not reach the Service');
    assert.ok(every.firstGood !== null && every.recovered, 'predictions did not resume within 60 s');
  });

  it('fault: containerd, then the kubelet, are restarted; the pods come back Ready and predictions work', async (t) => {
    const key = (p) => `${p.metadata.namespace}/${p.metadata.name}`;
    const restarts = (p) => (p.status.containerStatuses || []).reduce((s, c) => s + c.restartCount, 0);
    // Each pod Ready as the kubelet itself reports it (its /pods, through the API server): the
    // API's copy of a pod's status is stale while the kubelet is down.
    const kubeletReady = async () => {
      // Right after its restart the kubelet lists no pod as `"items": null`.
      const r = await node.kubectl(['get', '--raw', `/api/v1/nodes/${node.net.nodeName}/proxy/pods`], { timeoutMs: 10000 });
      // Right after its restart the kubelet lists no pod at all as `"items": null`.
      return r.code === 0 ? readyPods(JSON.parse(r.stdout).items || []) : [];
    };
    await until('the predictor Ready before the restarts', async () => readyPods(await predictorPods()).length === (predictor.replicas || 1), 90000);
    const before = readyPods((await node.getJson(['pods', '-A'])).items);
    assert.ok(before.length >= 4, `ready pods: ${before.map(key)}`);
    const svc = (await node.getJson(['-n', ns, 'service', `${sdep.metadata.name}-${predictor.name}`])).spec.clusterIP;
    for (const component of ['containerd', 'kubelet']) {
      let ready = null;
      let readyAt = null;
      let restarted = null;
      const tStart = uptime();
      // Predictions from the node through the Service while the component is down and after,
      // until the kubelet reports every pod Ready again (at most 120 s).
      const probing = hostProbe(svc, 8000, '/api/v1.0/predictions', body, expect, async () => {
        if (!restarted) return false;
        const now = await kubeletReady();
        if (!ready && before.every((b) => now.some((x) => key(x) === key(b)))) {
          ready = now;
          readyAt = uptime();
        }
        return ready !== null;
      }, 120);
      restarted = await node.restart(component);
      const results = await probing;
      assert.ok(ready, `not every pod is Ready again (as the kubelet reports) within 120 s of restarting ${component}`);
      const podsReady = readyAt - tStart;
      const again = ready.filter((p) => restarts(p) > restarts(before.find((b) => key(b) === key(p)))).map(key);
      const during = summarize(results, results[0].at);
      figures[component] = { stopped: restarted.stopped, nodeReady: restarted.ready, podsReady, restarted: again, probe: during };
      t.diagnostic(`${component}: stopped in ${restarted.stopped.toFixed(1)} s; node Ready after ${restarted.ready.toFixed(1)} s and every pod Ready (kubelet's view) after about ${podsReady.toFixed(1)} s; containers restarted: ${again.join(', ') || 'none'}; predictions from the node meanwhile: ${during.failed} of ${during.requests} failed`);
      assert.ok(during.recovered, `predictions from the node fail after restarting ${component}`);
      // And from a client pod, through exec (the kubelet's streaming) and the Service's DNS name.
      // The kubelet reports the pods Ready from its own state before containerd's socket is back
      // (seen on the node: "dial unix .../containerd.sock: no such file"), and exec needs that
      // socket: the exec is retried, at most 30 times a second apart, on that error only.
      for (let i = 0; i < 30; i++) {
        const r = await exec('fault-probe', ['true'], 10000);
        if (r.code === 0 || !/unable to upgrade connection|containerd\.sock/.test(r.stderr)) break;
        await new Promise((res) => setTimeout(res, 1000));
      }
      const ok = await probe(5);
      assert.ok(ok.every((x) => x.ok), `predictions from a client pod fail after restarting ${component}`);
    }
    // The API's view lags the kubelet's after its restart, and Services route by the API's:
    // the next tests (and any client through a Service) need every pod Ready there too.
    await until('every pod Ready again in the API (Service endpoints)', async () => {
      const now = readyPods((await node.getJson(['pods', '-A'])).items);
      return before.every((b) => now.some((x) => key(x) === key(b)));
    }, 120000);
    assert.deepEqual(node.running().sort(), ['containerd', 'kine', 'kube-apiserver', 'kube-controller-manager', 'kube-proxy', 'kube-router', 'kube-scheduler', 'kubelet']);
  });

  it('fault: the model\'s container with a memory limit below its working set is OOMKilled', async (t) => {
    // Its working set, serving, from a running predictor pod's cgroup.
    const running = readyPods(await predictorPods())[0];
    const mem = containerMemory(node, running, model.name);
    // A third of what it holds: R alone needs more than that to start and load the model.
    const limit = Math.max(16, Math.floor(mem.rss / 1048576 / 3));
    t.diagnostic(`${model.name} serving: rss ${mib(mem.rss)}, working set ${mib(mem.workingSet)}; the copy's limit: ${limit} MiB`);
    const labels = { ...predictor.componentSpecs[0].metadata.labels, 'rmlops-cdk8s/predictor': 'oom' };
    const spec = JSON.parse(JSON.stringify(predictor.componentSpecs[0].spec));
    spec.containers[0].resources = { requests: { cpu: '50m', memory: `${limit}Mi` }, limits: { memory: `${limit}Mi` } };
    delete spec.containers[0].livenessProbe;
    spec.terminationGracePeriodSeconds = 1;
    await node.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'oom-model', namespace: ns, labels }, spec }) });
    const pod = await until('oom-model OOMKilled and restarted', async () => {
      const p = await node.getJson(['-n', ns, 'pod', 'oom-model']);
      const cs = (p.status.containerStatuses || [])[0];
      const last = cs && cs.lastState && cs.lastState.terminated;
      return last && cs.restartCount > 0 ? p : null;
    }, 120000, 1000);
    const cs = pod.status.containerStatuses[0];
    const events = (await node.kubectl(['-n', ns, 'get', 'events', '--field-selector', 'involvedObject.name=oom-model', '-o', 'custom-columns=REASON:.reason,MESSAGE:.message', '--no-headers'])).stdout.trim();
    t.diagnostic(`lastState.terminated: ${JSON.stringify(cs.lastState.terminated)}; restarts ${cs.restartCount}; state ${JSON.stringify(cs.state)}`);
    t.diagnostic(`events: ${events.split('\n').slice(-6).join(' | ')}`);
    figures.oom = { limit, rss: mem.rss, workingSet: mem.workingSet, exitCode: cs.lastState.terminated.exitCode };
    assert.equal(cs.lastState.terminated.reason, 'OOMKilled');
    assert.equal(cs.lastState.terminated.exitCode, 137);
    assert.ok(cs.restartCount > 0);
    await node.kubectl(['-n', ns, 'delete', 'pod', 'oom-model', 'fault-probe', 'fault-trainer', '--wait=false']);
  });

  it('faults: the figures', (t) => {
    t.diagnostic(`fault figures: ${JSON.stringify(figures)}`);
    assert.ok(figures.modelPod, 'the model pod fault did not run');
  });

  if (afterFaults) afterFaults();
  kserve.register({ node, clientPod, installing: () => kserveInstall });
}

module.exports = { register, PROBE };
