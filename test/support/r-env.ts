// Helpers for the jest tests that drive the R programs in r/: finding Rscript, skipping (or, in
// CI, failing) when R is missing, installing the rmlops R package into a private library,
// spawning and stopping R processes, and HTTP clients.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export const REPO = path.resolve(__dirname, '..', '..');
export const R_DIR = path.join(REPO, 'r');
export const EXAMPLES_DIR = path.join(REPO, 'examples');
/** The contract as the rmlops R package installs it (r/inst/contract.json). */
export const CONTRACT_JSON = path.join(R_DIR, 'inst', 'contract.json');

// The files R CMD INSTALL takes from r/: a change to any of them means a new library.
function packageFiles(dir = R_DIR, rel = ''): string[] {
  const top = ['DESCRIPTION', 'NAMESPACE', 'R', 'inst', 'man', 'src'];
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true })
    .filter((e) => rel !== '' || top.includes(e.name))
    // Build products of an in-place install are not package content.
    .filter((e) => !/\.(o|so|dll)$/.test(e.name))
    .flatMap((e) => (e.isDirectory() ? packageFiles(dir, path.join(rel, e.name)) : [path.join(rel, e.name)]))
    .sort();
}

let installedLibrary: string | undefined;

/**
 * A library folder holding the rmlops package built from the working tree's r/, installed once
 * per content (keyed by a hash of the package files) and shared by the test files. Installed
 * into a staging folder and renamed, so parallel jest workers never see a half-installed one.
 */
export function rLibrary(): string {
  if (installedLibrary) return installedLibrary;
  const hash = crypto.createHash('sha256');
  for (const f of packageFiles()) hash.update(f).update('\0').update(fs.readFileSync(path.join(R_DIR, f))).update('\0');
  // Outside the jest run's own temporary folder (test/support/global-setup.js), so that the next
  // run reuses it.
  const root = process.env.RMLOPS_TEST_TMP_ROOT ?? os.tmpdir();
  const lib = path.join(root, `rmlops-rlib-${hash.digest('hex').slice(0, 16)}`);
  if (!fs.existsSync(path.join(lib, 'rmlops', 'DESCRIPTION'))) {
    const staging = fs.mkdtempSync(path.join(root, 'rmlops-rlib-staging-'));
    // Installed from a private copy: R CMD INSTALL compiles src/ in place, and parallel jest
    // workers compiling in r/src at once would overwrite each other's object files.
    const source = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-src-'));
    for (const f of packageFiles()) {
      fs.mkdirSync(path.dirname(path.join(source, 'rmlops', f)), { recursive: true });
      fs.copyFileSync(path.join(R_DIR, f), path.join(source, 'rmlops', f));
    }
    const run = spawnSync('R', ['CMD', 'INSTALL', '--no-test-load', '-l', staging, path.join(source, 'rmlops')], { encoding: 'utf8', timeout: 180000 });
    fs.rmSync(source, { recursive: true, force: true });
    if (run.status !== 0) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw new Error(`R CMD INSTALL r failed:\n${run.stdout}\n${run.stderr}`);
    }
    try {
      fs.renameSync(staging, lib);
    } catch (e) {
      // Another worker installed the same content first.
      fs.rmSync(staging, { recursive: true, force: true });
      if (!fs.existsSync(path.join(lib, 'rmlops', 'DESCRIPTION'))) throw e;
    }
  }
  installedLibrary = lib;
  return lib;
}

/** Environment an R process needs to find the rmlops package. */
export function rPackageEnv(): Record<string, string> {
  return { R_LIBS: rLibrary() };
}

function findRscript(): string | undefined {
  const probe = spawnSync('Rscript', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? 'Rscript' : undefined;
}

export const RSCRIPT = findRscript();

/**
 * `describe` when Rscript is installed. Without R: skipped with the reason printed, except in
 * CI (`CI=true`), where a missing R is a failure.
 */
export function describeR(name: string, body: () => void): void {
  if (RSCRIPT) {
    describe(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      test('R is installed (required in CI)', () => {
        throw new Error('Rscript not found on PATH: .ci/run must install the packages in r/packages.txt');
      });
    });
  } else {
    // eslint-disable-next-line no-console
    console.warn(`SKIPPED "${name}": Rscript is not installed (apt-get install $(grep -v '^#' r/packages.txt))`);
    describe.skip(`${name} [skipped: Rscript not installed]`, body);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `serve.R` like `startR`, on a free metrics port unless `env` names one: the default
 * (the contract's 6000) is one port for the whole machine, and parallel jest workers starting
 * servers at once would fail each other's bind.
 */
export async function startServe(env: Record<string, string>): Promise<RProcess> {
  const contract = JSON.parse(fs.readFileSync(CONTRACT_JSON, 'utf8'));
  const metricsEnv: string = contract.env.metricsPort;
  return startR('serve.R', { [metricsEnv]: String(await freePort()), ...env });
}

export interface RProcess {
  readonly proc: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts `Rscript r/<script>` with a clean environment plus `env`, the rmlops package installed. */
export function startR(script: string, env: Record<string, string>): RProcess {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', ...rPackageEnv() };
  const proc = spawn(RSCRIPT ?? 'Rscript', [path.join(R_DIR, script)], {
    env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: Rscript may run R as a child, and stop() must end both.
    detached: true,
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        try { process.kill(-(proc.pid as number), 'SIGTERM'); } catch { proc.kill('SIGTERM'); }
        await exited;
      }
    },
  };
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface HttpResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  readonly reusedSocket: boolean;
  json(): any;
}

export function request(port: number, method: string, urlPath: string, body?: string | Buffer,
  agent?: http.Agent, headers: http.OutgoingHttpHeaders = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const h: http.OutgoingHttpHeaders = { ...headers };
    if (body !== undefined) {
      h['content-type'] = h['content-type'] ?? 'application/json';
      h['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers: h }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, reusedSocket: req.reusedSocket, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends raw bytes and collects whatever comes back until the server closes or `ms` pass. */
export function rawExchange(port: number, bytes: string | Buffer, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    const done = () => { clearTimeout(timer); sock.destroy(); resolve(got); };
    const timer = setTimeout(done, ms);
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('close', done);
    sock.on('error', done);
    sock.write(bytes);
  });
}

/** GET on a fresh connection that fails unless the whole answer arrives within `ms`. */
export function getWithin(port: number, urlPath: string, ms: number): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'GET', path: urlPath, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, reusedSocket: false, json: () => JSON.parse(text) });
      });
    });
    const timer = setTimeout(() => { req.destroy(); reject(new Error(`GET ${urlPath}: no answer within ${ms} ms`)); }, ms);
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    req.end();
  });
}

/** A TCP server that accepts connections and never answers: a hung dependency. */
export async function silentServer(port: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => undefined); });
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', () => resolve()));
  return {
    close: () => new Promise<void>((resolve) => { sockets.forEach((s) => s.destroy()); srv.close(() => resolve()); }),
  };
}
