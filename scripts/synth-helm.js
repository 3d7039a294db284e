// `npm run synth:helm -- --chart-version <semver> [--app-version <v>] [--out <dir>] [--name <chart>]`:
// writes the example app (main.ts) as a Helm chart, <out>/<name>/ (default dist-helm/rmlops-iris/,
// git-ignored: a chart is built for a release, with the version passed in, not committed). The
// objects are dist/'s; e2e/helm renders the chart with a real `helm template` and compares.
'use strict';
require('./register');
const path = require('path');

const USAGE = 'usage: npm run synth:helm -- --chart-version <semver> [--app-version <version>] [--out <dir>] [--name <chart name>]';

function parse(argv) {
  const opts = { out: path.join(__dirname, '..', 'dist-helm') };
  const flags = { '--chart-version': 'version', '--app-version': 'appVersion', '--out': 'out', '--name': 'name' };
  for (let i = 0; i < argv.length; i++) {
    const key = flags[argv[i]];
    if (key === undefined || i + 1 >= argv.length) throw new Error(`unexpected argument ${JSON.stringify(argv[i])}\n${USAGE}`);
    opts[key] = argv[++i];
  }
  if (opts.version === undefined) throw new Error(`--chart-version is required\n${USAGE}`);
  return opts;
}

function main() {
  let opts;
  try {
    opts = parse(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
  const { buildApp, NAMESPACE } = require('../main.ts');
  const { writeHelmChart } = require('../lib/helm.ts');
  const name = opts.name ?? NAMESPACE;
  require('fs').mkdirSync(opts.out, { recursive: true });
  try {
    const manifests = writeHelmChart(buildApp(opts.out), opts.out, { name, version: opts.version, appVersion: opts.appVersion });
    console.log(`wrote chart ${name} ${opts.version} (${manifests.length} templates) to ${path.relative(process.cwd(), path.join(opts.out, name)) || '.'}/`);
  } catch (err) {
    console.error(`synth:helm failed:\n${err && err.message ? err.message : err}`);
    process.exit(1);
  }
}

main();
