/**
 * An MLflow tracking server this app does not create (`MlflowServer.fromAttributes`): the
 * platform team's, in another namespace or another app. Its clients get its URI; its
 * NetworkPolicy belongs to the owning team, so instead of opening it this construct checks at
 * synth that each client is one the owning team's policy admits, as far as the app can tell.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { LABELS, MLFLOW_PORT, PART_OF } from './contract';
import { labelValue, qualifiedName } from './k8s-names';
import type { ITrackingServer } from './mlflow-server';
import type { NetworkEndpoint } from './network-policy';
import { NetworkClient } from './pod-defaults';
import { Problem, checkDnsLabel, checkPort, validateAtSynth, warnAtSynth } from './validate';

/** What a client needs to know about an MLflow server owned elsewhere. */
export interface TrackingServerAttributes {
  /** Namespace the server runs in. */
  readonly namespace: string;
  /** Name of its Service. @default "mlflow" */
  readonly serviceName?: string;
  /** Port of its Service. @default 5000 */
  readonly port?: number;
  /**
   * The port its pods receive on (the Service's target port): what the clients' egress rules
   * name, since NetworkPolicy sees the connection after the Service's DNAT. @default `port`
   */
  readonly targetPort?: number;
  /** The tracking URI, when it is not `http://<serviceName>.<namespace>.svc:<port>` (e.g. https through a mesh). @default - built from the above */
  readonly trackingUri?: string;
  /** Labels of the server's pods (for egress rules of the clients). @default the labels `MlflowServer` gives them: name "mlflow", instance `serviceName` */
  readonly podSelector?: Record<string, string>;
  /**
   * Namespace labels the server's NetworkPolicy admits clients by (the owning team's
   * `MlflowServer` `clientNamespaceLabels`). Without it, synth warns about every client: nothing
   * says the policy lets them through. @default - unknown
   */
  readonly allowsNamespaceLabels?: Record<string, string>;
  /** Pod labels the policy requires of those clients (`clientPodLabels`). @default `{"app.kubernetes.io/part-of": "rmlops"}` */
  readonly allowsPodLabels?: Record<string, string>;
}

/** `MlflowServer.fromAttributes`: see the file comment. */
export class ImportedTrackingServer extends Construct implements ITrackingServer {
  public readonly trackingUri: string;
  public readonly namespace: string;
  public readonly port: number;
  public readonly podSelector: Record<string, string>;
  /** The server's pods and target port, for the clients' egress rules. */
  public readonly endpoint: NetworkEndpoint;
  /** Labels the server's policy admits client namespaces by, if known. */
  public readonly allowsNamespaceLabels?: Record<string, string>;
  /** Pod labels the server's policy requires of clients. */
  public readonly allowsPodLabels: Record<string, string>;
  private readonly clients: NetworkClient[] = [];

  constructor(scope: Construct, id: string, attrs: TrackingServerAttributes) {
    super(scope, id);
    const service = attrs.serviceName ?? 'mlflow';
    this.namespace = attrs.namespace;
    this.port = attrs.port ?? MLFLOW_PORT;
    this.trackingUri = attrs.trackingUri ?? `http://${service}.${attrs.namespace}.svc:${this.port}`;
    this.podSelector = attrs.podSelector ?? { [LABELS.name]: 'mlflow', [LABELS.instance]: service };
    this.allowsNamespaceLabels = attrs.allowsNamespaceLabels;
    this.allowsPodLabels = attrs.allowsPodLabels ?? { [LABELS.partOf]: PART_OF };
    this.endpoint = { namespace: attrs.namespace, podSelector: this.podSelector, port: attrs.targetPort ?? this.port, description: `the MLflow server at ${this.trackingUri}` };

    validateAtSynth(this, () => {
      const out: Problem[] = [
        ...checkDnsLabel('namespace', attrs.namespace),
        ...checkDnsLabel('serviceName', service),
        ...checkPort('port', this.port),
        ...(attrs.targetPort !== undefined ? checkPort('targetPort', attrs.targetPort) : []),
        ...checkSelectorLabels('podSelector', this.podSelector, '{ "app.kubernetes.io/name": "mlflow" }'),
        ...checkSelectorLabels('allowsPodLabels', this.allowsPodLabels, '{ "app.kubernetes.io/part-of": "rmlops" }'),
      ];
      if (attrs.allowsNamespaceLabels !== undefined) {
        out.push(...checkSelectorLabels('allowsNamespaceLabels', attrs.allowsNamespaceLabels, '{ "mlflow.example.com/client": "true" }'));
      }
      const url = /^https?:\/\/([^/:?#]+)(:\d+)?(\/.*)?$/.exec(this.trackingUri);
      if (!url) {
        out.push({ prop: 'trackingUri', value: this.trackingUri, problem: 'is not an http(s) URL', fix: `use e.g. "http://${service}.${attrs.namespace}.svc:${this.port}"` });
      } else if (/^(localhost|127\.|\[?::1\]?$|0\.0\.0\.0)/.test(url[1])) {
        out.push({ prop: 'trackingUri', value: this.trackingUri, problem: 'is a loopback address, which in a pod is the pod itself, not the MLflow server', fix: `use the server's in-cluster name, e.g. "http://${service}.${attrs.namespace}.svc:${this.port}"` });
      }
      return out;
    });
    warnAtSynth(this, () => this.clients.flatMap((c) => this.admissionWarnings(c)));
  }

  /** Records a client; synth warns when the owning team's policy is not known to admit it. */
  public allowClient(client: NetworkClient): void {
    this.clients.push(client);
  }

  private admissionWarnings(client: NetworkClient): Problem[] {
    const who = `${client.by ?? 'pods'} ${JSON.stringify(client.podLabels)}${client.namespace ? ` in namespace "${client.namespace}"` : ''}`;
    const server = `the MLflow server at ${this.trackingUri}`;
    const warn = (problem: string, fix: string): Problem[] => [{ prop: 'tracking', value: this.trackingUri, problem: `${who}: ${problem}`, fix }];
    const wanted = this.allowsNamespaceLabels;
    if (wanted === undefined) {
      return warn(`nothing says ${server}'s NetworkPolicy admits them (it is imported without allowsNamespaceLabels)`,
        'ask the owning team to set `clientNamespaceLabels` on its MlflowServer (docs/shared-mlflow.md), label this namespace with them, and pass the same labels as `allowsNamespaceLabels` to MlflowServer.fromAttributes');
    }
    const carried = client.labels ?? client.podLabels;
    const missingPod = Object.entries(this.allowsPodLabels).filter(([k, v]) => carried[k] !== v);
    if (missingPod.length > 0) {
      return warn(`lack the pod labels ${JSON.stringify(Object.fromEntries(missingPod))} that ${server}'s NetworkPolicy requires (allowsPodLabels)`,
        'give the client pods those labels, or correct `allowsPodLabels` to what the owning team\'s `clientPodLabels` is');
    }
    if (client.namespace === undefined) {
      return warn('run in the namespace the manifests are applied to (their chart has no namespace), whose labels are unknown',
        `give the chart a namespace, and create it with the labels ${JSON.stringify(wanted)}`);
    }
    const ns = this.node.root.node.findAll().filter(ApiObject.isApiObject)
      .map((o) => o.toJson()).find((o) => o?.kind === 'Namespace' && o?.metadata?.name === client.namespace);
    if (ns === undefined) {
      return warn(`namespace "${client.namespace}" is not created by this app, so whether it carries ${JSON.stringify(wanted)} (allowsNamespaceLabels) is unknown`,
        `create the Namespace in the app with those labels, or make sure it has them: kubectl label namespace ${client.namespace} ${Object.entries(wanted).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    }
    const labels: Record<string, string> = ns.metadata?.labels ?? {};
    const missing = Object.entries(wanted).filter(([k, v]) => labels[k] !== v);
    if (missing.length > 0) {
      return warn(`namespace "${client.namespace}" lacks the labels ${JSON.stringify(Object.fromEntries(missing))} that ${server}'s NetworkPolicy admits clients by, so its pods would be cut off`,
        `add ${JSON.stringify(Object.fromEntries(missing))} to the labels of the Namespace "${client.namespace}"`);
    }
    return [];
  }
}

/** Labels of a matchLabels selector: valid keys and values, and at least one (an empty selector matches everything). */
export function checkSelectorLabels(prop: string, labels: Record<string, string>, example: string): Problem[] {
  const out: Problem[] = [];
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) {
    out.push({ prop, value: labels, problem: 'is empty, and an empty selector matches everything', fix: `give at least one label, e.g. ${example}` });
  }
  for (const [k, v] of entries) {
    const badKey = qualifiedName(k);
    if (badKey) out.push({ prop: `${prop}.${k}`, value: k, problem: `is not a label key: ${badKey}`, fix: `use a key such as ${example}` });
    const badValue = typeof v === 'string' ? labelValue(v) : `${JSON.stringify(v)} is not a string`;
    if (badValue) out.push({ prop: `${prop}.${k}`, value: v, problem: `is not a label value: ${badValue}`, fix: `use a value such as ${example}` });
  }
  return out;
}
