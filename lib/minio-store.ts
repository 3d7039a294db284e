/**
 * MinIO as the in-cluster artifact store: one Deployment on a ReadWriteOnce PVC, its Service,
 * a NetworkPolicy, and a Job that creates the buckets plus a least-privilege user for MLflow.
 */
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { validateObjectsAtSynth } from './app-validation';
import { DEFAULT_S3_CREDENTIALS_SECRET, IArtifactStore, S3CredentialsSecret } from './artifact-store';
import { MINIO_API_PORT, MINIO_CONSOLE_PORT, PATHS, SECRET_KEYS } from './contract';
import { NetworkEndpoint, workloadNetworkPolicy } from './network-policy';
import {
  ComputeResources, NetworkClient, namespaceOf, networkPeers, TMP_PATH, TMP_VOLUME, checkObjectName, checkResources, imageVersionLabel, k8sResources,
  podSecurityContext, recommendedLabels, resolveName, restrictedSecurityContext, selectorLabels,
  readWriteOnceClaim, serviceHost, tmpVolume, withDefaults,
} from './pod-defaults';
import { PodSettings, ownedEnv, resolvePodSettings } from './pod-settings';
import { RmlopsDefaults } from './rmlops-defaults';
import {
  Problem, checkBucketName, checkDnsLabel, checkDnsSubdomain, checkInteger, checkPinnedImage, checkQuantity, checkRegion, validateAtSynth,
} from './validate';

/**
 * MinIO server image. MinIO's community edition has been source-only since October 2025 and the
 * `minio/minio` Docker Hub repository was removed in September 2026; quay.io still serves the
 * archived release images. RELEASE.2025-09-07T16-13-09Z is the last one published as an image.
 * Pass `image` to use your own build, or replace MinIO with `ExternalS3Bucket`.
 */
export const DEFAULT_MINIO_IMAGE = 'quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z';
/** MinIO client image for the provisioning Job (`mc admin policy create/attach` syntax). */
export const DEFAULT_MC_IMAGE = 'quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z';
/** Default name of the Secret with the MinIO root credentials (keys from SECRET_KEYS). */
export const DEFAULT_MINIO_ROOT_SECRET = 'minio-root';

// Environment variable names defined by MinIO itself (not part of our R contract).
const MINIO_ROOT_USER = 'MINIO_ROOT_USER';
const MINIO_ROOT_PASSWORD = 'MINIO_ROOT_PASSWORD';

const DATA_PATH = '/data';
const POLICY_PATH = '/policy';
const POLICY_FILE = 'policy.json';
// The MinIO images run as root by default; any fixed non-root uid works with fsGroup on the PVC.
const MINIO_UID = 1000;
// MinIO keeps objects on the PVC; /tmp only holds the (empty) certs dir. mc only writes its config.
const MINIO_SCRATCH = '256Mi';
const MC_SCRATCH = '64Mi';

/**
 * Props of `MinioStore`. The `PodSettings` apply to both pods (the server and the provisioning
 * Job); `env` and `envFrom` to the MinIO server container only.
 */
export interface MinioStoreProps extends PodSettings {
  /** Base name of every object (Deployment, Service, PVC `<name>-data`, Job `<name>-provision`). @default the construct id */
  readonly name?: string;
  /** MinIO server image, pinned. @default DEFAULT_MINIO_IMAGE (from `RmlopsDefaults`' registry if set) */
  readonly image?: string;
  /** MinIO client image for the provisioning Job, pinned. @default DEFAULT_MC_IMAGE (from `RmlopsDefaults`' registry if set) */
  readonly mcImage?: string;
  /** Bucket MLflow stores artifacts in. @default "mlflow-artifacts" */
  readonly bucket?: string;
  /** Further buckets to create (no MLflow access). @default [] */
  readonly extraBuckets?: string[];
  /** Size of the data PVC. @default "10Gi" */
  readonly storageSize?: string;
  /** Storage class of the data PVC. @default - the cluster's default storage class */
  readonly storageClassName?: string;
  /** Existing Secret with the root credentials under SECRET_KEYS.minioRootUser / minioRootPassword. @default "minio-root" */
  readonly rootCredentialsSecret?: string;
  /**
   * Existing Secret with the access key id / secret key (SECRET_KEYS.s3AccessKeyId / s3SecretAccessKey)
   * of the least-privilege user the Job creates and MLflow connects with. @default "mlflow-s3"
   */
  readonly clientCredentialsSecret?: string;
  /** S3 region MinIO reports. @default "us-east-1" */
  readonly region?: string;
  /** Resources of the MinIO container. @default 100m CPU, 512Mi request, 1Gi limit (docs/capacity.md) */
  readonly resources?: ComputeResources;
  /**
   * Seconds the provisioning Job may take, waiting for MinIO included. @default 600
   *
   * The Job is deleted 24 h after it finishes (`ttlSecondsAfterFinished: 86400`). The next
   * `kubectl apply -f dist/` (or GitOps sync) after that recreates it, and it runs again: this is
   * harmless, because every step is idempotent (existing buckets are kept, the policy and user are
   * updated in place). Before the TTL, applying an unchanged Job is a no-op; applying a changed
   * one fails (a Job's pod template is immutable): delete the Job first.
   */
  readonly provisionDeadlineSeconds?: number;
}

/** MinIO with a PVC, Service, NetworkPolicy and an idempotent bucket/user provisioning Job. */
export class MinioStore extends Construct implements IArtifactStore {
  /** Name of the Deployment and the Service. */
  public readonly name: string;
  /** Name of the data PVC. */
  public readonly claimName: string;
  /** Name of the provisioning Job. */
  public readonly provisionJobName: string;
  /**
   * In-cluster S3 endpoint (path-style): `http://<name>.<ns>.svc:9000`, without the cluster
   * domain so it resolves on any cluster (the short name when the chart has no namespace).
   */
  public readonly s3EndpointUrl: string;
  /** URL of the web console (reach it with `kubectl port-forward`). */
  public readonly consoleUrl: string;
  public readonly bucket: string;
  public readonly region: string;
  public readonly credentialsSecret: S3CredentialsSecret;
  /** Name of the Secret with the root credentials. */
  public readonly rootCredentialsSecret: string;
  /** The MinIO Deployment. */
  public readonly deployment: k8s.KubeDeployment;
  /** The provisioning Job. */
  public readonly provisionJob: k8s.KubeJob;
  /** The MinIO pods' S3 port, for the egress rules of the clients. */
  public readonly endpoint: NetworkEndpoint;

  private readonly clients: NetworkClient[] = [];

  constructor(scope: Construct, id: string, props: MinioStoreProps = {}) {
    super(scope, id);
    const name = resolveName(id, props.name);
    this.name = name;
    this.claimName = `${name}-data`;
    this.provisionJobName = `${name}-provision`;
    this.bucket = props.bucket ?? 'mlflow-artifacts';
    this.region = props.region ?? 'us-east-1';
    this.rootCredentialsSecret = props.rootCredentialsSecret ?? DEFAULT_MINIO_ROOT_SECRET;
    this.credentialsSecret = {
      name: props.clientCredentialsSecret ?? DEFAULT_S3_CREDENTIALS_SECRET,
      accessKeyIdKey: SECRET_KEYS.s3AccessKeyId,
      secretAccessKeyKey: SECRET_KEYS.s3SecretAccessKey,
    };
    const host = serviceHost(this, name);
    this.s3EndpointUrl = `http://${host}:${MINIO_API_PORT}`;
    this.consoleUrl = `http://${host}:${MINIO_CONSOLE_PORT}`;

    const image = RmlopsDefaults.image(this, props.image, DEFAULT_MINIO_IMAGE);
    const mcImage = RmlopsDefaults.image(this, props.mcImage, DEFAULT_MC_IMAGE);
    const extraBuckets = props.extraBuckets ?? [];
    const storageSize = props.storageSize ?? '10Gi';
    const resources = withDefaults(props.resources, { cpuRequest: '100m', memoryRequest: '512Mi', memoryLimit: '1Gi' });
    const deadline = props.provisionDeadlineSeconds ?? 600;

    const rootEnv = (envName: string, key: string): k8s.EnvVar => ({
      name: envName, valueFrom: { secretKeyRef: { name: this.rootCredentialsSecret, key } },
    });
    const serverEnv: k8s.EnvVar[] = [
      rootEnv(MINIO_ROOT_USER, SECRET_KEYS.minioRootUser),
      rootEnv(MINIO_ROOT_PASSWORD, SECRET_KEYS.minioRootPassword),
      { name: 'MINIO_REGION', value: this.region },
      { name: 'HOME', value: TMP_PATH },
    ];
    const settings = resolvePodSettings(this, props, ownedEnv(serverEnv, 'the construct (`rootCredentialsSecret`, `region`, the scratch directory)'));
    validateAtSynth(this, () => {
      const out: Problem[] = [
        ...checkObjectName(name, { service: true, suffixes: ['-provision', '-client-policy'] }),
        ...checkPinnedImage('image', image),
        ...checkPinnedImage('mcImage', mcImage),
        ...checkBucketName('bucket', this.bucket),
        ...checkRegion('region', this.region),
        ...checkQuantity('storageSize', storageSize),
        ...(props.storageClassName !== undefined ? checkDnsSubdomain('storageClassName', props.storageClassName, 'standard') : []),
        ...checkDnsLabel('rootCredentialsSecret', this.rootCredentialsSecret, 253),
        ...checkDnsLabel('clientCredentialsSecret', this.credentialsSecret.name, 253),
        ...checkResources('resources', resources),
        ...checkInteger('provisionDeadlineSeconds', deadline, 1),
        ...settings.problems(),
      ];
      extraBuckets.forEach((b, i) => out.push(...checkBucketName(`extraBuckets[${i}]`, b)));
      // Without a namespace the endpoint is the short Service name, which only resolves in the
      // namespace MinIO is applied to.
      const elsewhere = this.clients.find((c) => c.namespace !== undefined);
      if (!namespaceOf(this) && elsewhere) {
        out.push({
          prop: 's3EndpointUrl', value: this.s3EndpointUrl,
          problem: `is the short Service name (the MinioStore's chart has no namespace), which pods in namespace "${elsewhere.namespace}" cannot resolve`,
          fix: 'give the chart of the MinioStore a namespace, so the endpoint is <name>.<namespace>.svc',
        });
      }
      const all = [this.bucket, ...extraBuckets];
      const dup = all.find((b, i) => all.indexOf(b) !== i);
      if (dup !== undefined) {
        out.push({ prop: 'extraBuckets', value: dup, problem: 'names a bucket twice', fix: 'list each bucket once' });
      }
      return out;
    });
    // After the prop checks, so objects of a construct with bad props are not reported twice.
    validateObjectsAtSynth(this);

    const serverSpec = { name, instance: name, component: 'artifact-store' };
    const serverLabels = recommendedLabels({ ...serverSpec, version: imageVersionLabel(image) });
    const serverSelector = selectorLabels(serverSpec);
    this.endpoint = { namespace: namespaceOf(this), podSelector: serverSelector, port: MINIO_API_PORT, description: `MinIO ${name}` };

    readWriteOnceClaim(this, 'Data', { name: this.claimName, labels: recommendedLabels(serverSpec) }, storageSize,
      props.storageClassName);

    new k8s.KubeService(this, 'Service', {
      metadata: { name, labels: recommendedLabels(serverSpec) },
      spec: {
        type: 'ClusterIP',
        selector: serverSelector,
        ports: [
          { name: 's3', port: MINIO_API_PORT, targetPort: k8s.IntOrString.fromString('s3') },
          { name: 'console', port: MINIO_CONSOLE_PORT, targetPort: k8s.IntOrString.fromString('console') },
        ],
      },
    });

    const probe = (path: string, periodSeconds: number): k8s.Probe => ({
      httpGet: { path, port: k8s.IntOrString.fromString('s3') },
      periodSeconds,
      timeoutSeconds: 5,
      failureThreshold: 3,
    });

    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name, labels: serverLabels },
      spec: {
        replicas: 1,
        // A ReadWriteOnce volume cannot be attached to the old and the new pod at once.
        strategy: { type: 'Recreate' },
        selector: { matchLabels: serverSelector },
        template: {
          metadata: { labels: serverLabels },
          spec: {
            ...settings.pod,
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(MINIO_UID, MINIO_UID),
            containers: [{
              name: 'minio',
              image,
              args: ['server', DATA_PATH, '--address', `:${MINIO_API_PORT}`, '--console-address', `:${MINIO_CONSOLE_PORT}`,
                '--certs-dir', `${TMP_PATH}/certs`],
              env: [...serverEnv, ...settings.env],
              envFrom: settings.envFrom,
              ports: [
                { name: 's3', containerPort: MINIO_API_PORT },
                { name: 'console', containerPort: MINIO_CONSOLE_PORT },
              ],
              startupProbe: { ...probe(PATHS.minioLive, 5), failureThreshold: 60 },
              livenessProbe: probe(PATHS.minioLive, 20),
              readinessProbe: probe(PATHS.minioReady, 10),
              resources: k8sResources(resources, MINIO_SCRATCH),
              securityContext: restrictedSecurityContext(MINIO_UID),
              volumeMounts: [
                { name: 'data', mountPath: DATA_PATH },
                { name: TMP_VOLUME, mountPath: TMP_PATH },
              ],
            }],
            volumes: [
              { name: 'data', persistentVolumeClaim: { claimName: this.claimName } },
              tmpVolume(MINIO_SCRATCH),
            ],
          },
        },
      },
    });

    // The provisioning Job is a client too.
    const jobSpec = { name: 'minio-provisioner', instance: this.provisionJobName, component: 'provisioning' };
    const jobLabels = recommendedLabels(jobSpec);
    this.clients.push({ podLabels: selectorLabels(jobSpec) });

    const policyName = `${this.bucket}-readwrite`;
    new k8s.KubeConfigMap(this, 'Policy', {
      metadata: { name: `${name}-client-policy`, labels: recommendedLabels(serverSpec) },
      data: { [POLICY_FILE]: bucketPolicy(this.bucket) + '\n' },
    });

    const clientEnv = (envName: string, key: string): k8s.EnvVar => ({
      name: envName, valueFrom: { secretKeyRef: { name: this.credentialsSecret.name, key } },
    });
    this.provisionJob = new k8s.KubeJob(this, 'Provision', {
      metadata: { name: this.provisionJobName, labels: jobLabels },
      spec: {
        // Retries cover a MinIO that is still starting; the deadline bounds the whole wait.
        backoffLimit: 6,
        activeDeadlineSeconds: deadline,
        ttlSecondsAfterFinished: 86400,
        template: {
          metadata: { labels: jobLabels },
          spec: {
            restartPolicy: 'OnFailure',
            ...settings.pod,
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(MINIO_UID),
            containers: [{
              name: 'mc',
              image: mcImage,
              command: ['/bin/sh', '-c', provisionScript()],
              env: [
                { name: 'S3_ENDPOINT', value: this.s3EndpointUrl },
                { name: 'BUCKETS', value: [this.bucket, ...extraBuckets].join(' ') },
                { name: 'POLICY_NAME', value: policyName },
                { name: 'POLICY_FILE', value: `${POLICY_PATH}/${POLICY_FILE}` },
                // Half the Job's deadline: a MinIO that never gets ready fails one attempt, and the
                // retry (with its own wait) still fits before the deadline.
                { name: 'READY_WAIT_SECONDS', value: String(Math.max(1, Math.floor(deadline / 2))) },
                rootEnv(MINIO_ROOT_USER, SECRET_KEYS.minioRootUser),
                rootEnv(MINIO_ROOT_PASSWORD, SECRET_KEYS.minioRootPassword),
                clientEnv('CLIENT_ACCESS_KEY', this.credentialsSecret.accessKeyIdKey),
                clientEnv('CLIENT_SECRET_KEY', this.credentialsSecret.secretAccessKeyKey),
                // mc writes its config under HOME / MC_CONFIG_DIR; the root filesystem is read-only.
                { name: 'HOME', value: TMP_PATH },
                { name: 'MC_CONFIG_DIR', value: `${TMP_PATH}/.mc` },
              ],
              resources: k8sResources({ cpuRequest: '50m', memoryRequest: '64Mi', memoryLimit: '256Mi' }, MC_SCRATCH),
              securityContext: restrictedSecurityContext(MINIO_UID),
              volumeMounts: [
                { name: 'policy', mountPath: POLICY_PATH, readOnly: true },
                { name: TMP_VOLUME, mountPath: TMP_PATH },
              ],
            }],
            volumes: [
              { name: 'policy', configMap: { name: `${name}-client-policy` } },
              tmpVolume(MC_SCRATCH),
            ],
          },
        },
      },
    });

    // Only the S3 API, only from registered clients; the console stays behind port-forward.
    // MinIO itself reaches nothing but DNS (one drive, no peers, no KMS).
    const own = namespaceOf(this);
    workloadNetworkPolicy(this, 'NetworkPolicy', { name, labels: recommendedLabels(serverSpec) }, serverSelector, {
      ingress: () => [{ from: networkPeers(this.clients, [], own), ports: [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(MINIO_API_PORT) }] }],
      egress: () => [],
    });
    // The provisioning Job: no ingress, egress to MinIO's S3 port.
    workloadNetworkPolicy(this, 'ProvisionNetworkPolicy', { name: this.provisionJobName, labels: jobLabels }, selectorLabels(jobSpec), {
      egress: () => [this.endpoint],
    });
  }

  /** Lets the given pods reach the S3 API through the NetworkPolicy. */
  public allowClient(client: NetworkClient): void {
    this.clients.push(client);
  }
}

/** Least privilege for MLflow: list its bucket and read/write/delete objects in it, nothing else. */
export function bucketPolicy(bucket: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['s3:GetBucketLocation', 's3:ListBucket'], Resource: [`arn:aws:s3:::${bucket}`] },
      {
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        Resource: [`arn:aws:s3:::${bucket}/*`],
      },
    ],
  }, null, 2);
}

/**
 * Idempotent: every step may run again (the Job retries, and `kubectl apply` may recreate it).
 * Waits for MinIO instead of failing fast; `activeDeadlineSeconds` bounds the wait. Each retry
 * prints mc's own error, so wrong root credentials or a bad endpoint show in the Job's log
 * instead of looking like a MinIO that is still starting.
 *
 * `mc alias set` succeeding does not mean MinIO can create a bucket: on a real node it answered
 * while MinIO was still starting, `mc mb` failed and the Job's pod restarted. So the script then
 * waits for `mc ready` (MinIO's `/minio/health/cluster`: write quorum, which a bucket needs).
 * `mc ready` polls every 5 s and never gives up on its own, so the shell bounds it by
 * READY_WAIT_SECONDS and fails with a message when it is up.
 */
function provisionScript(): string {
  return [
    'set -eu',
    'until out=$(mc alias set store "$S3_ENDPOINT" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" 2>&1); do',
    '  echo "waiting for MinIO at $S3_ENDPOINT: $out"; sleep 3',
    'done',
    'mc ready store & ready=$!',
    'waited=0',
    // /proc/<pid> rather than `kill -0`, which prints an error once the shell has reaped it.
    'while [ -e "/proc/$ready" ]; do',
    '  if [ "$waited" -ge "$READY_WAIT_SECONDS" ]; then',
    '    kill "$ready"; echo "MinIO at $S3_ENDPOINT not ready after $READY_WAIT_SECONDS s" >&2; exit 1',
    '  fi',
    '  sleep 1; waited=$((waited + 1))',
    'done',
    'wait "$ready"',
    'for bucket in $BUCKETS; do mc mb --ignore-existing "store/$bucket"; done',
    // `policy create` replaces an existing policy of the same name, `user add` updates the secret key.
    'mc admin policy create store "$POLICY_NAME" "$POLICY_FILE"',
    'mc admin user add store "$CLIENT_ACCESS_KEY" "$CLIENT_SECRET_KEY"',
    'if ! out=$(mc admin policy attach store "$POLICY_NAME" --user "$CLIENT_ACCESS_KEY" 2>&1); then',
    '  case "$out" in *already*) ;; *) echo "$out" >&2; exit 1 ;; esac',
    'fi',
    'echo "provisioned buckets: $BUCKETS; user with policy $POLICY_NAME"',
    '',
  ].join('\n');
}
