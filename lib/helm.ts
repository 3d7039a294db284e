/**
 * The same objects as `writeManifests` writes, as a Helm chart: `Chart.yaml` and one template per
 * object, validated first like dist/. The chart takes no values: every object is the synthesized
 * one, so what `helm template` renders is exactly what the validator checked. Names, namespaces,
 * images, replicas and the rest are set in the cdk8s app, not at install time.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Yaml } from 'cdk8s';
import { validateApp } from './app-validation';
import { ValidateOptions } from './manifest-validation';
import { Manifest, orderedManifests } from './manifests';
import { DNS_1123_LABEL } from './validate';

/** Options of `writeHelmChart`. */
export interface HelmChartOptions {
  /** Chart name (lower-case letters, digits and '-'); also the folder it is written to. */
  readonly name: string;
  /** Chart version, SemVer 2 (e.g. "0.1.0"). */
  readonly version: string;
  /** `appVersion` of Chart.yaml. @default the chart version */
  readonly appVersion?: string;
  /** Chart description. @default "Manifests synthesized by rmlops-cdk8s." */
  readonly description?: string;
  /** Kubernetes versions the chart installs on (`kubeVersion`). @default ">=1.27.0-0" (CronJob timeZone is GA from 1.27) */
  readonly kubeVersion?: string;
  /** Passed to the validator (e.g. `existingClaims`). @default {} */
  readonly validate?: ValidateOptions;
}

// SemVer 2.0.0 (semver.org), which Helm requires of a chart version.
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** Problems with the chart options, as lines (empty when fine). */
export function helmOptionProblems(o: HelmChartOptions): string[] {
  const out: string[] = [];
  if (typeof o.name !== 'string' || !DNS_1123_LABEL.test(o.name) || o.name.length > 53) {
    out.push(`chart name ${JSON.stringify(o.name)}: use lower-case letters, digits and '-', at most 53 characters (e.g. "rmlops-iris")`);
  }
  if (typeof o.version !== 'string' || !SEMVER.test(o.version)) {
    out.push(`chart version ${JSON.stringify(o.version)}: Helm requires SemVer 2, e.g. "0.1.0" or "1.2.0-rc.1"`);
  }
  return out;
}

/**
 * Text of a template: the object's YAML with every `{{` written as a template action that prints
 * it, so text such as an R script in a ConfigMap renders verbatim instead of being executed.
 */
export function helmTemplateText(object: unknown): string {
  return Yaml.stringify(object).replace(/\{\{/g, '{{ "{{" }}');
}

/** Chart.yaml of the chart. */
export function chartYaml(o: HelmChartOptions): string {
  return Yaml.stringify({
    apiVersion: 'v2',
    name: o.name,
    description: o.description ?? 'Manifests synthesized by rmlops-cdk8s.',
    type: 'application',
    version: o.version,
    appVersion: o.appVersion ?? o.version,
    kubeVersion: o.kubeVersion ?? '>=1.27.0-0',
  });
}

/**
 * Validates `app` like `writeManifests` and writes it as a chart into `<parent>/<name>/`
 * (replacing a chart there; refusing a folder that is not one). Writes nothing and throws on any
 * problem. Returns the manifests, whose file names are the template names.
 */
export function writeHelmChart(app: App, parent: string, options: HelmChartOptions): Manifest[] {
  const optionProblems = helmOptionProblems(options);
  if (optionProblems.length > 0) throw new Error(`${optionProblems.join('\n')}\nnothing written to ${parent}`);
  const manifests = orderedManifests(app);
  const problems = validateApp(app, options.validate ?? {});
  if (problems.length > 0) {
    throw new Error(`${problems.length} problem(s) in the manifests; nothing written to ${parent}:\n  ${problems.join('\n  ')}`);
  }
  const dir = path.join(parent, options.name);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0 && !fs.existsSync(path.join(dir, 'Chart.yaml'))) {
    throw new Error(`${dir} exists and is not a chart (no Chart.yaml); nothing written`);
  }
  // Built beside the target and renamed into place: a failed write leaves the old chart whole.
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'templates'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'Chart.yaml'), chartYaml(options));
  fs.writeFileSync(path.join(tmp, 'values.yaml'), '# This chart takes no values: the objects are set in the cdk8s app (see README, "Helm").\n');
  for (const m of manifests) fs.writeFileSync(path.join(tmp, 'templates', m.file), helmTemplateText(m.object));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return manifests;
}
