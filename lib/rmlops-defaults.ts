/**
 * App-wide (or chart-wide) defaults of this library's constructs: the registry every default
 * image is pulled from and the `imagePullSecrets` every pod gets. Kept in construct context, the
 * constructs library's own mechanism for settings that flow down the tree: set on the App, it
 * reaches every chart; set on a Chart, that chart's constructs (the nearest scope wins). The
 * constructs library refuses context on a scope that already has children, so the defaults can
 * never apply to only some of the constructs of a scope.
 */
import { IConstruct } from 'constructs';
import type { DnsEgress } from './network-policy';
import { Problem, checkDnsSubdomain, formatProblem } from './validate';

/** A Secret by name, or anything with a `name` (a cdk8s-plus `ISecret`). */
export type SecretRef = string | { readonly name: string };

/** Settings of `RmlopsDefaults.set`. */
export interface RmlopsDefaultsProps {
  /**
   * Registry (and optional path) that replaces the registry of every default image: with
   * `"registry.example.com/mirror"`, `ghcr.io/rmlops/r-train:0.1.0` becomes
   * `registry.example.com/mirror/rmlops/r-train:0.1.0`. The repository path, tag and digest stay
   * those pinned in versions.json. An `image` prop given to a construct is used as written.
   * @default - each default image from its own registry
   */
  readonly imageRegistry?: string;
  /**
   * Secrets of type `kubernetes.io/dockerconfigjson` every pod of these constructs lists in
   * `imagePullSecrets` (a construct's own `imagePullSecrets` prop replaces them). Create them in
   * each namespace the pods run in. @default [] (the nodes' or service account's credentials)
   */
  readonly imagePullSecrets?: readonly SecretRef[];
  /**
   * The cluster DNS every pod's NetworkPolicy lets it reach (UDP and TCP), when it is not
   * kube-system's `k8s-app: kube-dns` pods on 53 (e.g. NodeLocal DNSCache, or another label).
   * @default kube-system, `{"k8s-app": "kube-dns"}`, port 53
   */
  readonly dns?: DnsEgress;
}

/** The context key the defaults live under. */
export const RMLOPS_DEFAULTS_CONTEXT = 'rmlops-cdk8s:defaults';

/** Sets and reads the app-wide defaults (see the file comment). */
export class RmlopsDefaults {
  /**
   * Sets the defaults for every construct of this library under `scope` (an App or a Chart),
   * before any construct is added to it. Throws on a bad registry or secret name.
   */
  public static set(scope: IConstruct, props: RmlopsDefaultsProps): void {
    const problems = checkDefaults(props);
    if (problems.length > 0) {
      throw new Error(`[${scope.node.path || '<app>'}] RmlopsDefaults.set: ${problems.map(formatProblem).join('; ')}`);
    }
    const value: ResolvedDefaults = {
      imageRegistry: props.imageRegistry?.replace(/\/+$/, ''),
      imagePullSecrets: (props.imagePullSecrets ?? []).map(secretName),
      dns: props.dns,
    };
    try {
      scope.node.setContext(RMLOPS_DEFAULTS_CONTEXT, value);
    } catch (e) {
      throw new Error(`[${scope.node.path || '<app>'}] RmlopsDefaults.set: ${(e as Error).message}. Fix: call RmlopsDefaults.set right after creating the App or Chart, before adding constructs to it`);
    }
  }

  /** The defaults in effect at `scope`. */
  public static of(scope: IConstruct): ResolvedDefaults {
    const v = scope.node.tryGetContext(RMLOPS_DEFAULTS_CONTEXT) as ResolvedDefaults | undefined;
    return { imageRegistry: v?.imageRegistry, imagePullSecrets: v?.imagePullSecrets ?? [], dns: v?.dns };
  }

  /** `given` when a construct's `image` prop is set, else `defaultImage` moved to the default registry. */
  public static image(scope: IConstruct, given: string | undefined, defaultImage: string): string {
    if (given !== undefined) return given;
    const registry = RmlopsDefaults.of(scope).imageRegistry;
    return registry ? withRegistry(registry, defaultImage) : defaultImage;
  }
}

/** The defaults as the constructs read them. */
export interface ResolvedDefaults {
  /** Registry replacing the default images' registries. */
  readonly imageRegistry?: string;
  /** Names of the pull secrets. */
  readonly imagePullSecrets: readonly string[];
  /** The cluster DNS pods' egress target, when not the default. */
  readonly dns?: DnsEgress;
}

/** A Secret's name, from a name or an `ISecret`. */
export function secretName(s: SecretRef): string {
  return typeof s === 'string' ? s : s?.name;
}

/**
 * `image` with its registry replaced by `registry`. The first path component is a registry when
 * it has a `.` or `:` or is `localhost` (Docker's rule); otherwise (`library/x`) it is kept.
 */
export function withRegistry(registry: string, image: string): string {
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  const rest = first && (first.includes('.') || first.includes(':') || first === 'localhost') ? image.slice(slash + 1) : image;
  return `${registry.replace(/\/+$/, '')}/${rest}`;
}

function checkDefaults(props: RmlopsDefaultsProps): Problem[] {
  const out: Problem[] = [];
  const r = props.imageRegistry;
  if (r !== undefined) {
    const [host, ...path] = r.replace(/\/+$/, '').split('/');
    const hostOk = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?$/.test(host ?? '') && (host.includes('.') || host.includes(':') || host === 'localhost');
    const pathOk = path.every((p) => /^[a-z0-9]+([._-][a-z0-9]+)*$/.test(p));
    if (typeof r !== 'string' || r.includes('://') || !hostOk || !pathOk) {
      out.push({
        prop: 'imageRegistry', value: r,
        problem: 'is not a registry host (with a "." or a port, or "localhost") followed by an optional lower-case path, without a scheme',
        fix: 'use e.g. "registry.example.com" or "registry.example.com:5000/mirror"',
      });
    }
  }
  (props.imagePullSecrets ?? []).forEach((s, i) => out.push(...checkDnsSubdomain(`imagePullSecrets[${i}]`, secretName(s), 'regcred')));
  const dns = props.dns;
  if (dns?.port !== undefined && !(Number.isInteger(dns.port) && dns.port >= 1 && dns.port <= 65535)) {
    out.push({ prop: 'dns.port', value: dns.port, problem: 'is not a port number', fix: 'use the DNS pods\' port, e.g. 53' });
  }
  if (dns?.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(dns.namespace)) {
    out.push({ prop: 'dns.namespace', value: dns.namespace, problem: 'is not a namespace name (a DNS-1123 label)', fix: 'use e.g. "kube-system"' });
  }
  if (dns?.podLabels !== undefined && Object.keys(dns.podLabels).length === 0) {
    out.push({ prop: 'dns.podLabels', value: dns.podLabels, problem: 'is empty, which selects every pod of the DNS namespace', fix: 'use the DNS pods\' labels, e.g. { "k8s-app": "kube-dns" }' });
  }
  return out;
}
