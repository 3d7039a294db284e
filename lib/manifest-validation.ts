/**
 * What `kubectl apply` and a running cluster would reject, checked offline on final objects: the
 * official schemas, the API server's own validation rules the schemas do not carry, references
 * between the objects, our Seldon and KServe rules and our security baseline. `writeManifests`, the
 * `rmlops-cdk8s validate` command and the tests all run these same checks.
 *
 * Every error names the object (`Kind namespace/name`) and the JSON path of the field.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import {
  NETWORK, ENV, ISTIO_GATEWAY_ANNOTATION, KSERVE_ANNOTATIONS, KSERVE_CONTAINER_NAME, KSERVE_MODE_NAMES, KSERVE_MODEL_HTTP_PORT, KSERVE_RESERVED_PORTS, MLFLOW_SERVER_ENV,
  R_MODEL_HTTP_PORT, SELDON_EXECUTOR_PORTS,
} from './contract';
import {
  Check, configMapKey, dns1035Label, dns1123Label, dns1123Subdomain, envVarName, ianaSvcName,
  labelValue, parseQuantity, pathSegmentName, qualifiedName, subdomainMax,
} from './k8s-names';
import { MONITORING_KINDS, builtInSchemaErrors, inferenceServiceSchemaErrors, monitoringSchemaErrors, seldonSchemaErrors, unknownFieldErrors } from './k8s-schemas';
import { seldonRolloutRules } from './rollout-rules';
import { containersOf, entries, isEmptySelector, labelSelectorMatches, list, namespaceOf, urlParts } from './manifest-access';
import { isolationWarnings, reachabilityErrors } from './network-validation';
import { suggestDnsLabel } from './validate';

const SELDON_API_VERSION = 'machinelearning.seldon.io/v1';
const SELDON_KIND = 'SeldonDeployment';
const KSERVE_API_VERSION = 'serving.kserve.io/v1beta1';
const KSERVE_KIND = 'InferenceService';

/** Which checks `validateManifests` runs besides the schemas and the API server's rules. */
export interface ValidateOptions {
  /** Our security baseline (Pod Security "restricted", resources, pinned images). @default true */
  readonly security?: boolean;
  /**
   * References between the objects: claims, ConfigMap volumes, Service and NetworkPolicy
   * selectors must find their objects in the set. Turn off to check a partial set. @default true
   */
  readonly references?: boolean;
  /**
   * PersistentVolumeClaims that exist in the cluster already (`name` or `namespace/name`), for
   * volumes that deliberately refer to a claim the manifests do not create (e.g. a training
   * job's `pipelineVolume`). @default []
   */
  readonly existingClaims?: readonly string[];
  /**
   * Receives each warning (`manifestWarnings`: what the manifests suggest is wrong but cannot
   * prove) when `writeManifests` writes. @default - printed to stderr as `warning: <line>`
   */
  readonly onWarning?: (warning: string) => void;
}

/**
 * All errors of a set of manifests that would be applied together. Empty means valid. The same
 * problem in several objects (a bad namespace, a missing securityContext field) is one line
 * naming them all.
 */
export function validateManifests(objects: any[], options: ValidateOptions = {}): string[] {
  return groupByObject(ungroupedErrors(objects, options), objects).map((g) => g.line);
}

/**
 * What the manifests suggest is wrong but cannot prove, one line each (grouped like errors): a
 * training script that never names the quality metric the Job gates on; a KServe s3:// model
 * without a service account for its credentials. Not part of `validateManifests`: valid
 * manifests may have them.
 */
export function manifestWarnings(objects: any[]): string[] {
  return groupByObject(ungroupedWarnings(objects), objects).map((g) => g.line);
}

function ungroupedWarnings(objects: any[]): string[] {
  const out: string[] = [];
  const valid = objects.filter((o) => o !== null && typeof o === 'object' && !Array.isArray(o));
  for (const obj of valid) {
    const report = reporter(out, obj);
    for (const t of podTemplates(obj)) qualityMetricRules(t, valid, report);
    if (isInferenceService(obj)) kserveStorageCredentialRules(obj.spec?.predictor ?? {}, list(obj.spec?.predictor?.containers), report);
    if (isSeldon(obj)) seldonTrafficRules(obj, report);
  }
  isolationWarnings(valid, (obj, at, message) => reporter(out, obj)(at, message));
  return out;
}

/** Wired dependencies the NetworkPolicies block (lib/network-validation.ts). */
function networkErrors(objects: any[]): string[] {
  const out: string[] = [];
  const valid = objects.filter((o) => o !== null && typeof o === 'object' && !Array.isArray(o));
  reachabilityErrors(valid, valid.flatMap(podTemplates), (obj, at, message) => reporter(out, obj)(at, message));
  return out;
}

function ungroupedErrors(objects: any[], options: ValidateOptions): string[] {
  const errors = [...schemaErrors(objects), ...apiRuleErrors(objects, options)];
  if (options.security ?? true) errors.push(...securityErrors(objects).map((e) => `security: ${e}`));
  if (options.references ?? true) errors.push(...networkErrors(objects));
  return errors;
}

/** One line of grouped errors, with the objects it names. */
interface GroupedError {
  readonly line: string;
  /** `Kind ns/name` of each object, in order; empty for a line about no object. */
  readonly objects: string[];
}

/**
 * Merges error lines that say the same about different objects (`<Kind ns/name>: <field>:
 * <problem>`, optionally after `security: `) into `<Kind ns/a>, <Kind ns/b>: <field>: <problem>`,
 * in the order of their first occurrence. Lines about no known object are kept as they are.
 */
export function groupByObject(errors: string[], objects: any[]): GroupedError[] {
  const whos = [...new Set(objects.filter((o) => o !== null && typeof o === 'object').map(describeObject))].sort((a, b) => b.length - a.length);
  const groups = new Map<string, { prefix: string; rest: string; objects: string[] }>();
  const out: (string | { key: string })[] = [];
  for (const e of errors) {
    const prefix = e.startsWith('security: ') ? 'security: ' : '';
    const body = e.slice(prefix.length);
    const who = whos.find((w) => body.startsWith(`${w}: `));
    if (who === undefined) {
      out.push(e);
      continue;
    }
    const rest = body.slice(who.length + 2);
    const key = `${prefix}\u0000${rest}`;
    const g = groups.get(key);
    if (g) {
      if (!g.objects.includes(who)) g.objects.push(who);
      continue;
    }
    groups.set(key, { prefix, rest, objects: [who] });
    out.push({ key });
  }
  return out.map((o) => {
    if (typeof o === 'string') return { line: o, objects: [] };
    const g = groups.get(o.key)!;
    return { line: `${g.prefix}${g.objects.join(', ')}: ${g.rest}`, objects: g.objects };
  });
}

/** Reads every document of a (multi-document) YAML file; empty documents are dropped. */
export function loadManifestFile(file: string): any[] {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  const out: any[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/** The YAML files of a directory (not recursive), sorted, each with its objects. */
export function loadManifestDir(dir: string): { file: string; objects: any[] }[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => ({ file: path.join(dir, f), objects: loadManifestFile(path.join(dir, f)) }));
}

/**
 * First line of every file `writeManifests` writes: how it tells its own files from anyone
 * else's, which it neither replaces nor removes.
 */
export const MANIFEST_MARKER = '# Generated by rmlops-cdk8s writeManifests: edit the app, not this file (the next write replaces it).';

/**
 * The file `writeManifests` writes beside the manifests, listing the files of that write (one a
 * line after a marker line). `validateDirectory` reports marked files it does not list as stale.
 * No .yaml/.json extension: `kubectl apply -f <dir>` skips it.
 */
export const MANIFEST_INDEX = '.rmlops-manifests';

/** Whether `file` starts with the marker `writeManifests` writes (reads only its first bytes). */
export function isWrittenManifest(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(MANIFEST_MARKER.length + 1);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const head = buf.subarray(0, n).toString('utf8');
    return head === `${MANIFEST_MARKER}\n` || head === MANIFEST_MARKER;
  } finally {
    fs.closeSync(fd);
  }
}

/** The files a `MANIFEST_INDEX` lists, or undefined when `dir` has none (or it is not ours). */
export function readManifestIndex(dir: string): string[] | undefined {
  const index = path.join(dir, MANIFEST_INDEX);
  if (!fs.existsSync(index) || !fs.statSync(index).isFile()) return undefined;
  const [first, ...rest] = fs.readFileSync(index, 'utf8').split('\n');
  if (first !== MANIFEST_MARKER) return undefined;
  return rest.filter((l) => l !== '');
}

// Files writeManifests wrote to `dir` at another time than the rest: marked, but not in the
// index of the last write (a renamed or removed object, copied over without --delete); and
// files the index lists that are gone.
function staleManifestErrors(dir: string, files: string[]): string[] {
  const listed = readManifestIndex(dir);
  if (listed === undefined) return [];
  const listedSet = new Set(listed);
  const errors: string[] = [];
  for (const f of files) {
    if (!listedSet.has(f) && isWrittenManifest(path.join(dir, f))) {
      errors.push(`${f}: stale manifest: written by writeManifests, but not by its last write to this folder (not listed in ${MANIFEST_INDEX}; a renamed or removed object?). Fix: delete it, or write the app again with writeManifests, which replaces the whole folder`);
    }
  }
  const present = new Set(files);
  const missing = listed.filter((f) => !present.has(f));
  if (missing.length > 0) {
    errors.push(`${MANIFEST_INDEX}: the last writeManifests wrote ${missing.join(', ')}, missing from ${dir}. Fix: write the app again with writeManifests, or restore the file(s)`);
  }
  return errors;
}

/** What `validateDirectory` found. */
export interface DirectoryResult {
  /** Problems, each prefixed with the file of the object (`<file>: Kind ns/name: field: problem`). */
  readonly errors: string[];
  /** `manifestWarnings`, prefixed the same way. */
  readonly warnings: string[];
  /** YAML files read. */
  readonly files: number;
  /** Objects in them. */
  readonly objects: number;
}

/**
 * Validates the YAML files of a directory as one set (what `kubectl apply -f <dir>` would send).
 * A file that is not YAML, or a directory without any, is a problem too; so is a stale file
 * `writeManifests` wrote at an earlier time than the rest (see `MANIFEST_INDEX`).
 */
export function validateDirectory(dir: string, options: ValidateOptions = {}): DirectoryResult {
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  const errors: string[] = [];
  const objects: { file: string; obj: any }[] = [];
  for (const f of files) {
    try {
      for (const obj of loadManifestFile(path.join(dir, f))) objects.push({ file: f, obj });
    } catch (e) {
      errors.push(`${f}: not valid YAML: ${(e as Error).message.replace(/^.*?: /, '')}`);
    }
  }
  if (files.length === 0) errors.push(`${dir}: no .yaml or .yml files`);
  errors.push(...staleManifestErrors(dir, files));
  const fileOf = new Map<string, string[]>();
  for (const { file, obj } of objects) {
    const who = describeObject(obj);
    fileOf.set(who, [...(fileOf.get(who) ?? []), file]);
  }
  const all = objects.map((o) => o.obj);
  const withFiles = (g: GroupedError) => {
    const inFiles = [...new Set(g.objects.flatMap((w) => fileOf.get(w) ?? []))];
    return inFiles.length > 0 ? `${inFiles.join(', ')}: ${g.line}` : g.line;
  };
  errors.push(...groupByObject(ungroupedErrors(all, options), all).map(withFiles));
  const warnings = groupByObject(ungroupedWarnings(all), all).map(withFiles);
  return { errors, warnings, files: files.length, objects: objects.length };
}

// ---------------------------------------------------------------------------------------------
// Helpers

type Report = (at: string, message: string) => void;

/** `Kind namespace/name`, how every error starts. */
export function describeObject(obj: any): string {
  const kind = typeof obj?.kind === 'string' ? obj.kind : '(no kind)';
  const name = typeof obj?.metadata?.name === 'string' ? obj.metadata.name : '(no name)';
  const ns = obj?.metadata?.namespace;
  return typeof ns === 'string' && ns !== '' ? `${kind} ${ns}/${name}` : `${kind} ${name}`;
}

function reporter(out: string[], obj: any): Report {
  const who = describeObject(obj);
  return (at, message) => out.push(`${who}: ${at}: ${message}`);
}

function check(report: Report, at: string, value: unknown, rule: Check): void {
  if (typeof value !== 'string') {
    report(at, `${JSON.stringify(value)} must be a string`);
    return;
  }
  const bad = rule(value);
  if (bad) report(at, bad);
}

function isSeldon(obj: any): boolean {
  return obj?.kind === SELDON_KIND && obj?.apiVersion === SELDON_API_VERSION;
}

function isInferenceService(obj: any): boolean {
  return obj?.kind === KSERVE_KIND && obj?.apiVersion === KSERVE_API_VERSION;
}

/** A pod spec inside an object, wherever the kind keeps it. */
interface PodTemplate {
  readonly obj: any;
  /** JSON path of the pod spec. */
  readonly at: string;
  readonly spec: any;
  readonly labels: Record<string, unknown>;
  /** Volume names a StatefulSet's volumeClaimTemplates add to every pod. */
  readonly claimTemplates: string[];
  /** JSON path of the pod labels. */
  readonly labelsAt: string;
}

const TEMPLATE_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'];

function podTemplates(obj: any): PodTemplate[] {
  const kind = obj?.kind;
  const make = (at: string, spec: any, labels: any, claimTemplates: string[] = [], labelsAt = at.replace(/\.spec$/, '.metadata.labels')): PodTemplate[] =>
    spec && typeof spec === 'object' ? [{ obj, at, spec, labels: labels ?? {}, claimTemplates, labelsAt }] : [];
  if (kind === 'Pod') return make('spec', obj.spec, obj.metadata?.labels);
  if (TEMPLATE_KINDS.includes(kind)) {
    const claims = list(obj.spec?.volumeClaimTemplates).map((c) => c?.metadata?.name).filter((n) => typeof n === 'string');
    return make('spec.template.spec', obj.spec?.template?.spec, obj.spec?.template?.metadata?.labels, claims);
  }
  if (kind === 'CronJob') {
    const t = obj.spec?.jobTemplate?.spec?.template;
    return make('spec.jobTemplate.spec.template.spec', t?.spec, t?.metadata?.labels);
  }
  if (isSeldon(obj)) {
    return list(obj.spec?.predictors).flatMap((p, i) =>
      list(p?.componentSpecs).flatMap((c, j) =>
        make(`spec.predictors[${i}].componentSpecs[${j}].spec`, c?.spec, c?.metadata?.labels)));
  }
  // A custom predictor is a pod spec inline (containers, volumes, securityContext...) with the
  // pod template's labels beside it; other predictor forms (model formats) have no containers.
  if (isInferenceService(obj) && list(obj.spec?.predictor?.containers).length > 0) {
    return make('spec.predictor', obj.spec.predictor, obj.spec.predictor.labels, [], 'spec.predictor.labels');
  }
  return [];
}


// ---------------------------------------------------------------------------------------------
// Schemas

/** Schema validation of every object; an object of a kind with no schema is itself an error. */
export function schemaErrors(objects: any[]): string[] {
  const out: string[] = [];
  for (const obj of objects) {
    const report = reporter(out, obj);
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      out.push(`${JSON.stringify(obj)}: a manifest must be an object`);
      continue;
    }
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
      report('(root)', 'apiVersion and kind must be strings');
      continue;
    }
    if (obj.kind === KSERVE_KIND && /^serving\.kserve\.io\//.test(obj.apiVersion)) {
      if (obj.apiVersion !== KSERVE_API_VERSION) {
        report('apiVersion', `${JSON.stringify(obj.apiVersion)}: only ${KSERVE_API_VERSION} is supported (KServe 0.20.0 CRD)`);
        continue;
      }
      for (const e of inferenceServiceSchemaErrors(obj)) report(e.at, e.message);
      continue;
    }
    if (MONITORING_KINDS.includes(obj.kind) && /^monitoring\.coreos\.com\//.test(obj.apiVersion)) {
      if (obj.apiVersion !== 'monitoring.coreos.com/v1') {
        report('apiVersion', `${JSON.stringify(obj.apiVersion)}: only monitoring.coreos.com/v1 is supported (prometheus-operator 0.85.0 CRDs)`);
        continue;
      }
      for (const e of monitoringSchemaErrors(obj)) report(e.at, e.message);
      continue;
    }
    if (obj.kind === SELDON_KIND) {
      if (obj.apiVersion !== SELDON_API_VERSION) {
        report('apiVersion', `${JSON.stringify(obj.apiVersion)}: only ${SELDON_API_VERSION} is supported (Seldon Core 1.17.1 CRD, v1)`);
        continue;
      }
      for (const e of seldonSchemaErrors(obj)) report(e.at, e.message);
      continue;
    }
    const errors = builtInSchemaErrors(obj);
    if (errors === undefined) {
      report('(root)', `no schema for apiVersion ${JSON.stringify(obj.apiVersion)} kind ${JSON.stringify(obj.kind)} (unknown kind, or not in kubernetes-models / Kubernetes v1.27)`);
      continue;
    }
    for (const e of errors) report(e.at, e.message);
    for (const e of unknownFieldErrors(obj) ?? []) report(e.at, e.message);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// API-server rules

/** How the API server (and the pods a controller creates) constrain metadata.name, per kind. */
function nameRule(obj: any): Check {
  switch (obj.kind) {
    case 'Namespace':
      return dns1123Label;
    case 'Service':
      return dns1035Label;
    case 'StatefulSet':
      return dns1123Label; // becomes every pod's hostname
    case 'Deployment':
    case 'ReplicaSet':
    case 'DaemonSet':
    case 'Job':
      return subdomainMax(63); // also a label value on the pods it creates
    case 'CronJob':
      return subdomainMax(52); // the controller appends an 11-character suffix for its Jobs
    case 'Role':
    case 'ClusterRole':
    case 'RoleBinding':
    case 'ClusterRoleBinding':
      return pathSegmentName;
    default:
      if (isSeldon(obj)) return dns1123Label; // prefixes the Deployments and Services Seldon creates
      if (isInferenceService(obj)) return dns1035Label; // KServe's webhook: a letter first; prefixes Services
      return dns1123Subdomain;
  }
}

/** API-server validation the schemas do not express, plus cross-object references. */
export function apiRuleErrors(
  objects: any[],
  options: Pick<ValidateOptions, 'existingClaims' | 'references'> & { readonly namespaces?: boolean } = {},
): string[] {
  const refs = options.references ?? true;
  const out: string[] = [];
  const valid = objects.filter((o) => o !== null && typeof o === 'object' && !Array.isArray(o));
  // `namespaces: false`: the caller checks them over a larger set, to report each bad one once.
  if (options.namespaces ?? true) out.push(...namespaceErrors(valid));
  const templates = valid.flatMap(podTemplates);
  const seen = new Map<string, number>();
  for (const [index, obj] of valid.entries()) {
    const report = reporter(out, obj);
    const group = String(obj.apiVersion ?? '').split('/').slice(0, -1).join('/');
    const key = `${group}|${obj.kind}|${namespaceOf(obj)}|${obj.metadata?.name}`;
    if (seen.has(key)) report('metadata.name', `duplicate object (also object #${seen.get(key)} in the set; the cluster keeps only one)`);
    else seen.set(key, index);

    metadataRules(obj, report);
    for (const t of podTemplates(obj)) {
      podRules(t, refs ? valid : undefined, options.existingClaims ?? [], report);
      endpointRules(t, report);
    }
    if (obj.kind === 'Secret' || obj.kind === 'ServiceAccount') kserveS3CredentialRules(obj, report);
    workloadRules(obj, report);
    if (obj.kind === 'Service') serviceRules(obj, refs ? templates : undefined, report);
    if (obj.kind === 'NetworkPolicy' && refs) networkPolicyRules(obj, templates, report);
    if (obj.kind === 'ConfigMap') configMapRules(obj, report);
    if (isSeldon(obj)) {
      seldonRules(obj, report);
      seldonRolloutRules(obj, report);
    }
    if (isInferenceService(obj)) kserveRules(obj, report);
  }
  return out;
}

/** The API server's limit on a ConfigMap's data and binaryData together, in bytes. */
export const CONFIG_MAP_MAX_BYTES = 1024 * 1024;

function configMapRules(cm: any, report: Report): void {
  let total = 0;
  const keys = new Set<string>();
  for (const field of ['data', 'binaryData'] as const) {
    for (const [k, v] of entries(cm[field])) {
      check(report, `${field}[${JSON.stringify(k)}]`, k, configMapKey);
      if (keys.has(k)) report(`${field}[${JSON.stringify(k)}]`, 'key is also in data (keys must be unique across data and binaryData)');
      keys.add(k);
      if (typeof v !== 'string') report(`${field}[${JSON.stringify(k)}]`, `value ${JSON.stringify(v)} must be a string`);
      else total += field === 'data' ? Buffer.byteLength(v, 'utf8') : Buffer.from(v, 'base64').length;
    }
  }
  if (total > CONFIG_MAP_MAX_BYTES) report('data', `${total} bytes of data, more than a ConfigMap holds (${CONFIG_MAP_MAX_BYTES})`);
}

/**
 * Built-in kinds (Kubernetes 1.27) and the CRDs this project knows that are not namespaced: the
 * API server ignores a namespace given to them.
 */
const CLUSTER_SCOPED_KINDS: ReadonlySet<string> = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'StorageClass', 'CSIDriver', 'CSINode', 'VolumeAttachment', 'ClusterRole',
  'ClusterRoleBinding', 'CustomResourceDefinition', 'APIService', 'PriorityClass', 'RuntimeClass', 'IngressClass',
  'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
  'CertificateSigningRequest', 'FlowSchema', 'PriorityLevelConfiguration', 'ComponentStatus',
  // KServe 0.20
  'ClusterServingRuntime', 'ClusterStorageContainer', 'ClusterLocalModel',
]);

/** The namespace of an object: a DNS label, and none on a cluster-scoped kind. */
export function namespaceErrors(objects: any[]): string[] {
  const out: string[] = [];
  for (const obj of objects) {
    if (obj === null || typeof obj !== 'object' || obj.metadata?.namespace === undefined) continue;
    const ns = obj.metadata.namespace;
    const report = reporter(out, obj);
    if (typeof ns === 'string' && CLUSTER_SCOPED_KINDS.has(obj.kind)) {
      report('metadata.namespace', `${JSON.stringify(ns)}: a ${obj.kind} is cluster-scoped, so the API server drops the namespace (the object is not in it, and deleting the namespace leaves it). Fix: create it in a Chart without a namespace (e.g. the Namespace in a chart of its own)`);
    } else if (typeof ns !== 'string') {
      check(report, 'metadata.namespace', ns, dns1123Label);
    } else {
      const bad = dns1123Label(ns);
      if (bad) report('metadata.namespace', `${bad}. Fix: use a namespace such as ${JSON.stringify(suggestDnsLabel(ns))}`);
    }
  }
  return out;
}

function metadataRules(obj: any, report: Report): void {
  const md = obj.metadata;
  if (md === undefined || md === null) {
    report('metadata', 'missing');
    return;
  }
  if (md.name === undefined) report('metadata.name', 'missing (generateName is not used by this project)');
  else check(report, 'metadata.name', md.name, nameRule(obj));
  labelRules(md.labels, 'metadata.labels', report);
  for (const [k] of entries(md.annotations)) {
    const bad = qualifiedName(k);
    if (bad) report(`metadata.annotations[${JSON.stringify(k)}]`, `key ${bad}`);
  }
}

function labelRules(labels: unknown, at: string, report: Report): void {
  for (const [k, v] of entries(labels)) {
    const keyBad = qualifiedName(k);
    if (keyBad) report(`${at}[${JSON.stringify(k)}]`, `key ${keyBad}`);
    if (typeof v !== 'string') report(`${at}[${JSON.stringify(k)}]`, `value ${JSON.stringify(v)} must be a string`);
    else {
      const valueBad = labelValue(v);
      if (valueBad) report(`${at}[${JSON.stringify(k)}]`, `value ${valueBad}`);
    }
  }
}

function portNumber(report: Report, at: string, value: unknown, min = 1): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 65535) {
    report(at, `${JSON.stringify(value)} is not a port number (${min}-65535)`);
  }
}

/** `objects` undefined: references to other objects are not checked. */
function podRules(t: PodTemplate, objects: any[] | undefined, existingClaims: readonly string[], report: Report): void {
  const spec = t.spec;
  if (list(spec.containers).length === 0) report(`${t.at}.containers`, 'a pod needs at least one container');
  labelRules(t.labels, t.labelsAt, report);

  // Volumes
  const volumes = new Set<string>(t.claimTemplates);
  for (const [i, v] of list(spec.volumes).entries()) {
    const at = `${t.at}.volumes[${i}]`;
    check(report, `${at}.name`, v?.name, dns1123Label);
    if (volumes.has(v?.name)) report(`${at}.name`, `duplicate volume name ${JSON.stringify(v?.name)}`);
    volumes.add(v?.name);
    if (v?.persistentVolumeClaim) {
      const claim = v.persistentVolumeClaim.claimName;
      check(report, `${at}.persistentVolumeClaim.claimName`, claim, dns1123Subdomain);
      const ns = namespaceOf(t.obj);
      const exists = !objects || existingClaims.includes(claim) || existingClaims.includes(`${ns}/${claim}`) || objects.some((o) =>
        o.kind === 'PersistentVolumeClaim' && o.metadata?.name === claim && namespaceOf(o) === ns);
      if (!exists) {
        report(`${at}.persistentVolumeClaim.claimName`, `no PersistentVolumeClaim ${JSON.stringify(claim)} in the manifests (same namespace) nor in options.existingClaims`);
      }
    }
    if (v?.configMap) {
      check(report, `${at}.configMap.name`, v.configMap.name, dns1123Subdomain);
      const ns = namespaceOf(t.obj);
      const exists = !objects || objects.some((o) => o.kind === 'ConfigMap' && o.metadata?.name === v.configMap.name && namespaceOf(o) === ns);
      // Without `optional: true` the kubelet keeps the pod in ContainerCreating until the ConfigMap exists.
      if (!exists && v.configMap.optional !== true) {
        report(`${at}.configMap.name`, `no ConfigMap ${JSON.stringify(v.configMap.name)} in the manifests (same namespace)`);
      }
    }
    if (v?.secret) check(report, `${at}.secret.secretName`, v.secret.secretName, dns1123Subdomain);
  }

  // Containers
  const containerNames = new Set<string>();
  const portNames = new Map<string, string>();
  const portKeys = new Map<string, string>();
  for (const { c, at, init } of containersOf(t)) {
    check(report, `${at}.name`, c?.name, dns1123Label);
    if (containerNames.has(c?.name)) report(`${at}.name`, `duplicate container name ${JSON.stringify(c?.name)} in the pod`);
    containerNames.add(c?.name);
    if (typeof c?.image !== 'string' || c.image.trim() === '') report(`${at}.image`, 'missing');

    const ownPorts = new Set<string>();
    for (const [i, p] of list(c?.ports).entries()) {
      const pat = `${at}.ports[${i}]`;
      portNumber(report, `${pat}.containerPort`, p?.containerPort);
      if (p?.containerPort === undefined) report(`${pat}.containerPort`, 'missing');
      portNumber(report, `${pat}.hostPort`, p?.hostPort, 0);
      if (p?.name !== undefined) {
        check(report, `${pat}.name`, p.name, ianaSvcName);
        if (portNames.has(p.name)) report(`${pat}.name`, `duplicate port name ${JSON.stringify(p.name)} in the pod (also ${portNames.get(p.name)})`);
        else portNames.set(p.name, pat);
        ownPorts.add(p.name);
      }
      // Init containers have exited before the others bind, so only running containers clash.
      if (!init) {
        const key = `${p?.containerPort}/${p?.protocol ?? 'TCP'}`;
        if (portKeys.has(key)) report(`${pat}.containerPort`, `${key} is declared twice in the pod (also ${portKeys.get(key)})`);
        else portKeys.set(key, pat);
      }
    }

    for (const [i, e] of list(c?.env).entries()) {
      const eat = `${at}.env[${i}]`;
      check(report, `${eat}.name`, e?.name, envVarName);
      for (const ref of ['secretKeyRef', 'configMapKeyRef'] as const) {
        const r = e?.valueFrom?.[ref];
        if (!r) continue;
        check(report, `${eat}.valueFrom.${ref}.name`, r.name, dns1123Subdomain);
        check(report, `${eat}.valueFrom.${ref}.key`, r.key, configMapKey);
      }
    }
    for (const [i, e] of list(c?.envFrom).entries()) {
      if (e?.secretRef) check(report, `${at}.envFrom[${i}].secretRef.name`, e.secretRef.name, dns1123Subdomain);
      if (e?.configMapRef) check(report, `${at}.envFrom[${i}].configMapRef.name`, e.configMapRef.name, dns1123Subdomain);
    }

    const mountPaths = new Set<string>();
    for (const [i, m] of list(c?.volumeMounts).entries()) {
      const mat = `${at}.volumeMounts[${i}]`;
      if (!volumes.has(m?.name)) report(`${mat}.name`, `no volume named ${JSON.stringify(m?.name)} in the pod`);
      if (typeof m?.mountPath !== 'string' || !m.mountPath.startsWith('/')) report(`${mat}.mountPath`, `${JSON.stringify(m?.mountPath)} must be an absolute path`);
      else if (mountPaths.has(m.mountPath)) report(`${mat}.mountPath`, `${JSON.stringify(m.mountPath)} is mounted twice in the container`);
      else mountPaths.add(m.mountPath);
    }

    resourceRules(c?.resources, `${at}.resources`, report);

    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
      const pr = c?.[probe];
      if (!pr) continue;
      for (const handler of ['httpGet', 'tcpSocket', 'grpc'] as const) {
        const port = pr[handler]?.port;
        if (port === undefined) continue;
        const pat = `${at}.${probe}.${handler}.port`;
        if (typeof port === 'string') {
          // The kubelet resolves a named probe port against this container's own ports only.
          if (!ownPorts.has(port)) report(pat, `named port ${JSON.stringify(port)} is not declared by this container`);
        } else portNumber(report, pat, port);
      }
    }
  }
}

function resourceRules(resources: any, at: string, report: Report): void {
  const parsed: Record<'requests' | 'limits', Record<string, number>> = { requests: {}, limits: {} };
  for (const kind of ['requests', 'limits'] as const) {
    for (const [name, q] of entries(resources?.[kind])) {
      const v = parseQuantity(q);
      if (typeof v === 'string') report(`${at}.${kind}.${name}`, v);
      else if (v < 0) report(`${at}.${kind}.${name}`, `${JSON.stringify(q)} must not be negative`);
      else parsed[kind][name] = v;
    }
  }
  for (const [name, request] of Object.entries(parsed.requests)) {
    const limit = parsed.limits[name];
    if (limit !== undefined && request > limit) {
      report(`${at}.requests.${name}`, `request ${JSON.stringify(resources.requests[name])} exceeds limit ${JSON.stringify(resources.limits[name])}`);
    }
  }
}

function workloadRules(obj: any, report: Report): void {
  const kind = obj.kind;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(kind)) {
    const selector = obj.spec?.selector;
    const labels = obj.spec?.template?.metadata?.labels ?? {};
    if (isEmptySelector(selector)) report('spec.selector', `an empty selector is invalid for a ${kind}`);
    else if (!labelSelectorMatches(selector, labels)) report('spec.selector', 'does not match spec.template.metadata.labels');
    const rp = obj.spec?.template?.spec?.restartPolicy;
    if (rp !== undefined && rp !== 'Always') report('spec.template.spec.restartPolicy', `${JSON.stringify(rp)}: a ${kind} only allows Always`);
  }
  if (kind === 'Job' || kind === 'CronJob') {
    const at = kind === 'Job' ? 'spec.template.spec.restartPolicy' : 'spec.jobTemplate.spec.template.spec.restartPolicy';
    const rp = kind === 'Job' ? obj.spec?.template?.spec?.restartPolicy : obj.spec?.jobTemplate?.spec?.template?.spec?.restartPolicy;
    if (rp !== 'Never' && rp !== 'OnFailure') report(at, `${JSON.stringify(rp)}: a ${kind}'s pods need restartPolicy Never or OnFailure`);
  }
  if (kind === 'Job' && obj.spec?.manualSelector === true && !labelSelectorMatches(obj.spec?.selector, obj.spec?.template?.metadata?.labels ?? {})) {
    report('spec.selector', 'does not match spec.template.metadata.labels');
  }
}

function serviceRules(svc: any, templates: PodTemplate[] | undefined, report: Report): void {
  const ports = list(svc.spec?.ports);
  const names = new Set<string>();
  const numbers = new Set<string>();
  for (const [i, p] of ports.entries()) {
    const at = `spec.ports[${i}]`;
    portNumber(report, `${at}.port`, p?.port);
    if (p?.nodePort !== undefined) portNumber(report, `${at}.nodePort`, p.nodePort);
    if (p?.name === undefined) {
      if (ports.length > 1) report(`${at}.name`, 'required when a Service has more than one port');
    } else {
      check(report, `${at}.name`, p.name, dns1123Label);
      if (names.has(p.name)) report(`${at}.name`, `duplicate Service port name ${JSON.stringify(p.name)}`);
      names.add(p.name);
    }
    const key = `${p?.port}/${p?.protocol ?? 'TCP'}`;
    if (numbers.has(key)) report(`${at}.port`, `duplicate Service port ${key}`);
    numbers.add(key);
    if (typeof p?.targetPort === 'string') check(report, `${at}.targetPort`, p.targetPort, ianaSvcName);
    else if (p?.targetPort !== undefined) portNumber(report, `${at}.targetPort`, p.targetPort);
  }

  const selector = svc.spec?.selector;
  if (!templates || entries(selector).length === 0) return; // no selector: endpoints are managed elsewhere
  const selected = templates.filter((t) =>
    namespaceOf(t.obj) === namespaceOf(svc) && labelSelectorMatches({ matchLabels: selector }, t.labels));
  if (selected.length === 0) {
    report('spec.selector', `${JSON.stringify(selector)} matches no pod template in the manifests (same namespace)`);
    return;
  }
  // A named targetPort resolves per pod; a pod without it gets no endpoint.
  for (const [i, p] of ports.entries()) {
    if (typeof p?.targetPort !== 'string') continue;
    for (const t of selected) {
      const declared = list(t.spec.containers).some((c) => list(c?.ports).some((cp) => cp?.name === p.targetPort));
      if (!declared) report(`spec.ports[${i}].targetPort`, `named port ${JSON.stringify(p.targetPort)} is not declared in the pods of ${describeObject(t.obj)} (${t.at})`);
    }
  }
}

/**
 * A NetworkPolicy whose selectors match none of our pods is valid to the API server but wrong:
 * either it protects nothing, or it admits a client that does not exist while the real one is
 * cut off. Peers in other namespaces (namespaceSelector, ipBlock) are not ours to check.
 */
function networkPolicyRules(np: any, templates: PodTemplate[], report: Report): void {
  const local = templates.filter((t) => namespaceOf(t.obj) === namespaceOf(np));
  const matchesSome = (selector: any) => local.some((t) => labelSelectorMatches(selector, t.labels));
  const selector = np.spec?.podSelector;
  if (!isEmptySelector(selector) && !isClientSelector(selector) && !matchesSome(selector)) {
    report('spec.podSelector', `${JSON.stringify(selector)} matches no pod template in the manifests (same namespace)`);
  }
  for (const [dir, peersKey] of [['ingress', 'from'], ['egress', 'to']] as const) {
    for (const [i, rule] of list(np.spec?.[dir]).entries()) {
      for (const [j, peer] of list(rule?.[peersKey]).entries()) {
        if (peer?.podSelector === undefined || peer?.namespaceSelector !== undefined) continue;
        // `client.rmlops.io/<model>` selects the model's clients, which label themselves: pods of
        // the user's, not of these manifests.
        if (isClientSelector(peer.podSelector)) continue;
        if (!isEmptySelector(peer.podSelector) && !matchesSome(peer.podSelector)) {
          report(`spec.${dir}[${i}].${peersKey}[${j}].podSelector`, `${JSON.stringify(peer.podSelector)} matches no pod template in the manifests (same namespace)`);
        }
      }
    }
  }
}

function isClientSelector(selector: any): boolean {
  const keys = entries(selector?.matchLabels).map(([k]) => k);
  return keys.length > 0 && list(selector?.matchExpressions).length === 0 && keys.every((k) => k.startsWith(NETWORK.clientLabelPrefix));
}

function seldonRules(sdep: any, report: Report): void {
  for (const [i, predictor] of list(sdep.spec?.predictors).entries()) {
    const at = `spec.predictors[${i}]`;
    check(report, `${at}.name`, predictor?.name, dns1123Label);
    const containerNames = new Set<string>();
    for (const [j, cs] of list(predictor?.componentSpecs).entries()) {
      for (const [k, c] of list(cs?.spec?.containers).entries()) {
        containerNames.add(c?.name);
        for (const [l, p] of list(c?.ports).entries()) {
          if ((SELDON_EXECUTOR_PORTS as readonly unknown[]).includes(p?.containerPort)) {
            report(
              `${at}.componentSpecs[${j}].spec.containers[${k}].ports[${l}].containerPort`,
              `${p.containerPort} is bound by the Seldon executor sidecar in every predictor pod (${SELDON_EXECUTOR_PORTS.join(', ')}): use ${R_MODEL_HTTP_PORT}`,
            );
          }
        }
      }
    }
    // The operator pairs each graph node with the container of the same name; a node without
    // one gets a default server only when it names a prepackaged implementation.
    const visit = (node: any, nat: string): void => {
      if (!node || typeof node !== 'object') return;
      if (node.implementation === undefined && !containerNames.has(node.name)) {
        report(`${nat}.name`, `graph node ${JSON.stringify(node.name)} matches no container in ${at}.componentSpecs (containers: ${JSON.stringify([...containerNames])})`);
      }
      for (const [c, child] of list(node.children).entries()) visit(child, `${nat}.children[${c}]`);
    };
    if (predictor?.graph === undefined) report(`${at}.graph`, 'missing');
    else visit(predictor.graph, `${at}.graph`);
  }
}

/** Pod fields of a Knative revision behind a feature flag, disabled by default (serving pkg/apis/config/features.go, fieldmask.go). */
const KNATIVE_FLAGGED_POD_FIELDS: readonly [string, string][] = [
  ['affinity', 'kubernetes.podspec-affinity'],
  ['nodeSelector', 'kubernetes.podspec-nodeselector'],
  ['tolerations', 'kubernetes.podspec-tolerations'],
  ['topologySpreadConstraints', 'kubernetes.podspec-topologyspreadconstraints'],
  ['runtimeClassName', 'kubernetes.podspec-runtimeclassname'],
  ['priorityClassName', 'kubernetes.podspec-priorityclassname'],
  ['schedulerName', 'kubernetes.podspec-schedulername'],
  ['hostAliases', 'kubernetes.podspec-hostaliases'],
  ['shareProcessNamespace', 'kubernetes.podspec-shareprocessnamespace'],
  ['dnsPolicy', 'kubernetes.podspec-dnspolicy'],
  ['dnsConfig', 'kubernetes.podspec-dnsconfig'],
];
/** Environment variables Knative sets in the user container and refuses from the user (serving k8s_validation.go). */
const KNATIVE_RESERVED_ENV = ['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION'];

/**
 * What KServe 0.20's webhooks and controller, and Knative's for Serverless mode, reject or
 * silently ignore in a custom predictor (docs/kserve.md has the source of each rule). Without
 * the deploymentMode annotation the cluster's default decides; the Knative rules are then checked
 * too, since KServe's shipped default is Knative.
 */
function kserveRules(isvc: any, report: Report): void {
  const annotation = isvc.metadata?.annotations?.[KSERVE_ANNOTATIONS.deploymentMode];
  const mode = annotation === undefined ? 'Knative' : KSERVE_MODE_NAMES[annotation];
  if (annotation !== undefined && mode === undefined) {
    report(`metadata.annotations[${JSON.stringify(KSERVE_ANNOTATIONS.deploymentMode)}]`, `${JSON.stringify(annotation)} is not a KServe deployment mode (Knative, Standard, ModelMesh; Serverless and RawDeployment are their old names)`);
  }
  const name = isvc.metadata?.name;
  // Knative names the first revision <ksvc>-00001; both it and the predictor Service are DNS labels.
  const suffix = mode === 'Knative' ? '-predictor-00001' : '-predictor';
  if (typeof name === 'string' && name.length + suffix.length > 63) {
    report('metadata.name', `${JSON.stringify(name)} is ${name.length} characters; KServe derives "${name}${suffix}", past the 63-character limit of a DNS label (at most ${63 - suffix.length})`);
  }
  const p = isvc.spec?.predictor ?? {};
  const containers = list(p.containers);
  if (containers.length === 0) return;
  if (containers[0]?.name !== KSERVE_CONTAINER_NAME) {
    report('spec.predictor.containers[0].name', `${JSON.stringify(containers[0]?.name)}: KServe runs the custom predictor's first container as "${KSERVE_CONTAINER_NAME}" and replaces it by the container of that name`);
  }
  let declared = 0;
  for (const [i, c] of containers.entries()) {
    for (const [j, port] of list(c?.ports).entries()) {
      declared += 1;
      const at = `spec.predictor.containers[${i}].ports[${j}]`;
      const owner = (KSERVE_RESERVED_PORTS as Record<number, string>)[port?.containerPort];
      if (owner !== undefined) report(`${at}.containerPort`, `${port.containerPort} is owned by ${owner} in every KServe predictor pod: use ${KSERVE_MODEL_HTTP_PORT}`);
      if (mode === 'Knative' && port?.name !== undefined && !['http1', 'h2c'].includes(port.name)) {
        report(`${at}.name`, `${JSON.stringify(port.name)}: Knative accepts only "http1" or "h2c" (or no name)`);
      }
    }
    if (mode === 'Knative') {
      for (const [j, e] of list(c?.env).entries()) {
        if (KNATIVE_RESERVED_ENV.includes(e?.name)) report(`spec.predictor.containers[${i}].env[${j}].name`, `${e.name} is set by Knative in Serverless mode and rejected by its webhook`);
      }
    }
  }
  if (mode === 'Knative') {
    if (declared > 1) report('spec.predictor.containers', `${declared} container ports: Knative routes to one port per pod and rejects more`);
    if (p.securityContext !== undefined) report('spec.predictor.securityContext', 'Knative rejects a pod-level securityContext unless the cluster enables kubernetes.podspec-securitycontext: set the fields on each container');
    if (list(p.initContainers).length > 0) report('spec.predictor.initContainers', 'Knative rejects init containers unless the cluster enables kubernetes.podspec-init-containers');
    // Pod fields Knative's webhook masks unless a feature flag of config-features enables them.
    for (const [field, flag] of KNATIVE_FLAGGED_POD_FIELDS) {
      if (p[field] !== undefined) report(`spec.predictor.${field}`, `Knative rejects it unless the cluster enables ${flag} (config-features)`);
    }
    if (p.terminationGracePeriodSeconds !== undefined) {
      report('spec.predictor.terminationGracePeriodSeconds', 'Knative masks it on every revision (no feature flag allows it); it derives the grace period from the revision timeout');
    }
    for (const [i, v] of list(p.volumes).entries()) {
      if (v?.persistentVolumeClaim !== undefined) report(`spec.predictor.volumes[${i}].persistentVolumeClaim`, 'Knative rejects PersistentVolumeClaim volumes unless the cluster enables kubernetes.podspec-persistent-volume-claim');
    }
    for (const [i, c] of containers.entries()) {
      if (list(c?.securityContext?.capabilities?.add).length > 0) {
        report(`spec.predictor.containers[${i}].securityContext.capabilities.add`, 'Knative rejects added capabilities unless the cluster enables kubernetes.containerspec-addcapabilities');
      }
      if (c?.lifecycle !== undefined) report(`spec.predictor.containers[${i}].lifecycle`, 'Knative does not allow lifecycle hooks on a user container');
    }
    if (p.scaleMetric !== undefined && !['concurrency', 'rps'].includes(p.scaleMetric)) {
      report('spec.predictor.scaleMetric', `${JSON.stringify(p.scaleMetric)}: Knative's autoscaler (Serverless mode) scales on concurrency or rps; KServe's webhook rejects other metrics`);
    }
  }
  if (mode === 'Standard') {
    if (p.canaryTrafficPercent !== undefined) report('spec.predictor.canaryTrafficPercent', 'splits traffic between Knative revisions; in Standard (RawDeployment) mode KServe ignores it silently');
    if (p.minReplicas === 0) report('spec.predictor.minReplicas', '0: Standard (RawDeployment) mode cannot scale to zero; KServe raises the HorizontalPodAutoscaler\'s minimum to 1');
    if (p.scaleMetric !== undefined && !['cpu', 'memory'].includes(p.scaleMetric)) {
      report('spec.predictor.scaleMetric', `${JSON.stringify(p.scaleMetric)}: the HorizontalPodAutoscaler of Standard (RawDeployment) mode scales on cpu or memory`);
    }
  }
  if (typeof p.minReplicas === 'number' && typeof p.maxReplicas === 'number' && p.maxReplicas !== 0 && p.maxReplicas < p.minReplicas) {
    report('spec.predictor.maxReplicas', `${p.maxReplicas} is below minReplicas (${p.minReplicas})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Endpoints and settings that are valid YAML but cannot work in a cluster

/** Env vars holding an S3 endpoint URL (MLflow's, and the AWS SDKs'). */
const S3_ENDPOINT_ENV = [MLFLOW_SERVER_ENV.s3Endpoint, 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'S3_ENDPOINT'];
/** KServe's annotations on the Secret (or ServiceAccount) its storage initializer takes S3 credentials from. */
const KSERVE_S3_ENDPOINT_ANNOTATION = 'serving.kserve.io/s3-endpoint';
const KSERVE_S3_VIRTUAL_BUCKET_ANNOTATION = 'serving.kserve.io/s3-usevirtualbucket';
/** The quality metric train_main() uses when QUALITY_METRIC is not set (r/R/training.R). */
const DEFAULT_QUALITY_METRIC = 'accuracy';


/** A loopback name or address: in a pod, the pod itself. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || host === '0.0.0.0' || host === '::';
}

/** A name only the cluster's DNS resolves: a bare Service name, `<svc>.<ns>`, or under `.svc`. */
function isInClusterName(host: string): boolean {
  return !host.includes('.') || /\.svc(\.cluster\.local)?$/.test(host) || /^[a-z0-9-]+\.[a-z0-9-]+$/.test(host);
}

// A loopback address is the pod itself: right only when a container of the same pod listens there.
function servedInPod(t: PodTemplate, port: number): boolean {
  return list(t.spec.containers).some((c) => list(c?.ports).some((p) => p?.containerPort === port));
}

/**
 * MLflow's tracking URI and S3 endpoints as a pod sees them: not localhost (the pod itself), and
 * for S3 path-style (a bucket in the host name is virtual-hosted style, which MinIO and other
 * in-cluster stores do not answer, and which cluster DNS does not resolve).
 */
function endpointRules(t: PodTemplate, report: Report): void {
  for (const { c, at } of containersOf(t)) {
    const buckets = [...list(c?.args), ...list(c?.command), ...list(c?.env).map((e) => e?.value)]
      .filter((v): v is string => typeof v === 'string')
      .flatMap((v) => [...v.matchAll(/s3:\/\/([a-z0-9][a-z0-9.-]*)/g)].map((m) => m[1]));
    for (const [i, e] of list(c?.env).entries()) {
      if (typeof e?.value !== 'string') continue;
      const eat = `${at}.env[${i}].value`;
      const parts = urlParts(e.value);
      if (!parts) continue;
      if (e.name === ENV.trackingUri && isLoopback(parts.host) && !servedInPod(t, parts.port)) {
        report(eat, `${e.name} = ${JSON.stringify(e.value)}: localhost in a pod is the pod itself, not the MLflow server. Fix: use the MLflow Service's in-cluster DNS name, e.g. "http://mlflow.<namespace>.svc:5000" (pass the MlflowServer as \`tracking\`)`);
      }
      if (S3_ENDPOINT_ENV.includes(e.name)) {
        if (isLoopback(parts.host) && !servedInPod(t, parts.port)) {
          report(eat, `${e.name} = ${JSON.stringify(e.value)}: localhost in a pod is the pod itself, not the S3 store. Fix: use the store's in-cluster DNS name, e.g. "http://minio.<namespace>.svc:9000"`);
        }
        const bucket = buckets.find((b) => parts.host.startsWith(`${b}.`));
        if (bucket !== undefined) {
          report(eat, `${e.name} = ${JSON.stringify(e.value)}: virtual-hosted style (the bucket ${JSON.stringify(bucket)} in the host name); MinIO answers path-style only and the cluster's DNS has no such name. Fix: the endpoint without the bucket, e.g. "http://${parts.host.slice(bucket.length + 1)}:${parts.port}"`);
        }
      }
    }
  }
}

/**
 * KServe's storage initializer downloads an s3:// model with the credentials of the predictor's
 * service account (its Secrets annotated serving.kserve.io/s3-endpoint), or those a storage key
 * names; with neither, the default account usually has none and the pod stays in Init:Error.
 */
function kserveStorageCredentialRules(p: any, containers: any[], report: Report): void {
  const uris = [
    ...containers.flatMap((c, i) => list(c?.env).map((e, j) => ({ at: `spec.predictor.containers[${i}].env[${j}].value`, uri: e?.name === ENV.storageUri ? e?.value : undefined }))),
    ...entries(p).filter(([, v]) => v !== null && typeof v === 'object' && !Array.isArray(v)).map(([k, v]) => ({ at: `spec.predictor.${k}.storageUri`, uri: (v as any).storageUri })),
  ];
  const s3 = uris.find((u) => typeof u.uri === 'string' && u.uri.startsWith('s3://'));
  if (!s3 || p.serviceAccountName !== undefined || p.model?.storage?.key !== undefined) return;
  report(s3.at, `${JSON.stringify(s3.uri)}: KServe's storage initializer downloads s3:// with the S3 credentials of the predictor's service account, and spec.predictor.serviceAccountName names none (the namespace's default account usually has no S3 credentials: the pod stays in Init). Fix: set serviceAccountName (a KServeRModel prop) to a ServiceAccount whose Secret holds the keys and the ${KSERVE_S3_ENDPOINT_ANNOTATION} annotation (docs/kserve.md), or to "default" if that account has them (e.g. workload identity)`);
}

/** KServe's S3 credentials Secret (or ServiceAccount): the endpoint annotation as the storage initializer's pod sees it. */
function kserveS3CredentialRules(obj: any, report: Report): void {
  const annotations = obj.metadata?.annotations ?? {};
  const endpoint = annotations[KSERVE_S3_ENDPOINT_ANNOTATION];
  const at = (k: string) => `metadata.annotations[${JSON.stringify(k)}]`;
  if (typeof endpoint !== 'string') return;
  const parts = urlParts(endpoint);
  if (parts && isLoopback(parts.host)) {
    report(at(KSERVE_S3_ENDPOINT_ANNOTATION), `${JSON.stringify(endpoint)}: localhost in the storage initializer's pod is that pod, not the S3 store. Fix: the store's in-cluster DNS name, e.g. "minio.<namespace>.svc:9000"`);
  }
  if (parts && isInClusterName(parts.host) && String(annotations[KSERVE_S3_VIRTUAL_BUCKET_ANNOTATION]).toLowerCase() === 'true') {
    report(at(KSERVE_S3_VIRTUAL_BUCKET_ANNOTATION), `"true" with the in-cluster endpoint ${JSON.stringify(endpoint)}: virtual-hosted style puts the bucket in the host name, which the cluster's DNS does not resolve and MinIO does not answer. Fix: remove it (path-style is KServe's default)`);
  }
}

/**
 * A traffic split between predictors is done only by the ingress the Seldon operator writes
 * routes for (an Istio VirtualService, or Ambassador Mappings): each Service `<name>-<predictor>`
 * selects one predictor's pods, so without that ingress a client gets whichever predictor's Service
 * it calls, whatever the weights (seen on a real node: docs/real-node.md, "The canary split").
 * The Istio gateway annotation says the split is meant for Istio; Ambassador needs no annotation,
 * so this is a warning, not an error.
 */
function seldonTrafficRules(obj: any, report: Report): void {
  const annotations = obj.metadata?.annotations ?? {};
  if (ISTIO_GATEWAY_ANNOTATION in annotations || Object.keys(annotations).some((k) => k.startsWith('seldon.io/ambassador'))) return;
  const predictors = list(obj.spec?.predictors);
  const routed = predictors.map((p, i) => ({ p, i })).filter(({ p }) => p?.shadow !== true);
  const split = routed.filter(({ p }) => typeof p?.traffic === 'number' && p.traffic > 0 && p.traffic < 100);
  if (routed.length < 2 || split.length === 0) return;
  const name = obj.metadata?.name;
  const { p, i } = split[0];
  report(`spec.predictors[${i}].traffic`, `${p.traffic}: the operator splits traffic only in the routes it writes for Istio or Ambassador; the Services ${routed.map(({ p: q }) => `${name}-${q?.name}`).join(', ')} each reach one predictor, so without that ingress the weights do nothing. Fix: install the operator with Istio (and annotate ${ISTIO_GATEWAY_ANNOTATION}: SeldonRModel ingress "istio") or Ambassador, and send requests through it; or ignore this if the operator runs with Ambassador`);
}

/**
 * The training script in the manifests (a ConfigMap mounted where TRAINING_SCRIPT points) must
 * produce the quality metric: R checks it after training and fails the Job, so the alias never
 * moves. Offline this can only be a text check: the metric's name must appear in the script.
 */
function qualityMetricRules(t: PodTemplate, objects: any[], report: Report): void {
  for (const { c, at } of containersOf(t)) {
    const env = list(c?.env);
    const value = (name: string) => env.find((e) => e?.name === name)?.value;
    const scriptPath = value(ENV.trainingScript);
    if (typeof scriptPath !== 'string' || typeof value(ENV.trackingUri) !== 'string') continue;
    const script = mountedConfigMapFile(t, c, scriptPath, objects);
    if (!script) continue;
    const metricIndex = env.findIndex((e) => e?.name === ENV.qualityMetric);
    const metric = metricIndex >= 0 ? env[metricIndex]?.value : DEFAULT_QUALITY_METRIC;
    if (typeof metric !== 'string' || new RegExp(`(^|[^A-Za-z0-9._])${metric.replace(/[.]/g, '\\.')}($|[^A-Za-z0-9._])`).test(script.text)) continue;
    const named = metricNames(script.text);
    report(metricIndex >= 0 ? `${at}.env[${metricIndex}].value` : `${at}.env`,
      `${metricIndex >= 0 ? `${ENV.qualityMetric} = ${JSON.stringify(metric)}` : `${ENV.qualityMetric} is not set, so the quality metric is ${JSON.stringify(metric)}`}, which the training script ${scriptPath} (${script.from}) never names: unless train() returns it in metrics, the Job fails its quality gate and the alias never moves. Fix: set qualityMetric to a metric train() returns${named.length > 0 ? ` (the script names ${named.map((n) => JSON.stringify(n)).join(', ')})` : ''}, or name it in the script`);
  }
}

/** The text of the ConfigMap key mounted at `file` in container `c`, when the manifests hold it. */
function mountedConfigMapFile(t: PodTemplate, c: any, file: string, objects: any[]): { text: string; from: string } | undefined {
  for (const m of list(c?.volumeMounts)) {
    if (typeof m?.mountPath !== 'string' || !file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`)) continue;
    const rel = file.slice(m.mountPath.replace(/\/$/, '').length + 1);
    const volume = list(t.spec.volumes).find((v) => v?.name === m.name);
    const name = volume?.configMap?.name;
    if (typeof name !== 'string') continue;
    const item = list(volume.configMap.items).find((i) => i?.path === rel);
    const key = item ? item.key : list(volume.configMap.items).length > 0 ? undefined : rel;
    const cm = objects.find((o) => o?.kind === 'ConfigMap' && o.metadata?.name === name && namespaceOf(o) === namespaceOf(t.obj));
    const text = key === undefined ? undefined : cm?.data?.[key];
    if (typeof text === 'string') return { text, from: `ConfigMap ${describeObject(cm).replace(/^ConfigMap /, '')} key ${JSON.stringify(key)}` };
  }
  return undefined;
}

/** Names in `metrics = list(a = ..., b = ...)` of an R script (best effort, for the fix). */
function metricNames(text: string): string[] {
  const m = /metrics\s*=\s*list\(([^()]*(?:\([^()]*(?:\([^()]*\)[^()]*)*\)[^()]*)*)\)/.exec(text);
  if (!m) return [];
  // Top-level `name =` only: nested calls are removed first.
  let inner = m[1];
  for (let i = 0; i < 5; i++) inner = inner.replace(/\([^()]*\)/g, '');
  return [...inner.matchAll(/(?:^|,)\s*([A-Za-z.][A-Za-z0-9._]*)\s*=(?!=)/g)].map((x) => x[1]);
}

// ---------------------------------------------------------------------------------------------
// Security baseline

/**
 * Our baseline (Pod Security "restricted" plus resources and pinned images) for every container
 * and init container of every pod template, SeldonDeployment component specs included.
 */
export function securityErrors(objects: any[]): string[] {
  const out: string[] = [];
  for (const obj of objects) {
    if (obj === null || typeof obj !== 'object') continue;
    const report = reporter(out, obj);
    for (const t of podTemplates(obj)) {
      const pod = t.spec.securityContext ?? {};
      for (const { c, at } of containersOf(t)) {
        const sc = c?.securityContext ?? {};
        const runAsNonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
        if (runAsNonRoot !== true) report(`${at}.securityContext.runAsNonRoot`, `must be true (here or in ${t.at}.securityContext)`);
        if ((sc.runAsUser ?? pod.runAsUser) === 0) report(`${at}.securityContext.runAsUser`, '0 (root) contradicts runAsNonRoot');
        if (sc.readOnlyRootFilesystem !== true) report(`${at}.securityContext.readOnlyRootFilesystem`, 'must be true');
        if (sc.allowPrivilegeEscalation !== false) report(`${at}.securityContext.allowPrivilegeEscalation`, 'must be false');
        if (sc.privileged === true) report(`${at}.securityContext.privileged`, 'must not be true');
        if (!list(sc.capabilities?.drop).includes('ALL')) report(`${at}.securityContext.capabilities.drop`, 'must include "ALL"');
        if (list(sc.capabilities?.add).length > 0) report(`${at}.securityContext.capabilities.add`, 'must be empty');
        const seccomp = (sc.seccompProfile ?? pod.seccompProfile)?.type;
        if (seccomp !== 'RuntimeDefault') report(`${at}.securityContext.seccompProfile.type`, `${JSON.stringify(seccomp)}: must be "RuntimeDefault" (here or in ${t.at}.securityContext)`);
        for (const [kind, name] of [['requests', 'cpu'], ['requests', 'memory'], ['limits', 'memory']]) {
          if (c?.resources?.[kind]?.[name] === undefined) report(`${at}.resources.${kind}.${name}`, 'must be set');
        }
        const bad = imageProblem(c?.image);
        if (bad) report(`${at}.image`, bad);
      }
    }
  }
  return out;
}

/** Why an image reference is not pinned, or undefined when it has a non-latest tag or a digest. */
export function imageProblem(image: unknown): string | undefined {
  if (typeof image !== 'string' || image === '') return 'missing';
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined;
  if (image.includes('@')) return `${JSON.stringify(image)} has a malformed digest (expected @sha256:<64 hex>)`;
  // A ':' after the last '/' separates the tag; one before it is a registry port.
  const lastSlash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon <= lastSlash) return `${JSON.stringify(image)} has no tag: pin an explicit version or a digest`;
  if (image.slice(colon + 1) === 'latest') return `${JSON.stringify(image)} uses the "latest" tag: pin an explicit version or a digest`;
  return undefined;
}
