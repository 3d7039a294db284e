/**
 * Default deny for one namespace: a NetworkPolicy selecting every pod, for ingress and egress,
 * with no rule. What each construct's own policy allows is then all that flows (policies are
 * additive), and any other pod of the namespace (a debugging pod, a hand-written Deployment, a
 * pod an operator makes) talks to nobody until a policy says so (docs/network.md).
 */
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { NETWORK } from './contract';
import { namespaceOf, recommendedLabels } from './pod-defaults';
import { Problem, checkDnsLabel, validateAtSynth } from './validate';

/** Props of `NamespaceIsolation`. */
export interface NamespaceIsolationProps {
  /**
   * The namespace to isolate: one the app creates, or one it deploys into but does not own
   * (then every other workload there is cut off too, unless its own policies allow it).
   * @default - the chart's namespace
   */
  readonly namespace?: string;
  /** Name of the NetworkPolicy. @default "default-deny" */
  readonly name?: string;
}

/**
 * `new NamespaceIsolation(chart, 'isolation')`: the default-deny NetworkPolicy of the chart's
 * namespace. The example apps add one for each Namespace they create, and the validator warns
 * about a created Namespace without one.
 */
export class NamespaceIsolation extends Construct {
  /** The default-deny NetworkPolicy. */
  public readonly policy: k8s.KubeNetworkPolicy;
  /** The namespace it isolates (undefined: the one the manifests are applied to). */
  public readonly namespace?: string;

  constructor(scope: Construct, id: string, props: NamespaceIsolationProps = {}) {
    super(scope, id);
    this.namespace = props.namespace ?? namespaceOf(this);
    const name = props.name ?? NETWORK.defaultDenyPolicy;
    validateAtSynth(this, () => {
      const out: Problem[] = [...checkDnsLabel('name', name, 253)];
      if (props.namespace !== undefined) out.push(...checkDnsLabel('namespace', props.namespace));
      return out;
    });
    this.policy = new k8s.KubeNetworkPolicy(this, 'Resource', {
      metadata: {
        name,
        ...(props.namespace !== undefined ? { namespace: props.namespace } : {}),
        labels: recommendedLabels({ name: 'namespace-isolation', instance: name, component: 'network-isolation' }),
      },
      // Every pod, both directions, no rule: nothing is allowed that another policy does not allow.
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });
  }
}
