'use strict';
// What the scenarios read back from the real components: MLflow over its REST API, MinIO over S3
// (with mc, never through MLflow), and the R programs' JSON log lines.
const assert = require('node:assert/strict');
const { contract } = require('./stack');

// The JSON log lines of an R program's output.
function logLines(output) {
  const out = [];
  for (const line of output.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t));
    } catch {
      // Not a log line.
    }
  }
  return out;
}

function finishedLine(output) {
  return logLines(output).find((l) => l.msg === 'training run finished');
}

async function api(stack, method, endpoint, opts) {
  const res = await stack.mlflowApi(method, endpoint, opts);
  assert.equal(res.status, 200, `MLflow ${method} ${endpoint}: HTTP ${res.status} ${JSON.stringify(res.json)}`);
  return res.json;
}

async function aliasVersion(stack, model, alias) {
  const res = await stack.mlflowApi('GET', 'registered-models/alias', { query: { name: model, alias } });
  if (res.status === 404) return undefined;
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return res.json.model_version.version;
}

async function latestVersion(stack, model) {
  const res = await stack.mlflowApi('GET', 'registered-models/get', { query: { name: model } });
  if (res.status === 404) return 0;
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const versions = (res.json.registered_model.latest_versions || []).map((v) => Number(v.version));
  return versions.length ? Math.max(...versions) : 0;
}

// The S3 location MLflow's proxy writes to: `--artifacts-destination s3://<bucket>[/<prefix>]`.
function artifactsDestination(stack) {
  const c = stack.manifests.trackingServer().spec.template.spec.containers[0];
  const args = c.args || [];
  const i = args.indexOf('--artifacts-destination');
  const dest = i >= 0 ? args[i + 1] : (args.find((a) => a.startsWith('--artifacts-destination=')) || '').split('=')[1];
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(dest || '');
  assert.ok(m, `MLflow's args have no --artifacts-destination s3://…: ${args.join(' ')}`);
  return { bucket: m[1], prefix: m[2].replace(/\/$/, '') };
}

// `mlflow-artifacts:/<path>` -> bucket and key prefix in MinIO.
function s3Location(stack, artifactUri) {
  const { bucket, prefix } = artifactsDestination(stack);
  const rel = artifactUri.replace(/^mlflow-artifacts:(\/\/[^/]*)?\/*/, '');
  return { bucket, key: [prefix, rel].filter(Boolean).join('/') };
}

// Object names under a prefix, listed through S3 with mc as MinIO's root user.
function s3List(stack, bucket, key) {
  const r = stack.mc(['ls', '--recursive', '--json', `e2e/${bucket}/${key}/`]);
  assert.equal(r.code, 0, `mc ls ${bucket}/${key}: ${r.out}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((o) => o.type === 'file').map((o) => o.key);
}

// Object name (relative to `key`) -> size and ETag, listed through S3. MinIO's ETag of a
// single-part upload is the MD5 of the bytes.
function s3Objects(stack, bucket, key) {
  const r = stack.mc(['ls', '--recursive', '--json', `e2e/${bucket}/${key}/`]);
  assert.equal(r.code, 0, `mc ls ${bucket}/${key}: ${r.out}`);
  const out = {};
  for (const o of r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l))) {
    if (o.type === 'file') out[o.key] = { size: o.size, md5: String(o.etag).replace(/"/g, '') };
  }
  return out;
}

function s3Cat(stack, bucket, key) {
  const r = stack.mc(['cat', `e2e/${bucket}/${key}`]);
  assert.equal(r.code, 0, `mc cat ${bucket}/${key}: ${r.out}`);
  return r.stdout;
}

// A request body from the bundle's own example row (read from MinIO), so every model gets
// valid input (bundle.json, docs/bundle-format.md).
function exampleRequest(stack, bucket, key) {
  const names = Object.keys(s3Objects(stack, bucket, key));
  assert.ok(names.includes('bundle.json'), `no bundle.json among ${names.join(', ')}`);
  const manifest = JSON.parse(s3Cat(stack, bucket, `${key}/bundle.json`));
  const features = manifest.features.map((f) => f.name);
  const row = features.map((n) => {
    const v = manifest.example[n];
    return Array.isArray(v) ? v[0] : v;
  });
  return { data: { names: features, ndarray: [row] } };
}

// The same rows as an Open Inference Protocol (v2) request: one tensor per feature, typed from
// the example's JSON values.
function v2Request(seldon) {
  const { names, ndarray } = seldon.data;
  const datatype = (v) => (typeof v === 'boolean' ? 'BOOL' : typeof v === 'number' ? 'FP64' : 'BYTES');
  return {
    inputs: names.map((name, i) => ({
      name, shape: [ndarray.length], datatype: datatype(ndarray[0][i]), data: ndarray.map((row) => row[i]),
    })),
  };
}

// The training Job whose registered model and alias a SeldonDeployment serves.
function trainingJobFor(stack, sdep, predictor) {
  const { c } = stack.modelContainer(sdep, predictor);
  const uri = ((c.env || []).find((e) => e.name === contract.env.modelUri) || {}).value || '';
  const m = /^models:\/([^/@]+)@([^/@]+)$/.exec(uri);
  assert.ok(m, `SeldonDeployment ${sdep.metadata.name}: ${contract.env.modelUri}=${uri} is not models:/<name>@<alias>`);
  const job = stack.trainingJobs().find((j) => {
    const t = stack.trainingTarget(j);
    return t.model === m[1] && t.alias === m[2];
  });
  assert.ok(job, `no training Job in dist/ registers ${m[1]} and moves @${m[2]}`);
  return { job, model: m[1], alias: m[2] };
}

// A threshold the metric cannot meet, whichever the direction.
function unreachableThreshold(target) {
  return target.direction === 'lower' ? '-1' : '1e9';
}

// The samples of one metric family in a Prometheus text exposition -> [{ labels, value }].
function promSamples(text, name) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(\\{([^}]*)\\})? (\\S+)$`).exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] || '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

// The sum of a family's samples (0 when it has none).
const promSum = (text, name) => promSamples(text, name).reduce((s, x) => s + x.value, 0);

module.exports = {
  promSamples, promSum,
  logLines, finishedLine, api, aliasVersion, latestVersion, artifactsDestination, s3Location, s3List, s3Objects, s3Cat,
  exampleRequest, trainingJobFor, unreachableThreshold, v2Request,
};
