/**
 * Payload logging for `SeldonRModel`: the executor's logger (`graph.logger`) posts every request,
 * response and feedback as a CloudEvent to the payload sink, a sidecar in the same pod, which
 * spools it durably before it acknowledges it and uploads batched JSONL objects to S3
 * (docs/payload-logging.md states what is and is not guaranteed).
 */
import { IArtifactStore, S3CredentialsSecret } from './artifact-store';
import { PAYLOAD_SINK, SINK_ENV } from './contract';
import { ComputeResources, ResolvedResources, checkResources, resourceMaps, restrictedSecurityContext, withDefaults } from './pod-defaults';
import {
  Problem, checkBucketName, checkDnsLabel, checkHttpUrl, checkInteger, checkPinnedImage, checkQuantity, checkRegion, checkSecretKey,
} from './validate';

/** The payload sink image built from `sink/` (scripts/real/install-sink.sh; tag = versions.json `payloadSink.version`). */
export const DEFAULT_PAYLOAD_SINK_IMAGE = 'ghcr.io/rmlops/payload-sink:0.2.0';
/** UID the sink runs as (the image's user; any non-root UID works: it only writes its spool). */
export const PAYLOAD_SINK_UID = 65532;

/** What the executor logs: Seldon's logger modes. */
export type PayloadLogMode = 'all' | 'request' | 'response';

/** Options of `PayloadLogging.toBucket`. */
export interface PayloadLoggingOptions {
  /** Bucket the objects go to. @default the store's bucket */
  readonly bucket?: string;
  /** Key prefix in the bucket (no leading or trailing `/`). @default "payloads" */
  readonly prefix?: string;
  /**
   * Secret with the S3 keys the sink writes with. Prefer a user whose policy only allows
   * PutObject on the payload prefix. @default the store's credentials Secret
   */
  readonly credentialsSecret?: S3CredentialsSecret;
  /** What the executor logs (it logs feedback in modes "all" and "response"). @default "all" */
  readonly mode?: PayloadLogMode;
  /** Sink image, pinned. @default DEFAULT_PAYLOAD_SINK_IMAGE */
  readonly image?: string;
  /** Resources of the sink container. @default 20m CPU, 32Mi request, 128Mi limit */
  readonly resources?: ComputeResources;
  /**
   * Size of the spool emptyDir: what the sink holds while S3 is unreachable (about 1 KiB per
   * single-row event); past it the kubelet evicts the pod. @default "1Gi"
   */
  readonly spoolSize?: string;
  /** Events per S3 object at most. @default 1000 */
  readonly batchEvents?: number;
  /** Seconds before a batch is uploaded even when it is not full. @default 5 */
  readonly batchSeconds?: number;
  /** Seconds the sink keeps uploading after SIGTERM (the pod's grace period must cover it). @default 20 */
  readonly drainSeconds?: number;
}

/** The resolved settings a model construct needs to add the sink to its pod. */
export interface PayloadLoggingSpec {
  readonly s3EndpointUrl: string;
  readonly bucket: string;
  readonly region: string;
  readonly prefix: string;
  readonly credentialsSecret: S3CredentialsSecret;
  readonly mode: PayloadLogMode;
  readonly image: string;
  readonly resources: ResolvedResources;
  readonly spoolSize: string;
  readonly batchEvents: number;
  readonly batchSeconds: number;
  readonly drainSeconds: number;
}

/** Where a model's payloads go. */
export class PayloadLogging {
  /** Logs to a bucket of an artifact store (`MinioStore`, `ExternalS3Bucket`); opens its NetworkPolicy to the model pods. */
  public static toBucket(store: IArtifactStore, options: PayloadLoggingOptions = {}): PayloadLogging {
    return new PayloadLogging(store, {
      s3EndpointUrl: store.s3EndpointUrl,
      bucket: options.bucket ?? store.bucket,
      region: store.region,
      prefix: options.prefix ?? 'payloads',
      credentialsSecret: options.credentialsSecret ?? store.credentialsSecret,
      mode: options.mode ?? 'all',
      image: options.image ?? DEFAULT_PAYLOAD_SINK_IMAGE,
      resources: withDefaults(options.resources, { cpuRequest: '20m', memoryRequest: '32Mi', memoryLimit: '128Mi' }),
      spoolSize: options.spoolSize ?? '1Gi',
      batchEvents: options.batchEvents ?? 1000,
      batchSeconds: options.batchSeconds ?? 5,
      drainSeconds: options.drainSeconds ?? 20,
    });
  }

  private constructor(public readonly store: IArtifactStore, public readonly spec: PayloadLoggingSpec) {}

  /** The URL the executor's logger posts to: the sink, over the pod's loopback. */
  public get loggerUrl(): string {
    return `http://localhost:${PAYLOAD_SINK.eventsPort}/`;
  }

  /** Problems of the options, each under `payloadLogging.<option>`. */
  public problems(): Problem[] {
    const s = this.spec;
    const at = (p: string) => `payloadLogging.${p}`;
    const out: Problem[] = [
      ...checkHttpUrl(at('store.s3EndpointUrl'), s.s3EndpointUrl),
      ...checkBucketName(at('bucket'), s.bucket),
      ...checkRegion(at('store.region'), s.region),
      ...checkDnsLabel(at('credentialsSecret.name'), s.credentialsSecret.name, 253),
      ...checkSecretKey(at('credentialsSecret.accessKeyIdKey'), s.credentialsSecret.accessKeyIdKey),
      ...checkSecretKey(at('credentialsSecret.secretAccessKeyKey'), s.credentialsSecret.secretAccessKeyKey),
      ...checkPinnedImage(at('image'), s.image),
      ...checkResources(at('resources'), s.resources),
      ...checkQuantity(at('spoolSize'), s.spoolSize),
      ...checkInteger(at('batchEvents'), s.batchEvents, 1),
      ...checkInteger(at('batchSeconds'), s.batchSeconds, 1),
      ...checkInteger(at('drainSeconds'), s.drainSeconds, 1),
    ];
    if (typeof s.prefix !== 'string' || s.prefix.length === 0 || s.prefix.startsWith('/') || s.prefix.endsWith('/') || /\s|\/\//.test(s.prefix)) {
      out.push({ prop: at('prefix'), value: s.prefix, problem: 'is not a key prefix of the form "a/b" (no leading, trailing or double "/", no spaces)', fix: 'use a prefix such as "payloads"' });
    }
    if (!['all', 'request', 'response'].includes(s.mode)) {
      out.push({ prop: at('mode'), value: s.mode, problem: 'is not a mode of Seldon\'s payload logger', fix: 'use "all", "request" or "response"' });
    }
    return out;
  }

  /** The executor logger of the graph node. */
  public graphLogger(): { mode: string; url: string } {
    return { mode: this.spec.mode, url: this.loggerUrl };
  }

  /** The sink container's environment, for a pod in `namespace` of deployment `deployment`. */
  public env(namespace: string | undefined, deployment: string) {
    const s = this.spec;
    const secret = (name: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: s.credentialsSecret.name, key } } });
    return [
      { name: SINK_ENV.listen, value: `127.0.0.1:${PAYLOAD_SINK.eventsPort}` },
      { name: SINK_ENV.metricsListen, value: `:${PAYLOAD_SINK.metricsPort}` },
      { name: SINK_ENV.spoolDir, value: PAYLOAD_SINK.spoolPath },
      { name: SINK_ENV.s3Endpoint, value: s.s3EndpointUrl },
      { name: SINK_ENV.s3Bucket, value: s.bucket },
      { name: SINK_ENV.s3Prefix, value: s.prefix },
      { name: SINK_ENV.s3Region, value: s.region },
      secret(SINK_ENV.accessKeyId, s.credentialsSecret.accessKeyIdKey),
      secret(SINK_ENV.secretAccessKey, s.credentialsSecret.secretAccessKeyKey),
      { name: SINK_ENV.batchEvents, value: String(s.batchEvents) },
      { name: SINK_ENV.batchSeconds, value: String(s.batchSeconds) },
      { name: SINK_ENV.drainSeconds, value: String(s.drainSeconds) },
      ...(namespace ? [{ name: SINK_ENV.namespace, value: namespace }] : []),
      { name: SINK_ENV.deployment, value: deployment },
    ];
  }

  /** Requests and limits of the sink container; the spool size is its ephemeral-storage request. */
  public resourceMaps() {
    return resourceMaps(this.spec.resources, this.spec.spoolSize);
  }

  /** Container security context: restricted, read-only root, as a non-root UID of its own. */
  public securityContext() {
    return restrictedSecurityContext(PAYLOAD_SINK_UID);
  }

}
