// An in-test HTTP server for the contract test against MLflow's documented REST API
// (https://mlflow.org/docs/latest/rest-api.html and the artifact proxy of
// `mlflow server --serve-artifacts`). It checks each request's method, path and required
// fields, records violations, and answers with MLflow's response shapes and error format.
import * as http from 'http';

type Json = Record<string, any>;
interface Run { info: Json; params: Json; metrics: Json; tags: Record<string, string> }
interface Version { name: string; version: string; source: string; run_id?: string; status: string; gets: number }

export class FakeMlflow {
  readonly violations: string[] = [];
  readonly calls: string[] = [];
  readonly experiments = new Map<string, string>();
  readonly runs = new Map<string, Run>();
  readonly artifacts = new Map<string, Buffer>();
  readonly models = new Set<string>();
  readonly versions = new Map<string, Version[]>();
  readonly aliases = new Map<string, string>();
  failUploads = false;
  /** Answer 500 to this many artifact listings first (an artifact store not provisioned yet). */
  failArtifactLists = 0;
  /** MLflow 3 logged models: `models:/m-<id>` sources and where their files are. */
  readonly loggedModels = new Map<string, string>();
  private server?: http.Server;
  private ids = 0;

  listen(port: number): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.route(req, Buffer.concat(chunks), res));
    });
    return new Promise((resolve) => this.server!.listen(port, '127.0.0.1', () => resolve()));
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? (this.server.closeAllConnections(), this.server.close(() => resolve())) : resolve()));
  }

  private send(res: http.ServerResponse, status: number, body: Json | Buffer | string) {
    const data = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    res.writeHead(status, { 'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json', 'content-length': data.length });
    res.end(data);
  }

  private sendHtml(res: http.ServerResponse, status: number, html: string) {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
    res.end(html);
  }

  private error(res: http.ServerResponse, status: number, code: string, message: string) {
    this.send(res, status, { error_code: code, message });
  }

  private invalid(res: http.ServerResponse, what: string) {
    this.violations.push(what);
    this.error(res, 400, 'INVALID_PARAMETER_VALUE', what);
  }

  private route(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    const q = (k: string) => url.searchParams.get(k);
    const method = req.method ?? '';
    this.calls.push(`${method} ${p}`);
    if (p === '/health') return method === 'GET' ? this.send(res, 200, 'OK') : this.invalid(res, `${method} /health`);
    if (p === '/api/2.0/mlflow-artifacts/artifacts') {
      if (method !== 'GET') return this.invalid(res, `${method} ${p}`);
      if (this.failArtifactLists > 0) {
        this.failArtifactLists--;
        // Real MLflow 3.9.0 while the provisioning Job has not created its S3 user yet.
        return this.error(res, 401, 'UNAUTHENTICATED', 'Failed to list artifacts in s3://mlflow-artifacts: The Access Key Id you provided does not exist in our records.');
      }
      return this.send(res, 200, this.listArtifacts(q('path') ?? ''));
    }
    const art = '/api/2.0/mlflow-artifacts/artifacts/';
    if (p.startsWith(art)) {
      const key = decodeURIComponent(p.slice(art.length));
      if (method === 'PUT') {
        // Real MLflow 3.9.0 answers a failed S3 upload with Flask's HTML error page, no error_code.
        if (this.failUploads) return this.sendHtml(res, 500, '<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n');
        this.artifacts.set(key, raw);
        return this.send(res, 200, {});
      }
      if (method === 'GET') {
        const b = this.artifacts.get(key);
        // Real MLflow 3.9.0 wraps S3's 404 in a 500.
        return b ? this.send(res, 200, b) : this.error(res, 500, 'INTERNAL_ERROR', `The following failures occurred while downloading one or more artifacts from s3://mlflow-artifacts/${key}: An error occurred (404) when calling the HeadObject operation: Not Found`);
      }
      return this.invalid(res, `${method} ${p}`);
    }
    const api = '/api/2.0/mlflow/';
    if (!p.startsWith(api)) return this.invalid(res, `unknown path ${p}`);
    const ep = `${method} ${p.slice(api.length)}`;
    let body: Json = {};
    if (method === 'POST') {
      if (!/application\/json/.test(req.headers['content-type'] ?? '')) this.violations.push(`${ep}: content-type is not JSON`);
      try { body = JSON.parse(raw.toString('utf8')); } catch { return this.invalid(res, `${ep}: body is not JSON`); }
    }
    const need = (fields: string[], src: Json) => {
      const missing = fields.filter((f) => src[f] === undefined || src[f] === null || src[f] === '');
      return missing.length ? `${ep}: missing required ${missing.join(', ')}` : undefined;
    };
    const query: Json = Object.fromEntries(url.searchParams.entries());
    let m: string | undefined;
    switch (ep) {
      case 'GET experiments/get-by-name': {
        if ((m = need(['experiment_name'], query))) return this.invalid(res, m);
        const id = this.experiments.get(q('experiment_name')!);
        return id ? this.send(res, 200, { experiment: { experiment_id: id, name: q('experiment_name'), artifact_location: `mlflow-artifacts:/${id}`, lifecycle_stage: 'active' } })
          : this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', `Could not find experiment with name '${q('experiment_name')}'`);
      }
      case 'POST experiments/create': {
        if ((m = need(['name'], body))) return this.invalid(res, m);
        if (this.experiments.has(body.name)) return this.error(res, 400, 'RESOURCE_ALREADY_EXISTS', 'experiment exists');
        const id = String(++this.ids);
        this.experiments.set(body.name, id);
        return this.send(res, 200, { experiment_id: id });
      }
      case 'POST runs/create': {
        if ((m = need(['experiment_id'], body))) return this.invalid(res, m);
        if (![...this.experiments.values()].includes(String(body.experiment_id))) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', 'no experiment');
        const runId = `run${++this.ids}abcdef`;
        const info = { run_id: runId, run_uuid: runId, experiment_id: String(body.experiment_id), run_name: body.run_name, status: 'RUNNING',
          start_time: body.start_time, artifact_uri: `mlflow-artifacts:/${body.experiment_id}/${runId}/artifacts`, lifecycle_stage: 'active' };
        const tags = Object.fromEntries((body.tags ?? []).map((t: Json) => [t.key, t.value]));
        this.runs.set(runId, { info, params: {}, metrics: {}, tags });
        return this.send(res, 200, { run: { info, data: { tags: body.tags ?? [] } } });
      }
      case 'POST runs/log-batch': {
        if ((m = need(['run_id'], body))) return this.invalid(res, m);
        const run = this.runs.get(body.run_id);
        if (!run) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', 'no run');
        for (const x of body.metrics ?? []) {
          if (typeof x.key !== 'string' || typeof x.value !== 'number' || typeof x.timestamp !== 'number') return this.invalid(res, `${ep}: metric needs key, numeric value, timestamp`);
          run.metrics[x.key] = x.value;
        }
        for (const x of body.params ?? []) {
          if (typeof x.key !== 'string' || typeof x.value !== 'string') return this.invalid(res, `${ep}: param needs string key and value`);
          run.params[x.key] = x.value;
        }
        return this.send(res, 200, {});
      }
      case 'POST runs/update': {
        if ((m = need(['run_id'], body))) return this.invalid(res, m);
        if (body.status && !['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'].includes(body.status)) return this.invalid(res, `${ep}: bad status ${body.status}`);
        const run = this.runs.get(body.run_id);
        if (!run) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', 'no run');
        Object.assign(run.info, { status: body.status ?? run.info.status, end_time: body.end_time });
        return this.send(res, 200, { run_info: run.info });
      }
      case 'GET runs/get': {
        if ((m = need(['run_id'], query))) return this.invalid(res, m);
        const run = this.runs.get(q('run_id')!);
        return run ? this.send(res, 200, { run: { info: run.info, data: {} } }) : this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', 'no run');
      }
      case 'POST registered-models/create': {
        if ((m = need(['name'], body))) return this.invalid(res, m);
        if (this.models.has(body.name)) return this.error(res, 400, 'RESOURCE_ALREADY_EXISTS', `Registered Model (name=${body.name}) already exists.`);
        this.models.add(body.name);
        return this.send(res, 200, { registered_model: { name: body.name } });
      }
      case 'POST model-versions/create': {
        if ((m = need(['name', 'source'], body))) return this.invalid(res, m);
        if (!this.models.has(body.name)) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', 'no registered model');
        const list = this.versions.get(body.name) ?? [];
        const v: Version = { name: body.name, version: String(list.length + 1), source: body.source, run_id: body.run_id, status: 'PENDING_REGISTRATION', gets: 0 };
        list.push(v);
        this.versions.set(body.name, list);
        return this.send(res, 200, { model_version: this.view(v) });
      }
      case 'GET model-versions/get': {
        if ((m = need(['name', 'version'], query))) return this.invalid(res, m);
        const v = this.versions.get(q('name')!)?.find((x) => x.version === q('version'));
        if (!v) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', 'no version');
        // Registration is asynchronous in MLflow: READY only after a poll.
        if (++v.gets >= 2) v.status = 'READY';
        return this.send(res, 200, { model_version: this.view(v) });
      }
      case 'GET model-versions/get-download-uri': {
        if ((m = need(['name', 'version'], query))) return this.invalid(res, m);
        const v = this.versions.get(q('name')!)?.find((x) => x.version === q('version'));
        if (!v) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', 'no version');
        const uri = this.downloadUri(v.source);
        return uri ? this.send(res, 200, { artifact_uri: uri }) : this.error(res, 400, 'INVALID_PARAMETER_VALUE', `cannot resolve ${v.source}`);
      }
      case 'POST registered-models/alias': {
        if ((m = need(['name', 'alias', 'version'], body))) return this.invalid(res, m);
        if (!this.versions.get(body.name)?.some((x) => x.version === String(body.version))) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', 'no version');
        this.aliases.set(`${body.name}@${body.alias}`, String(body.version));
        return this.send(res, 200, {});
      }
      case 'GET registered-models/alias': {
        if ((m = need(['name', 'alias'], query))) return this.invalid(res, m);
        const ver = this.aliases.get(`${q('name')}@${q('alias')}`);
        const v = this.versions.get(q('name')!)?.find((x) => x.version === ver);
        return v ? this.send(res, 200, { model_version: { ...this.view(v), aliases: [q('alias')] } })
          // Real MLflow 3.9.0: 400, not 404, for an unknown alias (and an unknown model name).
          : this.error(res, 400, 'INVALID_PARAMETER_VALUE', `Registered model alias ${q('alias')} not found.`);
      }
      default:
        return this.invalid(res, `endpoint not in MLflow's REST API: ${ep}`);
    }
  }

  /** Adds a version as an MLflow 3 Python client registers it: source `models:/m-<id>`. */
  addLoggedModelVersion(name: string, files: Map<string, Buffer>, experimentId: string): Version {
    const id = `m-${++this.ids}abc`;
    const location = `mlflow-artifacts:/${experimentId}/models/${id}/artifacts`;
    this.loggedModels.set(id, location);
    for (const [f, b] of files) this.artifacts.set(`${experimentId}/models/${id}/artifacts/${f}`, b);
    this.models.add(name);
    const list = this.versions.get(name) ?? [];
    const v: Version = { name, version: String(list.length + 1), source: `models:/${id}`, status: 'READY', gets: 2 };
    list.push(v);
    this.versions.set(name, list);
    return v;
  }

  // As MLflow resolves a version's source for get-download-uri.
  private downloadUri(source: string): string | undefined {
    let m = /^models:\/(m-[^/]+)$/.exec(source);
    if (m) return this.loggedModels.get(m[1]);
    m = /^runs:\/([^/]+)\/(.+)$/.exec(source);
    if (m) return this.runs.has(m[1]) ? `${this.runs.get(m[1])!.info.artifact_uri}/${m[2]}` : undefined;
    return source;
  }

  // The proxy lists one level, with basenames (mlflow/server/handlers.py).
  private listArtifacts(dir: string) {
    const prefix = dir === '' ? '' : `${dir.replace(/\/+$/, '')}/`;
    const entries = new Map<string, { is_dir: boolean; file_size?: number }>();
    for (const [key, b] of this.artifacts) {
      if (!key.startsWith(prefix)) continue;
      const [head, ...rest] = key.slice(prefix.length).split('/');
      entries.set(head, rest.length ? { is_dir: true } : { is_dir: false, file_size: b.length });
    }
    const files = [...entries].map(([name, e]) => ({ path: name, ...e }));
    return files.length ? { files } : {};
  }

  private view(v: Version) {
    return { name: v.name, version: v.version, source: v.source, run_id: v.run_id, status: v.status, creation_timestamp: 0 };
  }
}

