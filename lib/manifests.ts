/**
 * Writes an app's objects as one YAML file per object, named so that `kubectl apply -f <dir>`
 * (which applies files in lexical order) creates them in a working order: namespaces first,
 * then configuration, storage, services and policies, then workloads in the order the app
 * declares them (the store before the jobs that need it), custom resources last.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Chart, Yaml } from 'cdk8s';
import { validateApp } from './app-validation';
import { constructWarnings } from './validate';
import { LABELS, MANAGED_BY } from './contract';
import { MANIFEST_INDEX, MANIFEST_MARKER, ValidateOptions, describeObject, isWrittenManifest, manifestWarnings } from './manifest-validation';

// Rank of each kind; kinds not listed are workloads and keep the app's declaration order.
const KIND_RANK: Record<string, number> = {
  Namespace: 0,
  ServiceAccount: 1,
  Role: 1,
  RoleBinding: 1,
  ConfigMap: 2,
  Secret: 2,
  PersistentVolumeClaim: 3,
  Service: 4,
  NetworkPolicy: 5,
};
const WORKLOAD_RANK = 6;
const CUSTOM_RESOURCE_RANK = 7;

/** One object with the file name it gets. */
export interface Manifest {
  /** File name, e.g. `0000-namespace-team-a.yaml`. */
  readonly file: string;
  /** The Kubernetes object. */
  readonly object: any;
}

// Built-in API groups have no dot (`apps`, `batch`) or end in `.k8s.io`; anything else is a
// custom resource (e.g. `machinelearning.seldon.io`), applied last so what it needs exists first.
function isCustomResource(apiVersion: string): boolean {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  return group.includes('.') && !group.endsWith('.k8s.io');
}

function rank(obj: any): number {
  if (obj.kind in KIND_RANK) return KIND_RANK[obj.kind];
  return isCustomResource(String(obj.apiVersion)) ? CUSTOM_RESOURCE_RANK : WORKLOAD_RANK;
}

/**
 * Synthesizes every chart of `app` (running all validations) and returns the objects in apply
 * order with their file names. Throws the validation errors if any.
 */
export function orderedManifests(app: App): Manifest[] {
  const charts = app.node.findAll().filter((c): c is Chart => Chart.isChart(c));
  const objects: any[] = charts.flatMap((chart) => chart.toJson());
  const sorted = objects
    .map((object, index) => ({ object, index }))
    .sort((a, b) => rank(a.object) - rank(b.object) || a.index - b.index)
    .map((e) => e.object);
  const width = Math.max(4, String(sorted.length).length);
  return sorted.map((object, i) => ({
    file: `${String(i).padStart(width, '0')}-${String(object.kind).toLowerCase()}-${object.metadata?.name ?? 'unnamed'}.yaml`,
    object,
  }));
}

/**
 * Writes the manifests of `app` into `outdir`, after validating every final object (escape
 * hatches included) with `validateApp`: the Kubernetes schemas, the SeldonDeployment CRD schema,
 * the API server's rules, references between the objects, our security baseline and duplicates
 * (operator-created names included). Writes nothing and throws the list of problems if there is
 * any. `options.existingClaims` names PVCs made outside the app.
 *
 * The folder belongs to this function: every file starts with `MANIFEST_MARKER`, and
 * `MANIFEST_INDEX` lists the files of the write. The new set is written into a temporary folder
 * beside `outdir` (parents created) and swapped in by two renames, so `outdir` is the whole old
 * or the whole new set, and manifests of objects the app no longer has (a renamed model) are
 * gone. A file in `outdir` without the marker was not written here: it is neither replaced nor
 * removed, and nothing is written.
 */
export function writeManifests(app: App, outdir: string, options: ValidateOptions = {}): Manifest[] {
  const manifests = orderedManifests(app);
  const problems = validateApp(app, options);
  if (problems.length > 0) {
    const hint = hardeningHint(problems, manifests.map((m) => m.object));
    throw new Error(`${problems.length} problem(s) in the manifests; nothing written to ${outdir}:\n  ${problems.join('\n  ')}${hint ? `\n${hint}` : ''}`);
  }
  const warn = options.onWarning ?? ((w: string) => process.stderr.write(`warning: ${w}\n`));
  for (const w of [...constructWarnings(app), ...manifestWarnings(manifests.map((m) => m.object))]) warn(w);
  const dir = path.resolve(outdir);
  checkOwnFolder(outdir, dir);
  const files: Record<string, string> = {};
  for (const m of manifests) files[m.file] = `${MANIFEST_MARKER}\n${Yaml.stringify(m.object)}`;
  files[MANIFEST_INDEX] = `${MANIFEST_MARKER}\n${manifests.map((m) => `${m.file}\n`).join('')}`;
  replaceFolder(outdir, dir, files);
  return manifests;
}

// The restricted fields hardenPodSpecs adds when they are missing.
const HARDENED_FIELDS = /securityContext\.(seccompProfile\.type|capabilities\.drop|allowPrivilegeEscalation|runAsNonRoot): (undefined|must)/;

/**
 * When workloads not written by this library (no `app.kubernetes.io/managed-by: rmlops-cdk8s`,
 * e.g. a cdk8s-plus Deployment) miss restricted fields that `hardenPodSpecs` adds, the precise fix.
 */
function hardeningHint(problems: string[], objects: any[]): string | undefined {
  const foreign = objects
    .filter((o) => o?.metadata?.labels?.[LABELS.managedBy] !== MANAGED_BY)
    .map(describeObject)
    .filter((who) => problems.some((p) => p.includes(who) && HARDENED_FIELDS.test(p)));
  if (foreign.length === 0) return undefined;
  return `Fix for ${foreign.join(', ')} (not written by rmlops-cdk8s): call hardenPodSpecs(app) from rmlops-cdk8s after building the app and before writeManifests, `
    + 'which adds seccompProfile RuntimeDefault, runAsNonRoot, allowPrivilegeEscalation false and capabilities drop ALL where they are missing; '
    + 'or set them on each cdk8s-plus container: securityContext: { capabilities: { drop: [Capability.ALL] }, seccompProfile: { type: SeccompProfileType.RUNTIME_DEFAULT } } (docs/constructs.md, "cdk8s-plus workloads")';
}

function fail(where: string, value: string, problem: string, fix: string): never {
  throw new Error(`[${where}] outdir = ${JSON.stringify(value)}: ${problem}. Fix: ${fix}`);
}

// Refuses a folder holding anything writeManifests did not write there: replacing the folder
// would delete it.
function checkOwnFolder(outdir: string, dir: string): void {
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory()) {
    fail(dir, outdir, 'is a file, not a folder', 'give the path of a folder for the manifests (it is created if missing)');
  }
  if (dir === path.resolve('/') || dir === process.cwd() || process.cwd().startsWith(`${dir}${path.sep}`)) {
    fail(dir, outdir, 'is the current folder (or contains it), which writeManifests replaces as a whole', 'write the manifests into a folder of their own, e.g. "dist"');
  }
  const foreign = fs.readdirSync(dir).filter((f) => {
    const p = path.join(dir, f);
    const st = fs.lstatSync(p);
    if (!st.isFile()) return true;
    return f === MANIFEST_INDEX ? false : !isWrittenManifest(p);
  }).sort();
  if (foreign.length > 0) {
    fail(dir, outdir,
      `holds ${foreign.length} file(s) writeManifests did not write (no first line "${MANIFEST_MARKER.slice(0, 40)}…"): ${foreign.join(', ')}; writing would replace or delete them`,
      'move them out of the folder, or write the manifests into a folder of their own (an empty or missing one)');
  }
}

// Writes `files` into a new folder beside `dir` and swaps it in: `dir` moves aside, the new
// folder takes its name, the old one is deleted. A failure before the swap leaves `dir` as it was.
function replaceFolder(outdir: string, dir: string, files: Record<string, string>): void {
  const parent = path.dirname(dir);
  try {
    fs.mkdirSync(parent, { recursive: true });
  } catch (e) {
    fail(dir, outdir, `its parent folder cannot be created (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'give a path under a writable folder');
  }
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}.writing-`));
  const old = `${tmp}-old`;
  let swapped = false;
  try {
    // mkdtemp makes the folder private (0700): give it the old folder's mode, or the umask's.
    fs.chmodSync(tmp, fs.existsSync(dir) ? fs.statSync(dir).mode & 0o7777 : 0o777 & ~process.umask());
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(tmp, name), text);
    const hadDir = fs.existsSync(dir);
    if (hadDir) fs.renameSync(dir, old);
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      if (hadDir) fs.renameSync(old, dir);
      throw e;
    }
    swapped = true;
  } finally {
    if (!swapped) fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(old, { recursive: true, force: true });
  }
}
