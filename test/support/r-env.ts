// Helpers for the jest tests that drive the R programs in r/: finding Rscript, skipping (or, in
// CI, failing) when R is missing, spawning and stopping R processes, and HTTP clients.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';

export const REPO = path.resolve(__dirname, '..', '..');
export const R_DIR = path.join(REPO, 'r');

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

export interface RProcess {
  readonly proc: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts `Rscript r/<script>` with a clean environment plus `env`. */
export function startR(script: string, env: Record<string, string>): RProcess {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8' };
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
