/**
 * The MLflow tracking server, registry and artifact proxy. It is the only pod that holds S3
 * credentials: clients talk to it over HTTP (`mlflow-artifacts:/` URIs) and need neither boto3
 * nor credentials.
 */
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { validateObjectsAtSynth } from './app-validation';
import { IArtifactStore } from './artifact-store';
import { LABELS, MLFLOW_PORT, MLFLOW_SERVER_ENV, PART_OF, PATHS, SECRET_KEYS } from './contract';
import { ImportedTrackingServer, TrackingServerAttributes, checkSelectorLabels } from './imported-tracking-server';
import {
  ComputeResources, NetworkClient, ingressFrom, TMP_PATH, TMP_VOLUME, checkObjectName, checkResources,
  checkScratchSize, imageVersionLabel, k8sResources, namespaceOf, podSecurityContext, recommendedLabels, resolveName,
  readWriteOnceClaim, restrictedSecurityContext, selectorLabels, serviceHost, tmpVolume, withDefaults,
} from './pod-defaults';
import { NetworkEndpoint, unknownEndpoint, workloadNetworkPolicy } from './network-policy';
import { PodSettings, ownedEnv, resolvePodSettings } from './pod-settings';
import { RmlopsDefaults } from './rmlops-defaults';
import { Problem, checkDnsLabel, checkDnsSubdomain, checkInteger, checkPinnedImage, checkQuantity, checkSecretKey, validateAtSynth, warnAtSynth } from './validate';

/**
 * MLflow version the default image runs: >= 3.5 for the Host-header check (`--allowed-hosts`),
 * and >= 3.9.0 because that is the first release with a `-full` image. Every construct and the
 * R client are written against it.
 */
export const MLFLOW_VERSION = '3.9.0';
/**
 * Default MLflow server image: the official `-full` variant (mlflow/mlflow docker/Dockerfile.full
 * installs `mlflow[extras,db,...]`), which has boto3 and the database drivers that the plain
 * `ghcr.io/mlflow/mlflow:vX.Y.Z` image lacks. For a slimmer image, build
 * `FROM ghcr.io/mlflow/mlflow:v3.9.0` + `pip install boto3` and pass it as `image`.
 */
export const DEFAULT_MLFLOW_IMAGE = `ghcr.io/mlflow/mlflow:v${MLFLOW_VERSION}-full`;

/**
 * The Host header values MLflow (>= 3.5) accepts when `--allowed-hosts` is not given
 * (mlflow/server/security_utils.py, `get_default_allowed_hosts`): loopback names with any port,
 * and the private address ranges (fnmatch patterns; `*` also matches `:<port>`). Our
 * `--allowed-hosts` replaces that default, so we pass these on: a client that reaches the server
 * by pod IP or ClusterIP (Prometheus, a debugging pod, a sidecar) keeps working. Passing them
 * keeps exactly the protection MLflow has without the flag, no less and no more (the patterns
 * would also match a host *name* such as `10.example.com`, as MLflow's own default does); the
 * NetworkPolicy, not the Host check, is what keeps other pods out.
 */
export const MLFLOW_DEFAULT_ALLOWED_HOSTS: readonly string[] = [
  'localhost', '127.0.0.1', '[::1]', '0.0.0.0',
  // IPv6 loopback: '[' opens an fnmatch character class, so it is escaped as '[[]'.
  'localhost:*', '127.0.0.1:*', '[[]::1]:*', '0.0.0.0:*',
  '192.168.*', '10.*',
  ...Array.from({ length: 16 }, (_, i) => `172.${16 + i}.*`),
  'fc00:*', 'fd00:*',
];

const DB_PATH = '/mlflow';
// The image runs as root by default; MLflow only needs HOME and the database directory writable.
const MLFLOW_UID = 1000;

/** What a client of the tracking server needs: its URI, and a way through its NetworkPolicy. */
export interface ITrackingServer {
  /** In-cluster tracking URI, e.g. `http://mlflow.ns.svc:5000`. */
  readonly trackingUri: string;
  /** Namespace of the server, when known (for egress rules of its clients). @default - unknown */
  readonly namespace?: string;
  /** Port the clients connect to, when known. @default - unknown */
  readonly port?: number;
  /** Labels of the server's pods, when known (for egress rules of its clients). @default - unknown */
  readonly podSelector?: Record<string, string>;
  /**
   * Where the server's pods receive (namespace, labels, container port), for the egress rules
   * of its clients. @default - unknown: clients get no egress rule to it, and synth warns
   */
  readonly endpoint?: NetworkEndpoint;
  /** Lets the given pods reach the server through its NetworkPolicy. */
  allowClient(client: NetworkClient): void;
}

/** Reference to an existing Secret holding a database URI for MLflow's backend store. */
export interface BackendStoreSecret {
  /** Secret name. */
  readonly name: string;
  /** Key of the URI in the Secret. @default SECRET_KEYS.backendStoreUri ("backend-store-uri") */
  readonly key?: string;
}

/** Upper bound of `MlflowServerProps.workers`: past it the memory request, not CPU, is the limit. */
export const MAX_MLFLOW_WORKERS = 16;

/** Props of `MlflowServer` (`PodSettings`: service account, scheduling, `env` and `envFrom`, pull secrets). */
export interface MlflowServerProps extends PodSettings {
  /** Where artifacts go: a `MinioStore`, an `ExternalS3Bucket`, or any `IArtifactStore`. */
  readonly artifactStore: IArtifactStore;
  /** Name of the Deployment, Service and NetworkPolicy (PVC: `<name>-db`). @default the construct id */
  readonly name?: string;
  /** MLflow server image, pinned, with boto3 (and the DB driver if `backendStoreSecret` is set). @default DEFAULT_MLFLOW_IMAGE (from `RmlopsDefaults`' registry if set) */
  readonly image?: string;
  /** Database URI from a Secret (production). @default - SQLite on a PVC of its own (one replica) */
  readonly backendStoreSecret?: BackendStoreSecret;
  /** Size of the SQLite PVC (unused with `backendStoreSecret`). @default "5Gi" */
  readonly storageSize?: string;
  /** Storage class of the SQLite PVC. @default - the cluster's default storage class */
  readonly storageClassName?: string;
  /**
   * Extra Host header values to accept (e.g. an Ingress host), as MLflow matches them: exact, or
   * an fnmatch pattern when it contains `*`. No `[`/`]` (fnmatch character classes), whitespace or
   * commas (the list is passed comma-joined). @default []
   */
  readonly allowedHosts?: string[];
  /**
   * Cluster DNS domain. Used only to add the fully qualified `<name>.<ns>.svc.<clusterDomain>`
   * form to the Host allow-list (for clients that use it); `trackingUri` itself ends in `.svc`
   * and resolves on any cluster domain. @default "cluster.local"
   */
  readonly clusterDomain?: string;
  /**
   * Namespaces whose pods may all reach the UI and API on port 5000, e.g. your ingress
   * controller's (`["ingress-nginx"]`); add the host it uses to `allowedHosts`. Clients built
   * with this library in other namespaces need no entry: they are admitted by their own labels.
   * @default [] (only registered clients; humans use `kubectl port-forward`)
   */
  readonly uiNamespaces?: string[];
  /**
   * Clients of other apps (another team's, which imports this server with
   * `MlflowServer.fromAttributes`): pods carrying `clientPodLabels` in every namespace that carries
   * these labels may reach port 5000. Label the client namespaces accordingly (e.g.
   * `mlflow.example.com/client: "true"`) and give the importers the same labels as
   * `allowsNamespaceLabels` (docs/shared-mlflow.md). @default - none (only registered clients)
   */
  readonly clientNamespaceLabels?: Record<string, string>;
  /**
   * With `clientNamespaceLabels`: the labels the client pods must carry. @default
   * `{"app.kubernetes.io/part-of": "rmlops"}`, which every pod of this library's constructs carries
   */
  readonly clientPodLabels?: Record<string, string>;
  /**
   * Uvicorn worker processes (`--workers`). Each holds a full MLflow in memory (about 130 MiB on
   * 3.9.0). @default 2
   */
  readonly workers?: number;
  /**
   * MLflow's server-side job execution (a job runner plus huey consumers: about 0.7 GiB more on
   * 3.9.0, and a slower start). Nothing in this pipeline submits server jobs. @default false
   */
  readonly jobExecution?: boolean;
  /** Resources of the MLflow container. @default 100m CPU, 1Gi request, 2Gi limit (docs/capacity.md) */
  readonly resources?: ComputeResources;
  /**
   * Size of the `/tmp` emptyDir (also requested as `ephemeral-storage`). The artifact proxy
   * buffers uploads and downloads there, so it must hold the largest artifact plus headroom;
   * past it the kubelet evicts the pod. @default "4Gi"
   */
  readonly scratchSize?: string;
}

/**
 * `mlflow server --serve-artifacts --artifacts-destination s3://<bucket>`, deliberately without
 * `--default-artifact-root` (an `s3://` root would bypass the proxy and hand S3 to every client).
 *
 * NetworkPolicy: only pods registered through `allowClient` (training Jobs, model pods, in this
 * namespace or another: a client in another namespace is admitted by that namespace's
 * `kubernetes.io/metadata.name` label plus its pod labels) and the namespaces in `uiNamespaces`
 * reach port 5000. `kubectl port-forward svc/<name> 5000` still works for humans: the kubelet
 * connects to the pod from the node, which most CNIs do not subject to NetworkPolicy; `localhost`
 * is in the Host allow-list for that path.
 */
export class MlflowServer extends Construct implements ITrackingServer {
  /** Name of the Deployment and the Service. */
  public readonly name: string;
  /** Namespace of the server (its chart's). */
  public readonly namespace?: string;
  /** Port of the Service. */
  public readonly port: number;
  /** Labels selecting the server's pods. */
  public readonly podSelector: Record<string, string>;
  /** `clientNamespaceLabels`: namespaces whose rmlops pods are admitted, when set. */
  public readonly allowsNamespaceLabels?: Record<string, string>;
  /** The pod labels admitted from those namespaces. */
  public readonly allowsPodLabels?: Record<string, string>;
  /** `http://<name>.<ns>.svc:5000` (the short name without a namespace): resolves on any cluster domain. */
  public readonly trackingUri: string;
  /** The Host header values the server accepts. */
  public readonly allowedHosts: string[];
  /** The MLflow Deployment. */
  public readonly deployment: k8s.KubeDeployment;
  /** The MLflow pods' port, for the egress rules of the clients. */
  public readonly endpoint: NetworkEndpoint;
  /** Name of the SQLite PVC, when there is one. */
  public readonly claimName?: string;

  private readonly clients: NetworkClient[] = [];

  constructor(scope: Construct, id: string, props: MlflowServerProps) {
    super(scope, id);
    const name = resolveName(id, props.name);
    this.name = name;
    const image = RmlopsDefaults.image(this, props.image, DEFAULT_MLFLOW_IMAGE);
    const store = props.artifactStore;
    const storageSize = props.storageSize ?? '5Gi';
    const clusterDomain = props.clusterDomain ?? 'cluster.local';
    const resources = withDefaults(props.resources, { cpuRequest: '100m', memoryRequest: '1Gi', memoryLimit: '2Gi' });
    const scratchSize = props.scratchSize ?? '4Gi';
    const workers = props.workers ?? 2;
    const backend = props.backendStoreSecret;

    const ns = namespaceOf(this);
    // Every form a client may put in the Host header, with and without the port.
    const hostNames = ns
      ? [name, `${name}.${ns}`, `${name}.${ns}.svc`, `${name}.${ns}.svc.${clusterDomain}`]
      : [name];
    this.allowedHosts = [
      ...hostNames.flatMap((h) => [h, `${h}:${MLFLOW_PORT}`]),
      // MLflow's own default: localhost for kubectl port-forward (any local port), private IPs.
      ...MLFLOW_DEFAULT_ALLOWED_HOSTS,
      ...(props.allowedHosts ?? []),
    ];
    this.trackingUri = `http://${serviceHost(this, name)}:${MLFLOW_PORT}`;
    this.namespace = ns;
    this.port = MLFLOW_PORT;
    const settings = resolvePodSettings(this, props, ownedEnv(
      [...Object.values(MLFLOW_SERVER_ENV), 'AWS_DEFAULT_REGION', 'HOME'].map((n) => ({ name: n })),
      'the construct (the artifact store, `backendStoreSecret`, `jobExecution`, the scratch directory)'));
    const clientNamespaceLabels = props.clientNamespaceLabels;
    const clientPodLabels = props.clientPodLabels ?? { [LABELS.partOf]: PART_OF };

    validateAtSynth(this, () => {
      const out: Problem[] = [
        ...checkObjectName(name, { service: true, suffixes: ['-db'] }),
        ...checkPinnedImage('image', image),
        ...checkResources('resources', resources),
        ...checkScratchSize(scratchSize),
        ...checkInteger('workers', workers, 1),
      ];
      if (workers > MAX_MLFLOW_WORKERS) {
        out.push({ prop: 'workers', value: workers, problem: `is more than ${MAX_MLFLOW_WORKERS}: each worker holds a whole MLflow in memory`, fix: `use 1 to ${MAX_MLFLOW_WORKERS}, and more replicas with a database backend for more throughput` });
      }
      // The cluster domain lands in --allowed-hosts, which MLflow matches against the Host header.
      out.push(...checkDnsSubdomain('clusterDomain', clusterDomain, 'cluster.local'));
      if (backend) {
        out.push(...checkDnsLabel('backendStoreSecret.name', backend.name, 253));
        if (backend.key !== undefined) out.push(...checkSecretKey('backendStoreSecret.key', backend.key));
      } else {
        out.push(...checkQuantity('storageSize', storageSize));
        if (props.storageClassName !== undefined) out.push(...checkDnsSubdomain('storageClassName', props.storageClassName, 'standard'));
      }
      (props.allowedHosts ?? []).forEach((h, i) => out.push(...checkAllowedHost(`allowedHosts[${i}]`, h)));
      (props.uiNamespaces ?? []).forEach((n, i) => out.push(...checkDnsLabel(`uiNamespaces[${i}]`, n)));
      out.push(...settings.problems());
      if (clientNamespaceLabels !== undefined) out.push(...checkSelectorLabels('clientNamespaceLabels', clientNamespaceLabels, '{ "mlflow.example.com/client": "true" }'));
      if (props.clientPodLabels !== undefined) {
        if (clientNamespaceLabels === undefined) out.push({ prop: 'clientPodLabels', value: props.clientPodLabels, problem: 'is set without clientNamespaceLabels, so it selects nothing', fix: 'set clientNamespaceLabels to the labels of the client namespaces, or remove clientPodLabels' });
        out.push(...checkSelectorLabels('clientPodLabels', props.clientPodLabels, '{ "app.kubernetes.io/part-of": "rmlops" }'));
      }
      // Without a namespace the tracking URI is the short Service name, which only resolves in
      // the namespace the server is applied to.
      const elsewhere = this.clients.find((c) => c.namespace !== undefined);
      if (!ns && elsewhere) {
        out.push({
          prop: 'trackingUri', value: this.trackingUri,
          problem: `is the short Service name (the MlflowServer's chart has no namespace), which pods in namespace "${elsewhere.namespace}" cannot resolve`,
          fix: 'give the chart of the MlflowServer a namespace, so the URI is <name>.<namespace>.svc',
        });
      }
      return out;
    });
    // After the prop checks, so objects of a construct with bad props are not reported twice.
    validateObjectsAtSynth(this);

    const spec = { name: 'mlflow', instance: name, component: 'tracking-server' };
    // The version label describes what runs: the tag of a user's image, not our default's version.
    const labels = recommendedLabels({ ...spec, version: props.image ? imageVersionLabel(props.image) : MLFLOW_VERSION });
    const selector = selectorLabels(spec);
    store.allowClient({ podLabels: selector, namespace: ns });

    const env: k8s.EnvVar[] = [
      { name: MLFLOW_SERVER_ENV.s3Endpoint, value: store.s3EndpointUrl },
      { name: MLFLOW_SERVER_ENV.accessKeyId, valueFrom: { secretKeyRef: { name: store.credentialsSecret.name, key: store.credentialsSecret.accessKeyIdKey } } },
      { name: MLFLOW_SERVER_ENV.secretAccessKey, valueFrom: { secretKeyRef: { name: store.credentialsSecret.name, key: store.credentialsSecret.secretAccessKeyKey } } },
      { name: 'AWS_DEFAULT_REGION', value: store.region },
      { name: 'HOME', value: TMP_PATH },
      { name: MLFLOW_SERVER_ENV.jobExecution, value: String(props.jobExecution ?? false) },
    ];
    const volumes: k8s.Volume[] = [tmpVolume(scratchSize)];
    const mounts: k8s.VolumeMount[] = [{ name: TMP_VOLUME, mountPath: TMP_PATH }];
    let backendUri: string;
    if (backend) {
      env.push({ name: MLFLOW_SERVER_ENV.backendStoreUri, valueFrom: { secretKeyRef: { name: backend.name, key: backend.key ?? SECRET_KEYS.backendStoreUri } } });
      // Expanded by the kubelet, so the URI (with its password) never appears in the manifest.
      backendUri = `$(${MLFLOW_SERVER_ENV.backendStoreUri})`;
    } else {
      this.claimName = `${name}-db`;
      readWriteOnceClaim(this, 'Db', { name: this.claimName, labels: recommendedLabels(spec) }, storageSize,
        props.storageClassName);
      volumes.push({ name: 'db', persistentVolumeClaim: { claimName: this.claimName } });
      mounts.push({ name: 'db', mountPath: DB_PATH });
      // Four slashes: an absolute path. A file on the PVC, never `:memory:`.
      backendUri = `sqlite:///${DB_PATH}/mlflow.db`;
    }

    new k8s.KubeService(this, 'Service', {
      metadata: { name, labels: recommendedLabels(spec) },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'http', port: MLFLOW_PORT, targetPort: k8s.IntOrString.fromString('http') }],
      },
    });

    const probe = (periodSeconds: number, failureThreshold: number): k8s.Probe => ({
      httpGet: { path: PATHS.mlflowHealth, port: k8s.IntOrString.fromString('http') },
      periodSeconds,
      timeoutSeconds: 5,
      failureThreshold,
    });

    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name, labels },
      spec: {
        // SQLite allows one writer; with a ReadWriteOnce PVC the old pod must stop first.
        replicas: 1,
        strategy: { type: backend ? 'RollingUpdate' : 'Recreate' },
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: {
            ...settings.pod,
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(MLFLOW_UID, MLFLOW_UID),
            containers: [{
              name: 'mlflow',
              image,
              command: ['mlflow'],
              args: [
                'server',
                '--host', '0.0.0.0',
                '--port', String(MLFLOW_PORT),
                '--backend-store-uri', backendUri,
                '--serve-artifacts',
                '--artifacts-destination', `s3://${store.bucket}`,
                '--allowed-hosts', this.allowedHosts.join(','),
                '--workers', String(workers),
              ],
              env: [...env, ...settings.env],
              envFrom: settings.envFrom,
              ports: [{ name: 'http', containerPort: MLFLOW_PORT }],
              // Database migrations run before the server listens.
              startupProbe: probe(5, 60),
              livenessProbe: probe(20, 3),
              readinessProbe: probe(10, 3),
              resources: k8sResources(resources, scratchSize),
              securityContext: restrictedSecurityContext(MLFLOW_UID),
              volumeMounts: mounts,
            }],
            volumes,
          },
        },
      },
    });

    this.podSelector = selector;
    this.endpoint = { namespace: ns, podSelector: selector, port: MLFLOW_PORT, description: `MLflow ${name}` };
    const uiNamespaces = props.uiNamespaces ?? [];
    const labelled = clientNamespaceLabels ? [{ namespaceLabels: clientNamespaceLabels, podLabels: clientPodLabels }] : [];
    // In: registered clients, uiNamespaces and labelled client namespaces on 5000. Out: DNS and
    // the artifact store's S3 port (MLflow is the only pod that talks to S3).
    workloadNetworkPolicy(this, 'NetworkPolicy', { name, labels: recommendedLabels(spec) }, selector, {
      ingress: () => ingressFrom(this.clients, uiNamespaces, MLFLOW_PORT, ns, labelled),
      egress: () => [store.endpoint],
    });
    warnAtSynth(this, () => store.endpoint ? [] : [unknownEndpoint('artifactStore', 'the artifact store')]);
    this.allowsNamespaceLabels = clientNamespaceLabels;
    this.allowsPodLabels = clientNamespaceLabels ? clientPodLabels : undefined;
  }

  /**
   * An MLflow server this app does not create (the platform team's, in another namespace or
   * app), for `tracking` of training Jobs, models and promotions. Its NetworkPolicy is not ours
   * to open: give `allowsNamespaceLabels` (and `allowsPodLabels`) as the owning team's
   * `clientNamespaceLabels` admits them, and label the client namespaces; synth warns about
   * every client that is not known to be admitted (docs/shared-mlflow.md).
   */
  public static fromAttributes(scope: Construct, id: string, attrs: TrackingServerAttributes): ITrackingServer {
    return new ImportedTrackingServer(scope, id, attrs);
  }

  /** Lets the given pods reach the tracking server through the NetworkPolicy. */
  public allowClient(client: NetworkClient): void {
    this.clients.push(client);
  }
}

/**
 * One `allowedHosts` entry. The list goes to `--allowed-hosts` comma-joined, so a comma or
 * whitespace would split or corrupt it; MLflow matches entries with `*` through fnmatch, where
 * `[`/`]` open a character class (an IPv6 literal such as `[::1]:5000` would silently never match).
 */
export function checkAllowedHost(prop: string, value: string): Problem[] {
  const fix = 'use a host such as "mlflow.example.com", "mlflow.example.com:443" or a pattern such as "*.example.com"';
  const bad = (what: string): Problem[] => [{ prop, value, problem: what, fix }];
  if (typeof value !== 'string' || value.length === 0) return bad('is empty');
  if (/[\s,]/.test(value)) return bad('contains whitespace or a comma (the list is passed comma-joined to --allowed-hosts)');
  if (/[[\]]/.test(value)) {
    return bad('contains "[" or "]", which MLflow\'s fnmatch reads as a character class; IPv6 literals are not supported here (use a DNS name)');
  }
  if (!/^[A-Za-z0-9*.:-]+$/.test(value)) return bad('is not a host name or pattern (letters, digits, ".", "-", ":" and "*")');
  return [];
}
