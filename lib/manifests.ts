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
import { ValidateOptions } from './manifest-validation';

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
 * Writes the manifests of `app` into `outdir` (which must exist and be empty), after validating
 * every final object (escape hatches included) with `validateApp`: the Kubernetes schemas, the
 * SeldonDeployment CRD schema, the API server's rules, references between the objects, our
 * security baseline and duplicates (operator-created names included). Writes nothing and throws
 * the list of problems if there is any. `options.existingClaims` names PVCs made outside the app.
 */
export function writeManifests(app: App, outdir: string, options: ValidateOptions = {}): Manifest[] {
  const manifests = orderedManifests(app);
  const problems = validateApp(app, options);
  if (problems.length > 0) {
    throw new Error(`${problems.length} problem(s) in the manifests; nothing written to ${outdir}:\n  ${problems.join('\n  ')}`);
  }
  for (const m of manifests) {
    fs.writeFileSync(path.join(outdir, m.file), Yaml.stringify(m.object));
  }
  return manifests;
}
