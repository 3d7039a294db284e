/**
 * What MLflow needs from an artifact store: an S3 endpoint, a bucket and a Secret with S3
 * credentials. `MinioStore` implements it in-cluster; `ExternalS3Bucket` implements it for any
 * S3-compatible bucket outside the cluster, so MLflow never depends on MinIO itself.
 */
import { Construct } from 'constructs';
import { SECRET_KEYS } from './contract';
import { NetworkEndpoint, NetworkIpBlock, checkCidr } from './network-policy';
import { NetworkClient } from './pod-defaults';
import { checkBucketName, checkDnsLabel, checkHttpUrl, checkPort, checkRegion, checkSecretKey, validateAtSynth } from './validate';

/** Reference to an existing Secret holding S3 credentials. */
export interface S3CredentialsSecret {
  /** Secret name. */
  readonly name: string;
  /** Key of the access key id. */
  readonly accessKeyIdKey: string;
  /** Key of the secret access key. */
  readonly secretAccessKeyKey: string;
}

/** An S3-compatible bucket MLflow stores artifacts in. */
export interface IArtifactStore {
  /** S3 endpoint URL (path-style access), e.g. `http://minio.ns.svc:9000` (in-cluster) or `https://s3.eu-west-1.amazonaws.com`. */
  readonly s3EndpointUrl: string;
  /** Bucket for MLflow artifacts. */
  readonly bucket: string;
  /** S3 region the client signs for. */
  readonly region: string;
  /** The Secret with the credentials MLflow uses (only the MLflow pod mounts it). */
  readonly credentialsSecret: S3CredentialsSecret;
  /**
   * Where the store's S3 API receives, for the egress rules of its clients (MLflow, the payload
   * sink, KServe's storage initializer). @default - unknown: clients get no egress rule to it,
   * and synth warns
   */
  readonly endpoint?: NetworkEndpoint;
  /** Lets the given pods reach the store through its NetworkPolicy (no-op outside the cluster). */
  allowClient(client: NetworkClient): void;
}

/** Props of `ExternalS3Bucket`. */
export interface ExternalS3BucketProps {
  /** S3 endpoint URL, e.g. `https://s3.eu-west-1.amazonaws.com`. */
  readonly endpointUrl: string;
  /** Existing bucket name. */
  readonly bucket: string;
  /** S3 region. @default "us-east-1" */
  readonly region?: string;
  /** Name of an existing Secret with the credentials. @default "mlflow-s3" */
  readonly credentialsSecretName?: string;
  /** Key of the access key id in that Secret. @default SECRET_KEYS.s3AccessKeyId ("access-key-id") */
  readonly accessKeyIdKey?: string;
  /** Key of the secret access key in that Secret. @default SECRET_KEYS.s3SecretAccessKey ("secret-access-key") */
  readonly secretAccessKeyKey?: string;
  /**
   * The addresses the S3 service answers on, for its clients' egress rules (an external
   * service's IPs are outside what a pod selector can name). Narrow it to the service's ranges
   * where you can (e.g. AWS's published S3 prefixes for the region, or your on-premise store's
   * address). @default `[{ cidr: "0.0.0.0/0" }]`: any address, but only on the endpoint's port
   */
  readonly ipBlocks?: readonly NetworkIpBlock[];
  /** The port the S3 service receives on (behind any DNAT). @default the endpoint URL's port (443 for https, 80 for http) */
  readonly port?: number;
}

/** Default name of the Secret with MLflow's S3 credentials (the README tells users to create it). */
export const DEFAULT_S3_CREDENTIALS_SECRET = 'mlflow-s3';

/** An existing S3-compatible bucket outside the cluster. Synthesizes nothing. */
export class ExternalS3Bucket extends Construct implements IArtifactStore {
  public readonly s3EndpointUrl: string;
  public readonly bucket: string;
  public readonly region: string;
  public readonly credentialsSecret: S3CredentialsSecret;
  /** Egress target of the clients: `ipBlocks` on `port`. */
  public readonly endpoint: NetworkEndpoint;

  constructor(scope: Construct, id: string, props: ExternalS3BucketProps) {
    super(scope, id);
    this.s3EndpointUrl = props.endpointUrl;
    this.bucket = props.bucket;
    this.region = props.region ?? 'us-east-1';
    this.credentialsSecret = {
      name: props.credentialsSecretName ?? DEFAULT_S3_CREDENTIALS_SECRET,
      accessKeyIdKey: props.accessKeyIdKey ?? SECRET_KEYS.s3AccessKeyId,
      secretAccessKeyKey: props.secretAccessKeyKey ?? SECRET_KEYS.s3SecretAccessKey,
    };
    this.endpoint = {
      ipBlocks: props.ipBlocks ?? [{ cidr: '0.0.0.0/0' }],
      port: props.port ?? urlPort(props.endpointUrl),
      description: `the S3 service at ${props.endpointUrl}`,
    };
    validateAtSynth(this, () => [
      ...checkPort('port', this.endpoint.port),
      ...(this.endpoint.ipBlocks ?? []).flatMap((b, i) => checkCidr(`ipBlocks[${i}].cidr`, b.cidr)),
      ...checkHttpUrl('endpointUrl', this.s3EndpointUrl),
      ...checkBucketName('bucket', this.bucket),
      ...checkRegion('region', this.region),
      ...checkDnsLabel('credentialsSecretName', this.credentialsSecret.name, 253),
      ...checkSecretKey('accessKeyIdKey', this.credentialsSecret.accessKeyIdKey),
      ...checkSecretKey('secretAccessKeyKey', this.credentialsSecret.secretAccessKeyKey),
    ]);
  }

  /** The bucket is outside the cluster: there is no NetworkPolicy to open. */
  public allowClient(_client: NetworkClient): void {
    return;
  }
}

/** The port of an http(s) URL: explicit, else 443 for https and 80 for http (0 when it does not parse: checkHttpUrl reports it). */
function urlPort(url: string): number {
  try {
    const u = new URL(url);
    return u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  } catch {
    return 443;
  }
}

