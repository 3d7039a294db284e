/**
 * The smallest node the example's `dist/` is sized for (docs/capacity.md). The requests of
 * everything that can run at once (every long-running pod, one rolling update's surge of each
 * Deployment, every Job and one Job of each CronJob) fit in it, so no pod ever waits for CPU or
 * memory that another waiting pod holds; `test/node-capacity.test.ts` sums `dist/` against it.
 */
export const MIN_NODE = {
  /** Allocatable CPUs of the node. */
  cpu: '2',
  /** CPU left to the cluster's own pods (CoreDNS, a CNI or NetworkPolicy agent). */
  reservedCpu: '200m',
  /** Allocatable memory of the node. */
  memory: '10Gi',
  /** Memory left to the cluster's own pods. */
  reservedMemory: '512Mi',
} as const;
