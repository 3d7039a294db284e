/**
 * `hardenPodSpecs`: brings the workloads this library did not write (a cdk8s-plus Deployment, a
 * plain `KubeJob`) up to the security baseline `writeManifests` enforces, by adding only the
 * fields they lack. A default cdk8s-plus-28 Deployment already runs as non-root with a
 * read-only root filesystem and no privilege escalation; it lacks a seccomp profile and does not
 * drop the Linux capabilities, which the Pod Security "restricted" level requires.
 */
import { ApiObject, JsonPatch } from 'cdk8s';
import { IConstruct } from 'constructs';

/** Where each built-in kind keeps its pod spec, as a JSON Pointer. */
const POD_SPEC_PATHS: Readonly<Record<string, string>> = {
  Pod: '/spec',
  Deployment: '/spec/template/spec',
  StatefulSet: '/spec/template/spec',
  DaemonSet: '/spec/template/spec',
  ReplicaSet: '/spec/template/spec',
  Job: '/spec/template/spec',
  CronJob: '/spec/jobTemplate/spec/template/spec',
};

/** What `hardenPodSpecs` changed: one line per added field, `<Kind>/<name> <JSON Pointer>`. */
export type HardeningReport = string[];

/**
 * Adds to every pod spec of a built-in workload under `scope` what it lacks of the restricted
 * Pod Security Standard: pod-level `seccompProfile: RuntimeDefault` and `runAsNonRoot: true`,
 * and per container `capabilities.drop: ["ALL"]` and `allowPrivilegeEscalation: false`. Fields
 * that are set are left as they are (a container that sets `runAsNonRoot: false` or adds
 * capabilities is still refused by `writeManifests`, with the field named). It does not make a
 * root filesystem read-only nor add resources: those depend on the program and stay the
 * workload's own (cdk8s-plus sets both by default).
 *
 * It works on the objects as they are when it is called (as JSON patches), so call it once the
 * app is built, right before `writeManifests`. Returns what it added.
 */
export function hardenPodSpecs(scope: IConstruct): HardeningReport {
  const report: HardeningReport = [];
  for (const obj of scope.node.findAll().filter(ApiObject.isApiObject)) {
    const at = POD_SPEC_PATHS[obj.kind];
    if (at === undefined || obj.apiVersion.includes('.')) continue;
    const json = obj.toJson();
    const spec = at.split('/').slice(1).reduce((o: any, k) => o?.[k], json);
    if (!spec || typeof spec !== 'object') continue;
    const patches: JsonPatch[] = [];
    const add = (path: string, value: unknown) => {
      patches.push(JsonPatch.add(path, value));
      report.push(`${obj.kind}/${json.metadata?.name} ${path}`);
    };
    const podSc = spec.securityContext;
    if (podSc === undefined) {
      add(`${at}/securityContext`, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    } else {
      if (podSc.seccompProfile === undefined) add(`${at}/securityContext/seccompProfile`, { type: 'RuntimeDefault' });
      if (podSc.runAsNonRoot === undefined) add(`${at}/securityContext/runAsNonRoot`, true);
    }
    for (const list of ['initContainers', 'containers'] as const) {
      (Array.isArray(spec[list]) ? spec[list] : []).forEach((c: any, i: number) => {
        const cat = `${at}/${list}/${i}`;
        const sc = c?.securityContext;
        if (sc === undefined) {
          add(`${cat}/securityContext`, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
          return;
        }
        if (sc.allowPrivilegeEscalation === undefined) add(`${cat}/securityContext/allowPrivilegeEscalation`, false);
        if (sc.capabilities === undefined) add(`${cat}/securityContext/capabilities`, { drop: ['ALL'] });
        else if (!Array.isArray(sc.capabilities.drop)) add(`${cat}/securityContext/capabilities/drop`, ['ALL']);
        else if (!sc.capabilities.drop.includes('ALL')) add(`${cat}/securityContext/capabilities/drop/-`, 'ALL');
      });
    }
    if (patches.length > 0) obj.addJsonPatch(...patches);
  }
  return report;
}
