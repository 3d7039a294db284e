'use strict';
// The local pipeline of a dist/ folder, until Ctrl-C or SIGTERM: MinIO, its provisioning Job,
// MLflow, every training Job once, every SeldonDeployment's predictors and, when it is built,
// Seldon's executor in front of each. `npm run pipeline` runs it on the example's dist/, and
// `npx rmlops-cdk8s dev <dist> [--train script.R]` on a consumer's own (this folder ships in the
// package for that). Before anything starts, it refuses what it cannot run, with the reason and
// the fix, and lists the components it needs that are not installed.
const fs = require('fs');
const path = require('path');
const { executor, installCommand, missingComponents } = require('./env');
const { loadDist } = require('./manifests');
const { imageProblem, isRImage, rLibFor } = require('./local');
const { Stack, contract } = require('./stack');

const USAGE = `usage: rmlops-cdk8s dev <dist> [--train <script.R> [--job <name>]]

Runs the pipeline of <dist> on this machine, on 127.0.0.1, with the real components: MinIO, its
provisioning Job, MLflow, each training Job once, and each SeldonDeployment's R model server
(behind Seldon's executor when it is installed). Prints one URL per endpoint; Ctrl-C stops it all.
  --train <script.R>  train with this script instead of the one in dist/ (a training Job whose
                      script is mounted from its ConfigMap, i.e. TrainingScript.fromFile)
  --job <name>        the training Job (or CronJob) --train is for; needed when the Jobs of
                      <dist> run different scripts`;

function parseArgs(argv) {
  const opts = { dist: undefined, train: undefined, job: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--train' && i + 1 < argv.length) opts.train = argv[++i];
    else if (a.startsWith('--train=')) opts.train = a.slice('--train='.length);
    else if (a === '--job' && i + 1 < argv.length) opts.job = argv[++i];
    else if (!a.startsWith('-') && opts.dist === undefined) opts.dist = a;
    else return { error: `unexpected argument ${JSON.stringify(a)}` };
  }
  if (opts.dist === undefined) return { error: 'the dist folder is missing' };
  if (opts.job !== undefined && opts.train === undefined) return { error: '--job names the Job that --train is for: give --train too' };
  return opts;
}

// Every container the pipeline would run, with the object that owns it.
function containers(m) {
  const out = [];
  const add = (owner, spec) => {
    for (const c of spec.containers || []) out.push({ owner: `${owner.kind} ${owner.metadata.namespace}/${owner.metadata.name}`, container: c });
  };
  for (const d of [m.artifactStore(), m.trackingServer()]) add(d, d.spec.template.spec);
  for (const j of [...m.provisioningJobs(), ...m.trainingJobs()]) add(j.fromCronJob ? { ...j, kind: 'CronJob' } : j, j.spec.template.spec);
  for (const s of m.seldonDeployments()) {
    for (const p of s.spec.predictors) for (const cs of p.componentSpecs || []) add(s, cs.spec);
  }
  return out;
}

// What stops this dist/ from running here: images it has no local build of, and, with --train,
// a training Job whose script is not a mounted ConfigMap, or a choice of Job left open. Each line
// has its reason and its fix.
function refusals(m, train, job) {
  const out = [];
  for (const { owner, container } of containers(m)) {
    const problem = imageProblem(container.image);
    if (problem) out.push(`[${owner} container ${container.name}] image = ${container.image}: ${problem}`);
  }
  if (train) {
    const jobs = m.trainingJobs();
    const names = jobs.map((j) => j.metadata.name);
    const targets = trainTargets(m, job);
    if (job !== undefined && targets.length === 0) {
      out.push(`--job ${job}: no training Job or CronJob of that name in the dist folder (it has ${names.join(', ') || 'none'}). Fix: name one of them`);
    }
    for (const j of targets) {
      if (!trainingScriptMount(m, j)) {
        out.push(`[Job ${j.metadata.namespace}/${j.metadata.name}] --train ${train}: its training script is not mounted from a ConfigMap (TrainingScript.fromImagePath), so there is nothing to replace. Fix: use TrainingScript.fromFile for a local run, or drop --train`);
      }
    }
    const scripts = new Set(targets.map((j) => trainingScriptMount(m, j)).filter(Boolean).map(({ cm, key }) => cm.data[key]));
    if (job === undefined && scripts.size > 1) {
      out.push(`--train ${train}: the training Jobs run ${scripts.size} different scripts (${names.join(', ')}), and one script would replace them all. Fix: name the Job it is for with --job <name>`);
    }
  }
  return out;
}

// The training Jobs --train replaces the script of: the one --job names, or all of them.
function trainTargets(m, job) {
  return m.trainingJobs().filter((j) => job === undefined || j.metadata.name === job);
}

// The ConfigMap key a training Job's TRAINING_SCRIPT comes from, or undefined.
function trainingScriptMount(m, job) {
  const pod = job.spec.template.spec;
  const c = pod.containers[0];
  const script = ((c.env || []).find((e) => e.name === contract.env.trainingScript) || {}).value;
  if (!script) return undefined;
  const mount = (c.volumeMounts || []).find((vm) => path.posix.dirname(script) === vm.mountPath.replace(/\/$/, ''));
  const vol = mount && (pod.volumes || []).find((v) => v.name === mount.name && v.configMap);
  if (!vol) return undefined;
  const cm = m.configMap(job.metadata.namespace, vol.configMap.name);
  const key = path.posix.basename(script);
  const item = (vol.configMap.items || []).find((it) => it.path === key);
  return { cm, key: item ? item.key : key };
}

// The components the pipeline needs and lacks: MinIO, mc, MLflow, and the rmlops R package of
// the r/ that the R images are built from.
function missing(m) {
  const out = missingComponents();
  if (containers(m).some((c) => isRImage(c.container.image))) {
    const lib = rLibFor(path.join(__dirname, '..', '..', 'r'));
    if (!fs.existsSync(path.join(lib, '.installed'))) out.push(`the rmlops R package (${lib})`);
  }
  return out;
}

function printEndpoints(stack, out) {
  const ex = executor();
  const { user, password } = stack.minioEnv();
  const consoleCp = Object.keys(stack.minio.spec.ports).find((cp) => Number(stack.minio.spec.ports[cp]) !== stack.minio.port);
  out('');
  out(`mlflow: http://127.0.0.1:${stack.mlflow.port}`);
  out(`minio-s3: http://127.0.0.1:${stack.minio.port}`);
  if (consoleCp) out(`minio-console: http://127.0.0.1:${stack.minio.spec.ports[consoleCp]} (user ${user}, password ${password})`);
  let first = true;
  for (const [key, mdl] of stack.models) {
    const e = stack.executors.get(key);
    const name = key.replace('/', '-');
    const route = mdl.sdep.spec.protocol === 'v2' ? `/v2/models/${mdl.sdep.spec.predictors[0].graph.name}/infer` : '/api/v1.0/predictions';
    if (e) {
      // One line is exactly `predictions: …` (the first predictor's executor); the others are named.
      out(`${first ? 'predictions' : `predictions-${name}`}: http://127.0.0.1:${e.port}${route}`);
      first = false;
    }
    out(`model-${name}-direct: http://127.0.0.1:${mdl.port}${route} (R server, no executor)`);
  }
  if (!ex.path) out(`executor: unavailable (${ex.reason}); no predictions line, use the R servers' direct URLs above`);
  out('\nready. Ctrl-C stops everything.');
}

/**
 * Runs the pipeline of `dist` until SIGINT or SIGTERM, then stops what it started and exits.
 * Resolves with an exit code only when it refuses to start (1) or fails while starting (1).
 */
async function dev({ dist, train, job, name = 'dev', out = console.log, err = console.error } = {}) {
  const m = loadDist(path.resolve(dist));
  const refused = refusals(m, train, job);
  if (refused.length) {
    err(`rmlops-cdk8s dev: ${refused.length} problem(s) in ${dist}; nothing was started:\n  ${refused.join('\n  ')}`);
    return 1;
  }
  const lacking = missing(m);
  if (lacking.length) {
    err(`rmlops-cdk8s dev: not installed: ${lacking.join(', ')}.\nInstall them once (MLflow from PyPI, MinIO and mc built with Go, the R package with Debian's R 4.2; about 11 min on 2 cores, then seconds):\n  ${installCommand()}`);
    return 1;
  }
  const quiet = [];
  const stack = new Stack({
    dist: path.resolve(dist),
    name,
    echo: !!process.env.RMLOPS_PIPELINE_ECHO,
    log: (line) => (process.env.RMLOPS_PIPELINE_VERBOSE ? out(line) : quiet.push(line)),
  });
  if (train) {
    const script = fs.readFileSync(train, 'utf8');
    for (const j of trainTargets(stack.manifests, job)) {
      const { cm, key } = trainingScriptMount(stack.manifests, j);
      cm.data[key] = script;
      out(`[substitution] Job ${j.metadata.namespace}/${j.metadata.name}: ConfigMap ${cm.metadata.name} key ${key} -> ${path.resolve(train)}`);
    }
  }
  await stack.init();

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    out(`\n${signal}: stopping everything this pipeline started…`);
    await stack.down();
    out('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  try {
    out(`starting from ${stack.manifests.docs.length} manifests (logs in ${stack.logDir}; RMLOPS_PIPELINE_VERBOSE=1 prints every rewrite)…`);
    await stack.up();
  } catch (e) {
    for (const line of quiet) err(line);
    err(e.message);
    await stack.down();
    return 1;
  }
  printEndpoints(stack, out);
  return new Promise(() => {}); // until a signal stops it
}

// The command line: rmlops-cdk8s dev ... (lib/cli.ts hands over to this).
async function main(argv) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const opts = parseArgs(argv);
  if (opts.error) {
    console.error(`${opts.error}\n${USAGE}`);
    return 2;
  }
  if (!fs.existsSync(opts.dist) || !fs.statSync(opts.dist).isDirectory()) {
    console.error(`${opts.dist}: not a directory\n${USAGE}`);
    return 2;
  }
  if (opts.train !== undefined && !fs.existsSync(opts.train)) {
    console.error(`--train ${opts.train}: no such file`);
    return 2;
  }
  return dev(opts);
}

module.exports = { dev, main, refusals, USAGE };
