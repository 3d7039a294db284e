// The R MLflow client opens a new TCP connection for every wait attempt and every retry. On a
// real node, strace of the training pod showed every retry on one socket, with no new connect:
// httr keeps one curl handle (and its connection) per host. A retry on the same connection never
// reaches another endpoint behind the Service, and a half-dead connection stays half-dead.
// An HTTP server on 127.0.0.1 that keeps connections alive counts them.
import * as http from 'http';
import { AddressInfo } from 'net';
import { spawn } from 'child_process';
import { RSCRIPT, describeR, rPackageEnv } from './support/r-env';

/** A keep-alive server answering `failures` 503s to each path before its 200, counting TCP connections and requests. */
async function countingServer(failures: number): Promise<{ port: number; connections(): number; requests: string[]; close(): Promise<void> }> {
  let connections = 0;
  const requests: string[] = [];
  const seen = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const p = (req.url ?? '').split('?')[0];
    requests.push(`${req.method} ${p}`);
    const n = (seen.get(p) ?? 0) + 1;
    seen.set(p, n);
    const status = n <= failures ? 503 : 200;
    const body = status === 200 ? '{}' : '{"error_code":"TEMPORARILY_UNAVAILABLE","message":"starting"}';
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'keep-alive' });
    res.end(body);
  });
  server.keepAliveTimeout = 60000;
  server.on('connection', () => { connections += 1; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** Runs an R expression with the rmlops package; `client` is a client of `port` that does not sleep between attempts. */
function runR(port: number, expr: string): Promise<{ status: number | null; stderr: string }> {
  const program = `client <- rmlops::mlflow_client("http://127.0.0.1:${port}", wait_seconds = 30, sleep = function(s) NULL)\n${expr}`;
  const child = spawn(RSCRIPT!, ['-e', program], { env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', ...rPackageEnv() } });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
  return new Promise((resolve) => child.on('close', (status) => { clearTimeout(timer); resolve({ status, stderr }); }));
}

describeR('R MLflow client: a fresh TCP connection for each wait attempt and each retry (keep-alive server on 127.0.0.1)', () => {
  test('mlflow_wait: 3 attempts on /health and 3 on the artifact listing use 6 connections', async () => {
    const server = await countingServer(2);
    try {
      const r = await runR(server.port, 'stopifnot(rmlops::mlflow_wait(client, "/health") == 6L)');
      expect({ status: r.status, stderr: r.stderr.split('\n').filter((l) => !l.startsWith('{')).join('\n') }).toEqual({ status: 0, stderr: '' });
      expect(server.requests).toEqual([
        'GET /health', 'GET /health', 'GET /health',
        'GET /api/2.0/mlflow-artifacts/artifacts', 'GET /api/2.0/mlflow-artifacts/artifacts', 'GET /api/2.0/mlflow-artifacts/artifacts',
      ]);
      expect(server.connections()).toBe(6);
    } finally {
      await server.close();
    }
  });

  test('a GET retried after 503s: each retry on a new connection; calls that succeed keep reusing theirs', async () => {
    const server = await countingServer(2);
    try {
      const r = await runR(server.port, [
        'rmlops::mlflow_api(client, "GET", "experiments/get-by-name", query = list(experiment_name = "x"))',
        // Answered 200 at once: the pooled connection of the last exchange, no new one.
        'rmlops::mlflow_api(client, "GET", "experiments/get-by-name", query = list(experiment_name = "x"))',
      ].join('\n'));
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      expect(server.requests).toEqual(Array(4).fill('GET /api/2.0/mlflow/experiments/get-by-name'));
      expect(server.connections()).toBe(3);
    } finally {
      await server.close();
    }
  });
});
