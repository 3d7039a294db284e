/**
 * The user's R training script for `RTrainingJob`: a local file that synth reads into a ConfigMap,
 * or a file that is already inside the user's own training image.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { R_ENTRYPOINTS, TRAINING_SCRIPT_DIR } from './contract';
import { Problem } from './validate';

/**
 * Largest script `TrainingScript.fromFile` accepts, in bytes: the API server rejects a ConfigMap
 * whose data values add up to more than 1 MiB.
 */
export const TRAINING_SCRIPT_MAX_BYTES = 1024 * 1024;

/** Where a training script comes from: a local file (`fromFile`) or the training image (`fromImagePath`). */
export type TrainingScriptSource = 'file' | 'image';

/** The R script with the user's `train()` function, as `RTrainingJob` runs it. */
export class TrainingScript {
  /**
   * A local R script, read when the app is synthesized and shipped in a ConfigMap that the
   * training container mounts read-only at `/etc/rmlops/training/<file name>`. A relative path
   * is resolved against the current working directory when this is called.
   */
  public static fromFile(localPath: string): TrainingScript {
    const resolved = typeof localPath === 'string' ? path.resolve(localPath) : undefined;
    const fileName = resolved !== undefined ? path.basename(resolved) : '';
    return new TrainingScript('file', localPath, `${TRAINING_SCRIPT_DIR}/${fileName}`, resolved);
  }

  /**
   * An R script inside the training image, at an absolute path. Set the job's `image` to your own
   * image (built FROM the rmlops training image) that contains it.
   */
  public static fromImagePath(absPath: string): TrainingScript {
    return new TrainingScript('image', absPath, absPath, undefined);
  }

  private constructor(
    /** `file` or `image`. */
    public readonly source: TrainingScriptSource,
    /** The path as given to the factory. */
    public readonly path: string,
    /** Absolute path of the script in the training container: the value of `TRAINING_SCRIPT`. */
    public readonly containerPath: string,
    /** `fromFile` only: the local file, resolved to an absolute path. */
    public readonly localFile: string | undefined,
  ) {}
}

/** A training script checked and, for `fromFile`, read. */
export interface LoadedTrainingScript {
  /** The script's file name, the ConfigMap key (`fromFile` only). */
  readonly key?: string;
  /** The script's text (`fromFile` only, when it could be read). */
  readonly content?: string;
  /** sha256 of the script's bytes (`fromFile` only). */
  readonly sha256?: string;
  /** What is wrong with it; empty when it is usable. */
  readonly problems: Problem[];
}

const R_NAME = /\.[Rr]$/;
// A ConfigMap key (the API server's rule); the file name is the key and the mounted file's name.
const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]+$/;
const FIX_PATH = 'pass the path of your R script, absolute or relative to the directory you synthesize from, e.g. TrainingScript.fromFile("train.R")';
const FIX_IMAGE = 'build the script into your image and use TrainingScript.fromImagePath("/opt/model/train.R")';

function suggestKey(name: string): string {
  const ext = R_NAME.test(name) ? name.slice(-2) : '.R';
  const stem = name.slice(0, R_NAME.test(name) ? -2 : undefined).replace(/[^-._a-zA-Z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return `${(stem || 'train').slice(0, 251)}${ext}`;
}

function isTrainingScript(value: unknown): value is TrainingScript {
  const v = value as TrainingScript | undefined;
  return v !== null && typeof v === 'object' && (v.source === 'file' || v.source === 'image') && typeof v.path === 'string';
}

function notRScript(prop: string, value: string, name: string): Problem[] {
  if (R_NAME.test(name)) return [];
  return [{ prop, value, problem: `is not an R script (the file name "${name}" must end in ".R" or ".r")`, fix: 'name the script e.g. "train.R"' }];
}

/**
 * Checks a training script and reads a `fromFile` script. Never throws: every problem, including
 * an unreadable file, is returned for the synth error. `scratchPath` is the emptyDir the job
 * mounts over the image (an image script there would be hidden); `defaultImage` is true when the
 * job runs the rmlops image, which holds no user script.
 */
export function loadTrainingScript(
  prop: string, script: unknown, opts: { scratchPath: string; defaultImage: boolean },
): LoadedTrainingScript {
  if (!isTrainingScript(script)) {
    return {
      problems: [{
        prop, value: script, problem: 'is not a TrainingScript (the R script with your train() function is required)',
        fix: 'pass TrainingScript.fromFile("train.R") or TrainingScript.fromImagePath("/opt/model/train.R")',
      }],
    };
  }
  return script.source === 'image' ? checkImagePath(prop, script, opts) : readLocalFile(prop, script);
}

function checkImagePath(prop: string, script: TrainingScript, opts: { scratchPath: string; defaultImage: boolean }): LoadedTrainingScript {
  const p = script.path;
  if (!p.startsWith('/') || path.posix.normalize(p) !== p || p.endsWith('/') || /[\s:]/.test(p)) {
    return {
      problems: [{
        prop, value: p, problem: 'is not a normalized absolute path of a file inside the image (no "..", no "//", no whitespace)',
        fix: 'use the absolute path your image puts the script at, e.g. "/opt/model/train.R"',
      }],
    };
  }
  const problems = notRScript(prop, p, path.posix.basename(p));
  if (p === opts.scratchPath || p.startsWith(`${opts.scratchPath}/`)) {
    problems.push({
      prop, value: p, problem: `is inside ${opts.scratchPath}, where the Job mounts its scratch emptyDir over the image's files`,
      fix: 'put the script elsewhere in your image, e.g. "/opt/model/train.R"',
    });
  }
  if ((Object.values(R_ENTRYPOINTS) as string[]).includes(p)) {
    problems.push({
      prop, value: p, problem: 'is the path of an rmlops R entrypoint, not of a user script',
      fix: 'put your script at a path of its own, e.g. "/opt/model/train.R"',
    });
  }
  if (opts.defaultImage) {
    problems.push({
      prop, value: p, problem: 'is a path inside your image, but `image` is the default rmlops training image, which holds no user script',
      fix: 'set `image` to your image (built FROM the rmlops training image, with the script at that path), or use TrainingScript.fromFile',
    });
  }
  return { problems };
}

function readLocalFile(prop: string, script: TrainingScript): LoadedTrainingScript {
  const given = script.path;
  const file = script.localFile ?? '';
  const key = path.basename(file);
  const fail = (problem: string, fix: string): LoadedTrainingScript => ({ problems: [{ prop, value: given, problem, fix }] });
  if (given.length === 0) return fail('is an empty path', FIX_PATH);
  const nameProblems = notRScript(prop, given, key);
  if (!CONFIG_MAP_KEY.test(key) || key.length > 253) {
    nameProblems.push({
      prop, value: given,
      problem: `has the file name "${key}", which is not a valid ConfigMap key (at most 253 letters, digits, '-', '_' and '.')`,
      fix: `rename the file, e.g. "${suggestKey(key)}"`,
    });
  }
  if (nameProblems.length > 0) return { problems: nameProblems };

  let bytes: Buffer;
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) return fail(`is a directory (resolved to "${file}")`, FIX_PATH);
    if (stat.size > TRAINING_SCRIPT_MAX_BYTES) {
      return fail(`is ${stat.size} bytes, more than a ConfigMap holds (${TRAINING_SCRIPT_MAX_BYTES} bytes)`, FIX_IMAGE);
    }
    bytes = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return fail(`does not exist (resolved to "${file}")`, FIX_PATH);
    return fail(`cannot be read (${code ?? (err as Error).message}, resolved to "${file}")`, 'make the file readable by the user who runs synth');
  }
  // The size can change between stat and read; the limit is on what is shipped.
  if (bytes.length > TRAINING_SCRIPT_MAX_BYTES) {
    return fail(`is ${bytes.length} bytes, more than a ConfigMap holds (${TRAINING_SCRIPT_MAX_BYTES} bytes)`, FIX_IMAGE);
  }
  let content: string;
  try {
    // ConfigMap `data` is UTF-8 text: a Latin-1 script would arrive altered.
    content = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail('is not UTF-8 text (a ConfigMap carries text as UTF-8)', 'save the script as UTF-8');
  }
  if (content.trim().length === 0) {
    return fail(`is empty (resolved to "${file}")`, 'write your train() function in it (see "Bring your own model" in the README)');
  }
  return { key, content, sha256: createHash('sha256').update(bytes).digest('hex'), problems: [] };
}
