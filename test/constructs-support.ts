// Helpers for the construct tests: find objects, pod specs and containers in synthesized output.
import * as path from 'path';
import { App, Chart, Testing } from 'cdk8s';
import { TrainingScript } from '../lib';
import { ValidateOptions, validateManifests } from './support/validate';

export const NS = 'team-a';

/** A small user training script (test/fixtures/training/train.R). */
export const FIXTURE_SCRIPT = path.join(__dirname, 'fixtures', 'training', 'train.R');

/** `TrainingScript.fromFile` of the fixture script. */
export function fixtureScript(): TrainingScript {
  return TrainingScript.fromFile(FIXTURE_SCRIPT);
}

/** A chart with a namespace (so DNS names are fully qualified). */
export function newChart(namespace: string | null = NS): Chart {
  return new Chart(Testing.app(), 'test', { namespace: namespace ?? undefined });
}

export function newApp(): App {
  return Testing.app();
}

/**
 * Synthesizes a chart and asserts that every object passes the Kubernetes schemas, the Seldon CRD,
 * the API server's extra rules and the security baseline, so every variant a test builds is one a
 * cluster would accept.
 */
export function synthValid(chart: Chart, options: ValidateOptions = {}): any[] {
  const objects = Testing.synth(chart);
  // `models` is the claim the file:// model tests mount through `modelVolume` (made elsewhere).
  expect(validateManifests(objects, { ...options, existingClaims: [...(options.existingClaims ?? []), 'models'] })).toEqual([]);
  return objects;
}

export function find(manifests: any[], kind: string, name?: string): any {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0];
}

export function findAll(manifests: any[], kind: string): any[] {
  return manifests.filter((m) => m.kind === kind);
}

/** Every pod spec with the labels its pods get, from workloads and SeldonDeployments. */
export function podSpecs(manifests: any[]): { owner: string; labels: Record<string, string>; spec: any }[] {
  const out: { owner: string; labels: Record<string, string>; spec: any }[] = [];
  for (const m of manifests) {
    const owner = `${m.kind}/${m.metadata.name}`;
    if (m.spec?.template?.spec) out.push({ owner, labels: m.spec.template.metadata?.labels ?? {}, spec: m.spec.template.spec });
    const jobTemplate = m.kind === 'CronJob' ? m.spec?.jobTemplate?.spec?.template : undefined;
    if (jobTemplate?.spec) out.push({ owner, labels: jobTemplate.metadata?.labels ?? {}, spec: jobTemplate.spec });
    if (m.kind === 'SeldonDeployment') {
      for (const p of m.spec.predictors) {
        for (const c of p.componentSpecs ?? []) out.push({ owner, labels: c.metadata?.labels ?? {}, spec: c.spec });
      }
    }
  }
  return out;
}

export function containers(manifests: any[]): { owner: string; container: any; pod: any }[] {
  return podSpecs(manifests).flatMap((p) =>
    [...(p.spec.initContainers ?? []), ...p.spec.containers].map((container: any) => ({ owner: p.owner, container, pod: p.spec })));
}

export function envOf(container: any): Record<string, any> {
  return Object.fromEntries((container.env ?? []).map((e: any) => [e.name, e.value ?? e.valueFrom]));
}

/**
 * The security fields every container and pod of this library must carry. No pod mounts a service
 * account token, except with `tokenFor`: then it must mount the token of exactly that service
 * account (the promotion Job's, which patches a SeldonDeployment).
 */
export function expectRestricted(owner: string, container: any, pod: any, tokenFor?: string): void {
  const sc = container.securityContext;
  const where = `${owner} container ${container.name}`;
  expect({ where, runAsNonRoot: sc?.runAsNonRoot }).toEqual({ where, runAsNonRoot: true });
  expect({ where, uid: typeof sc?.runAsUser }).toEqual({ where, uid: 'number' });
  expect({ where, ro: sc?.readOnlyRootFilesystem }).toEqual({ where, ro: true });
  expect({ where, ape: sc?.allowPrivilegeEscalation }).toEqual({ where, ape: false });
  expect({ where, caps: sc?.capabilities?.drop }).toEqual({ where, caps: ['ALL'] });
  expect({ where, seccomp: sc?.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type }).toEqual({ where, seccomp: 'RuntimeDefault' });
  expect({ where, cpu: container.resources?.requests?.cpu !== undefined }).toEqual({ where, cpu: true });
  expect({ where, mem: container.resources?.requests?.memory !== undefined }).toEqual({ where, mem: true });
  expect({ where, memLimit: container.resources?.limits?.memory !== undefined }).toEqual({ where, memLimit: true });
  if (tokenFor === undefined) {
    expect({ where, automount: pod.automountServiceAccountToken }).toEqual({ where, automount: false });
  } else {
    expect({ where, automount: pod.automountServiceAccountToken, sa: pod.serviceAccountName }).toEqual({ where, automount: true, sa: tokenFor });
  }
  expect({ where, image: /:latest$|^[^:@]+$/.test(container.image) }).toEqual({ where, image: false });
}

/** Every volume mount of a container refers to a volume of its pod. */
export function expectMountsResolve(container: any, pod: any): void {
  const volumes = new Set((pod.volumes ?? []).map((v: any) => v.name));
  for (const m of container.volumeMounts ?? []) expect(volumes.has(m.name)).toBe(true);
}

/** The egress rule every workload's NetworkPolicy starts with: the cluster DNS, UDP and TCP 53. */
export const DNS_RULE = {
  to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
  ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }],
};
