/**
 * What MLflow needs from an artifact store: an S3 endpoint, a bucket and a Secret with S3
 * credentials. `MinioStore` implements it in-cluster; `ExternalS3Bucket` implements it for any
 * S3-compatible bucket outside the cluster, so MLflow never depends on MinIO itself.
 */
import { Construct } from 'constructs';
import { SECRET_KEYS } from './contract';
import { NetworkClient } from './pod-defaults';
import { checkBucketName, checkDnsLabel, checkHttpUrl, checkRegion, checkSecretKey, validateAtSynth } from './validate';

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
}

/** Default name of the Secret with MLflow's S3 credentials (the README tells users to create it). */
export const DEFAULT_S3_CREDENTIALS_SECRET = 'mlflow-s3';

/** An existing S3-compatible bucket outside the cluster. Synthesizes nothing. */
export class ExternalS3Bucket extends Construct implements IArtifactStore {
  public readonly s3EndpointUrl: string;
  public readonly bucket: string;
  public readonly region: string;
  public readonly credentialsSecret: S3CredentialsSecret;

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
    validateAtSynth(this, () => [
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
