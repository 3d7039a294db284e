#!/usr/bin/env node
/**
 * `rmlops-cdk8s validate <dir>`: checks a folder of manifests offline with the checks
 * `writeManifests` runs (schemas, the SeldonDeployment CRD, API-server rules, references,
 * security baseline). Exit 0 when valid, 1 on any problem, 2 on a usage error.
 */
import * as fs from 'fs';
import * as path from 'path';
import { validateDirectory } from './manifest-validation';

const USAGE = `usage: rmlops-cdk8s validate <dir> [--existing-claim <name|namespace/name>]... [--no-security] [--no-references]

Validates every *.yaml / *.yml file in <dir> (not recursive) as one set of manifests.
Warnings (what the manifests suggest but cannot prove) are printed as "warning: ..." and do not fail.`;

/** Runs the command line; returns the exit code (the caller exits). */
export function main(argv: string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): number {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h') {
    out(USAGE);
    return 0;
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

if (require.main === module) process.exit(main(process.argv.slice(2)));
