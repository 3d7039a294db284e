/**
 * What `SeldonRModel` and `KServeRModel` give the R model server alike: its image, the props of
 * its container and the environment it reads (by contract names).
 */
import { ENV, R_ENTRYPOINTS, R_SCRIPT_COMMAND } from './contract';
import { parseQuantity } from './k8s-names';
import { TMP_PATH } from './pod-defaults';

/** Default R model server image (built from `r/` by the project). */
export const DEFAULT_R_SERVING_IMAGE = 'ghcr.io/rmlops/r-serve:0.1.0';

/** The model container's default command: the serving entrypoint, written out so the manifest says what runs. */
export const R_SERVER_COMMAND = [R_SCRIPT_COMMAND, R_ENTRYPOINTS.serve] as const;

/** Props of the R server's container that mean the same on Seldon and on KServe. */
export interface RServerContainerProps {
  /** R model server image, pinned. @default DEFAULT_R_SERVING_IMAGE */
  readonly image?: string;
  /** Command of the model container. @default ["Rscript", "/opt/rmlops/serve.R"] (R_ENTRYPOINTS.serve) */
  readonly command?: string[];
  /** Arguments of the model container. @default - none */
  readonly args?: string[];
  /** Largest request body the R server accepts, in bytes. @default - the server's own default */
  readonly maxRequestBytes?: number;
  /** Numeric uid the R image runs as. @default R_IMAGE_UID (10001) */
  readonly runAsUser?: number;
}

/** Worker processes for a CPU request: one per whole core, rounded up, 1 to 64. */
export function workersForCpu(cpuRequest: string | undefined): number {
  const cores = cpuRequest === undefined ? 1 : parseQuantity(cpuRequest);
  if (typeof cores !== 'number' || !(cores > 0)) return 1;
  return Math.min(64, Math.max(1, Math.ceil(cores - 1e-9)));
}

/**
 * The server's environment after its model variables: workers, MLflow, the body limit and the
 * scratch directory (the root filesystem is read-only, so R's TMPDIR and HOME point at /tmp).
 */
export function rServerEnv(o: { cpuRequest?: string; trackingUri?: string; maxRequestBytes?: number }): { name: string; value: string }[] {
  return [
    // One worker process per requested core (at least one): the R server forks them after
    // loading the model once; more would only compete for the same CPU share.
    { name: ENV.workers, value: String(workersForCpu(o.cpuRequest)) },
    ...(o.trackingUri !== undefined ? [{ name: ENV.trackingUri, value: o.trackingUri }] : []),
    ...(o.maxRequestBytes !== undefined ? [{ name: ENV.maxBodyBytes, value: String(o.maxRequestBytes) }] : []),
    { name: ENV.tmpDir, value: TMP_PATH },
    { name: 'HOME', value: TMP_PATH },
  ];
}

/** Readiness probe timing of the R server: ready only once the model is loaded, so polled often. */
export const R_SERVER_READINESS_TIMING = { periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 } as const;
/** Liveness probe timing: loading a model from MLflow takes a while, and liveness must not kill a loading server. */
export const R_SERVER_LIVENESS_TIMING = { initialDelaySeconds: 30, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 6 } as const;

/** Quantity strings as a binding's quantity class (each generated binding has its own). */
export function quantities<Q>(m: Record<string, string>, from: (v: string) => Q): Record<string, Q> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, from(v)]));
}
