/**
 * Schema validation: built-in kinds against the Kubernetes OpenAPI schemas shipped in
 * `kubernetes-models` 4.4.2 (Kubernetes v1.27.1: the newest schema not newer than our 1.28
 * target, so a field a 1.28 API server does not know cannot pass), and the SeldonDeployment against the
 * openAPIV3Schema of the Seldon Core 1.17.1 CRD in ../shared/crds (never copied into the repo).
 */
import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';
import { createRequire } from 'module';
import type { ErrorObject, ValidateFunction } from 'ajv';

// Node's own require: jest's registry would load these large modules again in every test file.
const nativeRequire = createRequire(__filename);

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const SELDON_CRD_PATH = path.join(
  REPO_ROOT, '..', 'shared', 'crds', 'machinelearning.seldon.io_seldondeployments.yaml',
);

/** Turns an instancePath (`/spec/ports/0/name`) into the JSON path the errors use (`spec.ports[0].name`). */
export function jsonPath(instancePath: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = '';
  for (const p of parts) out += /^[0-9]+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(root)' : out;
}

/** One schema error: the JSON path of the field and what is wrong with it. */
export interface FieldError {
  readonly at: string;
  readonly message: string;
}

function describeAjvError(e: ErrorObject): FieldError {
  const at = jsonPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return {
        at: `${at === '(root)' ? '' : at + '.'}${p.additionalProperty}`,
        message: 'unknown field (the API server would prune it)',
      };
    case 'required':
      return { at, message: `missing required field ${JSON.stringify(p.missingProperty)}` };
    case 'enum':
      return { at, message: `${e.message} ${JSON.stringify(p.allowedValues)}` };
    default:
      return { at, message: `${e.message}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Built-in kinds

interface ModelClass {
  apiVersion: string;
  kind: string;
  new (data: unknown): { validate(): void };
}

const MODELS_DIR = path.dirname(require.resolve('kubernetes-models/package.json', { paths: [REPO_ROOT] }));
const modelCache = new Map<string, ModelClass | undefined>();

// Derived files cached across runs (node_modules/ is git-ignored), keyed by what they derive from.
const CACHE_DIR = path.join(REPO_ROOT, 'node_modules', '.cache', 'rmlops-validate');

/** Written under a unique name then renamed, as parallel jest workers may race here. */
function writeCache(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

/** The model class for apiVersion/kind, or undefined when kubernetes-models has none. */
export function modelFor(apiVersion: string, kind: string): ModelClass | undefined {
  const key = `${apiVersion}/${kind}`;
  if (modelCache.has(key)) return modelCache.get(key);
  let found: ModelClass | undefined;
  // `apps/v1` -> <models>/apps/v1/<Kind>.js; the core group `v1` -> <models>/v1/<Kind>.js.
  const file = path.join(MODELS_DIR, ...apiVersion.split('/'), `${kind}.js`);
  if (/^[A-Za-z0-9]+$/.test(kind) && !apiVersion.includes('..') && fs.existsSync(file)) {
    const candidate = (nativeRequire(file) as Record<string, unknown>)[kind] as ModelClass | undefined;
    // Files also exist for nested types (DeploymentSpec); only top-level kinds carry apiVersion/kind.
    if (candidate && candidate.apiVersion === apiVersion && candidate.kind === kind) found = candidate;
  }
  modelCache.set(key, found);
  return found;
}

/** Schema errors of a built-in object, or undefined when there is no model for its kind. */
export function builtInSchemaErrors(obj: any): FieldError[] | undefined {
  const Model = modelFor(String(obj.apiVersion), String(obj.kind));
  if (!Model) return undefined;
  try {
    new Model(obj).validate();
    return [];
  } catch (e: any) {
    if (!Array.isArray(e?.errors)) throw e;
    return (e.errors as ErrorObject[]).map(describeAjvError);
  }
}

// ---------------------------------------------------------------------------------------------
// SeldonDeployment

export interface CrdStatus {
  available: boolean;
  /** Why the check cannot run (file missing). */
  reason?: string;
}

export function seldonCrdStatus(): CrdStatus {
  if (fs.existsSync(SELDON_CRD_PATH)) return { available: true };
  return {
    available: false,
    reason: `Seldon CRD not found at ${SELDON_CRD_PATH} (shared/ must be a sibling of the repository)`,
  };
}

/**
 * What a structural schema means on a live API server, made explicit for ajv: fields not in
 * `properties` are pruned unless x-kubernetes-preserve-unknown-fields is set, so they are errors
 * here (we never want to emit a field the cluster silently drops). Embedded resources implicitly
 * allow apiVersion, kind and metadata.
 */
function toStrictSchema(node: any): any {
  if (Array.isArray(node)) return node.map(toStrictSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: any = {};
  for (const [k, v] of Object.entries(node)) {
    // Descriptions are large and irrelevant to validation; `default` is applied by the server.
    if (k === 'description') continue;
    out[k] = toStrictSchema(v);
  }
  if (out['x-kubernetes-embedded-resource'] && out.properties) {
    out.properties = { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' }, ...out.properties };
  }
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) {
    out.additionalProperties = false;
  }
  return out;
}

let crdValidator: ValidateFunction | undefined;

/** The v1 schema made strict, cached on disk by the CRD's content hash (parsing takes ~0.5 s). */
function strictSeldonSchema(): object {
  const text = fs.readFileSync(SELDON_CRD_PATH, 'utf8');
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const cached = path.join(CACHE_DIR, `seldon-crd-v1-${hash}.json`);
  if (fs.existsSync(cached)) return JSON.parse(fs.readFileSync(cached, 'utf8'));
  const crd = nativeRequire('yaml').parse(text);
  const version = (crd?.spec?.versions ?? []).find((v: any) => v.name === 'v1');
  const schema = version?.schema?.openAPIV3Schema;
  if (!schema) throw new Error(`${SELDON_CRD_PATH}: no openAPIV3Schema for version v1`);
  const strict = toStrictSchema(schema);
  writeCache(cached, JSON.stringify(strict));
  return strict;
}

function seldonValidator(): ValidateFunction {
  if (crdValidator) return crdValidator;
  const Ajv = nativeRequire('ajv').default as typeof import('ajv').default;
  // strict: false because the schema carries x-kubernetes-* keywords ajv does not know; they
  // need no validation of their own once the structural rules above are applied.
  const ajv = new Ajv({ allErrors: true, strict: false });
  const INT32 = 2 ** 31;
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -INT32 && n < INT32 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i);
  crdValidator = ajv.compile(strictSeldonSchema());
  return crdValidator;
}

/** Schema errors of a SeldonDeployment against the CRD; the caller checks seldonCrdStatus() first. */
export function seldonSchemaErrors(obj: any): FieldError[] {
  const validate = seldonValidator();
  if (validate(obj)) return [];
  // anyOf (int-or-string) failures repeat the branch errors; keep one per distinct field+message.
  const unique = new Map<string, FieldError>();
  for (const e of (validate.errors ?? []).map(describeAjvError)) unique.set(`${e.at}|${e.message}`, e);
  return [...unique.values()];
}
