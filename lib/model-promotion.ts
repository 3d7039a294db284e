/**
 * Promotion of a challenger: moves the `toAlias` (champion) of a registered model to the version
 * `fromAlias` (challenger) points at. A suspended CronJob is the template of the promotion Job,
 * run on demand with `kubectl create job --from=cronjob/<name> <name>-<n>`: nothing runs when the
 * manifests are applied, nothing is edited to promote, and the image is the training image,
 * which already has the rmlops MLflow client (no rebuild).
 *
 * Servers loading `models:/<name>@<toAlias>` resolve the alias only when they start, so moving it
 * serves nothing new by itself. With `serving`, the Job then rolls those predictors: it patches
 * the annotation `MODEL_VERSION_ANNOTATION` into their `componentSpecs[0].metadata`, which the
 * Seldon operator copies into the pod template of its Deployment. That is the one change the
 * operator rolls out. A `kubectl rollout restart` of the Deployment is undone by the operator,
 * which owns it: on a real Seldon 1.17.1 the new ReplicaSet went back to 0, and the old version
 * kept serving. The Job's service account may only `patch` those SeldonDeployments, by name.
 */
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { validateObjectsAtSynth } from './app-validation';
import { ENV, MODEL_VERSION_ANNOTATION, PROMOTION_ENV, R_SCRIPT_COMMAND } from './contract';
import { ITrackingServer } from './mlflow-server';
import {
  ComputeResources, TMP_PATH, TMP_VOLUME, checkResources, k8sResources, namespaceOf, podLabels,
  podSecurityContext, resolveName, restrictedSecurityContext, tmpVolume, withDefaults,
} from './pod-defaults';
import { DEFAULT_R_TRAINING_IMAGE, ModelRef, R_IMAGE_UID } from './r-training-job';
import { SeldonRModel } from './seldon-r-model';
import { PodSettings, ownedEnv, resolvePodSettings } from './pod-settings';
import { RmlopsDefaults } from './rmlops-defaults';
import {
  Problem, checkDnsLabel, checkInteger, checkModelAlias, checkPinnedImage, checkPort, checkRegisteredModelName, validateAtSynth, warnAtSynth,
} from './validate';
import { NetworkIpBlock, checkCidr, unknownEndpoint, workloadNetworkPolicy } from './network-policy';
import { NETWORK } from './contract';

/** Name of the promotion container. */
export const PROMOTION_CONTAINER_NAME = 'promote';

/**
 * The R program of the promotion Job (`Rscript -e`), on the exported MLflow client of the rmlops
 * package: it reads the version of `<name>@<from>`, points `<name>@<to>` at it and prints both
 * versions. A missing `from` alias fails the Job (exit 1) and moves nothing.
 */
export const PROMOTE_R = [
  'e <- function(k) { v <- Sys.getenv(k); if (!nzchar(v)) stop(k, " is not set"); v }',
  `client <- rmlops::mlflow_client(e("${ENV.trackingUri}"), wait_seconds = as.numeric(e("${ENV.mlflowWaitSeconds}")))`,
  `name <- e("${ENV.registeredModelName}"); from <- e("${PROMOTION_ENV.fromAlias}"); to <- e("${PROMOTION_ENV.toAlias}")`,
  'version <- rmlops::mlflow_get_version_by_alias(client, name, from)$version',
  'before <- tryCatch(rmlops::mlflow_get_version_by_alias(client, name, to)$version, error = function(err) "none")',
  'rmlops::mlflow_set_alias(client, name, to, version)',
  'cat(sprintf("promoted %s@%s -> version %s (was %s), the version of %s@%s\\n", name, to, version, before, name, from))',
  // Rolling the serving pods: a JSON Patch to the API server with the pod's service account.
  `for (roll in jsonlite::parse_json(Sys.getenv("${PROMOTION_ENV.rolls}", "[]"))) {`,
  `  sa <- e("${PROMOTION_ENV.serviceAccountDir}"); resource <- roll$resource`,
  '  host <- e("KUBERNETES_SERVICE_HOST"); if (grepl(":", host, fixed = TRUE)) host <- paste0("[", host, "]")',
  '  ops <- lapply(roll$patch, function(op) { if (op$op == "add") op$value <- as.character(version); op })',
  '  resp <- httr::PATCH(paste0("https://", host, ":", e("KUBERNETES_SERVICE_PORT"), resource),',
  '    body = as.character(jsonlite::toJSON(ops, auto_unbox = TRUE)), httr::content_type("application/json-patch+json"),',
  '    httr::add_headers(Authorization = paste("Bearer", readLines(file.path(sa, "token"), warn = FALSE)[[1]])),',
  '    httr::config(cainfo = file.path(sa, "ca.crt")), httr::timeout(30))',
  '  if (httr::status_code(resp) >= 300) stop("PATCH ", resource, ": HTTP ", httr::status_code(resp), ": ", httr::content(resp, as = "text", encoding = "UTF-8"))',
  `  cat(sprintf("rolling %s: ${MODEL_VERSION_ANNOTATION}=%s\\n", resource, version))`,
  '}',
].join('\n');

/** Where the kubelet mounts a pod's service account token and the cluster CA. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** JSON Pointer escaping of one path segment (RFC 6901). */
const pointer = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/** Props of `ModelPromotion` (`PodSettings`; `serviceAccountName` only without `serving`, which brings its own). */
export interface ModelPromotionProps extends PodSettings {
  /** The MLflow server holding the registry (its NetworkPolicy is opened to the promotion pods). */
  readonly tracking: ITrackingServer;
  /** The model whose alias moves: the champion's training job `model` (its name and alias), or `{ name, alias }`. */
  readonly champion: ModelRef | { readonly name: string; readonly alias: string };
  /** The alias whose version is promoted: the challenger's training job `model`, or an alias name. @default "challenger" */
  readonly challenger?: ModelRef | string;
  /** Name of the CronJob (and prefix of the Jobs made from it). @default the construct id */
  readonly name?: string;
  /** Image with the rmlops R package, pinned. @default DEFAULT_R_TRAINING_IMAGE (from `RmlopsDefaults`' registry if set) */
  readonly image?: string;
  /** How long the program waits for MLflow, in seconds. @default 120 */
  readonly mlflowWaitSeconds?: number;
  /** Resources of the container. @default 50m CPU, 256Mi request, 512Mi limit (docs/capacity.md) */
  readonly resources?: ComputeResources;
  /** Numeric uid the image runs as. @default R_IMAGE_UID (10001) */
  readonly runAsUser?: number;
  /**
   * The SeldonRModels serving the champion (`models:/<name>@<alias>`): after moving the alias,
   * the Job rolls those predictors so that they load the new version. Each must be in this
   * namespace and have at least one such predictor. @default [] (nothing rolls: see docs/rollouts.md)
   */
  readonly serving?: readonly SeldonRModel[];
  /**
   * Where the API server's endpoint is, for the Job's egress with `serving` (it PATCHes the
   * SeldonDeployments). NetworkPolicy sees the connection after the `kubernetes` Service's DNAT,
   * so this is the endpoint (`kubectl get endpoints kubernetes`: e.g. 10.0.0.5:6443), not the
   * Service's ClusterIP and 443. @default - any address (`0.0.0.0/0`) on port 6443: narrow `ipBlocks` to your API server's addresses
   */
  readonly apiServer?: {
    /** The API server endpoints' address blocks. @default [{ cidr: "0.0.0.0/0" }] */
    readonly ipBlocks?: readonly NetworkIpBlock[];
    /** The API server endpoints' port. @default 6443 */
    readonly port?: number;
  };
}

/** What the promotion Job patches in one SeldonDeployment. */
export interface PromotionRoll {
  /** Name of the SeldonDeployment. */
  readonly seldonDeployment: string;
  /** Its API path, which the Job PATCHes. */
  readonly resource: string;
  /** The JSON Patch template: `add` ops get the promoted version as their value. */
  readonly patch: readonly { op: 'test' | 'add'; path: string; value?: string }[];
}

/** A promotion Job template: `kubectl create job --from=cronjob/<name> <name>-1` moves the alias. */
export class ModelPromotion extends Construct {
  /** Name of the CronJob. */
  public readonly name: string;
  /** Registered model name. */
  public readonly modelName: string;
  /** The alias promoted from. */
  public readonly fromAlias: string;
  /** The alias moved. */
  public readonly toAlias: string;
  /** The suspended CronJob whose jobTemplate is the promotion. */
  public readonly cronJob: k8s.KubeCronJob;
  /** Labels selecting the promotion pods. */
  public readonly podSelector: Record<string, string>;
  /** What the Job patches after moving the alias (one entry per `serving` model). */
  public readonly rolls: PromotionRoll[];

  constructor(scope: Construct, id: string, props: ModelPromotionProps) {
    super(scope, id);
    const name = resolveName(id, props.name);
    this.name = name;
    const image = RmlopsDefaults.image(this, props.image, DEFAULT_R_TRAINING_IMAGE);
    const champion = props.champion;
    this.modelName = champion?.name;
    this.toAlias = champion?.alias;
    const challenger = props.challenger ?? 'challenger';
    this.fromAlias = typeof challenger === 'string' ? challenger : challenger.alias;
    const waitSeconds = props.mlflowWaitSeconds ?? 120;
    const uid = props.runAsUser ?? R_IMAGE_UID;
    const resources = withDefaults(props.resources, { cpuRequest: '50m', memoryRequest: '256Mi', memoryLimit: '512Mi' });
    const serving = props.serving ?? [];
    const ns = namespaceOf(this);
    const championUri = `models:/${this.modelName}@${this.toAlias}`;
    // One JSON Patch per SeldonDeployment. Each `test` guards its `add`: if the predictor at that
    // index is no longer the one synthesized, the API server refuses the whole patch (422).
    this.rolls = serving.map((model) => ({
      seldonDeployment: model.name,
      resource: `/apis/machinelearning.seldon.io/v1/namespaces/${ns ?? 'default'}/seldondeployments/${model.name}`,
      patch: model.predictors.flatMap((p, i) => (p.modelUri !== championUri ? [] : [
        { op: 'test' as const, path: `/spec/predictors/${i}/name`, value: p.name },
        { op: 'add' as const, path: `/spec/predictors/${i}/componentSpecs/0/metadata/annotations/${pointer(MODEL_VERSION_ANNOTATION)}` },
      ])),
    }));

    const settings = resolvePodSettings(this, props, ownedEnv([], 'the construct', [
      ...[ENV.trackingUri, ENV.registeredModelName, ENV.mlflowWaitSeconds, ENV.tmpDir, 'HOME', ...Object.values(PROMOTION_ENV)].map((n): [string, string] => [n, 'the construct']),
      ...Object.values(ENV).map((n): [string, string] => [n, 'the rmlops contract (lib/contract.ts ENV)']),
    ]));

    validateAtSynth(this, () => {
      const out: Problem[] = [
        ...settings.problems(),
        ...checkDnsLabel('name', name, 52).map((p) => ({ ...p, problem: `${p.problem}; a CronJob name is at most 52 (its Jobs get a suffix)` })),
        ...checkPinnedImage('image', image),
        ...checkRegisteredModelName('champion.name', this.modelName),
        ...checkModelAlias('champion.alias', this.toAlias),
        ...checkModelAlias('challenger', this.fromAlias),
        ...checkInteger('mlflowWaitSeconds', waitSeconds, 0),
        ...checkInteger('runAsUser', uid, 1),
        ...checkResources('resources', resources),
      ];
      if (typeof challenger !== 'string' && challenger.name !== this.modelName) {
        out.push({ prop: 'challenger', value: challenger.uri, problem: `is a version of "${challenger.name}", not of the champion's model "${this.modelName}"; an alias points within one registered model`, fix: `train the challenger with registeredModelName "${this.modelName}"` });
      }
      serving.forEach((model, i) => {
        if (namespaceOf(model) !== ns) {
          out.push({ prop: `serving[${i}]`, value: model.name, problem: `is in namespace "${namespaceOf(model) ?? '(none)'}", not the promotion's "${ns ?? '(none)'}"; its Role can only grant access in its own namespace`, fix: 'create the ModelPromotion in the chart of the SeldonRModel' });
        } else if (this.rolls[i].patch.length === 0) {
          out.push({ prop: `serving[${i}]`, value: model.name, problem: `has no predictor loading "${championUri}" (it loads ${model.predictors.map((p) => `"${p.modelUri}"`).join(', ')}), so the promotion would roll nothing there`, fix: 'pass the SeldonRModels that serve the champion' });
        }
      });
      if (serving.length > 1 && new Set(serving.map((m) => m.name)).size < serving.length) {
        out.push({ prop: 'serving', value: serving.map((m) => m.name).join(', '), problem: 'names a SeldonDeployment twice', fix: 'list each SeldonRModel once' });
      }
      if (props.serviceAccountName !== undefined && this.rolls.length > 0) {
        out.push({ prop: 'serviceAccountName', value: props.serviceAccountName, problem: `is set together with \`serving\`, which runs the Job as its own service account "${name}" (the one its Role lets patch the SeldonDeployments)`, fix: 'remove serviceAccountName, or remove `serving` and roll the predictors yourself' });
      }
      const api = props.apiServer;
      if (api?.port !== undefined) out.push(...checkPort('apiServer.port', api.port));
      (api?.ipBlocks ?? []).forEach((b, i) => out.push(...checkCidr(`apiServer.ipBlocks[${i}].cidr`, b.cidr)));
      if (api !== undefined && serving.length === 0) {
        out.push({ prop: 'apiServer', value: api, problem: 'is set without `serving`: the Job only talks to the API server to roll serving models', fix: 'remove apiServer, or pass the SeldonRModels as `serving`' });
      }
      if (this.fromAlias === this.toAlias) {
        out.push({ prop: 'challenger', value: this.fromAlias, problem: 'is the champion\'s alias, so the promotion would move nothing', fix: 'promote from the challenger\'s own alias, e.g. "challenger"' });
      }
      return out;
    });
    validateObjectsAtSynth(this);

    const { labels, podSelector } = podLabels(this, { name: 'r-promotion', instance: name, component: 'promotion' }, image, props.tracking);
    this.podSelector = podSelector;
    // No ingress; egress to DNS, MLflow and, when it rolls models, the API server's endpoint.
    const tracking = props.tracking;
    const apiServer = serving.length > 0
      ? { ipBlocks: props.apiServer?.ipBlocks ?? [{ cidr: '0.0.0.0/0' }], port: props.apiServer?.port ?? NETWORK.apiServerPort, description: 'the API server' }
      : undefined;
    workloadNetworkPolicy(this, 'NetworkPolicy', { name, labels }, podSelector, { egress: () => [tracking.endpoint, apiServer] });
    warnAtSynth(this, () => tracking.endpoint ? [] : [unknownEndpoint('tracking', 'the tracking server')]);

    // Only with `serving`: a service account that may patch exactly those SeldonDeployments
    // (no get, list or watch; the patch's `test` ops stand in for reading the object first).
    const rolling = this.rolls.length > 0;
    if (rolling) {
      new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: { name, labels }, automountServiceAccountToken: false });
      new k8s.KubeRole(this, 'Role', {
        metadata: { name, labels },
        rules: [{
          apiGroups: ['machinelearning.seldon.io'],
          resources: ['seldondeployments'],
          resourceNames: this.rolls.map((r) => r.seldonDeployment),
          verbs: ['patch'],
        }],
      });
      new k8s.KubeRoleBinding(this, 'RoleBinding', {
        metadata: { name, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
      });
    }

    this.cronJob = new k8s.KubeCronJob(this, 'Resource', {
      metadata: { name, labels },
      spec: {
        // Never scheduled: a CronJob is the one object `kubectl create job --from` copies a Job
        // from, and suspended it runs only when asked.
        suspend: true,
        schedule: '@yearly',
        concurrencyPolicy: 'Forbid',
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: { labels },
          spec: {
            // Setting an alias is idempotent, so a retry after a lost answer is safe.
            backoffLimit: 2,
            activeDeadlineSeconds: 600,
            ttlSecondsAfterFinished: 86400,
            template: {
              metadata: { labels },
              spec: {
                restartPolicy: 'Never',
                ...settings.pod,
                // The token only where the Job talks to the API server; the service account
                // itself does not automount it, so no other pod gets it by accident.
                ...(rolling ? { serviceAccountName: name, automountServiceAccountToken: true } : { automountServiceAccountToken: false }),
                securityContext: podSecurityContext(uid),
                containers: [{
                  name: PROMOTION_CONTAINER_NAME,
                  image,
                  command: [R_SCRIPT_COMMAND, '-e', PROMOTE_R],
                  env: [
                    { name: ENV.trackingUri, value: props.tracking.trackingUri },
                    { name: ENV.registeredModelName, value: this.modelName },
                    { name: PROMOTION_ENV.fromAlias, value: this.fromAlias },
                    { name: PROMOTION_ENV.toAlias, value: this.toAlias },
                    { name: ENV.mlflowWaitSeconds, value: String(waitSeconds) },
                    ...(rolling ? [
                      { name: PROMOTION_ENV.rolls, value: JSON.stringify(this.rolls.map((r) => ({ resource: r.resource, patch: r.patch }))) },
                      { name: PROMOTION_ENV.serviceAccountDir, value: SERVICE_ACCOUNT_DIR },
                    ] : []),
                    { name: ENV.tmpDir, value: TMP_PATH },
                    { name: 'HOME', value: TMP_PATH },
                    ...settings.env,
                  ],
                  envFrom: settings.envFrom,
                  resources: k8sResources(resources, '64Mi'),
                  securityContext: restrictedSecurityContext(uid),
                  volumeMounts: [{ name: TMP_VOLUME, mountPath: TMP_PATH }],
                }],
                volumes: [tmpVolume('64Mi')],
              },
            },
          },
        },
      },
    });
  }

  /** The command that runs the promotion once (`kubectl create job --from=cronjob/...`). */
  public get runCommand(): string {
    const ns = namespaceOf(this);
    return `kubectl${ns ? ` -n ${ns}` : ''} create job --from=cronjob/${this.name} ${this.name}-$(date +%s)`;
  }
}
