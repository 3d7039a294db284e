/**
 * Unknown fields in built-in objects. The OpenAPI schemas in kubernetes-models do not forbid
 * additional properties, but the API server drops unknown fields (or rejects them under strict
 * field validation), so a misspelt field would vanish without a trace. The field names are read
 * from the typings kubernetes-models generates from the same OpenAPI document, with the
 * TypeScript checker: every key of the object must be a property of the declared type.
 */
import { createRequire } from 'module';
import * as path from 'path';
import type * as TS from 'typescript';
import type { FieldError } from '../../lib/k8s-schemas';

interface Checker {
  ts: typeof TS;
  checker: TS.TypeChecker;
  /** Root type per `apiVersion/kind`. */
  roots: Map<string, TS.Type>;
}

let current: Checker | undefined;
const REPO_ROOT = path.resolve(__dirname, '..', '..');
const ROOT_FILE = path.join(REPO_ROOT, 'test', 'support', '__k8s_field_roots__.ts');

/** `apps/v1` + `Deployment` -> `kubernetes-models/apps/v1/Deployment`, exporting `IDeployment`. */
function moduleOf(apiVersion: string, kind: string): string {
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** A program whose root file declares one value per kind; rebuilt only when a new kind shows up. */
function checkerFor(keys: string[]): Checker {
  if (current && keys.every((k) => current!.roots.has(k))) return current;
  const all = [...new Set([...(current ? [...current.roots.keys()] : []), ...keys])].sort();
  // Loaded on demand and with Node's own require: through jest's module registry the 9 MB
  // compiler takes seconds to load, in every test file.
  const ts = createRequire(__filename)('typescript') as typeof TS;
  const source = all.map((key, i) => {
    const kind = key.slice(key.lastIndexOf('/') + 1);
    const apiVersion = key.slice(0, key.lastIndexOf('/'));
    return `import type { I${kind} as T${i} } from '${moduleOf(apiVersion, kind)}';\nexport declare const r${i}: T${i};`;
  }).join('\n');
  const options: TS.CompilerOptions = {
    module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2020, strict: true, noEmit: true, skipLibCheck: true, types: [],
    // The generated typings need only ES5 basics (Array, Record); the default lib adds the DOM.
    lib: ['lib.es5.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, lang, ...rest) =>
    path.resolve(file) === ROOT_FILE ? ts.createSourceFile(file, source, lang) : getSourceFile(file, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (file) => path.resolve(file) === ROOT_FILE || fileExists(file);
  const program = ts.createProgram({ rootNames: [ROOT_FILE], options, host });
  const checker = program.getTypeChecker();
  const roots = new Map<string, TS.Type>();
  const sf = program.getSourceFile(ROOT_FILE)!;
  const problems = ts.getPreEmitDiagnostics(program, sf);
  if (problems.length > 0) {
    throw new Error(`cannot load kubernetes-models typings: ${ts.flattenDiagnosticMessageText(problems[0].messageText, '\n')}`);
  }
  for (const stmt of sf.statements) {
    if (!ts.isVariableStatement(stmt)) continue;
    const decl = stmt.declarationList.declarations[0];
    const i = Number(decl.name.getText(sf).slice(1));
    roots.set(all[i], checker.getTypeAtLocation(decl.name));
  }
  current = { ts, checker, roots };
  return current;
}

function walk(c: Checker, declared: TS.Type, value: unknown, at: string, out: FieldError[]): void {
  if (value === null || typeof value !== 'object') return;
  const { ts, checker } = c;
  let type = checker.getNonNullableType(declared);
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
  if (type.isUnion()) {
    // Unions of primitives (IntOrString, Quantity) have nothing to walk; object unions do not occur.
    const objects = type.types.filter((t) => t.flags & ts.TypeFlags.Object);
    if (objects.length !== 1) return;
    type = objects[0];
  }
  if (Array.isArray(value)) {
    const element = checker.getIndexTypeOfType(type, ts.IndexKind.Number);
    if (element) value.forEach((v, i) => walk(c, element, v, `${at}[${i}]`, out));
    return;
  }
  const mapValue = checker.getIndexTypeOfType(type, ts.IndexKind.String);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const field = at === '' ? key : `${at}.${key}`;
    const prop = checker.getPropertyOfType(type, key);
    if (prop) walk(c, checker.getTypeOfSymbol(prop), v, field, out);
    else if (mapValue) walk(c, mapValue, v, `${at}[${JSON.stringify(key)}]`, out);
    else out.push({ at: field, message: 'unknown field (the API server drops or rejects it)' });
  }
}

/** Unknown fields of built-in objects whose kinds kubernetes-models knows (others are skipped). */
export function unknownFieldErrors(objects: { apiVersion: string; kind: string }[]): FieldError[][] {
  const keys = objects.map((o) => `${o.apiVersion}/${o.kind}`);
  const c = checkerFor(keys);
  return objects.map((obj, i) => {
    const out: FieldError[] = [];
    walk(c, c.roots.get(keys[i])!, obj, '', out);
    return out;
  });
}
