'use strict';
// Turns a container of a synthesized pod into a process on this machine. The command, args and
// env are the manifest's own; only these rewrites are made, and each is printed once:
//   - Service DNS names (and the ports the pod listens on) -> 127.0.0.1:<free port>
//   - Secret references -> values generated for this run
//   - volume paths (PVC, emptyDir, ConfigMap) -> temp folders (a ConfigMap's files written there)
//   - image paths -> the locally built binaries and the repository's files
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const path = require('path');
const { ROOT, CACHE, BIN, VENV_BIN, R_LIB, versions, installCommand } = require('./env');

const { freePort } = require('./net');

function portIsFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    // The executor binds all interfaces, so the port must be free on all of them.
    srv.listen(port, () => srv.close(() => resolve(true)));
  });
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---- images -> local builds ------------------------------------------------------------------

function parseDockerfile(file) {
  const text = fs.readFileSync(file, 'utf8').replace(/\\\n/g, ' ');
  const out = { entrypoint: undefined, cmd: undefined, env: {}, copies: [], workdir: undefined };
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, op, rest] = m;
    if (op === 'ENTRYPOINT') out.entrypoint = JSON.parse(rest);
    else if (op === 'CMD') out.cmd = JSON.parse(rest);
    else if (op === 'WORKDIR') out.workdir = rest.trim();
    else if (op === 'ENV') {
      for (const kv of rest.trim().split(/\s+/)) {
        const i = kv.indexOf('=');
        if (i > 0) out.env[kv.slice(0, i)] = kv.slice(i + 1);
      }
    } else if (op === 'COPY') {
      const parts = rest.trim().split(/\s+/).filter((p) => !p.startsWith('--'));
      const dest = parts.pop();
      for (const src of parts) {
        out.copies.push({ src, dest: dest.endsWith('/') && parts.length > 1 ? dest + path.basename(src) : dest });
      }
    }
  }
  return out;
}

// Which local build stands in for which image. The tag must equal the pin in versions.json:
// the run then exercises exactly the version the manifests deploy.
function imageTable() {
  const v = versions();
  return {
    'quay.io/minio/minio': { tag: v.minio.release, entrypoint: [path.join(BIN, 'minio')], pathDirs: [BIN] },
    'quay.io/minio/mc': { tag: v.mc.release, entrypoint: [path.join(BIN, 'mc')], pathDirs: [BIN] },
    'ghcr.io/mlflow/mlflow': { tag: `v${v.mlflow}-full`, entrypoint: undefined, pathDirs: [VENV_BIN] },
    'ghcr.io/rmlops/r-train': { tag: rPackageVersion(), dockerfile: 'r/Dockerfile.train' },
    'ghcr.io/rmlops/r-serve': { tag: rPackageVersion(), dockerfile: 'r/Dockerfile.serve' },
    // The payload sink, built from sink/ by scripts/real/install-sink.sh.
    'ghcr.io/rmlops/payload-sink': { tag: v.payloadSink.version, entrypoint: [path.join(BIN, 'payload-sink')], pathDirs: [] },
  };
}

// The R images are tagged with the R package's version (scripts/real/images.js).
function rPackageVersion() {
  return /^Version:\s*(\S+)\s*$/m.exec(fs.readFileSync(path.join(ROOT, 'r', 'DESCRIPTION'), 'utf8'))[1];
}

function imageEntry(image) {
  const i = image.lastIndexOf(':');
  const repo = i > image.lastIndexOf('/') ? image.slice(0, i) : image;
  const tag = i > image.lastIndexOf('/') ? image.slice(i + 1) : 'latest';
  return { repo, tag, entry: imageTable()[repo] };
}

// Why `image` cannot run here, with the fix; null when it can.
function imageProblem(image) {
  const { repo, tag, entry } = imageEntry(image);
  if (!entry) {
    return `the local pipeline runs each container as a process on this machine, from its own builds of the images this package defines (${Object.keys(imageTable()).join(', ')}), and has no container runtime to run any other image. Fix: for a local run, synthesize with the default image (leave \`image\` unset) and pass your script with --train (R packages beyond the image's then come from this machine's R: Debian's r-cran-*); run your own image on a cluster`;
  }
  if (entry.tag && entry.tag !== tag) {
    const pin = entry.dockerfile ? "r/DESCRIPTION's Version" : 'the pin in versions.json';
    return `the tag differs from ${pin} (${entry.tag}), the version built here. Fix: use ${repo}:${entry.tag}, or update one of them`;
  }
  return null;
}

// True when `image` is one of the R images built from r/ (its processes need the R package).
const isRImage = (image) => !!(imageEntry(image).entry || {}).dockerfile;

function resolveImage(image) {
  const problem = imageProblem(image);
  if (problem) throw new Error(`image ${image}: ${problem}`);
  const { entry } = imageEntry(image);
  if (!entry.dockerfile) return { ...entry, env: {}, paths: [] };
  // An image built from this repository: its files come from the build context, r/.
  const df = parseDockerfile(path.join(ROOT, entry.dockerfile));
  const context = path.dirname(path.join(ROOT, entry.dockerfile));
  // Files copied under /tmp are build scratch (the R package's sources, installed then removed):
  // what the image keeps of them is the installed package, found here through R_LIBS.
  const paths = df.copies
    .filter((c) => !c.dest.startsWith('/tmp/'))
    .map((c) => ({ from: c.dest.replace(/\/$/, ''), to: path.join(context, c.src).replace(/\/$/, '') }));
  const env = { ...df.env };
  const pathDirs = [];
  let rLib;
  if (fs.existsSync(path.join(context, 'DESCRIPTION'))) {
    rLib = assertRLibFresh(context);
    env.R_LIBS = rLib;
  }
  return { entrypoint: df.entrypoint, cmd: df.cmd, env, paths, pathDirs, workdir: df.workdir, dockerfile: entry.dockerfile, rLib };
}

// The R package the image installs from r/ is installed by `npm run real:install` into the cache;
// a stale copy would test old code. scripts/real/install.sh stamps the install with this same
// function (`node e2e/lib/local.js --r-sources-hash`), so the two cannot drift apart.
function rSourcesHash(dir) {
  const rel = path.relative(ROOT, dir);
  const files = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (path.relative(ROOT, p) === path.join(rel, 'tests')) continue;
      // npm never packs a .gitignore: without this, the installed package's r/ would hash apart
      // from the repository's and need an R library of its own. Likewise what an in-place
      // R CMD INSTALL leaves in r/src (the objects r/src/.gitignore lists) and what is never packed.
      if (e.name === '.gitignore' || /\.(o|so|dll)$|^\.Rhistory$|\.Rcheck$|^rmlops_.*\.tar\.gz$/.test(e.name)) continue;
      if (path.relative(ROOT, p) === path.join(rel, 'model')) continue;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(path.relative(ROOT, p));
    }
  };
  walk(dir);
  files.sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : Buffer.from(a) > Buffer.from(b) ? 1 : 0));
  const lines = files.map((f) => `${crypto.createHash('sha256').update(fs.readFileSync(path.join(ROOT, f))).digest('hex')}  ${f}\n`).join('');
  return crypto.createHash('sha256').update(lines).digest('hex').slice(0, 16);
}

// The library scripts/real/install.sh installed r/ into: one per content hash of r/.
function rLibFor(dir) {
  return path.join(R_LIB, rSourcesHash(dir));
}

function assertRLibFresh(dir) {
  const lib = rLibFor(dir);
  if (!fs.existsSync(path.join(lib, '.installed'))) {
    throw new Error(`the rmlops R package of this r/ is not installed (no ${lib}): run \`${installCommand()}\``);
  }
  return lib;
}

// ---- the local "cluster" ---------------------------------------------------------------------

class LocalCluster {
  constructor({ manifests, dir, log = console.log }) {
    this.manifests = manifests;
    this.dir = dir;
    this.log = log;
    this.secrets = new Map();
    this.servicePorts = new Map(); // ns/svc/port -> local port
    this.claims = new Map();
    this.printed = new Set();
    this.seq = 0;
  }

  note(line) {
    if (this.printed.has(line)) return;
    this.printed.add(line);
    this.log(`[rewrite] ${line}`);
  }

  async init() {
    for (const svc of this.manifests.services()) {
      const ns = svc.metadata.namespace;
      for (const p of svc.spec.ports) {
        const local = await freePort();
        this.servicePorts.set(`${ns}/${svc.metadata.name}/${p.port}`, local);
        this.note(`Service ${ns}/${svc.metadata.name}:${p.port} -> 127.0.0.1:${local}`);
      }
    }
    return this;
  }

  secret(ns, name, key) {
    const id = `${ns}/${name}/${key}`;
    if (!this.secrets.has(id)) {
      // MinIO wants access keys >= 3 and secret keys >= 8 characters; both get 20 hex digits.
      this.secrets.set(id, `${key.replace(/[^a-z]/g, '').slice(0, 8)}${crypto.randomBytes(10).toString('hex')}`);
      this.note(`Secret ${id} -> a value generated for this run`);
    }
    return this.secrets.get(id);
  }

  claimDir(ns, claim) {
    const id = `${ns}/${claim}`;
    if (!this.claims.has(id)) {
      const d = path.join(this.dir, 'pvc', `${ns}-${claim}`);
      fs.mkdirSync(d, { recursive: true });
      this.claims.set(id, d);
    }
    return this.claims.get(id);
  }

  // Services in `ns` whose selector picks these pod labels.
  servicesFor(ns, labels) {
    return this.manifests.services().filter((s) => {
      if ((s.metadata.namespace || ns) !== ns || !s.spec.selector) return false;
      return Object.entries(s.spec.selector).every(([k, v]) => labels[k] === v);
    });
  }

  // URLs to a Service in any of its DNS forms (<svc>, <svc>.<ns>, <svc>.<ns>.svc,
  // <svc>.<ns>.svc.<domain>) with one of its ports -> 127.0.0.1:<that port's local port>. Only
  // URLs (scheme://host:port) are addresses a process connects to: a bare host:port may be a
  // pattern, e.g. in MLflow's --allowed-hosts, which must reach MLflow as the manifest has it.
  rewriteDns(value, where) {
    let out = value;
    for (const svc of this.manifests.services()) {
      const ns = svc.metadata.namespace;
      const re = new RegExp(
        `([A-Za-z][A-Za-z0-9+.-]*://)${escapeRe(svc.metadata.name)}(?:\\.${escapeRe(ns)}(?:\\.svc(?:\\.[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*)?)?)?:(\\d+)(?![0-9])`,
        'g',
      );
      out = out.replace(re, (all, pre, port) => {
        const local = this.servicePorts.get(`${ns}/${svc.metadata.name}/${port}`);
        if (!local) return all;
        const replaced = `${pre}127.0.0.1:${local}`;
        this.note(`${where}: Service DNS ${all.slice(pre.length)} -> 127.0.0.1:${local}`);
        return replaced;
      });
    }
    return out;
  }

  /**
   * A process spec for one container of a pod template.
   * opts: { ports: { <containerPort>: <local port> } to force ports, env: overrides (printed),
   *         extraEnv: env the platform injects (the Seldon operator), label }
   */
  async container(owner, podTemplate, containerName, opts = {}) {
    const ns = owner.metadata.namespace;
    const pod = podTemplate.spec;
    const labels = (podTemplate.metadata && podTemplate.metadata.labels) || {};
    // An init container runs as any other here; the caller runs them in order (Stack.runPod).
    const c = pod.containers.find((x) => x.name === containerName) || (pod.initContainers || []).find((x) => x.name === containerName);
    if (!c) throw new Error(`${owner.kind} ${ns}/${owner.metadata.name} has no container ${containerName}`);
    const label = opts.label || `${owner.kind.toLowerCase()}/${owner.metadata.name}/${c.name}`;
    const image = resolveImage(c.image);
    const instance = `${owner.metadata.name}-${c.name}-${++this.seq}`;

    // Ports: a port behind a Service listens on that Service's local port.
    const ports = {};
    for (const svc of this.servicesFor(ns, labels)) {
      for (const sp of svc.spec.ports) {
        const tp = sp.targetPort === undefined ? sp.port : sp.targetPort;
        const cp = (c.ports || []).find((p) => p.name === tp || p.containerPort === tp);
        if (cp) ports[cp.containerPort] = this.servicePorts.get(`${ns}/${svc.metadata.name}/${sp.port}`);
      }
    }
    for (const p of c.ports || []) {
      if (opts.ports && opts.ports[p.containerPort]) ports[p.containerPort] = opts.ports[p.containerPort];
      if (!ports[p.containerPort]) ports[p.containerPort] = await freePort();
    }
    for (const [cp, local] of Object.entries(ports)) this.note(`${label}: listens on container port ${cp} -> 127.0.0.1:${local}`);

    // Volumes -> folders.
    const mounts = [];
    for (const vm of c.volumeMounts || []) {
      const vol = (pod.volumes || []).find((v) => v.name === vm.name);
      if (!vol) throw new Error(`${label}: volumeMount ${vm.name} has no volume`);
      let dir;
      if (vol.persistentVolumeClaim) {
        dir = this.claimDir(ns, vol.persistentVolumeClaim.claimName);
        this.note(`${label}: PVC ${vol.persistentVolumeClaim.claimName} at ${vm.mountPath} -> ${dir}`);
      } else if (vol.emptyDir) {
        // Per pod when the caller names the pod (its containers share the volume), else per start.
        dir = path.join(this.dir, 'emptydir', opts.pod || instance, vm.name);
        fs.mkdirSync(dir, { recursive: true });
        this.note(`${label}: emptyDir ${vm.name} at ${vm.mountPath} -> ${opts.pod ? `the pod's folder ${path.relative(this.dir, dir)}` : `a new folder per start under ${path.join(this.dir, 'emptydir')}`}`);
      } else if (vol.configMap) {
        dir = path.join(this.dir, 'configmap', instance, vm.name);
        fs.mkdirSync(dir, { recursive: true });
        const cm = this.manifests.configMap(ns, vol.configMap.name);
        const items = vol.configMap.items || Object.keys(cm.data || {}).map((k) => ({ key: k, path: k }));
        for (const it of items) fs.writeFileSync(path.join(dir, it.path), cm.data[it.key]);
        this.note(`${label}: ConfigMap ${vol.configMap.name} at ${vm.mountPath} -> a folder with its ${items.length} file(s)`);
      } else {
        throw new Error(`${label}: volume ${vm.name} is of a kind the harness does not map (${Object.keys(vol).join(', ')})`);
      }
      mounts.push({ from: vm.mountPath.replace(/\/$/, ''), to: dir, kind: 'volume' });
    }
    for (const p of image.paths) {
      this.note(`${label}: image path ${p.from} -> ${path.relative(ROOT, p.to) || '.'} (${image.dockerfile})`);
      mounts.push({ ...p, kind: 'image' });
    }
    if (image.rLib) this.note(`${label}: the R package the image installs from r/ -> R_LIBS=${image.rLib}`);
    const byLength = [...mounts].sort((a, b) => b.from.length - a.from.length);
    const pathRe = byLength.length
      ? new RegExp(`(^|[^A-Za-z0-9._-])(${byLength.map((m) => escapeRe(m.from)).join('|')})(?=$|[^A-Za-z0-9._-])`, 'g')
      : null;
    // Host paths the harness put in (the cache's binaries, the repository's files) are never
    // container paths: with the repository or the cache under /tmp they would otherwise be taken
    // for the /tmp emptyDir and rewritten again.
    const hostPrefixes = [...new Set([CACHE, ROOT])].sort((a, b) => b.length - a.length);
    const rewritePaths = (value) => {
      if (!pathRe) return value;
      const kept = [];
      // The placeholder ends in a path character, so nothing right after it reads as a mount path.
      const guarded = hostPrefixes.reduce((v, h) => v.split(h).join(`\u0000${kept.push(h) - 1}_`), value);
      return guarded.replace(pathRe, (all, pre, p) => pre + byLength.find((m) => m.from === p).to)
        .replace(/\u0000(\d+)_/g, (all, i) => kept[Number(i)]);
    };
    const rewrite = (value, where) => rewritePaths(this.rewriteDns(String(value), where));

    // Env: the image's, then the container's, then what the platform injects.
    const env = {};
    for (const [k, v] of Object.entries(image.env)) env[k] = rewritePaths(v);
    for (const e of c.env || []) {
      if (e.value !== undefined) env[e.name] = rewrite(e.value, `${label} env ${e.name}`);
      else if (e.valueFrom && e.valueFrom.secretKeyRef) {
        env[e.name] = this.secret(ns, e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key);
      } else if (e.valueFrom && e.valueFrom.configMapKeyRef) {
        env[e.name] = this.manifests.configMap(ns, e.valueFrom.configMapKeyRef.name).data[e.valueFrom.configMapKeyRef.key];
      } else {
        throw new Error(`${label}: env ${e.name} uses a source the harness does not map`);
      }
    }
    for (const [k, v] of Object.entries(opts.extraEnv || {})) {
      env[k] = String(v);
      this.note(`${label}: ${opts.extraEnvWhy || 'injected'} ${k}=${v}`);
    }
    for (const [k, v] of Object.entries(opts.env || {})) {
      this.log(`[substitution] ${label}: env ${k}=${v}${env[k] !== undefined ? ` (manifest: ${env[k]})` : ''}`);
      env[k] = String(v);
    }

    // Command and args, with Kubernetes' rules for the image's entrypoint and cmd.
    let command = c.command ? [...c.command] : image.entrypoint ? [...image.entrypoint] : undefined;
    let args = c.args ? [...c.args] : c.command ? [] : image.cmd ? [...image.cmd] : [];
    if (!command) {
      command = args;
      args = [];
    }
    if (!c.command && image.entrypoint && image.entrypoint[0].startsWith(BIN)) {
      this.note(`${label}: image ${c.image} entrypoint -> ${path.relative(ROOT, image.entrypoint[0])}`);
    }
    command = command.map((a) => rewrite(a, `${label} command`));
    args = args.map((a) => rewrite(a, `${label} args`));
    args = this.rewriteListen(args, ports, label);

    const cwdMount = image.workdir && mounts.find((m) => m.from === image.workdir);
    return {
      label,
      command: [...command, ...args],
      env,
      cwd: cwdMount ? cwdMount.to : this.dir,
      pathDirs: image.pathDirs || [],
      ports,
      container: c,
    };
  }

  // Listen addresses in args (`--address :9000`, `--host 0.0.0.0 --port 5000`, `--x=...`): to
  // loopback and the local port of the container port they name.
  rewriteListen(args, ports, label) {
    const out = [...args];
    const flagOf = (i) => (i > 0 && /^--?[A-Za-z]/.test(out[i - 1]) ? out[i - 1] : '');
    for (let i = 0; i < out.length; i++) {
      let flag = flagOf(i);
      let value = out[i];
      let prefix = '';
      const eq = /^(--?[A-Za-z][A-Za-z0-9_-]*)=(.*)$/.exec(value);
      if (eq) {
        [, flag, value] = eq;
        prefix = `${flag}=`;
      }
      let next = value;
      const hp = /^(0\.0\.0\.0|\[::\]|)?:(\d+)$/.exec(value);
      if (hp && ports[hp[2]]) next = `127.0.0.1:${ports[hp[2]]}`;
      else if (/^(0\.0\.0\.0|::|\[::\])$/.test(value) && /host|bind|addr|listen/i.test(flag)) next = '127.0.0.1';
      else if (/^\d+$/.test(value) && /port/i.test(flag) && ports[value]) next = String(ports[value]);
      if (next !== value) {
        this.note(`${label}: listen ${flag} ${value} -> ${next}`);
        out[i] = prefix + next;
      }
    }
    return out;
  }
}

module.exports = { LocalCluster, freePort, portIsFree, resolveImage, imageProblem, isRImage, parseDockerfile, rSourcesHash, rLibFor };

if (require.main === module && process.argv[2] === '--r-sources-hash') {
  console.log(rSourcesHash(path.join(ROOT, 'r')));
}
