// Generates what the package needs at runtime to validate a SeldonDeployment offline, from the
// Seldon Core 1.17.1 CRD in ../shared/crds (never copied into the repository itself):
//   imports/seldondeployment-v1.schema.json  the v1 openAPIV3Schema, reduced (see strict())
//   imports/seldondeployment-v1.validate.js  that schema compiled by ajv into standalone code,
//                                           because compiling it at runtime takes about 1 s
// `--check` regenerates both in memory and exits 1 when the committed files differ.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const CRD = path.join(ROOT, '..', 'shared', 'crds', 'machinelearning.seldon.io_seldondeployments.yaml');
const SCHEMA_FILE = path.join(ROOT, 'imports', 'seldondeployment-v1.schema.json');
const VALIDATOR_FILE = path.join(ROOT, 'imports', 'seldondeployment-v1.validate.js');

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const DATE_TIME = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$';

/**
 * What a structural schema means on a live API server, made explicit for ajv: a field not in
 * `properties` is pruned unless x-kubernetes-preserve-unknown-fields is set, so it is an error
 * here; embedded resources implicitly allow apiVersion, kind and metadata. Descriptions are
 * dropped, and formats become plain keywords (int32 a range, date-time a pattern, int64 nothing a
 * double can check) so the standalone code needs no format functions.
 */
function strict(node) {
  if (Array.isArray(node)) return node.map(strict);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'description') continue;
    if (k === 'format') {
      if (v === 'int32') Object.assign(out, { minimum: INT32_MIN, maximum: INT32_MAX });
      else if (v === 'date-time') out.pattern = DATE_TIME;
      continue;
    }
    out[k] = strict(v);
  }
  if (out['x-kubernetes-embedded-resource'] && out.properties) {
    out.properties = { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' }, ...out.properties };
  }
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) {
    out.additionalProperties = false;
  }
  return out;
}

/**
 * The CRD repeats large subschemas (a container in containers, initContainers, ephemeralContainers
 * and the explainer; a PodSpec-sized tree per component); compiled inline they make megabytes of
 * code that synth must parse. Each subschema of at least MIN_SHARED characters that occurs more
 * than once becomes one definition referenced by `$ref`, so ajv emits one function for it.
 */
const MIN_SHARED = 200;
function shareRepeats(schema) {
  // Subschemas only: property maps and keyword values that are not schemas are walked, not shared.
  const children = (node) => {
    const out = [];
    for (const v of Object.values(node.properties ?? {})) out.push(v);
    for (const k of ['items', 'additionalProperties', 'not']) if (node[k] && typeof node[k] === 'object') out.push(node[k]);
    for (const k of ['anyOf', 'allOf', 'oneOf']) if (Array.isArray(node[k])) out.push(...node[k]);
    return out;
  };
  const counts = new Map();
  const count = (node) => {
    const text = JSON.stringify(node);
    if (text.length >= MIN_SHARED) counts.set(text, (counts.get(text) ?? 0) + 1);
    children(node).forEach(count);
  };
  count(schema);
  const names = new Map();
  const definitions = {};
  const rebuild = (node) => {
    const out = { ...node };
    if (node.properties) out.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, share(v)]));
    for (const k of ['items', 'additionalProperties', 'not']) if (node[k] && typeof node[k] === 'object') out[k] = share(node[k]);
    for (const k of ['anyOf', 'allOf', 'oneOf']) if (Array.isArray(node[k])) out[k] = node[k].map(share);
    return out;
  };
  const share = (node) => {
    const text = JSON.stringify(node);
    if ((counts.get(text) ?? 0) < 2) return rebuild(node);
    if (!names.has(text)) {
      const name = `s${crypto.createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
      names.set(text, name);
      definitions[name] = rebuild(node);
    }
    return { $ref: `#/definitions/${names.get(text)}` };
  };
  const root = rebuild(schema);
  const sorted = Object.fromEntries(Object.keys(definitions).sort().map((k) => [k, definitions[k]]));
  return Object.keys(sorted).length > 0 ? { ...root, definitions: sorted } : root;
}

function generate() {
  const text = fs.readFileSync(CRD, 'utf8');
  const sha256 = crypto.createHash('sha256').update(text).digest('hex');
  const crd = require('yaml').parse(text);
  const version = (crd?.spec?.versions ?? []).find((v) => v.name === 'v1');
  if (!version?.schema?.openAPIV3Schema) throw new Error(`${CRD}: no openAPIV3Schema for version v1`);
  const schema = strict(version.schema.openAPIV3Schema);
  const Ajv = require('ajv').default;
  const standalone = require('ajv/dist/standalone').default;
  // strict: false because the schema carries x-kubernetes-* keywords ajv does not know.
  const ajv = new Ajv({ allErrors: true, strict: false, inlineRefs: false, code: { source: true, optimize: true } });
  const code = standalone(ajv, ajv.compile(shareRepeats(schema)));
  const header = `// Generated by scripts/gen-crd-schema.js from machinelearning.seldon.io_seldondeployments.yaml\n// (sha256 ${sha256}) with ajv ${require('ajv/package.json').version}. Do not edit.\n`;
  return { schema: JSON.stringify(schema, null, 1) + '\n', validator: header + code + '\n' };
}

function main() {
  if (!fs.existsSync(CRD)) {
    console.error(`gen-crd-schema: ${CRD} not found (shared/ must be a sibling of the repository)`);
    process.exit(2);
  }
  const out = generate();
  if (process.argv.includes('--check')) {
    const stale = [[SCHEMA_FILE, out.schema], [VALIDATOR_FILE, out.validator]]
      .filter(([file, want]) => !fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== want)
      .map(([file]) => path.relative(ROOT, file));
    if (stale.length > 0) {
      console.error(`stale: ${stale.join(', ')} (run node scripts/gen-crd-schema.js)`);
      process.exit(1);
    }
    return;
  }
  fs.writeFileSync(SCHEMA_FILE, out.schema);
  fs.writeFileSync(VALIDATOR_FILE, out.validator);
  console.log(`wrote ${path.relative(ROOT, SCHEMA_FILE)} and ${path.relative(ROOT, VALIDATOR_FILE)}`);
}

if (require.main === module) main();
module.exports = { generate, strict, shareRepeats, CRD, SCHEMA_FILE, VALIDATOR_FILE };
