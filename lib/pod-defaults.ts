/**
 * Defaults every pod of this library shares: recommended labels, the restricted security
 * context, resource requirements and in-cluster DNS names. Kept in one place so the constructs
 * cannot drift apart.
 */
import { Chart, Size, SizeRoundingBehavior } from 'cdk8s';
import { Cpu, k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { LABELS, MANAGED_BY, PART_OF } from './contract';
import {
  Problem, checkDnsLabel, checkNameWithSuffix, checkQuantity, checkRequestWithinLimit, checkServiceName, parseQuantity,
} from './validate';

/**
 * CPU and memory of one container. Memory is always limited; CPU is only if you ask. Each is a
 * quantity string (`"250m"`, `"512Mi"`) or a cdk8s-plus `Cpu` / cdk8s `Size`.
 */
export interface ComputeResources {
  /** CPU request (`"250m"` or `Cpu.millis(250)`). @default depends on the construct */
  readonly cpuRequest?: string | Cpu;
  /** Memory request (`"512Mi"` or `Size.mebibytes(512)`). @default depends on the construct */
  readonly memoryRequest?: string | Size;
  /** Memory limit (the container is OOM-killed above it). @default depends on the construct */
  readonly memoryLimit?: string | Size;
  /** CPU limit. @default - none: throttling adds latency, and the request already reserves CPU */
  readonly cpuLimit?: string | Cpu;
}

/** `ComputeResources` with every value as a quantity string (what the constructs render). */
export interface ResolvedResources {
  readonly cpuRequest?: string;
  readonly memoryRequest?: string;
  readonly memoryLimit?: string;
  readonly cpuLimit?: string;
}

/** A quantity string from a string, a cdk8s-plus `Cpu` or a cdk8s `Size` (whole MiB, else KiB, else bytes). */
export function quantityString(v: string | Cpu | Size | undefined): string | undefined {
  if (v === undefined || typeof v === 'string') return v;
  if (v && typeof (v as Cpu).amount === 'string') return (v as Cpu).amount;
  if (v && typeof (v as Size).toKibibytes === 'function') {
    const ki = (v as Size).toKibibytes({ rounding: SizeRoundingBehavior.NONE });
    if (Number.isInteger(ki / 1024)) return `${ki / 1024}Mi`;
    return Number.isInteger(ki) ? `${ki}Ki` : String(Math.round(ki * 1024));
  }
  return v as unknown as string;
}

function resolveResources(r: ComputeResources | undefined): ResolvedResources {
  const out: { -readonly [K in keyof ResolvedResources]: ResolvedResources[K] } = {};
  for (const key of ['cpuRequest', 'memoryRequest', 'memoryLimit', 'cpuLimit'] as const) {
    // An explicit `undefined` is kept: it removes the construct's default, as a spread would.
    if (r !== undefined && Object.prototype.hasOwnProperty.call(r, key)) out[key] = quantityString(r[key]);
  }
  return out;
}

/**
 * Merges user resources over construct defaults so that a partial prop never yields a request
 * above its limit (which the API server rejects):
 * - a limit given without its request lowers the default request to min(default request, limit);
 * - a request given without its limit raises the default memory limit to max(default limit, request).
 * When both are given, they are the user's: `checkResources` reports a request above its limit.
 * Unparsable values are kept as given; `checkResources` reports them.
 */
export function withDefaults(given: ComputeResources | undefined, defaults: Required<Omit<ResolvedResources, 'cpuLimit'>>): ResolvedResources {
  const g = resolveResources(given);
  const merged: { -readonly [K in keyof ResolvedResources]: ResolvedResources[K] } = { ...defaults, ...g };
  const lower = (dflt: string, limit: string): string => {
    const d = parseQuantity(dflt);
    const l = parseQuantity(limit);
    return d !== undefined && l !== undefined && l < d ? limit : dflt;
  };
  if (g.memoryRequest === undefined && g.memoryLimit !== undefined) merged.memoryRequest = lower(defaults.memoryRequest, g.memoryLimit);
  if (g.cpuRequest === undefined && g.cpuLimit !== undefined) merged.cpuRequest = lower(defaults.cpuRequest, g.cpuLimit);
  if (g.memoryLimit === undefined && g.memoryRequest !== undefined) {
    const r = parseQuantity(g.memoryRequest);
    const d = parseQuantity(defaults.memoryLimit);
    if (r !== undefined && d !== undefined && r > d) merged.memoryLimit = g.memoryRequest;
  }
  return merged;
}

// runc refuses memory limits below 6 MiB; a request below it could never be used as a limit either.
const MIN_CONTAINER_MEMORY = 6 * 2 ** 20;

/** Checks every quantity of a resources prop, and that no request exceeds its limit. */
export function checkResources(prop: string, r: ResolvedResources): Problem[] {
  const out: Problem[] = [];
  for (const key of ['cpuRequest', 'memoryRequest', 'memoryLimit', 'cpuLimit'] as const) {
    const v = r[key];
    if (v !== undefined) out.push(...checkQuantity(`${prop}.${key}`, v));
  }
  if (out.length > 0) return out;
  for (const key of ['memoryRequest', 'memoryLimit'] as const) {
    const v = r[key];
    const bytes = v === undefined ? undefined : parseQuantity(v);
    if (bytes !== undefined && bytes < MIN_CONTAINER_MEMORY) {
      out.push({ prop: `${prop}.${key}`, value: v, problem: `is ${bytes} bytes, less than a container runtime starts a container with (6Mi)`, fix: 'use a memory quantity of at least "6Mi", e.g. "64Mi"' });
    }
  }
  for (const key of ['cpuRequest', 'cpuLimit'] as const) {
    const v = r[key];
    const cores = v === undefined ? undefined : parseQuantity(v);
    if (cores !== undefined && cores < 0.001) {
      out.push({ prop: `${prop}.${key}`, value: v, problem: 'is less than 1m, the smallest CPU amount Kubernetes schedules', fix: 'use a CPU quantity of at least "1m", e.g. "50m"' });
    }
  }
  if (out.length > 0) return out;
  out.push(...checkRequestWithinLimit(prop, r.memoryRequest, r.memoryLimit, 'memoryRequest', 'memoryLimit'));
  out.push(...checkRequestWithinLimit(prop, r.cpuRequest, r.cpuLimit, 'cpuRequest', 'cpuLimit'));
  return out;
}

/**
 * Plain requests/limits maps (string quantities), shared by the k8s and Seldon renderings.
 * `scratch` (the size of the container's `/tmp` emptyDir) becomes its `ephemeral-storage`
 * request, so the scheduler only picks a node with that much free local disk; the emptyDir's
 * `sizeLimit` already bounds the directory, so no ephemeral-storage limit is set (it would also
 * count the container's logs and add a second eviction trigger).
 */
export function resourceMaps(r: ResolvedResources, scratch?: string): { requests: Record<string, string>; limits: Record<string, string> } {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (r.cpuRequest) requests.cpu = r.cpuRequest;
  if (r.memoryRequest) requests.memory = r.memoryRequest;
  if (scratch) requests['ephemeral-storage'] = scratch;
  if (r.cpuLimit) limits.cpu = r.cpuLimit;
  if (r.memoryLimit) limits.memory = r.memoryLimit;
  return { requests, limits };
}

/** Resources as the low-level k8s binding wants them (`scratch`: see resourceMaps). */
export function k8sResources(r: ResolvedResources, scratch?: string): k8s.ResourceRequirements {
  const { requests, limits } = resourceMaps(r, scratch);
  const q = (m: Record<string, string>) =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => [k, k8s.Quantity.fromString(v)]));
  return { requests: q(requests), limits: q(limits) };
}

/**
 * Container security context of the "restricted" Pod Security Standard, plus a read-only root
 * filesystem. A plain object so it fits both the k8s and the Seldon bindings.
 */
export function restrictedSecurityContext(runAsUser: number) {
  return {
    runAsNonRoot: true,
    runAsUser,
    runAsGroup: runAsUser,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Pod security context; `fsGroup` makes mounted volumes writable by the non-root user. */
export function podSecurityContext(runAsUser: number, fsGroup?: number) {
  return {
    runAsNonRoot: true,
    runAsUser,
    runAsGroup: runAsUser,
    ...(fsGroup !== undefined ? { fsGroup, fsGroupChangePolicy: 'OnRootMismatch' } : {}),
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Name and mount of the writable scratch directory every container gets (root fs is read-only). */
export const TMP_VOLUME = 'tmp';
export const TMP_PATH = '/tmp';

/**
 * The `emptyDir` scratch volume. On disk, not `medium: Memory` (that would count against the
 * memory limit). Writing past `sizeLimit` gets the pod evicted, so size it for the largest file
 * the program buffers there (model bundles, artifact uploads).
 */
export function tmpVolume(sizeLimit = '256Mi'): k8s.Volume {
  return { name: TMP_VOLUME, emptyDir: { sizeLimit: k8s.Quantity.fromString(sizeLimit) } };
}

/** Checks a `scratchSize` prop: a positive quantity. */
export function checkScratchSize(value: string): Problem[] {
  return checkQuantity('scratchSize', value).map((p) => ({ ...p, fix: `${p.fix} (the size of the /tmp emptyDir, e.g. "4Gi")` }));
}

/** What identifies one component instance. */
export interface LabelSpec {
  /** `app.kubernetes.io/name`: the application (e.g. `minio`). */
  readonly name: string;
  /** `app.kubernetes.io/instance`: the object name. */
  readonly instance: string;
  /** `app.kubernetes.io/component`: its role in the pipeline. */
  readonly component: string;
  /** `app.kubernetes.io/version`. */
  readonly version?: string;
}

/** The labels that select the pods of one instance (stable: never include the version). */
export function selectorLabels(spec: LabelSpec): Record<string, string> {
  return { [LABELS.name]: spec.name, [LABELS.instance]: spec.instance };
}

/** All recommended labels. */
export function recommendedLabels(spec: LabelSpec): Record<string, string> {
  return {
    ...selectorLabels(spec),
    [LABELS.component]: spec.component,
    [LABELS.partOf]: PART_OF,
    [LABELS.managedBy]: MANAGED_BY,
    ...(spec.version ? { [LABELS.version]: spec.version } : {}),
  };
}

/**
 * The labels of a construct's pods: all recommended ones (the version from the image tag) and the
 * stable selector. With `tracking`, MLflow's NetworkPolicy is opened to those pods.
 */
export function podLabels(scope: Construct, spec: LabelSpec, image: string, tracking?: { allowClient(client: NetworkClient): void }): {
  labels: Record<string, string>; podSelector: Record<string, string>;
} {
  const podSelector = selectorLabels(spec);
  const labels = recommendedLabels({ ...spec, version: imageVersionLabel(image) });
  tracking?.allowClient({ podLabels: podSelector, namespace: namespaceOf(scope), by: scope.node.path, labels });
  return { labels, podSelector };
}

/** Object metadata with an explicit name (no cdk8s hash suffix: snapshots and DNS names stay stable). */
export function metadata(name: string, labels: Record<string, string>): k8s.ObjectMeta {
  return { name, labels };
}

/** The namespace of the chart `scope` lives in, if the chart sets one. */
export function namespaceOf(scope: Construct): string | undefined {
  return Chart.of(scope).namespace;
}

/**
 * In-cluster DNS name of a Service: `<service>.<ns>.svc` when the chart has a namespace, otherwise
 * the short name (which resolves from pods in the same namespace). Deliberately without the
 * cluster domain: every pod's resolv.conf search path ends in `svc.<cluster-domain>`, so
 * `<service>.<ns>.svc` resolves on any cluster, whatever its domain (`cluster.local` or not).
 */
export function serviceHost(scope: Construct, service: string): string {
  const ns = namespaceOf(scope);
  return ns ? `${service}.${ns}.svc` : service;
}

/** The object name rule: the `name` prop, else the construct id. */
export function resolveName(id: string, name: string | undefined): string {
  return name ?? id;
}

/**
 * Checks the base name of a construct: a DNS-1123 label (DNS-1035 when it also names a Service),
 * short enough for every derived `<name><suffix>`. Reports the first problem only.
 */
export function checkObjectName(name: string, opts: { service?: boolean; suffixes?: string[] } = {}): Problem[] {
  const base = opts.service ? checkServiceName('name', name) : checkDnsLabel('name', name);
  if (base.length > 0) {
    return base.map((p) => ({ ...p, fix: `${p.fix} (set the \`name\` prop, or use such a construct id)` }));
  }
  for (const suffix of opts.suffixes ?? []) {
    const derived = checkNameWithSuffix('name', name, suffix);
    if (derived.length > 0) return derived;
  }
  return [];
}

/** Tag of an image reference for `app.kubernetes.io/version`, when it is a valid label value. */
export function imageVersionLabel(image: string): string | undefined {
  if (image.includes('@')) return undefined;
  const last = image.slice(image.lastIndexOf('/') + 1);
  const colon = last.indexOf(':');
  if (colon < 0) return undefined;
  const tag = last.slice(colon + 1);
  return tag.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(tag) ? tag : undefined;
}

/** A pod that may need to reach a server through its NetworkPolicy. */
export interface NetworkClient {
  /** Labels of the client pods. */
  readonly podLabels: Record<string, string>;
  /**
   * Namespace of the client pods. When it is not the server's, the policy admits them through a
   * namespaceSelector on the `kubernetes.io/metadata.name` label (set by the API server on every
   * namespace). @default - the server's namespace
   */
  readonly namespace?: string;
  /** Construct path of the client, for messages. @default - none */
  readonly by?: string;
  /** Every label the client pods carry, when known (a server owned elsewhere may select on others than `podLabels`). @default - `podLabels` */
  readonly labels?: Record<string, string>;
}

/** Pods with `podLabels` in every namespace with `namespaceLabels` (clients of other apps). */
export interface LabelledNamespaceClients {
  /** Labels of the client namespaces. */
  readonly namespaceLabels: Record<string, string>;
  /** Labels of the client pods in them. */
  readonly podLabels: Record<string, string>;
}

/** Label the API server sets on every Namespace to its name (Kubernetes >= 1.22). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * Pod Security Admission labels for a namespace holding these constructs: `enforce: baseline`,
 * because the Seldon executor sidecar the operator injects into every predictor pod does not meet
 * `restricted` (its security context comes from the operator alone); `warn` and `audit` at
 * `restricted`, which every container this library writes meets, so anything else is reported.
 */
export const POD_SECURITY_LABELS: Readonly<Record<string, string>> = {
  'pod-security.kubernetes.io/enforce': 'baseline',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/audit': 'restricted',
};

/**
 * The ingress rule of a server for `port` (MinIO's and MLflow's policies): each client by its pod
 * labels, in its own namespace when that is not the server's; each of `clientNamespaces` as a
 * whole (any pod in it, e.g. an ingress controller); each labelled namespace's labelled pods. No
 * peer means no rule at all (an empty `from` would admit every source): deny.
 */
export function ingressFrom(
  clients: NetworkClient[], clientNamespaces: readonly string[], port: number, own: string | undefined, labelled: readonly LabelledNamespaceClients[],
): k8s.NetworkPolicyIngressRule[] {
  const from = [
    ...networkPeers(clients, clientNamespaces, own),
    ...labelled.map((l) => ({ namespaceSelector: { matchLabels: { ...l.namespaceLabels } }, podSelector: { matchLabels: { ...l.podLabels } } })),
  ];
  if (from.length === 0) return [];
  return [{ from, ports: [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) }] }];
}

/**
 * The peers of a NetworkPolicy rule: each client by its pod labels (empty labels: every pod), in
 * its own namespace when that is not `own`; each of `clientNamespaces` as a whole. Duplicates once.
 */
export function networkPeers(clients: readonly NetworkClient[], clientNamespaces: readonly string[], own: string | undefined): k8s.NetworkPolicyPeer[] {
  const byName = (ns: string) => ({ matchLabels: { [NAMESPACE_NAME_LABEL]: ns } });
  const seen = new Set<string>();
  const from: k8s.NetworkPolicyPeer[] = [];
  for (const c of clients) {
    const ns = c.namespace !== undefined && c.namespace !== own ? c.namespace : undefined;
    const key = JSON.stringify([ns, c.podLabels]);
    if (seen.has(key)) continue;
    seen.add(key);
    from.push(ns === undefined
      ? { podSelector: { matchLabels: c.podLabels } }
      : { namespaceSelector: byName(ns), podSelector: { matchLabels: c.podLabels } });
  }
  for (const ns of new Set(clientNamespaces)) from.push({ namespaceSelector: byName(ns) });
  return from;
}

/**
 * A ReadWriteOnce PVC (one writer pod: the Deployments that mount one use `Recreate`).
 * `storageClassName` undefined means the cluster's default class.
 */
export function readWriteOnceClaim(
  scope: Construct, id: string, metadata: k8s.ObjectMeta, size: string, storageClassName?: string,
): k8s.KubePersistentVolumeClaim {
  return new k8s.KubePersistentVolumeClaim(scope, id, {
    metadata,
    spec: {
      accessModes: ['ReadWriteOnce'],
      storageClassName,
      resources: { requests: { storage: k8s.Quantity.fromString(size) } },
    },
  });
}
