/**
 * Checks of a whole cdk8s app on its final objects (JsonPatch escape hatches and later mutations
 * included): no two objects with the same identity anywhere in the app, including the objects
 * the Seldon operator creates from a SeldonDeployment and KServe from an InferenceService, and every object against the schemas and
 * the API server's rules. Each construct of this library registers the check for the objects
 * under it, so `app.synth()`, `Testing.synth()` and `writeManifests` all run it.
 */
import { ApiObject, App } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';
import { KSERVE_ANNOTATIONS, KSERVE_MODE_NAMES } from './contract';
import {
  ValidateOptions, apiRuleErrors, describeObject, groupByObject, namespaceErrors, schemaErrors, validateManifests,
} from './manifest-validation';
import { hasPropProblems } from './validate';

/** One object of an app with the construct that synthesizes it. */
export interface AppObject {
  /** The final object. */
  readonly object: any;
  /** Construct path of the ApiObject, or of the SeldonDeployment for objects its operator creates. */
  readonly path: string;
  /** Set for objects the Seldon operator creates: which one, in words. */
  readonly createdBy?: string;
}

/** Every ApiObject under `root`, rendered, with its construct path (no validation runs). */
function renderedObjects(root: IConstruct): AppObject[] {
  return root.node.findAll().filter(ApiObject.isApiObject).map((o) => ({ object: o.toJson(), path: o.node.path }));
}

/**
 * The objects the Seldon Core 1.17.1 operator creates for a SeldonDeployment, by the names it
 * gives them: the predictor Service `<sdep>-<predictor>`, a Service per graph node
 * `<sdep>-<predictor>-<node>`, and a Deployment per component spec
 * `<sdep>-<predictor>-<index>-<container names joined by '-'>`. (Names past 63 characters are
 * replaced by the operator with a hash, and then cannot collide with ours.)
 */
export function seldonOperatorObjects(sdep: AppObject): AppObject[] {
  const o = sdep.object;
  const name = o?.metadata?.name;
  const namespace = o?.metadata?.namespace;
  if (typeof name !== 'string' || !Array.isArray(o?.spec?.predictors)) return [];
  const meta = (n: string) => ({ name: n, ...(namespace !== undefined ? { namespace } : {}) });
  const out: AppObject[] = [];
  const add = (apiVersion: string, kind: string, n: string, createdBy: string) => {
    if (n.length <= 63) out.push({ object: { apiVersion, kind, metadata: meta(n) }, path: sdep.path, createdBy });
  };
  for (const p of o.spec.predictors) {
    if (typeof p?.name !== 'string') continue;
    add('v1', 'Service', `${name}-${p.name}`, `the Seldon operator's Service for predictor "${p.name}"`);
    const visit = (node: any) => {
      if (!node || typeof node.name !== 'string') return;
      add('v1', 'Service', `${name}-${p.name}-${node.name}`, `the Seldon operator's Service for graph node "${node.name}"`);
      for (const child of Array.isArray(node.children) ? node.children : []) visit(child);
    };
    visit(p.graph);
    (Array.isArray(p.componentSpecs) ? p.componentSpecs : []).forEach((cs: any, i: number) => {
      const containers = (cs?.spec?.containers ?? []).map((c: any) => c?.name).filter((n: unknown) => typeof n === 'string');
      if (containers.length > 0) {
        add('apps/v1', 'Deployment', `${name}-${p.name}-${i}-${containers.join('-')}`, `the Seldon operator's Deployment for component spec ${i} of predictor "${p.name}"`);
      }
    });
  }
  return out;
}

/**
 * The objects KServe 0.20 creates for an InferenceService's predictor, by name: in Standard
 * (RawDeployment) mode a Deployment, a Service and a HorizontalPodAutoscaler `<isvc>-predictor`;
 * in Knative (Serverless) mode a Knative Service of that name (Knative then makes the Kubernetes
 * Services `<isvc>-predictor` and `<isvc>-predictor-00001…`).
 */
export function kserveControllerObjects(isvc: AppObject): AppObject[] {
  const o = isvc.object;
  const name = o?.metadata?.name;
  if (typeof name !== 'string') return [];
  const namespace = o?.metadata?.namespace;
  const meta = { name: `${name}-predictor`, ...(namespace !== undefined ? { namespace } : {}) };
  const mode = KSERVE_MODE_NAMES[o?.metadata?.annotations?.[KSERVE_ANNOTATIONS.deploymentMode]];
  const kinds = mode === 'Standard'
    ? [['apps/v1', 'Deployment'], ['v1', 'Service'], ['autoscaling/v2', 'HorizontalPodAutoscaler']]
    : [['serving.knative.dev/v1', 'Service'], ['v1', 'Service']];
  return kinds.map(([apiVersion, kind]) => ({ object: { apiVersion, kind, metadata: meta }, path: isvc.path, createdBy: `KServe's ${kind} for the predictor` }));
}

function identity(obj: any): string {
  const group = String(obj?.apiVersion ?? '').split('/').slice(0, -1).join('/');
  return `${group}|${obj?.kind}|${obj?.metadata?.namespace ?? ''}|${obj?.metadata?.name}`;
}

function who(o: AppObject): string {
  return o.createdBy ? `${o.path} as ${o.createdBy}` : o.path;
}

/**
 * Pairs of objects with the same group, kind, namespace and name, as one message each; `only`
 * selects the pairs to report (each construct reports the pairs it is responsible for).
 */
export function duplicateErrors(objects: AppObject[], only?: (later: AppObject, earlier: AppObject) => boolean): string[] {
  return duplicatePairs(objects)
    .filter(({ later, earlier }) => !only || only(later, earlier))
    .map(({ later, earlier }) => `name = ${JSON.stringify(later.object.metadata.name)}: ${describeObject(later.object)} is defined twice: by ${who(earlier)}, and by ${who(later)}; the cluster keeps only one of them. Fix: give one of them another name`);
}

// Every construct of an app checks the same rendered objects in a pass (appObjectsForPass): the
// pairs are found once per objects array, not once per construct.
const pairsOf = new WeakMap<AppObject[], { later: AppObject; earlier: AppObject }[]>();

/** Each object whose identity an earlier one (operator- and KServe-created objects included) already has. */
function duplicatePairs(objects: AppObject[]): { later: AppObject; earlier: AppObject }[] {
  const cached = pairsOf.get(objects);
  if (cached) return cached;
  const all = [
    ...objects,
    ...objects.filter((o) => o.object?.kind === 'SeldonDeployment').flatMap(seldonOperatorObjects),
    ...objects.filter((o) => o.object?.kind === 'InferenceService').flatMap(kserveControllerObjects),
  ];
  const first = new Map<string, AppObject>();
  const pairs: { later: AppObject; earlier: AppObject }[] = [];
  for (const o of all) {
    const key = identity(o.object);
    const earlier = first.get(key);
    if (earlier) pairs.push({ later: o, earlier });
    else first.set(key, o);
  }
  pairsOf.set(objects, pairs);
  return pairs;
}

/**
 * A bad namespace is usually the chart's, on every object: it is reported once for the app, by
 * the construct of the first object (of this library's constructs) that has it, naming them all.
 */
function appNamespaceErrors(all: AppObject[], mine: (o: AppObject) => boolean, checked: (o: AppObject) => boolean): string[] {
  const objects = all.map((o) => o.object);
  const byWho = new Map(all.map((o) => [describeObject(o.object), o] as const));
  return groupByObject(namespaceErrors(objects), objects)
    .filter((g) => {
      const first = g.objects.map((w) => byWho.get(w)!).find(checked);
      return first !== undefined && mine(first);
    })
    .map((g) => g.line);
}

// One rendering of the app per validation pass: cdk8s validates the root first, which resets it.
const passes = new WeakMap<IConstruct, AppObject[]>();
// Path prefixes of the constructs that registered the check, per app.
const checkedScopes = new WeakMap<IConstruct, string[]>();

function appObjectsForPass(root: IConstruct): AppObject[] {
  let objects = passes.get(root);
  if (!objects) {
    objects = renderedObjects(root);
    passes.set(root, objects);
  }
  return objects;
}

/**
 * Registers the app-wide checks for the objects under `scope` (called by every construct of this
 * library). Problems are reported at synth as `[<construct path>] <object>: <field>: <problem>`.
 */
export function validateObjectsAtSynth(scope: Construct): void {
  const root = scope.node.root;
  if (!checkedScopes.has(root)) {
    checkedScopes.set(root, []);
    root.node.addValidation({ validate: () => { passes.delete(root); return []; } });
  }
  const prefix = `${scope.node.path}/`;
  checkedScopes.get(root)!.push(prefix);
  const checked = (o: AppObject) => checkedScopes.get(root)!.some((p) => o.path.startsWith(p));
  scope.node.addValidation({
    validate: () => {
      const all = appObjectsForPass(root);
      const mine = (o: AppObject) => o.path.startsWith(prefix);
      const own = all.filter(mine).map((o) => o.object);
      // A pair is reported once: by the construct of the later object, or of the earlier one
      // when the later is not under any construct of this library.
      const responsible = (later: AppObject, earlier: AppObject) => mine(later) || (mine(earlier) && !checked(later));
      if (hasPropProblems(scope)) return duplicateErrors(all, responsible);
      // Schemas and the API server's rules; references and the security baseline are for the
      // whole set (writeManifests), as a chart may refer to objects made elsewhere. The same
      // problem in several of its objects is one line.
      return [
        ...duplicateErrors(all, responsible),
        ...appNamespaceErrors(all, mine, checked),
        ...groupByObject([...schemaErrors(own), ...apiRuleErrors(own, { references: false, namespaces: false })], own).map((g) => g.line),
      ];
    },
  });
}

/**
 * Makes `app.synth()` (and every `chart.toJson()`) run `validateApp` on the whole app, for apps
 * whose objects are not all made by this library's constructs. Problems are reported as
 * `[] <problem>` lines of cdk8s's validation error (the app's construct path is empty).
 */
export function validateAppAtSynth(app: App, options: ValidateOptions = {}): void {
  app.node.addValidation({ validate: () => validateApp(app, options) });
}

/** Every object of `app` with its construct path (synthesizes nothing, runs no validation). */
export function appObjects(app: App): AppObject[] {
  return renderedObjects(app);
}

/**
 * All problems of an app's final objects: duplicates anywhere in the app (operator-created
 * names included), then `validateManifests` of the whole set. Empty means valid.
 * `writeManifests` runs this and writes nothing when it finds a problem.
 */
export function validateApp(app: App, options: ValidateOptions = {}): string[] {
  const objects = appObjects(app);
  return [
    ...duplicateErrors(objects).map((e) => `app: ${e}`),
    ...validateManifests(objects.map((o) => o.object), options),
  ];
}
