// Generates what the package needs for KServe's InferenceService, from the KServe v0.20.0 CRD in
// ../shared/crds (never copied into the repository itself):
//   imports/serving.kserve.io.ts                   cdk8s bindings of a REDUCED schema (below)
//   imports/inferenceservice-v1beta1.validate.js   the FULL v1beta1 schema, made strict and
//                                                  compiled by ajv into standalone code
// A plain `cdk8s import` of the CRD writes 5.3 MB of TypeScript (every predictor framework, the
// explainer, the transformer, the whole PodSpec three times over), which would dominate
// `npm test`'s type-check and synth's transpile. The bindings keep only the predictor fields a
// custom R container needs (KEEP); synth-time validation still runs against the full schema, so a
// field the reduction dropped can never slip through unchecked, and test/kserve-bindings.test.ts
// proves every field KServeRModel emits is in the reduced schema.
// `--check` regenerates in memory and exits 1 when the committed files differ.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { strict, shareRepeats } = require('./gen-crd-schema');

const ROOT = path.join(__dirname, '..');
const CRD = path.join(ROOT, '..', 'shared', 'crds', 'serving.kserve.io_inferenceservices.yaml');
const BINDINGS_FILE = path.join(ROOT, 'imports', 'serving.kserve.io.ts');
const VALIDATOR_FILE = path.join(ROOT, 'imports', 'inferenceservice-v1beta1.validate.js');

/**
 * The part of the schema the bindings describe: `true` keeps a subtree whole, an object keeps the
 * listed properties (recursively; `items` for arrays). Everything KServeRModel writes is here,
 * including the pod settings every construct takes (PodSettings: service account, scheduling,
 * priority, envFrom, image pull secrets).
 */
const CONTAINER = {
  name: true, image: true, imagePullPolicy: true, command: true, args: true, workingDir: true, env: true, envFrom: true, ports: true,
  resources: true, readinessProbe: true, livenessProbe: true, startupProbe: true, securityContext: true, volumeMounts: true,
};
const KEEP = {
  apiVersion: true,
  kind: true,
  metadata: true,
  spec: {
    predictor: {
      annotations: true, labels: true,
      minReplicas: true, maxReplicas: true, scaleMetric: true, scaleMetricType: true, scaleTarget: true,
      canaryTrafficPercent: true, containerConcurrency: true, timeout: true,
      serviceAccountName: true, automountServiceAccountToken: true, securityContext: true, terminationGracePeriodSeconds: true,
      nodeSelector: true, tolerations: true, affinity: true, priorityClassName: true, imagePullSecrets: true,
      containers: { items: CONTAINER },
      volumes: { items: { name: true, emptyDir: true, persistentVolumeClaim: true, configMap: true, secret: true } },
    },
  },
};

/** The schema cut down to `keep`; `at` names the path in errors (a KEEP entry the CRD lacks is a bug). */
function reduce(node, keep, at = '') {
  if (keep === true) return node;
  if (node.type === 'array') return { ...node, items: reduce(node.items, keep.items, `${at}[]`) };
  const properties = {};
  for (const [k, sub] of Object.entries(keep)) {
    if (!node.properties || !(k in node.properties)) throw new Error(`gen-kserve: ${at}.${k} is not in the CRD schema`);
    properties[k] = reduce(node.properties[k], sub, `${at}.${k}`);
  }
  const out = { ...node, properties };
  if (out.required) {
    const required = out.required.filter((r) => r in properties);
    if (required.length !== out.required.length) throw new Error(`gen-kserve: ${at} drops required ${out.required.filter((r) => !(r in properties))}`);
  }
  return out;
}

function loadCrd() {
  const text = fs.readFileSync(CRD, 'utf8');
  const crd = require('yaml').parse(text);
  const version = (crd?.spec?.versions ?? []).find((v) => v.name === 'v1beta1');
  if (!version?.schema?.openAPIV3Schema) throw new Error(`${CRD}: no openAPIV3Schema for version v1beta1`);
  return { text, crd, version, sha256: crypto.createHash('sha256').update(text).digest('hex') };
}

/** The reduced openAPIV3Schema (descriptions kept: they become the bindings' doc comments). */
function reducedSchema() {
  return reduce(loadCrd().version.schema.openAPIV3Schema, KEEP);
}

function bindings({ crd, version, sha256 }) {
  const reducedCrd = {
    ...crd,
    spec: { ...crd.spec, versions: [{ ...version, schema: { openAPIV3Schema: reduce(version.schema.openAPIV3Schema, KEEP) } }] },
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gen-kserve-'));
  try {
    const file = path.join(dir, 'serving.kserve.io_inferenceservices.reduced.yaml');
    fs.writeFileSync(file, require('yaml').stringify(reducedCrd));
    const cdk8s = path.join(ROOT, 'node_modules', '.bin', 'cdk8s');
    execFileSync(cdk8s, ['import', file, '--output', dir, '--language', 'typescript', '--no-check-upgrade'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    const body = fs.readFileSync(path.join(dir, 'serving.kserve.io.ts'), 'utf8');
    return `// Generated by scripts/gen-kserve.js with cdk8s import from serving.kserve.io_inferenceservices.yaml\n// (KServe v0.20.0, sha256 ${sha256}), reduced to the predictor fields of a custom container. Do not edit.\n${body}`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function validator({ version, sha256 }) {
  const Ajv = require('ajv').default;
  const standalone = require('ajv/dist/standalone').default;
  // strict: false because the schema carries x-kubernetes-* keywords ajv does not know.
  const ajv = new Ajv({ allErrors: true, strict: false, inlineRefs: false, code: { source: true, optimize: true } });
  const code = standalone(ajv, ajv.compile(shareRepeats(strict(version.schema.openAPIV3Schema))));
  return `// Generated by scripts/gen-kserve.js from serving.kserve.io_inferenceservices.yaml (KServe v0.20.0,\n// sha256 ${sha256}), the full v1beta1 schema, with ajv ${require('ajv/package.json').version}. Do not edit.\n${code}\n`;
}

function generate() {
  const crd = loadCrd();
  return { bindings: bindings(crd), validator: validator(crd) };
}

function main() {
  if (!fs.existsSync(CRD)) {
    console.error(`gen-kserve: ${CRD} not found (shared/ must be a sibling of the repository)`);
    process.exit(2);
  }
  const out = generate();
  const files = [[BINDINGS_FILE, out.bindings], [VALIDATOR_FILE, out.validator]];
  if (process.argv.includes('--check')) {
    const stale = files.filter(([file, want]) => !fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== want)
      .map(([file]) => path.relative(ROOT, file));
    if (stale.length > 0) {
      console.error(`stale: ${stale.join(', ')} (run node scripts/gen-kserve.js)`);
      process.exit(1);
    }
    return;
  }
  for (const [file, text] of files) fs.writeFileSync(file, text);
  console.log(`wrote ${files.map(([f, t]) => `${path.relative(ROOT, f)} (${t.length} bytes)`).join(', ')}`);
}

if (require.main === module) main();
module.exports = { generate, reducedSchema, KEEP, CRD, BINDINGS_FILE, VALIDATOR_FILE };
