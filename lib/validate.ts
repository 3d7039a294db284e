/**
 * Shared prop validators. Every construct runs its checks through `validateAtSynth`, so a bad
 * value is reported at synth time as `[<construct path>] <prop> = <value>: <problem>. Fix: <fix>`
 * (cdk8s adds the bracketed path) instead of becoming YAML that the cluster rejects.
 *
 * A check returns a list of problems (empty when the value is fine), so checks compose with
 * plain array spreading and none of them throws.
 */
import { Construct } from 'constructs';
import { SELDON_EXECUTOR_PORTS } from './contract';

/** One invalid prop value, with what is wrong and how to fix it. */
export interface Problem {
  /** The prop, as the user wrote it (e.g. `httpPort`, `extraContainers[0].ports[1].name`). */
  readonly prop: string;
  /** The offending value. */
  readonly value: unknown;
  /** What is wrong with it. */
  readonly problem: string;
  /** What to do instead. */
  readonly fix: string;
}

/** Formats a problem as one line of a synth error. */
export function formatProblem(p: Problem): string {
  return `${p.prop} = ${JSON.stringify(p.value)}: ${p.problem}. Fix: ${p.fix}`;
}

/**
 * Registers `check` as a deferred validation of `scope`: it runs when the chart is synthesized,
 * after every prop and every later mutation are known.
 */
export function validateAtSynth(scope: Construct, check: () => Problem[]): void {
  scope.node.addValidation({
    validate: () => {
      const problems = check();
      if (problems.length > 0) withPropProblems.add(scope);
      else withPropProblems.delete(scope);
      return problems.map(formatProblem);
    },
  });
}

// Warnings of constructs, by construct: read when the app is written (`constructWarnings`).
const warningChecks = new WeakMap<Construct, (() => Problem[])[]>();

/**
 * Registers `check` as a deferred warning of `scope`: what the construct suggests is wrong but
 * cannot prove (e.g. a client of an imported MLflow server whose NetworkPolicy may not admit
 * it). `writeManifests` reports them with the manifests' own warnings; they never fail a synth.
 */
export function warnAtSynth(scope: Construct, check: () => Problem[]): void {
  const list = warningChecks.get(scope) ?? [];
  list.push(check);
  warningChecks.set(scope, list);
}

/** The warnings of every construct under `root`, as `[<path>] <prop> = <value>: <problem>. Fix: <fix>`. */
export function constructWarnings(root: Construct): string[] {
  return root.node.findAll().flatMap((c) => (warningChecks.get(c as Construct) ?? [])
    .flatMap((check) => check().map((p) => `[${c.node.path}] ${formatProblem(p)}`)));
}

// Constructs whose props failed in the current synth: their objects are not checked again (the
// prop's message already says what to fix, and the object errors would repeat it less clearly).
const withPropProblems = new WeakSet<Construct>();

/** Whether the prop checks of `scope` failed in the latest synth. */
export function hasPropProblems(scope: Construct): boolean {
  return withPropProblems.has(scope);
}

function problem(prop: string, value: unknown, what: string, fix: string): Problem[] {
  return [{ prop, value, problem: what, fix }];
}

/** A DNS-1123 label (without its 63-character limit, which callers check with their own). */
export const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Suggests a valid DNS label for a bad name (lower case, `-` for anything else). */
export function suggestDnsLabel(value: string, maxLength = 63): string {
  const cleaned = value
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, maxLength)
    .replace(/-+$/, '');
  return cleaned.length > 0 ? cleaned : 'my-name';
}

/** A DNS-1123 label (most object names): lower-case alphanumerics and `-`, at most 63 chars. */
export function checkDnsLabel(prop: string, value: string, maxLength = 63): Problem[] {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength || !DNS_1123_LABEL.test(value)) {
    return problem(prop, value,
      `is not a DNS-1123 label of at most ${maxLength} characters (lower-case letters, digits and '-', starting and ending alphanumeric)`,
      `use a name such as "${suggestDnsLabel(String(value), maxLength)}"`);
  }
  return [];
}

/** A Service name: DNS-1035 label (must start with a letter), at most 63 chars. */
export function checkServiceName(prop: string, value: string): Problem[] {
  if (typeof value !== 'string' || value.length === 0 || value.length > 63 || !DNS_1035_LABEL.test(value)) {
    return problem(prop, value,
      'is not a valid Service name (DNS-1035: at most 63 characters, lower-case letters, digits and \'-\', starting with a letter)',
      `use a name such as "${suggestDnsLabel(String(value), 63)}"`);
  }
  return [];
}

/** A name that must also fit as a prefix: `value + suffix` must stay a valid label. */
export function checkNameWithSuffix(prop: string, value: string, suffix: string, serviceName = false): Problem[] {
  const full = `${value}${suffix}`;
  if (full.length > 63) {
    return problem(prop, value,
      `makes the derived name "${full}" ${full.length} characters long (the limit is 63)`,
      `shorten it to at most ${63 - suffix.length} characters`);
  }
  return serviceName ? checkServiceName(prop, value) : checkDnsLabel(prop, value);
}

/**
 * An S3 bucket name, by the AWS general-purpose bucket rules (also what MinIO enforces):
 * 3-63 chars, lower case, letters/digits/`.`/`-`, alphanumeric at both ends, no `..`,
 * not an IP address, no `xn--`/`sthree-` prefix, no `-s3alias`/`--ol-s3` suffix.
 */
export function checkBucketName(prop: string, value: string): Problem[] {
  const fix = `use a name such as "${suggestDnsLabel(String(value).replace(/\./g, '-'), 63).padEnd(3, '0')}"`;
  const bad = (why: string) => problem(prop, value, `is not a valid S3 bucket name: ${why}`, fix);
  if (typeof value !== 'string') return bad('not a string');
  if (value.length < 3 || value.length > 63) return bad(`${value.length} characters (3 to 63 allowed)`);
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(value)) {
    return bad('only lower-case letters, digits, \'.\' and \'-\' are allowed, starting and ending with a letter or digit');
  }
  if (value.includes('..')) return bad('it contains ".."');
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(value)) return bad('it looks like an IP address');
  if (value.startsWith('xn--') || value.startsWith('sthree-')) return bad('the prefixes "xn--" and "sthree-" are reserved');
  if (value.endsWith('-s3alias') || value.endsWith('--ol-s3')) return bad('the suffixes "-s3alias" and "--ol-s3" are reserved');
  return [];
}

/** A TCP port number (1-65535, integer). */
export function checkPort(prop: string, value: number): Problem[] {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    return problem(prop, value, 'is not a port number (an integer from 1 to 65535)', 'use an integer port such as 9000');
  }
  return [];
}

/** A port in a Seldon predictor pod: a valid port that is not one the executor sidecar binds. */
export function checkPredictorPort(prop: string, value: number): Problem[] {
  const basic = checkPort(prop, value);
  if (basic.length > 0) return basic;
  if ((SELDON_EXECUTOR_PORTS as readonly number[]).includes(value)) {
    return problem(prop, value,
      `is owned by the Seldon executor sidecar (it binds ${SELDON_EXECUTOR_PORTS.join(' and ')} in every predictor pod; both would fail with "address already in use")`,
      'use another port, e.g. 9000 for the model or 9001+ for extra containers');
  }
  return [];
}

/** A port name: IANA_SVC_NAME (at most 15 chars, lower-case alphanumerics and `-`, a letter, no `--`). */
export function checkPortName(prop: string, value: string): Problem[] {
  const ok = typeof value === 'string' && value.length >= 1 && value.length <= 15
    && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) && /[a-z]/.test(value) && !value.includes('--');
  if (!ok) {
    return problem(prop, value,
      'is not a valid port name (IANA_SVC_NAME: at most 15 characters, lower-case letters, digits and single \'-\', at least one letter)',
      `use a name such as "${suggestDnsLabel(String(value), 15).replace(/--+/g, '-') || 'metrics'}"`);
  }
  return [];
}

/** The largest int32, the type of most integer fields of the Kubernetes API (replicas, seconds, limits). */
export const INT32_MAX = 2 ** 31 - 1;

/** A replica count: a non-negative int32. */
export function checkReplicas(prop: string, value: number): Problem[] {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > INT32_MAX) {
    return problem(prop, value, `is not a valid replica count (an integer from 0 to ${INT32_MAX})`, 'use an integer such as 1');
  }
  return [];
}

/**
 * A count or duration that must be an integer from `min` to INT32_MAX: the API server's int32
 * fields, and what the R programs read from the environment (R's integers are 32-bit).
 */
export function checkInteger(prop: string, value: number, min: number): Problem[] {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > INT32_MAX) {
    return problem(prop, value, `is not an integer from ${min} to ${INT32_MAX}`, `use an integer of at least ${min} and at most ${INT32_MAX}`);
  }
  return [];
}

/**
 * An S3 region name as it goes into MINIO_REGION / AWS_DEFAULT_REGION and the request signature:
 * lower-case letters, digits and '-', e.g. "us-east-1" (at most 63 characters).
 */
export function checkRegion(prop: string, value: string): Problem[] {
  if (typeof value !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(value)) {
    return problem(prop, value, 'is not an S3 region name (lower-case letters, digits and \'-\', at most 63 characters)', 'use a region such as "us-east-1"');
  }
  return [];
}

/**
 * An MLflow metric name (what the quality gate reads from the run): MLflow accepts letters,
 * digits, '_', '-', '.', ' ' and '/' (at most 250 characters).
 */
export function checkMetricName(prop: string, value: string): Problem[] {
  if (typeof value !== 'string' || value.length === 0 || value.length > 250 || !/^[A-Za-z0-9_\-. /]+$/.test(value) || value.trim() !== value) {
    return problem(prop, value,
      'is not an MLflow metric name (1-250 letters, digits, \'_\', \'-\', \'.\', \'/\' or inner spaces)',
      `use a name such as "${String(value).trim().replace(/[^A-Za-z0-9_\-./]+/g, '_') || 'accuracy'}"`);
  }
  return [];
}

/**
 * Strings that end up in a container's command, args or env: plain-JS callers can pass anything,
 * and a NUL byte cannot be passed to a process at all (the runtime fails to start it).
 */
export function checkArgv(prop: string, value: unknown): Problem[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return problem(prop, value, 'is not a list of strings', 'pass an array of strings, e.g. ["--verbose"]');
  for (const [i, v] of value.entries()) {
    if (typeof v !== 'string') return problem(`${prop}[${i}]`, v, 'is not a string (command and args are passed to the process as strings)', `pass it as a string, e.g. "${String(v)}"`);
    if (v.includes('\u0000')) return problem(`${prop}[${i}]`, v, 'contains a NUL byte, which no process argument can hold', 'remove the NUL byte');
  }
  return [];
}

/** An env value: a string without NUL (numbers and booleans must be converted on purpose). */
export function checkEnvValue(prop: string, value: unknown): Problem[] {
  if (typeof value !== 'string') {
    return problem(prop, value, `is a ${value === null ? 'null' : typeof value}, not a string (Kubernetes env values are strings)`, `pass it as a string, e.g. "${String(value)}"`);
  }
  if (value.includes('\u0000')) return problem(prop, value, 'contains a NUL byte, which no environment variable can hold', 'remove the NUL byte');
  return [];
}

/** A DNS-1123 subdomain (storage class names, cluster domains): labels joined by '.', at most 253 characters. */
export function checkDnsSubdomain(prop: string, value: string, example: string): Problem[] {
  if (typeof value !== 'string' || value.length === 0 || value.length > 253
    || !value.split('.').every((l) => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(l))) {
    return problem(prop, value, 'is not a DNS-1123 subdomain (lower-case labels of letters, digits and \'-\', joined by \'.\', at most 253 characters)', `use a name such as "${example}"`);
  }
  return [];
}

/** A key in a Secret or ConfigMap: letters, digits, '-', '_' and '.', at most 253 characters. */
export function checkSecretKey(prop: string, value: string): Problem[] {
  if (typeof value !== 'string' || value.length === 0 || value.length > 253 || !/^[-._a-zA-Z0-9]+$/.test(value)) {
    return problem(prop, value, 'is not a valid Secret key (at most 253 letters, digits, \'-\', \'_\' and \'.\')', `use a key such as "${String(value).replace(/[^-._a-zA-Z0-9]+/g, '-').slice(0, 253) || 'access-key-id'}"`);
  }
  return [];
}

const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** A host name (DNS labels joined by '.', at most 253 characters) or an IPv4 address. */
export function isHostName(host: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return host.split('.').every((o) => Number(o) <= 255);
  return host.length <= 253 && host.split('.').every((l) => HOST_LABEL.test(l));
}

/** A finite number (e.g. a quality threshold). */
export function checkFiniteNumber(prop: string, value: number): Problem[] {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return problem(prop, value, 'is not a finite number', 'use a number such as 0.9');
  }
  return [];
}

// k8s.io/apimachinery resource.Quantity, as in the OpenAPI schema.
const QUANTITY = /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

/** A Kubernetes quantity (`512Mi`, `0.5`, `100m`); `positive` also rejects zero and negatives. */
export function checkQuantity(prop: string, value: string, positive = true): Problem[] {
  if (typeof value !== 'string' || !QUANTITY.test(value)) {
    return problem(prop, value, 'is not a Kubernetes quantity', 'use a quantity such as "512Mi", "1Gi", "250m" or "2"');
  }
  if (positive && (value.startsWith('-') || parseFloat(value.replace(/^\+/, '')) <= 0)) {
    return problem(prop, value, 'must be a positive quantity', 'use a positive quantity such as "1Gi"');
  }
  return [];
}

/** An image reference pinned to a tag other than `latest`, or to a digest. */
export function checkPinnedImage(prop: string, value: string): Problem[] {
  const fix = 'pin an exact version tag (e.g. "registry/image:1.2.3") or a digest ("registry/image@sha256:<64 hex>")';
  if (typeof value !== 'string' || value.length === 0 || /\s/.test(value)) {
    return problem(prop, value, 'is not an image reference', fix);
  }
  const at = value.indexOf('@');
  if (at >= 0) {
    return /^sha256:[a-f0-9]{64}$/.test(value.slice(at + 1))
      ? []
      : problem(prop, value, 'has a malformed digest', fix);
  }
  const lastSegment = value.slice(value.lastIndexOf('/') + 1);
  const colon = lastSegment.indexOf(':');
  if (colon < 0) return problem(prop, value, 'has no tag, so it means ":latest" and is not reproducible', fix);
  const tag = lastSegment.slice(colon + 1);
  if (tag === 'latest') return problem(prop, value, 'uses the moving tag "latest"', fix);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) return problem(prop, value, `has an invalid tag "${tag}"`, fix);
  return [];
}

/**
 * An MLflow registered model name. MLflow needs a non-empty name; we also reject what breaks the
 * `models:/<name>@<alias>` URI the serving side loads: `/`, `@`, `:`, `%`, `?`, `#`, and
 * surrounding whitespace (at most 256 chars).
 */
export function checkRegisteredModelName(prop: string, value: string): Problem[] {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256 || /[/@:%?#]/.test(value) || value.trim() !== value) {
    return problem(prop, value,
      'is not a usable MLflow registered model name (1-256 characters, none of / @ : % ? #, no surrounding spaces)',
      `use a name such as "${String(value).trim().replace(/[/@:%?#\s]+/g, '-') || 'churn-model'}"`);
  }
  return [];
}

/**
 * An MLflow model alias. MLflow rejects `latest` (reserved) and version-like aliases (`v1`, `V12`),
 * and accepts letters, digits, `_` and `-` (at most 255 chars).
 */
export function checkModelAlias(prop: string, value: string): Problem[] {
  const fix = 'use an alias such as "champion" or "production"';
  if (typeof value !== 'string' || value.length === 0 || value.length > 255 || !/^[A-Za-z0-9_-]+$/.test(value)) {
    return problem(prop, value, 'is not a valid MLflow alias (1-255 letters, digits, \'_\' or \'-\')', fix);
  }
  if (value.toLowerCase() === 'latest') return problem(prop, value, 'is reserved by MLflow', fix);
  if (/^v\d+$/i.test(value)) return problem(prop, value, 'looks like a model version, which MLflow rejects as an alias', fix);
  return [];
}

/** A non-empty string without control characters (experiment names, metric names). */
export function checkNonEmpty(prop: string, value: string, example: string): Problem[] {
  if (typeof value !== 'string' || value.trim().length === 0 || /[\u0000-\u001f]/.test(value)) {
    return problem(prop, value, 'must be a non-empty string without control characters', `use a value such as "${example}"`);
  }
  return [];
}

/** A model URI the R server can load. */
export function checkModelUri(prop: string, value: string): Problem[] {
  if (typeof value !== 'string' || !/^(models:\/[^/@:%?#]+(@[A-Za-z0-9_-]+|\/\d+)|runs:\/[^/\s]+\/\S+|file:\/\/\/\S*)$/.test(value)) {
    return problem(prop, value, 'is not a model URI the R server can load',
      'use "models:/<name>@<alias>", "models:/<name>/<version>", "runs:/<run-id>/<path>" or "file:///<dir>" (or pass a training job\'s `model`)');
  }
  return [];
}

/** An absolute http(s) URL (S3 endpoints) whose host is a DNS name or IPv4 address and whose port is valid. */
export function checkHttpUrl(prop: string, value: string): Problem[] {
  const fix = 'use a URL such as "https://s3.eu-west-1.amazonaws.com"';
  const m = typeof value === 'string' ? /^https?:\/\/([^\s/:?#]+)(?::(\d+))?(\/\S*)?$/.exec(value) : null;
  if (!m) return problem(prop, value, 'is not an http(s) URL', fix);
  if (!isHostName(m[1])) return problem(prop, value, `has the host "${m[1]}", which is neither a DNS name (labels of letters, digits and '-') nor an IPv4 address`, fix);
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return problem(prop, value, `has the port ${m[2]}, outside 1-65535`, fix);
  return [];
}

/** An environment variable name (C identifier, as the R and Python sides read them). */
export function checkEnvName(prop: string, value: string): Problem[] {
  if (typeof value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
    return problem(prop, value, 'is not a valid environment variable name', 'use letters, digits and \'_\', e.g. "MY_SETTING"');
  }
  return [];
}

/** An absolute path for a volume mount. */
export function checkMountPath(prop: string, value: string): Problem[] {
  if (typeof value !== 'string' || !value.startsWith('/') || value.includes('..') || value.includes(':')) {
    return problem(prop, value, 'is not an absolute mount path', 'use an absolute path such as "/pipeline"');
  }
  return [];
}

const QUANTITY_SUFFIX: Record<string, number> = {
  '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/**
 * The value of a Kubernetes quantity in base units (bytes, cores): `"512Mi"` → 536870912,
 * `"250m"` → 0.25, `"1e3"` → 1000. `undefined` when it is not a quantity (checkQuantity reports
 * that), so callers can compare without throwing.
 */
export function parseQuantity(value: string): number | undefined {
  if (typeof value !== 'string' || !QUANTITY.test(value)) return undefined;
  const m = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$/.exec(value)!;
  const base = Number(m[1]);
  const suffix = m[2];
  if (suffix in QUANTITY_SUFFIX) return base * QUANTITY_SUFFIX[suffix];
  return base * 10 ** Number(suffix.slice(1)); // decimal exponent, e.g. 1e3
}

/** A request must not exceed its limit (the API server rejects the pod template otherwise). */
export function checkRequestWithinLimit(prop: string, request: string | undefined, limit: string | undefined, requestKey: string, limitKey: string): Problem[] {
  if (request === undefined || limit === undefined) return [];
  const r = parseQuantity(request);
  const l = parseQuantity(limit);
  if (r === undefined || l === undefined || r <= l) return [];
  return problem(`${prop}.${requestKey}`, request,
    `exceeds ${prop}.${limitKey} = ${JSON.stringify(limit)} (the API server rejects a request above its limit)`,
    `lower ${requestKey} to at most "${limit}", or raise ${limitKey} to at least "${request}"`);
}

/** Strips trailing slashes so `/tmp/` and `/tmp` compare equal (`/` stays `/`). */
function normalizeMountPath(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed.replace(/\/{2,}/g, '/');
}

/**
 * An absolute mount path that neither equals nor nests with a path the container already mounts
 * (`taken`): the API server rejects duplicate mount paths, and a mount inside (or over) another
 * one hides files of one volume behind the other.
 */
export function checkMountPathFree(prop: string, value: string, taken: readonly { path: string; what: string }[]): Problem[] {
  const basic = checkMountPath(prop, value);
  if (basic.length > 0) return basic;
  const mine = normalizeMountPath(value);
  const inside = (a: string, b: string) => a === b || b === '/' || a.startsWith(`${b}/`);
  for (const t of taken) {
    const other = normalizeMountPath(t.path);
    if (mine === other) {
      return problem(prop, value, `is already the mount path of ${t.what}`, 'use a path of its own such as "/pipeline"');
    }
    if (inside(mine, other) || inside(other, mine)) {
      return problem(prop, value,
        `overlaps ${t.what} mounted at "${t.path}" (one volume would hide part of the other)`,
        'use a path outside it such as "/pipeline"');
    }
  }
  return [];
}
