/**
 * What the NetworkPolicies of a set of manifests let through, checked against what the pods are
 * wired to (docs/network.md): each URL in a container's environment that names a Service of the
 * manifests (`http://mlflow.ns.svc:5000`, `MLFLOW_S3_ENDPOINT_URL`, the sink's and mc's S3
 * endpoints) is a dependency, and both the client's egress and the server's ingress must allow
 * it, on the pods and target port the Service's DNAT leads to, as Kubernetes enforces them.
 * A client that is isolated for egress must also reach some DNS on port 53 to resolve the name.
 */
import { containersOf, entries, isEmptySelector, labelSelectorMatches, list, namespaceOf, urlParts } from './manifest-access';
import { NAMESPACE_NAME_LABEL } from './pod-defaults';

/** A pod spec inside an object, as manifest-validation finds them. */
export interface PolicyPod {
  readonly obj: any;
  readonly at: string;
  readonly spec: any;
  readonly labels: Record<string, unknown>;
}

type Report = (obj: any, at: string, message: string) => void;


/** The policy types in force: as written, else Ingress plus Egress when egress rules are given (the API server's defaulting). */
function policyTypes(np: any): string[] {
  const t = list(np?.spec?.policyTypes);
  if (t.length > 0) return t;
  return ['Ingress', ...(np?.spec?.egress !== undefined ? ['Egress'] : [])];
}

interface Endpoint {
  readonly ns: string;
  readonly labels: Record<string, unknown>;
}

/** Namespace labels as far as the manifests tell: a Namespace object's, plus the name label the API server adds. */
function namespaceLabels(objects: any[], ns: string): Record<string, unknown> {
  if (ns === '') return {};
  const obj = objects.find((o) => o?.kind === 'Namespace' && o?.metadata?.name === ns);
  return { ...(obj?.metadata?.labels ?? {}), [NAMESPACE_NAME_LABEL]: ns };
}

function peerMatches(peer: any, policyNs: string, other: Endpoint, objects: any[]): boolean {
  if (peer?.ipBlock !== undefined) return false;
  if (peer?.namespaceSelector !== undefined) {
    if (!labelSelectorMatches(peer.namespaceSelector, namespaceLabels(objects, other.ns))) return false;
  } else if (other.ns !== policyNs) {
    return false;
  }
  return peer?.podSelector === undefined || labelSelectorMatches(peer.podSelector, other.labels);
}

function portMatches(p: any, port: number, protocol: string, portNames: ReadonlyMap<string, number>): boolean {
  if ((p?.protocol ?? 'TCP') !== protocol) return false;
  if (p?.port === undefined) return true;
  const n = typeof p.port === 'string' ? portNames.get(p.port) : p.port;
  if (n === undefined) return false;
  return p.endPort !== undefined ? port >= n && port <= p.endPort : port === n;
}

/** The policies isolating `pod` in `direction`, or undefined when none does (everything allowed). */
function isolating(policies: any[], pod: Endpoint, direction: 'Ingress' | 'Egress'): any[] | undefined {
  const own = policies.filter((np) => namespaceOf(np) === pod.ns && policyTypes(np).includes(direction)
    && labelSelectorMatches(np.spec?.podSelector ?? {}, pod.labels));
  return own.length > 0 ? own : undefined;
}

/** Whether `direction` traffic of `pod` to/from `other` on `port` is allowed; the isolating policies' names when not. */
function allowed(policies: any[], objects: any[], pod: Endpoint, other: Endpoint, direction: 'Ingress' | 'Egress',
  port: number, protocol: string, portNames: ReadonlyMap<string, number>): string[] | undefined {
  const isolatedBy = isolating(policies, pod, direction);
  if (isolatedBy === undefined) return undefined;
  const [rulesKey, peersKey] = direction === 'Ingress' ? ['ingress', 'from'] : ['egress', 'to'];
  const ok = isolatedBy.some((np) => list(np.spec?.[rulesKey]).some((rule) => {
    const ports = list(rule?.ports);
    const peers = rule?.[peersKey];
    const portOk = ports.length === 0 || ports.some((p) => portMatches(p, port, protocol, portNames));
    const peerOk = peers === undefined || list(peers).length === 0 || list(peers).some((peer) => peerMatches(peer, namespaceOf(np), other, objects));
    return portOk && peerOk;
  }));
  return ok ? undefined : isolatedBy.map((np) => String(np.metadata?.name));
}

/** Whether an egress-isolated pod may reach some DNS server on 53 (UDP), whatever the peer. */
function dnsAllowed(policies: any[], pod: Endpoint): boolean {
  const isolatedBy = isolating(policies, pod, 'Egress');
  if (isolatedBy === undefined) return true;
  return isolatedBy.some((np) => list(np.spec?.egress).some((rule) => {
    const ports = list(rule?.ports);
    return ports.length === 0 || ports.some((p) => (p?.protocol ?? 'TCP') === 'UDP' && (p?.port === undefined || p.port === 53 || (p.endPort !== undefined && p.port <= 53 && p.endPort >= 53)));
  }));
}

/** `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.<domain>`: the Service a host name names. */
function serviceOf(host: string, clientNs: string): { name: string; ns: string } | undefined {
  const parts = host.split('.');
  if (parts.length === 1) return { name: parts[0], ns: clientNs };
  if (parts.length === 2 || parts[2] === 'svc') return { name: parts[0], ns: parts[1] };
  return undefined;
}

/** An http(s) URL's host and port: only those name a Service here. */
function urlOf(value: string): { host: string; port: number } | undefined {
  return /^https?:\/\//i.test(value) ? urlParts(value) : undefined;
}

function containerPorts(t: PolicyPod): { name?: string; containerPort: number; protocol?: string }[] {
  return [...list(t.spec?.initContainers), ...list(t.spec?.containers)].flatMap((c) => list(c?.ports));
}

/**
 * Every wired dependency (a Service URL in a container's env) the NetworkPolicies block, as
 * `report(clientObject, envPath, message)`: the client's egress, the server's ingress, or DNS.
 */
export function reachabilityErrors(objects: any[], pods: readonly PolicyPod[], report: Report): void {
  const policies = objects.filter((o) => o?.kind === 'NetworkPolicy' && o?.apiVersion === 'networking.k8s.io/v1');
  if (policies.length === 0) return;
  const services = objects.filter((o) => o?.kind === 'Service' && o?.apiVersion === 'v1');
  for (const t of pods) {
    const client: Endpoint = { ns: namespaceOf(t.obj), labels: t.labels };
    for (const { c, at } of containersOf(t)) {
      for (const [i, e] of list(c?.env).entries()) {
        if (typeof e?.value !== 'string') continue;
        const url = urlOf(e.value);
        const ref = url && serviceOf(url.host, client.ns);
        const svc = ref && services.find((s) => s.metadata?.name === ref.name && namespaceOf(s) === ref.ns);
        if (!url || !svc) continue;
        const sp = list(svc.spec?.ports).find((p) => p?.port === url.port);
        const selector = svc.spec?.selector;
        if (!sp || entries(selector).length === 0) continue;
        const eat = `${at}.env[${i}].value`;
        const what = `${e.name} = ${JSON.stringify(e.value)}`;
        if (!dnsAllowed(policies, client)) {
          report(t.obj, eat, `${what}: the pods cannot resolve ${url.host}: the NetworkPolicies isolating their egress allow nothing to port 53/UDP. Fix: allow egress to the cluster DNS (every construct's policy does; RmlopsDefaults.set(app, { dns }) moves it), or add a NetworkPolicy selecting these pods with egress to kube-system's kube-dns pods on 53 UDP and TCP (docs/network.md)`);
        }
        const servers = pods.filter((s) => namespaceOf(s.obj) === namespaceOf(svc) && labelSelectorMatches({ matchLabels: selector }, s.labels));
        for (const s of servers) {
          const server: Endpoint = { ns: namespaceOf(s.obj), labels: s.labels };
          const ports = containerPorts(s);
          const names = new Map(ports.filter((p) => typeof p?.name === 'string').map((p) => [p.name as string, p.containerPort]));
          const target = sp.targetPort === undefined ? sp.port : typeof sp.targetPort === 'number' ? sp.targetPort : names.get(sp.targetPort);
          if (typeof target !== 'number') continue;
          const protocol = sp.protocol ?? 'TCP';
          const serverName = `${s.obj.kind} ${namespaceOf(s.obj) ? `${namespaceOf(s.obj)}/` : ''}${s.obj.metadata?.name}`;
          const egress = allowed(policies, objects, client, server, 'Egress', target, protocol, names);
          if (egress) {
            report(t.obj, eat, `${what}: the pods cannot reach Service ${svc.metadata.name}'s pods (${serverName}, target port ${target}): no egress rule of the NetworkPolicies isolating them (${egress.join(', ')}) allows it. Fix: wire the client to the server by reference (\`tracking\`, \`artifactStore\`, \`PayloadLogging.toBucket\`), which writes the rule, or add a NetworkPolicy selecting these pods with egress to those pods on port ${target} (docs/network.md)`);
          }
          const ingress = allowed(policies, objects, server, client, 'Ingress', target, protocol, names);
          if (ingress) {
            report(t.obj, eat, `${what}: ${serverName}'s pods do not admit these pods on target port ${target}: no ingress rule of the NetworkPolicies isolating them (${ingress.join(', ')}) matches their labels and namespace. Fix: wire the client to the server by reference (the server's \`allowClient\`), or add a NetworkPolicy selecting the server's pods that admits these pods on port ${target} (docs/network.md)`);
          }
        }
      }
    }
  }
}

/** Warns about each Namespace of the manifests that no default-deny NetworkPolicy (every pod, both directions, no rule) isolates. */
export function isolationWarnings(objects: any[], report: Report): void {
  const denies = objects.filter((o) => o?.kind === 'NetworkPolicy' && isEmptySelector(o?.spec?.podSelector)
    && ['Ingress', 'Egress'].every((d) => policyTypes(o).includes(d)) && list(o?.spec?.ingress).length === 0 && list(o?.spec?.egress).length === 0);
  for (const ns of objects.filter((o) => o?.kind === 'Namespace')) {
    const name = ns.metadata?.name;
    if (typeof name !== 'string' || denies.some((d) => namespaceOf(d) === name)) continue;
    report(ns, 'metadata.name', `${JSON.stringify(name)} has no default-deny NetworkPolicy: pods no construct's policy selects (a debugging pod, a hand-written Deployment) send and receive anything. Fix: add \`new NamespaceIsolation(chart, 'isolation')\` to the chart of that namespace (docs/network.md)`);
  }
}
