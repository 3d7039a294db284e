/**
 * The pod settings every workload construct of this library accepts alike (service account,
 * scheduling, priority, environment from Secrets and ConfigMaps, pull secrets), with the one
 * helper that checks them and renders them into a pod spec. A construct passes the names of the
 * environment variables it sets itself, so a user's variable cannot silently replace one.
 */
import { k8s } from 'cdk8s-plus-28';
import { IConstruct } from 'constructs';
import { configMapKey, envVarName, labelValue, qualifiedName } from './k8s-names';
import { RmlopsDefaults, SecretRef, secretName } from './rmlops-defaults';
import { Problem, checkDnsSubdomain, checkEnvValue } from './validate';

/** A ConfigMap by name, or anything with a `name` (a cdk8s-plus `IConfigMap`). */
export type ConfigMapRef = string | { readonly name: string };

/** One key of a Secret as an environment variable's value. */
export interface SecretKeyEnv {
  /** The Secret: its name or a cdk8s-plus `ISecret`. */
  readonly secret: SecretRef;
  /** The key in the Secret. */
  readonly key: string;
  /** Start the container even when the Secret or key is missing. @default false */
  readonly optional?: boolean;
}

/** One key of a ConfigMap as an environment variable's value. */
export interface ConfigMapKeyEnv {
  /** The ConfigMap: its name or a cdk8s-plus `IConfigMap`. */
  readonly configMap: ConfigMapRef;
  /** The key in the ConfigMap. */
  readonly key: string;
  /** Start the container even when the ConfigMap or key is missing. @default false */
  readonly optional?: boolean;
}

/**
 * An environment variable's value: a plain string, a key of a Secret or ConfigMap, or a
 * cdk8s-plus `EnvValue` (e.g. `EnvValue.fromSecretValue(...)`; anything with `value`/`valueFrom`).
 */
export type PodEnvValue = string | SecretKeyEnv | ConfigMapKeyEnv | { readonly value?: string; readonly valueFrom?: any };

/** Every key of a Secret or ConfigMap as environment variables (`envFrom`). Set exactly one of `secret` and `configMap`. */
export interface PodEnvFrom {
  /** The Secret: its name or a cdk8s-plus `ISecret`. @default - none */
  readonly secret?: SecretRef;
  /** The ConfigMap: its name or a cdk8s-plus `IConfigMap`. @default - none */
  readonly configMap?: ConfigMapRef;
  /** Prefix of every variable name. @default - none */
  readonly prefix?: string;
  /** Start the container even when the source is missing. @default false */
  readonly optional?: boolean;
}

/** A toleration of node taints, as Kubernetes defines it. */
export interface PodToleration {
  /** Taint key; empty with operator `Exists` tolerates every taint. @default - every key (needs `Exists`) */
  readonly key?: string;
  /** `Equal` (key and value match) or `Exists` (any value). @default "Equal" */
  readonly operator?: 'Equal' | 'Exists';
  /** Taint value (only with `Equal`). @default "" */
  readonly value?: string;
  /** Taint effect tolerated. @default - every effect */
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  /** Seconds a `NoExecute` taint is tolerated before eviction. @default - forever */
  readonly tolerationSeconds?: number;
}

/**
 * Pod settings shared by every workload construct. Each applies to every pod the construct
 * writes (MinioStore: the server and its provisioning Job; SeldonRModel: every predictor;
 * KServeRModel: the predictor), `env` and `envFrom` to the construct's own container (not to
 * `extraContainers` nor to Seldon's executor). Variables the construct sets itself cannot be
 * given in `env`; `envFrom` cannot override them either (Kubernetes lets `env` win).
 */
export interface PodSettings {
  /**
   * Service account of the pods. Its token is still not mounted (`automountServiceAccountToken:
   * false`): set it for workload identity (IRSA, Workload Identity), pull secrets or policies
   * that select by service account. @default - the namespace's `default`
   */
  readonly serviceAccountName?: string;
  /** Node labels the pods require (`nodeSelector`). @default - any node */
  readonly nodeSelector?: Record<string, string>;
  /** Taints the pods tolerate. @default [] */
  readonly tolerations?: readonly PodToleration[];
  /** Node and pod (anti-)affinity, as the Kubernetes API defines it. @default - none */
  readonly affinity?: k8s.Affinity;
  /** PriorityClass of the pods. @default - the cluster's default priority */
  readonly priorityClassName?: string;
  /** More environment variables of the construct's container, plain or from Secrets and ConfigMaps. @default {} */
  readonly env?: Record<string, PodEnvValue>;
  /** Every key of Secrets and ConfigMaps as variables of the construct's container. @default [] */
  readonly envFrom?: readonly PodEnvFrom[];
  /** Pull secrets of the pods (names or cdk8s-plus `ISecret`s). @default - those of `RmlopsDefaults.set`, else none */
  readonly imagePullSecrets?: readonly SecretRef[];
}

/** The pod-level fields of `PodSettings`, ready to spread into a pod spec of any binding. */
export interface PodFields {
  readonly serviceAccountName?: string;
  readonly nodeSelector?: Record<string, string>;
  readonly tolerations?: any[];
  readonly affinity?: any;
  readonly priorityClassName?: string;
  readonly imagePullSecrets?: { name: string }[];
}

/** `PodSettings` checked and rendered for one construct. */
export interface ResolvedPodSettings {
  /** Fields of the pod spec (only those set). */
  readonly pod: PodFields;
  /** The user's variables, sorted by name, after the construct's own. */
  readonly env: k8s.EnvVar[];
  /** `envFrom` of the construct's container, or undefined. */
  readonly envFrom?: k8s.EnvFromSource[];
  /** What is wrong with the settings (report them with `validateAtSynth`). */
  problems(): Problem[];
}

const OPERATORS = ['Equal', 'Exists'];
const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

/**
 * Checks and renders `settings` for a construct under `scope`. `owned` maps each variable the
 * construct sets (or the platform injects) to who sets it, for the collision errors.
 */
export function resolvePodSettings(scope: IConstruct, settings: PodSettings, owned: ReadonlyMap<string, string>): ResolvedPodSettings {
  const defaults = RmlopsDefaults.of(scope);
  const pullSecrets = (settings.imagePullSecrets ?? defaults.imagePullSecrets).map(secretName);
  const envEntries = Object.entries(settings.env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const pod: PodFields = {
    ...(settings.serviceAccountName !== undefined ? { serviceAccountName: settings.serviceAccountName } : {}),
    ...(settings.nodeSelector !== undefined && Object.keys(settings.nodeSelector).length > 0 ? { nodeSelector: { ...settings.nodeSelector } } : {}),
    ...((settings.tolerations ?? []).length > 0 ? { tolerations: settings.tolerations!.map((t) => ({ ...t })) } : {}),
    ...(settings.affinity !== undefined ? { affinity: k8s.toJson_Affinity(settings.affinity) } : {}),
    ...(settings.priorityClassName !== undefined ? { priorityClassName: settings.priorityClassName } : {}),
    ...(pullSecrets.length > 0 ? { imagePullSecrets: pullSecrets.map((name) => ({ name })) } : {}),
  };
  const envFrom = (settings.envFrom ?? []).map((e): k8s.EnvFromSource => ({
    ...(e.prefix !== undefined ? { prefix: e.prefix } : {}),
    ...(e.secret !== undefined ? { secretRef: { name: secretName(e.secret), ...(e.optional !== undefined ? { optional: e.optional } : {}) } } : {}),
    ...(e.configMap !== undefined ? { configMapRef: { name: secretName(e.configMap), ...(e.optional !== undefined ? { optional: e.optional } : {}) } } : {}),
  }));
  return {
    pod,
    env: envEntries.map(([name, v]) => renderEnv(name, v)),
    envFrom: envFrom.length > 0 ? envFrom : undefined,
    problems: () => checkPodSettings(settings, owned),
  };
}

function renderEnv(name: string, v: PodEnvValue): k8s.EnvVar {
  // Not an object: plain JS may pass a number; it is rendered as given and reported by the check.
  if (typeof v !== 'object' || v === null) return { name, value: v as unknown as string };
  const opt = (o: boolean | undefined) => (o !== undefined ? { optional: o } : {});
  if (v && 'secret' in v) return { name, valueFrom: { secretKeyRef: { name: secretName(v.secret), key: v.key, ...opt(v.optional) } } };
  if (v && 'configMap' in v) return { name, valueFrom: { configMapKeyRef: { name: secretName(v.configMap), key: v.key, ...opt(v.optional) } } };
  // A cdk8s-plus EnvValue: its valueFrom is already in the API's shape.
  return { name, ...(v?.value !== undefined ? { value: v.value } : {}), ...(v?.valueFrom !== undefined ? { valueFrom: v.valueFrom } : {}) };
}

/** The problems of `settings`, each with its prop path, value and fix. */
export function checkPodSettings(settings: PodSettings, owned: ReadonlyMap<string, string>): Problem[] {
  const out: Problem[] = [];
  const p = (prop: string, value: unknown, problem: string, fix: string) => out.push({ prop, value, problem, fix });
  const sa = settings.serviceAccountName;
  if (sa !== undefined) {
    if (typeof sa !== 'string' || sa.trim() === '') p('serviceAccountName', sa, 'is empty', 'give the name of a ServiceAccount in the pods\' namespace, or leave the prop out for the namespace\'s `default`');
    else out.push(...checkDnsSubdomain('serviceAccountName', sa, 'model-runner'));
  }
  for (const [k, v] of Object.entries(settings.nodeSelector ?? {})) {
    const badKey = qualifiedName(k);
    if (badKey) p(`nodeSelector.${k}`, k, `is not a label key: ${badKey}`, 'use a node label key such as "kubernetes.io/arch" or "node.example.com/pool"');
    const badValue = typeof v === 'string' ? labelValue(v) : `${JSON.stringify(v)} is not a string`;
    if (badValue) p(`nodeSelector.${k}`, v, `is not a label value: ${badValue}`, 'use the node label\'s value, e.g. "amd64" or "r-models"');
  }
  (settings.tolerations ?? []).forEach((t, i) => {
    const at = `tolerations[${i}]`;
    const op = t.operator ?? 'Equal';
    if (!OPERATORS.includes(op)) p(`${at}.operator`, t.operator, 'is not a toleration operator', 'use "Equal" (key and value match) or "Exists" (any value of the key)');
    if (t.effect !== undefined && !EFFECTS.includes(t.effect)) p(`${at}.effect`, t.effect, 'is not a taint effect', 'use "NoSchedule", "PreferNoSchedule" or "NoExecute", or leave it out for every effect');
    if (op === 'Exists' && t.value !== undefined && t.value !== '') p(`${at}.value`, t.value, 'is set with operator "Exists", which the API server rejects (Exists matches any value)', 'remove `value`, or use operator "Equal"');
    if ((t.key === undefined || t.key === '') && op !== 'Exists') p(`${at}.key`, t.key, 'is empty with operator "Equal"; only "Exists" may leave the key out (it then tolerates every taint)', 'give the taint\'s key, or set operator "Exists"');
    if (t.key !== undefined && t.key !== '') {
      const bad = qualifiedName(t.key);
      if (bad) p(`${at}.key`, t.key, `is not a taint key: ${bad}`, 'use the taint\'s key, e.g. "dedicated"');
    }
    if (t.value !== undefined && t.value !== '' && labelValue(t.value)) p(`${at}.value`, t.value, `is not a taint value: ${labelValue(t.value)}`, 'use the taint\'s value, e.g. "r-models"');
    if (t.tolerationSeconds !== undefined) {
      if (t.effect !== 'NoExecute') p(`${at}.tolerationSeconds`, t.tolerationSeconds, 'is set without effect "NoExecute", the only effect that evicts (the API server rejects it)', 'set effect "NoExecute", or remove tolerationSeconds');
      else if (!Number.isInteger(t.tolerationSeconds)) p(`${at}.tolerationSeconds`, t.tolerationSeconds, 'is not a whole number of seconds', 'use e.g. 300');
    }
  });
  if (settings.priorityClassName !== undefined) out.push(...checkDnsSubdomain('priorityClassName', settings.priorityClassName, 'high-priority'));
  for (const [name, v] of Object.entries(settings.env ?? {})) {
    const at = `env.${name}`;
    const badName = envVarName(name);
    if (badName) p(at, name, `is not an environment variable name: ${badName}`, 'use letters, digits and \'_\', e.g. "MY_SETTING"');
    const by = owned.get(name);
    if (by !== undefined) {
      p(at, typeof v === 'string' ? v : name, `collides with ${name}, which ${by} sets (a second entry would silently override it)`,
        by.startsWith('`') ? `set ${by} instead` : 'use another variable name');
    }
    if (typeof v !== 'object' || v === null) out.push(...checkEnvValue(at, v));
    else if ('secret' in v || 'configMap' in v) {
      const ref = 'secret' in v ? secretName(v.secret) : secretName((v as ConfigMapKeyEnv).configMap);
      const what = 'secret' in v ? 'secret' : 'configMap';
      out.push(...checkDnsSubdomain(`${at}.${what}`, ref, what === 'secret' ? 'risk-db' : 'risk-settings'));
      const badKey = typeof v.key === 'string' ? configMapKey(v.key) : 'is not a string';
      if (badKey) p(`${at}.key`, v.key, `is not a Secret or ConfigMap key: ${badKey}`, 'use the key as the Secret or ConfigMap has it, e.g. "password"');
    } else if (v.value === undefined && v.valueFrom === undefined) {
      p(at, v, 'is neither a string, a Secret or ConfigMap key, nor an EnvValue', 'use a string, { secret, key }, { configMap, key }, or a cdk8s-plus EnvValue');
    }
  }
  (settings.envFrom ?? []).forEach((e, i) => {
    const at = `envFrom[${i}]`;
    if ((e.secret === undefined) === (e.configMap === undefined)) {
      p(at, e, 'must name exactly one of `secret` and `configMap`', 'split it into one entry per source');
    }
    if (e.secret !== undefined) out.push(...checkDnsSubdomain(`${at}.secret`, secretName(e.secret), 'risk-db'));
    if (e.configMap !== undefined) out.push(...checkDnsSubdomain(`${at}.configMap`, secretName(e.configMap), 'risk-settings'));
    if (e.prefix !== undefined && envVarName(`${e.prefix}X`)) p(`${at}.prefix`, e.prefix, 'does not start a valid environment variable name', 'use letters, digits and \'_\', e.g. "DB_"');
  });
  (settings.imagePullSecrets ?? []).forEach((s, i) => out.push(...checkDnsSubdomain(`imagePullSecrets[${i}]`, secretName(s), 'regcred')));
  return out;
}

/**
 * `owned` for a container: each variable in `env` (set by `by`), then each of `extra` (name and
 * who sets it); the first mention of a name says who sets it.
 */
export function ownedEnv(env: readonly { name: string }[], by = 'the construct', extra: Iterable<[string, string]> = []): Map<string, string> {
  const m = new Map<string, string>();
  for (const [name, who] of [...env.map((e): [string, string] => [e.name, by]), ...extra]) if (!m.has(name)) m.set(name, who);
  return m;
}
