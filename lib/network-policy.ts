/**
 * The pieces every construct's NetworkPolicy is made of (docs/network.md): where a server's pods
 * are (`NetworkEndpoint`), the DNS rule every pod gets, and the policy of one workload, which
 * selects its pods for both directions: ingress only from registered clients, egress only to
 * DNS and to the servers it is wired to by reference.
 *
 * Written as Kubernetes enforces policies: a rule selects pod IPs (or address blocks) and the
 * container port traffic arrives on. Egress to a Service is checked after the Service's DNAT, so
 * a rule names the server pods and their target port, never a ClusterIP or a Service port.
 */
import { Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { NETWORK } from './contract';
import { NAMESPACE_NAME_LABEL, namespaceOf } from './pod-defaults';
import { RmlopsDefaults } from './rmlops-defaults';
import { Problem } from './validate';

/** An address block for egress to something outside the cluster (an S3 service, the API server). */
export interface NetworkIpBlock {
  /** CIDR, e.g. `"52.95.128.0/21"` or `"10.0.0.5/32"`. */
  readonly cidr: string;
  /** CIDRs inside `cidr` to leave out. @default [] */
  readonly except?: readonly string[];
}

/**
 * Where the pods of a server are, as an egress rule names them: pods by labels (in a namespace),
 * or address blocks; and the port they receive on (the container port, after DNAT).
 */
export interface NetworkEndpoint {
  /** Namespace of the server pods. @default - the client's own */
  readonly namespace?: string;
  /** Labels of the server pods (ignored with `ipBlocks`). @default - every pod of `namespace` */
  readonly podSelector?: Record<string, string>;
  /** Address blocks instead of pods, for a server outside the cluster. @default - pods */
  readonly ipBlocks?: readonly NetworkIpBlock[];
  /** The port the server's pods (or addresses) receive on. */
  readonly port: number;
  /** What the server is, for messages and docs. @default "server" */
  readonly description?: string;
}

/** The cluster DNS an every pod's egress is opened to (`RmlopsDefaults.set(app, { dns })`). */
export interface DnsEgress {
  /** Namespace of the DNS pods. @default "kube-system" */
  readonly namespace?: string;
  /** Labels of the DNS pods. @default `{"k8s-app": "kube-dns"}` (CoreDNS keeps kube-dns's label) */
  readonly podLabels?: Record<string, string>;
  /** Port the DNS pods receive on, UDP and TCP (the target port: CoreDNS's 53). @default 53 */
  readonly port?: number;
}

const tcp = (port: number): k8s.NetworkPolicyPort => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) });

/** A namespaceSelector on the name label the API server puts on every namespace. */
export function namespaceByName(ns: string): k8s.LabelSelector {
  return { matchLabels: { [NAMESPACE_NAME_LABEL]: ns } };
}

/** The label a pod carries to be admitted to `model`'s prediction port. */
export function modelClientLabel(model: string): Record<string, string> {
  return { [`${NETWORK.clientLabelPrefix}${model}`]: NETWORK.clientLabelValue };
}

/** The egress rule to one endpoint, from pods in namespace `own`. */
export function endpointRule(e: NetworkEndpoint, own: string | undefined): k8s.NetworkPolicyEgressRule {
  if (e.ipBlocks !== undefined && e.ipBlocks.length > 0) {
    return { to: e.ipBlocks.map((b) => ({ ipBlock: { cidr: b.cidr, ...(b.except?.length ? { except: [...b.except] } : {}) } })), ports: [tcp(e.port)] };
  }
  const pods = { matchLabels: { ...(e.podSelector ?? {}) } };
  const peer: k8s.NetworkPolicyPeer = e.namespace !== undefined && e.namespace !== own
    ? { namespaceSelector: namespaceByName(e.namespace), podSelector: pods }
    : { podSelector: pods };
  return { to: [peer], ports: [tcp(e.port)] };
}

/** The DNS in effect at `scope`, with the defaults filled in. */
export function dnsOf(scope: Construct): Required<DnsEgress> {
  const d = RmlopsDefaults.of(scope).dns ?? {};
  return { namespace: d.namespace ?? NETWORK.dns.namespace, podLabels: d.podLabels ?? { ...NETWORK.dns.podLabels }, port: d.port ?? NETWORK.dns.port };
}

/** Egress to the cluster DNS, UDP and TCP (TCP for answers past 512 bytes). */
export function dnsRule(scope: Construct): k8s.NetworkPolicyEgressRule {
  const d = dnsOf(scope);
  return {
    to: [{ namespaceSelector: namespaceByName(d.namespace), podSelector: { matchLabels: { ...d.podLabels } } }],
    ports: [{ protocol: 'UDP', port: k8s.IntOrString.fromNumber(d.port) }, tcp(d.port)],
  };
}

/** What one workload's policy admits and reaches. Both read at synth, so clients may register late. */
export interface WorkloadPolicySpec {
  /** Ingress rules; none means no ingress at all. */
  readonly ingress?: () => k8s.NetworkPolicyIngressRule[];
  /** The servers the pods reach (DNS is always added). */
  readonly egress: () => readonly (NetworkEndpoint | undefined)[];
}

/**
 * One NetworkPolicy for the pods of a workload, isolating them in both directions: ingress from
 * `spec.ingress` only, egress to DNS and `spec.egress` only. Duplicate rules appear once.
 */
export function workloadNetworkPolicy(
  scope: Construct, id: string, metadata: k8s.ObjectMeta, podSelector: Record<string, string>, spec: WorkloadPolicySpec,
): k8s.KubeNetworkPolicy {
  const own = namespaceOf(scope);
  return new k8s.KubeNetworkPolicy(scope, id, {
    metadata,
    spec: {
      podSelector: { matchLabels: podSelector },
      policyTypes: ['Ingress', 'Egress'],
      // An empty `from` or `to` would admit every peer: rules without peers are left out.
      ingress: Lazy.any({ produce: () => (spec.ingress?.() ?? []).filter((r) => (r.from ?? []).length > 0) }),
      egress: Lazy.any({ produce: () => egressRules(scope, own, spec.egress()) }),
    },
  });
}

function egressRules(scope: Construct, own: string | undefined, endpoints: readonly (NetworkEndpoint | undefined)[]): k8s.NetworkPolicyEgressRule[] {
  const rules = [dnsRule(scope), ...endpoints.filter((e): e is NetworkEndpoint => e !== undefined).map((e) => endpointRule(e, own))];
  const seen = new Set<string>();
  return rules.filter((r) => {
    const key = JSON.stringify(r);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** An IPv4 or IPv6 CIDR as a NetworkPolicy ipBlock takes it. */
export function checkCidr(prop: string, value: string): Problem[] {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value ?? '');
  const ok = v4 ? v4.slice(1, 5).every((o) => Number(o) <= 255) && Number(v4[5]) <= 32
    : /^[0-9a-fA-F:]+:[0-9a-fA-F:]*\/(\d{1,3})$/.test(value ?? '') && Number(value.split('/')[1]) <= 128;
  return ok ? [] : [{ prop, value, problem: 'is not a CIDR (address/prefix length)', fix: 'use e.g. "10.0.0.5/32" or "52.95.128.0/21"' }];
}

/** The warning for a server whose endpoint is unknown: its clients' pods get no egress to it. */
export function unknownEndpoint(prop: string, what: string): Problem {
  return {
    prop, value: undefined,
    problem: `${what} does not say where its pods are (no \`endpoint\`), so this construct's NetworkPolicy has no egress rule to it and its pods cannot reach it`,
    fix: 'give the server an `endpoint` (namespace, podSelector and target port, or ipBlocks), or add a NetworkPolicy of your own that allows this egress (docs/network.md)',
  };
}

/**
 * The egress side of a model's labelled clients: pods of the model's namespace labelled
 * `client.rmlops.io/<model>: "true"` may reach DNS and the model pods' `port`. Under the
 * namespace's default deny a client needs it as much as the model needs the ingress rule; the
 * policy is for Egress only, so it changes nothing else about the client pods.
 */
export function clientEgressPolicy(
  scope: Construct, id: string, metadata: k8s.ObjectMeta, model: string, modelPods: Record<string, string>, port: number,
): k8s.KubeNetworkPolicy {
  return new k8s.KubeNetworkPolicy(scope, id, {
    metadata,
    spec: {
      podSelector: { matchLabels: modelClientLabel(model) },
      policyTypes: ['Egress'],
      egress: [dnsRule(scope), { to: [{ podSelector: { matchLabels: { ...modelPods } } }], ports: [tcp(port)] }],
    },
  });
}
