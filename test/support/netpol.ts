// An evaluator of NetworkPolicies written for the tests, independently of lib/network-validation.ts:
// what Kubernetes lets through between two pods on a port, by the rules of
// https://kubernetes.io/docs/concepts/services-networking/network-policies/ (policies are
// additive; a pod no policy isolates in a direction allows everything in it; a peer's
// namespaceSelector matches namespace labels, `kubernetes.io/metadata.name` included; a peer
// without one is the policy's own namespace; an ipBlock matches addresses).

/** A pod (or an address outside the pods) as a peer. */
export interface Peer {
  readonly ns?: string;
  readonly labels?: Record<string, string>;
  /** An IPv4 address: a peer outside the pods (the API server's endpoint). */
  readonly ip?: string;
  /** Labels of the namespace besides its name label. */
  readonly nsLabels?: Record<string, string>;
}

const matches = (sel: any, labels: Record<string, string>): boolean =>
  Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v) && (sel?.matchExpressions ?? []).length === 0;

const ipNum = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipNum(ip) / size) === Math.floor(ipNum(base) / size);
}

function peerMatches(peer: any, policyNs: string, other: Peer): boolean {
  if (peer.ipBlock) return other.ip !== undefined && inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((e: string) => inCidr(other.ip!, e));
  if (other.ip !== undefined) return false;
  const nsLabels = { 'kubernetes.io/metadata.name': other.ns!, ...(other.nsLabels ?? {}) };
  if (peer.namespaceSelector ? !matches(peer.namespaceSelector, nsLabels) : other.ns !== policyNs) return false;
  return !peer.podSelector || matches(peer.podSelector, other.labels ?? {});
}

/** Whether `pod` may send (`Egress`) to or receive (`Ingress`) from `other` on `port`/`protocol`. */
export function allows(policies: any[], pod: Peer, direction: 'Ingress' | 'Egress', other: Peer, port: number, protocol = 'TCP'): boolean {
  const isolating = policies.filter((p) => p.metadata.namespace === pod.ns && matches(p.spec.podSelector, pod.labels ?? {})
    && (p.spec.policyTypes ?? ['Ingress']).includes(direction));
  if (isolating.length === 0) return true;
  const [rules, key] = direction === 'Ingress' ? ['ingress', 'from'] : ['egress', 'to'];
  return isolating.some((p) => (p.spec[rules] ?? []).some((rule: any) => {
    const portOk = !rule.ports?.length || rule.ports.some((x: any) => (x.protocol ?? 'TCP') === protocol && (x.port === undefined || x.port === port));
    const peerOk = !rule[key]?.length || rule[key].some((peer: any) => peerMatches(peer, p.metadata.namespace, other));
    return portOk && peerOk;
  }));
}

/** Whether a connection from `client` to `server` on `port` gets through: the client's egress and the server's ingress. */
export function connects(policies: any[], client: Peer, server: Peer, port: number, protocol = 'TCP'): boolean {
  const out = allows(policies, client, 'Egress', server, port, protocol);
  // An address outside the pods has no policies of its own.
  return server.ip !== undefined ? out : out && allows(policies, server, 'Ingress', client, port, protocol);
}

/** Every pod template of a set of objects, with its workload's kind/name, namespace and labels. */
export function podsOf(objects: any[]): { who: string; ns: string; labels: Record<string, string>; spec: any }[] {
  return objects.flatMap((o) => {
    const ns = o.metadata.namespace;
    const who = `${o.kind}/${o.metadata.name}`;
    if (o.kind === 'Deployment' || o.kind === 'Job') return [{ who, ns, labels: o.spec.template.metadata.labels, spec: o.spec.template.spec }];
    if (o.kind === 'CronJob') return [{ who, ns, labels: o.spec.jobTemplate.spec.template.metadata.labels, spec: o.spec.jobTemplate.spec.template.spec }];
    if (o.kind === 'SeldonDeployment') return o.spec.predictors.map((p: any) => ({ who: `${who}/${p.name}`, ns, labels: p.componentSpecs[0].metadata.labels, spec: p.componentSpecs[0].spec }));
    if (o.kind === 'InferenceService') return [{ who, ns, labels: o.spec.predictor.labels, spec: o.spec.predictor }];
    return [];
  });
}
