// Operating the R model server as a cluster would: SIGTERM as PID 1 and not, startup settings
// that cannot work, hostile clients, worker processes, Prometheus metrics and the Open Inference
// Protocol (v2) over real sockets. Every load loop here is bounded in count and time.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { METRICS } from '../lib/contract';
import { describeR, EXAMPLES_DIR, freePort, getWithin, R_DIR, rawExchange, request, rPackageEnv, RSCRIPT, RProcess, startR, waitFor } from './support/r-env';

const contract = JSON.parse(fs.readFileSync(path.join(R_DIR, 'contract.json'), 'utf8'));
const ENV = contract.env as Record<string, string>;
const P = contract.paths as Record<string, string>;
const ROW = [5.1, 3.5, 1.4, 0.2];
const seldonBody = (rows: number[][]) => JSON.stringify({ data: { ndarray: rows } });

function trainIris(dir: string, home: string): void {
  const train = spawnSync(RSCRIPT ?? 'Rscript', [path.join(R_DIR, 'train.R')], {
    env: { PATH: process.env.PATH ?? '', HOME: home, ...rPackageEnv(), [ENV.trainingScript]: path.join(EXAMPLES_DIR, 'iris', 'train.R'), [ENV.modelDir]: dir },
    encoding: 'utf8', timeout: 120000,
  });
  if (train.status !== 0) throw new Error(`train.R failed: ${train.stdout}\n${train.stderr}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connects and writes `bytes` without ending: a client that never finishes its request. */
async function halfSent(port: number, bytes: string): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  if (bytes) s.write(bytes);
  return s;
}

/** Reads a raw answer until the server closes or `ms` passes. */
function collect(s: net.Socket, ms: number): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve(out), ms);
    s.on('data', (d: Buffer) => { out += d.toString(); });
    s.on('close', () => { clearTimeout(timer); resolve(out); });
  });
}

function baseEnv(tmp: string, model: string, port: number, metricsPort: number, extra: Record<string, string> = {}) {
  return {
    [ENV.modelUri]: model, [ENV.httpPort]: String(port), [ENV.metricsPort]: String(metricsPort),
    [ENV.mlflowWaitSeconds]: '60', TMPDIR: tmp, ...extra,
  };
}

describeR('R model server in operation', () => {
  let tmp: string;
  let model: string;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-ops-'));
    model = path.join(tmp, 'iris');
    trainIris(model, tmp);
  }, 120000);

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('startup settings that cannot work: one JSON log line and exit 2 at once', () => {
    const cases: Array<[string, (port: number) => Record<string, string>, RegExp]> = [
      ['a port that is not a number', () => ({ [ENV.httpPort]: 'http' }), /must be a number/],
      ["the executor's port", () => ({ [ENV.httpPort]: '8000' }), /refusing to bind port 8000/],
      ['a port out of range', () => ({ [ENV.httpPort]: '70000' }), /invalid port/],
      ['the metrics port equal to the HTTP port', (p) => ({ [ENV.httpPort]: String(p), [ENV.metricsPort]: String(p) }), /metrics port .* is the HTTP port/],
      ['a negative size limit', () => ({ [ENV.maxBodyBytes]: '-1' }), /invalid request size limit/],
      ['a size limit that is not a number', () => ({ [ENV.maxBodyBytes]: '5MB' }), /must be a number/],
      ['zero workers', () => ({ [ENV.workers]: '0' }), /invalid number of workers/],
      ['a metrics path without a slash', () => ({ [ENV.metricsEndpoint]: 'prometheus' }), /invalid metrics path/],
      ['an unsupported URI scheme', () => ({ [ENV.modelUri]: 's3://bucket/model' }), /unsupported model URI/],
    ];
    test.each(cases)('%s', async (_name, env, message) => {
      const port = await freePort();
      const started = Date.now();
      const r = startR('serve.R', { ...baseEnv(tmp, model, port, await freePort()), ...env(port) });
      const code = await r.exited;
      expect(code).toBe(2);
      expect(Date.now() - started).toBeLessThan(15000);
      const lines = r.output().trim().split('\n').filter((l) => l.startsWith('{'));
      expect(lines).toHaveLength(1);
      const entry = JSON.parse(lines[0]);
      expect(entry).toMatchObject({ level: 'error', config_error: true });
      expect(entry.msg).toMatch(message);
    }, 30000);

    test('a port already in use', async () => {
      const port = await freePort();
      const holder = net.createServer();
      await new Promise<void>((resolve) => holder.listen(port, '0.0.0.0', () => resolve()));
      try {
        const r = startR('serve.R', baseEnv(tmp, model, port, await freePort()));
        expect(await r.exited).toBe(2);
        expect(r.output()).toMatch(/cannot listen on port/);
      } finally {
        holder.close();
      }
    }, 30000);
  });

  describe('SIGTERM', () => {
    async function inFlightThenTerm(spawnServer: (env: Record<string, string>) => { proc: ChildProcess; output: () => string; exited: Promise<number | null> }, signalPid: () => number) {
      const port = await freePort();
      const srv = spawnServer(baseEnv(tmp, model, port, await freePort(), { [ENV.workers]: '2' }));
      try {
        await waitFor(async () => (await getWithin(port, P.healthStatus, 1000)).status === 200, 60000, 'ready');
        const body = seldonBody([ROW]);
        // A request under way: its head and half its body are in, the rest comes after the signal.
        const s = await halfSent(port, `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
        const answer = collect(s, 8000);
        await sleep(300);
        const idle = await halfSent(port, '');
        const idleClosed = collect(idle, 8000);
        const t0 = Date.now();
        process.kill(signalPid(), 'SIGTERM');
        await sleep(300);
        s.write(body.slice(10));
        const reply = await answer;
        expect(reply).toMatch(/^HTTP\/1\.1 200 [^]*Connection: close[^]*"ndarray":\["setosa"\]/);
        await idleClosed;
        const code = await Promise.race([srv.exited, new Promise((r) => setTimeout(r, 8000).unref()).then(() => 'timeout')]);
        const ms = Date.now() - t0;
        expect(code).toBe(0);
        expect(ms).toBeLessThan(6000);
        const out = srv.output();
        expect(out).toMatch(/"msg":"stop signal: finishing requests under way, then exiting","signal":15/);
        expect(out).toMatch(/"msg":"stopped"/);
        // eslint-disable-next-line no-console
        console.log(`SIGTERM to exit: ${ms} ms`);
        s.destroy();
        idle.destroy();
      } finally {
        if (srv.proc.exitCode === null) try { process.kill(-(srv.proc.pid as number), 'SIGKILL'); } catch { /* gone */ }
      }
    }

    test('not PID 1: stops accepting, finishes the request under way, closes idle connections, exits 0', async () => {
      let r: RProcess | undefined;
      await inFlightThenTerm((env) => { r = startR('serve.R', env); return r; }, () => (r as RProcess).proc.pid as number);
    }, 90000);

    const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;
    (canUnshare ? test : test.skip)('as PID 1 of its own PID namespace (a container without an init): the same', async () => {
      let proc: ChildProcess | undefined;
      let out = '';
      await inFlightThenTerm((env) => {
        proc = spawn('unshare', ['--pid', '--fork', '--mount-proc', RSCRIPT ?? 'Rscript', path.join(R_DIR, 'serve.R')], {
          env: { PATH: process.env.PATH ?? '', HOME: tmp, LANG: 'C.UTF-8', ...rPackageEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
        });
        proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
        proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
        const exited = new Promise<number | null>((resolve) => (proc as ChildProcess).on('exit', (code) => resolve(code)));
        return { proc: proc as ChildProcess, output: () => out, exited };
      }, () => {
        // unshare --fork: the server is unshare's child, PID 1 inside the namespace.
        const kids = spawnSync('pgrep', ['-P', String((proc as ChildProcess).pid)], { encoding: 'utf8' }).stdout.trim().split('\n');
        return Number(kids[0]);
      });
      expect(out).toMatch(/"msg":"listening".*"pid":1[,}]/);
    }, 90000);
  });

  describe('a running server (2 workers)', () => {
    let port: number;
    let metricsPort: number;
    let server: RProcess;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

    beforeAll(async () => {
      port = await freePort();
      metricsPort = await freePort();
      server = startR('serve.R', baseEnv(tmp, model, port, metricsPort, { [ENV.workers]: '2', [ENV.predictiveUnitId]: 'classifier' }));
      await waitFor(async () => (await getWithin(port, P.healthStatus, 1000)).status === 200, 60000, 'ready');
    }, 90000);

    afterAll(async () => {
      agent.destroy();
      await server?.stop();
    });

    test('HEAD answers the headers without a body; 405 names the allowed methods', async () => {
      const head = await rawExchange(port, `HEAD ${P.metadata} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(head).toMatch(/^HTTP\/1\.1 200 [^]*Content-Length: [1-9][0-9]*\r\n/);
      expect(head.endsWith('\r\n\r\n')).toBe(true);
      const wrong = await request(port, 'DELETE', P.modelPredict, undefined, agent);
      expect(wrong.status).toBe(405);
      expect(wrong.headers.allow).toBe('POST, OPTIONS');
      const v2wrong = await request(port, 'POST', '/v2/health/ready', '{}', agent);
      expect(v2wrong.status).toBe(405);
      expect(v2wrong.json()).toEqual({ error: expect.stringContaining('accepts GET and HEAD only') });
      expect(v2wrong.headers.allow).toBe('GET, HEAD, OPTIONS');
    });

    test('v2: the model is named by PREDICTIVE_UNIT_ID; infer by name and position', async () => {
      expect((await request(port, 'GET', '/v2/health/live', undefined, agent)).status).toBe(200);
      expect((await request(port, 'GET', '/v2/health/ready', undefined, agent)).status).toBe(200);
      expect((await request(port, 'GET', '/v2/models/classifier/ready', undefined, agent)).status).toBe(200);
      const md = (await request(port, 'GET', '/v2/models/classifier', undefined, agent)).json();
      expect(md.name).toBe('classifier');
      expect(md.inputs.map((t: { datatype: string }) => t.datatype)).toEqual(['FP64', 'FP64', 'FP64', 'FP64']);
      const infer = await request(port, 'POST', '/v2/models/classifier/infer', JSON.stringify({
        id: 'r1', inputs: [{ name: 'input-0', datatype: 'FP32', shape: [2, 4], data: [ROW, [6.3, 3.3, 6.0, 2.5]] }],
      }), agent);
      expect(infer.status).toBe(200);
      expect(infer.json()).toEqual({
        model_name: 'classifier', model_version: 'local', id: 'r1',
        outputs: [{ name: 'prediction', datatype: 'BYTES', shape: [2], data: ['setosa', 'virginica'] }],
      });
      const unknown = await request(port, 'POST', '/v2/models/iris/infer', '{}', agent);
      expect(unknown.status).toBe(404);
      expect(unknown.json().error).toMatch(/unknown model 'iris'/);
      const bad = await request(port, 'POST', '/v2/models/classifier/infer', '{"inputs":[{"name":"a"}]}', agent);
      expect(bad.status).toBe(400);
      expect(Object.keys(bad.json())).toEqual(['error']);
    });

    test('printf directives in a malformed body are a 400 on v1 and v2, and no worker dies (issue 19: jsonlite 1.8.4 crashed on them)', async () => {
      const started = (server.output().match(/"msg":"worker started"/g) ?? []).length;
      for (const p of [P.predictions, P.modelPredict, '/v2/models/classifier/infer']) {
        for (const body of ['x%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s', 'x%n', '%n', '{"data":%n}']) {
          const res = await request(port, 'POST', p, body, agent);
          expect([p, body, res.status]).toEqual([p, body, 400]);
          expect(res.text).toMatch(/malformed JSON \([a-z][^)]* at byte \d+\)/);
          expect(res.text).not.toMatch(/%n|%s/);
        }
      }
      expect(server.output()).not.toMatch(/"msg":"worker died/);
      expect((server.output().match(/"msg":"worker started"/g) ?? []).length).toBe(started);
      expect((await request(port, 'POST', P.predictions, seldonBody([ROW]), agent)).json().data.ndarray).toEqual(['setosa']);
    });

    test('probes are answered within 1 s while clients drip half-sent requests, idle, and exceed the connection limit', async () => {
      const hostile: net.Socket[] = [];
      try {
        for (let i = 0; i < 40; i++) hostile.push(await halfSent(port, 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"da'));
        for (let i = 0; i < 40; i++) hostile.push(await halfSent(port, 'GET /health/st'));
        for (let i = 0; i < 40; i++) hostile.push(await halfSent(port, ''));
        await sleep(300);
        for (let i = 0; i < 6; i++) {
          const t0 = Date.now();
          const live = await getWithin(port, P.healthPing, 1000);
          const ready = await getWithin(port, P.healthStatus, 1000);
          expect([live.status, ready.status]).toEqual([200, 200]);
          expect(await getWithin(port, '/v2/health/ready', 1000)).toMatchObject({ status: 200 });
          expect(Date.now() - t0).toBeLessThan(3000);
          // Drip one more byte on some of the half-sent ones.
          hostile.slice(0, 20).forEach((s) => s.write(' '));
          await sleep(200);
        }
      } finally {
        hostile.forEach((s) => s.destroy());
      }
    }, 60000);

    test('a connection refused for capacity gets a readable 503, never a silent close or a reset', async () => {
      const held: net.Socket[] = [];
      try {
        // Every worker's ordinary slots held by requests under way (not idle, so not evicted).
        for (let i = 0; i < 2 * 64 + 10; i++) held.push(await halfSent(port, 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{'));
        await sleep(300);
        const replies = await Promise.all(Array.from({ length: 5 }, async () => {
          const s = await halfSent(port, `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${seldonBody([ROW]).length}\r\n\r\n${seldonBody([ROW])}`);
          return collect(s, 4000);
        }));
        for (const r of replies) {
          expect(r).toMatch(/^HTTP\/1\.1 (503 [^]*too many connections|200 )/);
        }
        expect(replies.some((r) => r.startsWith('HTTP/1.1 503'))).toBe(true);
        expect((await getWithin(port, P.healthPing, 1000)).status).toBe(200);
      } finally {
        held.forEach((s) => s.destroy());
      }
    }, 60000);

    test('metrics on the metrics port: counts by route and status, latency histogram, load time, model info', async () => {
      for (let i = 0; i < 5; i++) await request(port, 'POST', P.modelPredict, seldonBody([ROW]), agent);
      await request(port, 'POST', P.modelPredict, '{', agent);
      await sleep(1500); // workers publish their counts about once a second
      const res = await getWithin(metricsPort, P.modelMetrics, 2000);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const count = (route: string, code: number) => Number((res.text.match(new RegExp(`^rmlops_requests_total\\{route="${route.replace(/[/.]/g, '\\$&')}",code="${code}"\\} (\\S+)$`, 'm')) ?? [])[1]);
      expect(count('/predict', 200)).toBeGreaterThanOrEqual(5);
      expect(count('/predict', 400)).toBeGreaterThanOrEqual(1);
      expect(res.text).toMatch(/^rmlops_request_duration_seconds_bucket\{route="\/predict",le="\+Inf"\} \d+$/m);
      expect(res.text).toMatch(/^rmlops_model_load_seconds [0-9.e-]+$/m);
      expect(res.text).toMatch(/^rmlops_model_info\{model_name="iris",model_version="local",run_id=""\} 1$/m);
      expect(res.text).toMatch(/^rmlops_workers_running 2$/m);
      expect((await getWithin(metricsPort, '/other', 1000)).status).toBe(404);
    }, 30000);

    test('the /prometheus families are the contract\'s METRICS.model* names (what the alert rules read), with their types and labels', async () => {
      await request(port, 'POST', P.modelPredict, seldonBody([ROW]), agent);
      await sleep(1500);
      const text = (await getWithin(metricsPort, P.modelMetrics, 2000)).text;
      const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
      expect(types.get(METRICS.modelRequests)).toBe('counter');
      expect(types.get(METRICS.modelRequestDuration)).toBe('histogram');
      expect(types.get(METRICS.modelWorkerRestarts)).toBe('counter');
      expect(types.get(METRICS.modelReady)).toBe('gauge');
      // Every family the server writes is either in the contract or one of these (a renamed
      // contract metric would show up here and fail).
      const others = ['rmlops_feedback_total', 'rmlops_feedback_truth_total', 'rmlops_feedback_reward_sum', 'rmlops_model_load_seconds',
        'rmlops_model_info', 'rmlops_workers', 'rmlops_workers_running'];
      const model = Object.entries(METRICS).filter(([k]) => k.startsWith('model')).map(([, v]) => v as string);
      expect([...types.keys()].sort()).toEqual([...model, ...others].sort());
      // Samples belong to declared families; their label names are the ones the rules select on.
      const labelNames = (name: string) => [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} `, 'gm'))]
        .map((m) => [...m[1].matchAll(/(\w+)="/g)].map((l) => l[1]).sort().join(','));
      expect(new Set(labelNames(METRICS.modelRequests))).toEqual(new Set(['code,route']));
      expect(new Set(labelNames(`${METRICS.modelRequestDuration}_bucket`))).toEqual(new Set(['le,route']));
      expect(text).toMatch(new RegExp(`^${METRICS.modelWorkerRestarts} \\d+$`, 'm'));
      expect(text).toMatch(new RegExp(`^${METRICS.modelReady} 1$`, 'm'));
      for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
        const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0];
        const family = name.replace(/_(bucket|sum|count)$/, '');
        expect(types.has(name) || types.get(family) === 'histogram').toBe(true);
      }
      // The model metrics the example's alert rules read (dist/) are all served.
      const rules = fs.readdirSync(path.join(R_DIR, '..', 'dist')).filter((f) => f.includes('-prometheusrule-'));
      expect(rules.length).toBeGreaterThan(0);
      for (const f of rules) {
        const read = fs.readFileSync(path.join(R_DIR, '..', 'dist', f), 'utf8').match(/rmlops_[a-z_]+/g) ?? [];
        for (const name of read.filter((n) => !n.startsWith('rmlops_monitor_') && !n.startsWith('rmlops_sink_'))) {
          expect(`${f}: ${name} ${types.has(name.replace(/_bucket$/, '')) ? 'served' : 'not served'}`).toBe(`${f}: ${name} served`);
        }
      }
    }, 30000);

    test('a worker that dies is replaced; readiness reflects the workers meanwhile', async () => {
      const pids = [...server.output().matchAll(/"msg":"worker started","worker":\d+,"pid":(\d+)/g)].map((m) => Number(m[1]));
      expect(pids.length).toBeGreaterThanOrEqual(2);
      process.kill(pids[0], 'SIGKILL');
      await waitFor(async () => /"msg":"worker died: replacing it"/.test(server.output()), 5000, 'the supervisor to see the death');
      await waitFor(async () => (server.output().match(/"msg":"worker started"/g) ?? []).length >= 3, 5000, 'a replacement');
      await waitFor(async () => (await getWithin(port, P.healthStatus, 1000)).status === 200, 5000, 'ready again');
      const m = await getWithin(metricsPort, P.modelMetrics, 2000);
      expect(m.text).toMatch(/^rmlops_worker_restarts_total 1$/m);
      expect((await request(port, 'POST', P.modelPredict, seldonBody([ROW]))).json().data.ndarray).toEqual(['setosa']);
    }, 30000);

    test('a worker that segfaults or aborts is replaced too, the server answering meanwhile; restarts counted; every log line JSON', async () => {
      const latest = () => {
        const slots = new Map<string, number>();
        for (const m of server.output().matchAll(/"msg":"worker started","worker":(\d+),"pid":(\d+)/g)) slots.set(m[1], Number(m[2]));
        return [...slots.values()];
      };
      let restarts = 1;
      for (const sig of ['SIGSEGV', 'SIGABRT'] as const) {
        const [victim] = latest();
        process.kill(victim, sig);
        await waitFor(async () => !latest().includes(victim), 15000, `the supervisor to replace the worker killed by ${sig}`);
        restarts += 1;
        // The other worker answers while the replacement starts.
        expect((await request(port, 'POST', P.modelPredict, seldonBody([ROW]))).status).toBe(200);
      }
      await waitFor(async () => (await getWithin(metricsPort, P.modelMetrics, 2000)).text.includes(`rmlops_worker_restarts_total ${restarts}\n`), 5000, 'the restarts counted');
      expect((server.proc as ChildProcess).exitCode).toBeNull();
      expect(server.output()).toMatch(/"msg":"worker died: replacing it","worker":\d+,"pid":\d+,"exit":139,"signal":11/);
      expect(server.output()).toMatch(/"exit":134,"signal":6/);
      for (const line of server.output().split('\n').filter((l) => l.trim())) expect(() => JSON.parse(line)).not.toThrow();
    }, 60000);
  });
});
