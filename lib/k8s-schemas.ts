/**
 * Schema validation: built-in kinds against the Kubernetes OpenAPI schemas shipped in
 * `kubernetes-models` 4.4.2 (Kubernetes v1.27.1: the newest schema not newer than our 1.28
 * target, so a field a 1.28 API server does not know cannot pass), the SeldonDeployment
 * against the v1 openAPIV3Schema of the Seldon Core 1.17.1 CRD, compiled at build time
 * (scripts/gen-crd-schema.js) into imports/seldondeployment-v1.validate.js, and the
 * InferenceService against KServe 0.20.0's v1beta1 schema (scripts/gen-kserve.js), and
 * prometheus-operator 0.85.0's PodMonitor, ServiceMonitor and PrometheusRule
 * (scripts/gen-prometheus-operator.js).
 */
import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';
import { createRequire } from 'module';
import * as vm from 'vm';
import type { ErrorObject } from 'ajv';

// Node's own require: jest's registry would load these large modules again in every test file.
const nativeRequire = createRequire(__filename);

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

let modelsDir: string | undefined;
const modelCache = new Map<string, ModelClass | undefined>();
let bundled: Record<string, ModelClass> | undefined;

/**
 * The model class for apiVersion/kind, or undefined when kubernetes-models has none. The kinds
 * this library writes come from one pre-built bundle (scripts/gen-k8s-validators.js), the others
 * from kubernetes-models itself.
 */
export function modelFor(apiVersion: string, kind: string): ModelClass | undefined {
  const key = `${apiVersion}/${kind}`;
  if (modelCache.has(key)) return modelCache.get(key);
  bundled ??= loadGenerated(generatedImportsFile('k8s-models.bundle.js')) as Record<string, ModelClass>;
  if (Object.prototype.hasOwnProperty.call(bundled, key)) {
    modelCache.set(key, bundled[key]);
    return bundled[key];
  }
  modelsDir ??= path.dirname(nativeRequire.resolve('kubernetes-models/package.json'));
  let found: ModelClass | undefined;
  // `apps/v1` -> <models>/apps/v1/<Kind>.js; the core group `v1` -> <models>/v1/<Kind>.js.
  const file = path.join(modelsDir, ...apiVersion.split('/'), `${kind}.js`);
  if (/^[A-Za-z0-9]+$/.test(kind) && /^[A-Za-z0-9.-]+(\/[A-Za-z0-9]+)?$/.test(apiVersion) && !apiVersion.includes('..') && fs.existsSync(file)) {
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

// Field names of the bundled kinds (imports/k8s-fields.json, from the kubernetes-models typings):
// node 0 is a leaf; `p` the fields of an object, `a` the element of an array, `m` a map's values.
interface FieldNode { p?: Record<string, number>; a?: number; m?: number }
let fieldGraph: { kinds: Record<string, number>; types: (FieldNode | null)[] } | undefined;

/**
 * Fields the API server does not know, in an object of a bundled kind (`kubectl apply` validates
 * fields strictly and rejects them; other clients drop them silently). Undefined for other kinds.
 */
export function unknownFieldErrors(obj: any): FieldError[] | undefined {
  fieldGraph ??= JSON.parse(fs.readFileSync(generatedImportsFile('k8s-fields.json'), 'utf8')) as { kinds: Record<string, number>; types: (FieldNode | null)[] };
  const root = fieldGraph.kinds[`${obj.apiVersion}/${obj.kind}`];
  if (root === undefined) return undefined;
  const types = fieldGraph.types;
  const out: FieldError[] = [];
  const walk = (id: number, value: unknown, at: string): void => {
    const node = types[id];
    if (!node || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      if (node.a !== undefined) value.forEach((v, i) => walk(node.a!, v, `${at}[${i}]`));
      return;
    }
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      if (node.p && Object.prototype.hasOwnProperty.call(node.p, key)) walk(node.p[key], v, at === '' ? key : `${at}.${key}`);
      else if (node.m !== undefined) walk(node.m, v, `${at}[${JSON.stringify(key)}]`);
      else out.push({ at: at === '' ? key : `${at}.${key}`, message: 'unknown field (the API server drops or rejects it)' });
    }
  };
  walk(root, obj, '');
  return out;
}

// ---------------------------------------------------------------------------------------------
// SeldonDeployment

type StandaloneValidate = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
let crdValidator: StandaloneValidate | undefined;

/** Where the generated files are: imports/ next to lib/ in the repository, beside build/ when compiled. */
export function generatedImportsFile(file: string): string {
  const candidates = [path.join(__dirname, '..', 'imports', file), path.join(__dirname, '..', '..', 'imports', file)];
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error(`rmlops-cdk8s: ${file} is missing (looked in ${candidates.join(', ')}); reinstall the package`);
  return found;
}

// V8's code cache of the generated files, in the project's node_modules/.cache (skipped when
// there is none): compiling their functions on first use is most of what validation adds to a
// synth, and the cache holds them compiled.
function cacheDir(): string | undefined {
  const modules = path.join(process.cwd(), 'node_modules');
  return fs.existsSync(modules) ? path.join(modules, '.cache', 'rmlops-cdk8s-v8') : undefined;
}

/**
 * Loads a generated CommonJS file (no requires of its own) like `require`, through V8's code
 * cache. A missing or rejected cache is written when the process exits, so it also holds every
 * function compiled lazily by then.
 */
export function loadGenerated(file: string): any {
  const source = fs.readFileSync(file, 'utf8');
  const dir = cacheDir();
  const key = createHash('sha256').update(process.version).update(source).digest('hex').slice(0, 24);
  const cacheFile = dir ? path.join(dir, `${path.basename(file)}-${key}.bin`) : undefined;
  let cachedData: Buffer | undefined;
  try {
    if (cacheFile) cachedData = fs.readFileSync(cacheFile);
  } catch {
    // Not cached yet.
  }
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const module = { exports: {} as any };
  script.runInThisContext()(module.exports, nativeRequire, module, file, path.dirname(file));
  if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
    process.once('exit', () => {
      try {
        fs.mkdirSync(dir!, { recursive: true });
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch {
        // A read-only project works, only without the cache.
      }
    });
  }
  return module.exports;
}

function seldonValidator(): StandaloneValidate {
  crdValidator ??= loadGenerated(generatedImportsFile('seldondeployment-v1.validate.js')) as StandaloneValidate;
  return crdValidator;
}

/** Schema errors of a SeldonDeployment against the Seldon Core 1.17.1 CRD (v1). */
export function seldonSchemaErrors(obj: any): FieldError[] {
  const validate = seldonValidator();
  if (validate(obj)) return [];
  // anyOf (int-or-string) failures repeat the branch errors; keep one per distinct field+message.
  const unique = new Map<string, FieldError>();
  for (const e of (validate.errors ?? []).map(describeAjvError)) unique.set(`${e.at}|${e.message}`, e);
  return [...unique.values()];
}

// ---------------------------------------------------------------------------------------------
// InferenceService

let isvcValidator: StandaloneValidate | undefined;

/**
 * Schema errors of an InferenceService against the full v1beta1 schema of the KServe 0.20.0 CRD
 * (scripts/gen-kserve.js; the bindings come from a reduced copy, the check never does).
 */
export function inferenceServiceSchemaErrors(obj: any): FieldError[] {
  isvcValidator ??= loadGenerated(generatedImportsFile('inferenceservice-v1beta1.validate.js')) as StandaloneValidate;
  const validate = isvcValidator;
  if (validate(obj)) return [];
  const unique = new Map<string, FieldError>();
  for (const e of (validate.errors ?? []).map(describeAjvError)) unique.set(`${e.at}|${e.message}`, e);
  return [...unique.values()];
}

// ---------------------------------------------------------------------------------------------
// prometheus-operator (monitoring.coreos.com/v1)

/** The kinds of monitoring.coreos.com/v1 the package has schemas for (prometheus-operator 0.85.0). */
export const MONITORING_KINDS: readonly string[] = ['PodMonitor', 'ServiceMonitor', 'PrometheusRule'];
let monitoringValidators: Record<string, StandaloneValidate> | undefined;

/** Schema errors of a PodMonitor, ServiceMonitor or PrometheusRule against prometheus-operator 0.85.0's CRD (v1). */
export function monitoringSchemaErrors(obj: any): FieldError[] {
  monitoringValidators ??= loadGenerated(generatedImportsFile('monitoring-coreos-v1.validate.js')) as Record<string, StandaloneValidate>;
  const validate = monitoringValidators[obj.kind];
  if (!validate) return [{ at: 'kind', message: `${JSON.stringify(obj.kind)}: no schema (only ${MONITORING_KINDS.join(', ')})` }];
  if (validate(obj)) return [];
  const unique = new Map<string, FieldError>();
  for (const e of (validate.errors ?? []).map(describeAjvError)) unique.set(`${e.at}|${e.message}`, e);
  return [...unique.values()];
}
