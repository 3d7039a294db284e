// The smallest node dist/ runs on (docs/capacity.md): the requests of everything that can run at
// once must fit in what the node leaves for dist/, or a pod waits on a pod that cannot start. On a
// real 2-CPU node, serving pods waiting for a model alias held the CPU the training Job that
// creates the alias needed, and the Job stayed Pending on `Insufficient cpu`.
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { parseQuantity } from '../lib/validate';
import { MIN_NODE } from '../lib/capacity';

const DIST = path.join(__dirname, '..', 'dist');

function distObjects(): any[] {
  return fs.readdirSync(DIST).filter((f) => f.endsWith('.yaml')).sort()
    .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(DIST, f), 'utf8')).map((d) => d.toJSON()))
    .filter((o) => o);
}

interface Requests { cpu: number; memory: number }
const zero = (): Requests => ({ cpu: 0, memory: 0 });
const add = (a: Requests, b: Requests, n = 1): Requests => ({ cpu: a.cpu + n * b.cpu, memory: a.memory + n * b.memory });

/** Requests of a list of containers; a container without a CPU or memory request fails the test (it would be unaccounted). */
function containerRequests(where: string, containers: any[]): Requests {
  return containers.reduce((sum: Requests, c: any) => {
    const r = c.resources?.requests ?? {};
    expect({ where, container: c.name, cpu: typeof r.cpu, memory: typeof r.memory }).toEqual({ where, container: c.name, cpu: 'string', memory: 'string' });
    return add(sum, { cpu: parseQuantity(r.cpu)!, memory: parseQuantity(r.memory)! });
  }, zero());
}

/** Extra pods a RollingUpdate adds: maxSurge (default 25%) of the replicas, rounded up. */
const surgeOf = (replicas: number, maxSurge: string | number = '25%'): number =>
  typeof maxSurge === 'number' ? maxSurge : Math.ceil((replicas * parseInt(maxSurge, 10)) / 100);

interface Line { what: string; pods: number; requests: Requests }

/**
 * Everything dist/ can run at once: every long-running pod with one rolling update's surge of
 * each Deployment (all rolled together, as `kubectl apply` of a new dist/ does), every Job, and
 * one Job of each CronJob (all Forbid: at most one at a time), all running together.
 */
function peak(objects: any[]): Line[] {
  const lines: Line[] = [];
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata.name}`;
    if (o.kind === 'Deployment') {
      const pod = containerRequests(id, o.spec.template.spec.containers);
      const replicas = o.spec.replicas ?? 1;
      const surge = o.spec.strategy?.type === 'Recreate' ? 0 : surgeOf(replicas, o.spec.strategy?.rollingUpdate?.maxSurge);
      lines.push({ what: id, pods: replicas + surge, requests: add(zero(), pod, replicas + surge) });
    } else if (o.kind === 'SeldonDeployment') {
      for (const p of o.spec.predictors) {
        // The operator's Deployment per predictor: the componentSpec's containers and the
        // executor it injects with svcOrchSpec's resources (without them the operator's own
        // default, 500m in its Helm chart, applies). RollingUpdate, maxSurge unset (25%).
        const executor = { name: 'seldon-container-engine', resources: p.svcOrchSpec?.resources };
        const pod = containerRequests(`${id} predictor ${p.name}`, [...p.componentSpecs[0].spec.containers, executor]);
        const replicas = p.componentSpecs[0].hpaSpec?.minReplicas ?? p.replicas ?? 1;
        const pods = replicas + surgeOf(replicas);
        lines.push({ what: `${id} predictor ${p.name}`, pods, requests: add(zero(), pod, pods) });
      }
    } else if (o.kind === 'Job') {
      const pods = o.spec.parallelism ?? 1;
      lines.push({ what: id, pods, requests: add(zero(), podRequests(id, o.spec.template.spec), pods) });
    } else if (o.kind === 'CronJob') {
      expect({ id, concurrencyPolicy: o.spec.concurrencyPolicy }).toEqual({ id, concurrencyPolicy: 'Forbid' });
      const spec = o.spec.jobTemplate.spec;
      const pods = spec.parallelism ?? 1;
      lines.push({ what: id, pods, requests: add(zero(), podRequests(id, spec.template.spec), pods) });
    } else {
      // No pods: configuration, policy, identity, and prometheus-operator's objects (nothing runs for them).
      expect(['Namespace', 'ConfigMap', 'PersistentVolumeClaim', 'Service', 'NetworkPolicy', 'ServiceAccount', 'Role', 'RoleBinding', 'PodMonitor', 'PrometheusRule']).toContain(o.kind);
    }
  }
  return lines;
}

/**
 * What the scheduler reserves for a pod: its containers' sum, or its largest init container's
 * request where that is larger (init containers run one at a time, before the containers).
 */
function podRequests(where: string, spec: any): Requests {
  const sum = containerRequests(where, spec.containers);
  const inits = (spec.initContainers ?? []).map((c: any) => containerRequests(`${where} init`, [c]));
  return inits.reduce((r: Requests, i: Requests) => ({ cpu: Math.max(r.cpu, i.cpu), memory: Math.max(r.memory, i.memory) }), sum);
}

const millis = (cpu: number) => Math.round(cpu * 1000);
const mebi = (bytes: number) => Math.round(bytes / 2 ** 20);

describe(`dist/ fits the smallest node it is stated for (${MIN_NODE.cpu} CPUs, ${MIN_NODE.memory})`, () => {
  const lines = peak(distObjects());
  const total = lines.reduce((sum, l) => add(sum, l.requests), zero());
  const budget = { cpu: parseQuantity(MIN_NODE.cpu)! - parseQuantity(MIN_NODE.reservedCpu)!, memory: parseQuantity(MIN_NODE.memory)! - parseQuantity(MIN_NODE.reservedMemory)! };
  const table = lines.map((l) => `${l.what}: ${l.pods} pod(s), ${millis(l.requests.cpu)}m CPU, ${mebi(l.requests.memory)}Mi`).join('\n');

  test('every workload of dist/ is counted (the app has serving, long-running and Job pods)', () => {
    expect(lines.some((l) => l.what.startsWith('SeldonDeployment/'))).toBe(true);
    expect(lines.some((l) => l.what.startsWith('Deployment/'))).toBe(true);
    expect(lines.filter((l) => /^(Cron)?Job\//.test(l.what)).length).toBeGreaterThanOrEqual(3);
  });

  test('CPU: every pod that can run at once, rolling-update surge and all Jobs included, fits: training is always schedulable', () => {
    expect({ total: millis(total.cpu), fits: total.cpu <= budget.cpu + 1e-9, table }).toEqual({ total: millis(total.cpu), fits: true, table });
  });

  test('memory: likewise', () => {
    expect({ total: mebi(total.memory), fits: total.memory <= budget.memory, table }).toEqual({ total: mebi(total.memory), fits: true, table });
  });
});
