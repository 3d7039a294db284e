/**
 * versions.json pins the real components (what the e2e harness installs and what the library's
 * defaults run). `pinDrift` compares it with what the library targets and returns one line per
 * disagreement, so a bump in one place without the other fails test/pins.test.ts.
 */

/** A Go module built from a release tag: the tag, its commit and the proxy's pseudo-version. */
export interface GoReleasePin {
  readonly release: string;
  readonly commit: string;
  readonly goVersion: string;
}

/** The shape of versions.json. */
export interface Versions {
  readonly mlflow: string;
  readonly minio: GoReleasePin;
  readonly mc: GoReleasePin;
  readonly seldonCore: string;
  readonly seldonCoreCommit: string;
  /** sha256 of ../shared/third_party/seldon-core-<seldonCore>.tar.gz, checked before it is unpacked and built. */
  readonly seldonCoreSourceSha256: string;
  readonly kserve: string;
  readonly kserveCommit: string;
  readonly r: string;
  /** The protocol fuzzer's Python packages (scripts/fuzz.sh), not part of the library. */
  readonly fuzz: { readonly schemathesis: string; readonly prometheusClient: string };
  /** The single node of `npm run node:up` (scripts/real/install-node.sh builds it). */
  readonly node: NodePins;
  /** prometheus-operator whose CRDs are in imports/crds/ (scripts/gen-prometheus-operator.js). */
  readonly prometheusOperator: { readonly version: string; readonly moduleSum: string };
  /** promtool, built from the Go module (scripts/real/install-promtool.sh). */
  readonly promtool: { readonly prometheusModule: string; readonly release: string };
}

/** The node's components: Kubernetes from the wrapper module e2e/go/kube, and its add-ons. */
export interface NodePins {
  readonly kubernetes: string;
  readonly kubernetesCommit: string;
  readonly coredns: string;
  readonly kubeRouter: string;
  readonly pause: string;
}

/** What the library targets. */
export interface LibraryTargets {
  readonly mlflowImage: string;
  readonly mlflowVersion: string;
  readonly minioImage: string;
  readonly mcImage: string;
  readonly seldonCoreVersion: string;
  readonly kserveVersion: string;
  /** Files that name versions in prose or config (lib sources, cdk8s.yaml, the CRD's SOURCE.md), by name. */
  readonly texts: Readonly<Record<string, string>>;
}

const SEMVER = /^\d+\.\d+\.\d+$/;
const COMMIT = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

function imageTag(image: string): string | undefined {
  const last = image.slice(image.lastIndexOf('/') + 1);
  const colon = last.indexOf(':');
  return colon < 0 || image.includes('@') ? undefined : last.slice(colon + 1);
}

/** `RELEASE.2025-09-07T16-13-09Z` → `20250907161309` (the pseudo-version's timestamp). */
function releaseTimestamp(release: string): string | undefined {
  const m = /^RELEASE\.(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})-(\d{2})Z$/.exec(release);
  return m ? m.slice(1).join('') : undefined;
}

function goReleaseDrift(name: string, pin: GoReleasePin, image: string): string[] {
  const out: string[] = [];
  const tag = imageTag(image);
  if (tag !== pin.release) out.push(`${name}: the default image ${image} has tag ${tag}, versions.json pins ${pin.release}`);
  if (!COMMIT.test(pin.commit)) out.push(`${name}: commit ${pin.commit} is not 40 lower-case hex digits`);
  const stamp = releaseTimestamp(pin.release);
  const expected = stamp ? `v0.0.0-${stamp}-${pin.commit.slice(0, 12)}` : undefined;
  if (!stamp) out.push(`${name}: release ${pin.release} is not RELEASE.YYYY-MM-DDTHH-MM-SSZ`);
  else if (pin.goVersion !== expected) out.push(`${name}: goVersion ${pin.goVersion} does not match release and commit (expected ${expected})`);
  return out;
}

/** Every disagreement between versions.json and the library; empty when they agree. */
export function pinDrift(v: Versions, lib: LibraryTargets): string[] {
  const out: string[] = [];
  for (const [key, value] of [['mlflow', v.mlflow], ['seldonCore', v.seldonCore], ['kserve', v.kserve], ['r', v.r]] as const) {
    if (typeof value !== 'string' || !SEMVER.test(value)) out.push(`${key}: ${JSON.stringify(value)} is not a version x.y.z`);
  }
  if (!COMMIT.test(v.seldonCoreCommit)) out.push(`seldonCoreCommit: ${v.seldonCoreCommit} is not 40 lower-case hex digits`);
  if (!SHA256.test(v.seldonCoreSourceSha256)) out.push(`seldonCoreSourceSha256: ${v.seldonCoreSourceSha256} is not 64 lower-case hex digits`);
  if (!COMMIT.test(v.kserveCommit)) out.push(`kserveCommit: ${v.kserveCommit} is not 40 lower-case hex digits`);
  if (lib.kserveVersion !== v.kserve) {
    out.push(`kserve: the library targets KServe ${lib.kserveVersion} (KSERVE_VERSION), versions.json pins ${v.kserve}`);
  }

  const mlflowTag = imageTag(lib.mlflowImage);
  const mlflowFromTag = /^v(\d+\.\d+\.\d+)(-[a-z]+)?$/.exec(mlflowTag ?? '')?.[1];
  if (mlflowFromTag !== v.mlflow) out.push(`mlflow: the default image ${lib.mlflowImage} runs ${mlflowFromTag}, versions.json pins ${v.mlflow}`);
  if (lib.mlflowVersion !== v.mlflow) out.push(`mlflow: MLFLOW_VERSION is ${lib.mlflowVersion}, versions.json pins ${v.mlflow}`);
  out.push(...goReleaseDrift('minio', v.minio, lib.minioImage));
  out.push(...goReleaseDrift('mc', v.mc, lib.mcImage));
  if (lib.seldonCoreVersion !== v.seldonCore) {
    out.push(`seldonCore: the library targets Seldon Core ${lib.seldonCoreVersion} (SELDON_CORE_VERSION), versions.json pins ${v.seldonCore}`);
  }

  // Versions named in prose and config must be the pinned ones too.
  const named: Array<{ what: string; re: RegExp; pinned: string }> = [
    { what: 'Seldon Core', re: /(?:Seldon Core|seldon-core|Seldon|tag) v?(1\.\d+\.\d+)\b/g, pinned: v.seldonCore },
    { what: 'MLflow image', re: /ghcr\.io\/mlflow\/mlflow:v(\d+\.\d+\.\d+)/g, pinned: v.mlflow },
    { what: 'MinIO release', re: /minio\/minio:(RELEASE\.[0-9TZ-]+)/g, pinned: v.minio.release },
    { what: 'mc release', re: /minio\/mc:(RELEASE\.[0-9TZ-]+)/g, pinned: v.mc.release },
    { what: 'KServe', re: /(?:KServe|kserve\/kserve@|kserve@) ?v?(0\.\d+\.\d+)\b/g, pinned: v.kserve },
  ];
  for (const [file, text] of Object.entries(lib.texts)) {
    for (const { what, re, pinned } of named) {
      for (const m of text.matchAll(re)) {
        if (m[1] !== pinned) out.push(`${file}: names ${what} ${m[1]} ("${m[0]}"), versions.json pins ${pinned}`);
      }
    }
  }
  const source = lib.texts['../shared/crds/SOURCE.md'];
  if (source !== undefined && !source.includes(`commit ${v.seldonCoreCommit}`)) {
    out.push(`../shared/crds/SOURCE.md: the CRD was not taken from commit ${v.seldonCoreCommit} (seldonCoreCommit)`);
  }
  if (source !== undefined && !source.includes(`commit ${v.kserveCommit}`)) {
    out.push(`../shared/crds/SOURCE.md: the KServe CRD was not taken from commit ${v.kserveCommit} (kserveCommit)`);
  }
  // The source archive the executor and operator are built from: its record must name the pinned
  // hash and commit (scripts/real/install-seldon.sh checks the archive itself against the hash).
  const archive = lib.texts['../shared/third_party/SOURCE.md'];
  if (archive !== undefined && !archive.includes(v.seldonCoreSourceSha256)) {
    out.push(`../shared/third_party/SOURCE.md: does not record the archive sha256 ${v.seldonCoreSourceSha256} (seldonCoreSourceSha256)`);
  }
  if (archive !== undefined && !archive.includes(v.seldonCoreCommit)) {
    out.push(`../shared/third_party/SOURCE.md: the archive was not cut from commit ${v.seldonCoreCommit} (seldonCoreCommit)`);
  }
  return out;
}
