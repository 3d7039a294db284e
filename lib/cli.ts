#!/usr/bin/env node
/**
 * `rmlops-cdk8s validate <dir>`: checks a folder of manifests offline with the checks
 * `writeManifests` runs (schemas, the SeldonDeployment CRD, API-server rules, references,
 * security baseline). Exit 0 when valid, 1 on any problem, 2 on a usage error.
 *
 * `rmlops-cdk8s dev <dist> [--train script.R]`: the local pipeline of a dist/ folder on this
 * machine (e2e/lib/dev.js, shipped in the package), until Ctrl-C.
 */
import * as fs from 'fs';
import * as path from 'path';
import { validateDirectory } from './manifest-validation';

const USAGE = `usage: rmlops-cdk8s validate <dir> [--existing-claim <name|namespace/name>]... [--no-security] [--no-references]
       rmlops-cdk8s dev <dist> [--train <script.R>]

validate: checks every *.yaml / *.yml file in <dir> (not recursive) as one set of manifests.
Warnings (what the manifests suggest but cannot prove) are printed as "warning: ..." and do not fail.
dev: runs the pipeline of <dist> on this machine with the real components (rmlops-cdk8s dev --help).`;

/** The package's root folder, from build/lib/cli.js or (in this repository's tests) lib/cli.ts. */
function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'rmlops-cdk8s') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no rmlops-cdk8s package.json above ${__dirname}`);
  }
}

/** `rmlops-cdk8s dev ...`: resolves with the exit code when it refuses or fails to start. */
export function dev(argv: string[]): Promise<number> {
  // Plain JavaScript shared with the repository's e2e harness, shipped as it is.
  const local = require(path.join(packageRoot(), 'e2e', 'lib', 'dev.js')) as { main(argv: string[]): Promise<number> };
  return local.main(argv);
}

/** Runs the command line; returns the exit code (the caller exits). */
export function main(argv: string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): number {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h') {
    out(USAGE);
    return 0;
  }
  if (command === 'dev') {
    err('rmlops-cdk8s dev runs until Ctrl-C: call dev(argv), not main(argv)');
    return 2;
  }
  if (command !== 'validate') {
    err(command === undefined ? USAGE : `unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  }
  let dir: string | undefined;
  const existingClaims: string[] = [];
  let security = true;
  let references = true;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--existing-claim' && i + 1 < rest.length) existingClaims.push(rest[++i]);
    else if (a === '--no-security') security = false;
    else if (a === '--no-references') references = false;
    else if (!a.startsWith('-') && dir === undefined) dir = a;
    else {
      err(`unexpected argument ${JSON.stringify(a)}\n${USAGE}`);
      return 2;
    }
  }
  if (dir === undefined) {
    err(USAGE);
    return 2;
  }
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    err(`${dir}: not a directory`);
    return 2;
  }
  const result = validateDirectory(dir, { existingClaims, security, references });
  for (const line of result.warnings) err(`warning: ${line}`);
  for (const line of result.errors) err(line);
  if (result.errors.length > 0) {
    err(`${result.errors.length} problem(s) in ${result.files} file(s), ${result.objects} object(s) in ${path.resolve(dir)}`);
    return 1;
  }
  out(`valid: ${result.objects} object(s) in ${result.files} file(s)`);
  return 0;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  if (argv[0] === 'dev') {
    dev(argv.slice(1)).then((code) => process.exit(code), (e: Error) => {
      console.error(e.stack ?? e.message);
      process.exit(1);
    });
  } else {
    process.exit(main(argv));
  }
}
