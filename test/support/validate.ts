/**
 * The shipped manifest validator (lib/manifest-validation.ts) plus what only the tests can afford:
 * unknown fields in built-in objects, read from the kubernetes-models typings with the TypeScript
 * compiler (seconds to load, so not at synth time). References are checked strictly here: a
 * claim the manifests do not create must be listed in `existingClaims`.
 */
import * as path from 'path';
import * as lib from '../../lib/manifest-validation';
import { modelFor } from '../../lib/k8s-schemas';
import { unknownFieldErrors } from './k8s-fields';

export {
  apiRuleErrors, describeObject, imageProblem, loadManifestDir, loadManifestFile, securityErrors, CONFIG_MAP_MAX_BYTES,
} from '../../lib/manifest-validation';
export type { ValidateOptions } from '../../lib/manifest-validation';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** The Seldon Core 1.17.1 CRD the generated schema in imports/ comes from (outside the repository). */
export const SELDON_CRD_PATH = path.join(REPO_ROOT, '..', 'shared', 'crds', 'machinelearning.seldon.io_seldondeployments.yaml');

/** Unknown fields of built-in objects. */
export function unknownFields(objects: any[]): string[] {
  const out: string[] = [];
  const builtIns = objects.filter((o) => o !== null && typeof o === 'object' && typeof o.apiVersion === 'string'
    && typeof o.kind === 'string' && modelFor(o.apiVersion, o.kind) !== undefined);
  const unknown = unknownFieldErrors(builtIns);
  builtIns.forEach((obj, i) => {
    for (const e of unknown[i]) out.push(`${lib.describeObject(obj)}: ${e.at}: ${e.message}`);
  });
  return out;
}

/** The library's schema errors, plus unknown fields of built-in objects. */
export function schemaErrors(objects: any[]): string[] {
  // The library checks the fields of the kinds it bundles; this covers every kind (same message).
  return [...new Set([...lib.schemaErrors(objects), ...unknownFields(objects)])];
}

/** validateManifests of the library (references strict: `existingClaims` lists claims made elsewhere), plus unknown fields. */
export function validateManifests(objects: any[], options: lib.ValidateOptions = {}): string[] {
  return [...new Set([...lib.validateManifests(objects, options), ...unknownFields(objects)])];
}
