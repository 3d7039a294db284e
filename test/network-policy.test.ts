// Secure network by default (issue 21 §6, docs/network.md): every namespace the example apps
// create has a default deny, each workload's NetworkPolicy allows exactly what it is wired to, in
// both directions, written as Kubernetes enforces them (pod selectors and container ports, the
// API server by its endpoint); nothing that was reachable before is cut off; and the validator
// reports a wired dependency the policies block.
import { App, Chart } from 'cdk8s';
import {
  ExternalS3Bucket, KServeRModel, MinioStore, MlflowServer, ModelPromotion, NamespaceIsolation, PayloadLogging, RTrainingJob,
  RmlopsDefaults, SeldonRModel, constructWarnings, manifestWarnings, orderedManifests, validateApp, validateManifests,
} from '../lib';
import { CREDIT_NAMESPACE, PLATFORM_MLFLOW } from '../examples/credit/app';
import { buildApp, KSERVE_NAMESPACE, NAMESPACE, TARGETS } from '../main';
import { DNS_RULE, NS, find, fixtureScript, newChart, synthValid } from './constructs-support';
import { Peer, allows, connects, podsOf } from './support/netpol';

const byName = (ns: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': ns } });
const pods = (labels: Record<string, string>) => ({ podSelector: { matchLabels: labels } });
const nsPods = (ns: string, labels: Record<string, string>) => ({ namespaceSelector: byName(ns), podSelector: { matchLabels: labels } });
const tcp = (...ports: number[]) => ports.map((port) => ({ protocol: 'TCP', port }));
const sel = (name: string, instance: string) => ({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/instance': instance });
const policiesOf = (objects: any[]) => objects.filter((o) => o.kind === 'NetworkPolicy');
/** name -> { podSelector, policyTypes, ingress, egress }, namespace checked. */
function table(objects: any[], ns: string): Record<string, any> {
  return Object.fromEntries(policiesOf(objects).map((np) => {
    expect(np.metadata.namespace).toBe(ns);
    return [np.metadata.name, np.spec];
  }));
}
const workload = (podSelector: Record<string, string>, ingress: any[], egress: any[]) => ({
  podSelector: { matchLabels: podSelector }, policyTypes: ['Ingress', 'Egress'], ingress, egress,
});
const DEFAULT_DENY = { podSelector: {}, policyTypes: ['Ingress', 'Egress'] };
const API_SERVER = { to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: tcp(6443) };
/** The egress of a model's labelled clients: DNS and the model pods' port, Egress only. */
const clientsOf = (model: string, port: number) => ({
  podSelector: { matchLabels: { [`client.rmlops.io/${model}`]: 'true' } }, policyTypes: ['Egress'],
  egress: [DNS_RULE, { to: [pods(sel('r-model', model))], ports: tcp(port) }],
});

/**
 * Every dependency a pod is wired to by a URL in its environment (the tracking URI, the S3
 * endpoints), resolved to the server pods the Service selects and the target port it leads to.
 */
function wiredPairs(objects: any[]): { client: string; server: string; port: number }[] {
  const all = podsOf(objects);
  const services = objects.filter((o) => o.kind === 'Service');
  const out: { client: string; server: string; port: number }[] = [];
  for (const p of all) {
    for (const c of p.spec.containers) {
      for (const e of c.env ?? []) {
        const m = /^https?:\/\/([a-z0-9-]+)(?:\.([a-z0-9-]+)(?:\.svc)?)?:(\d+)/.exec(e.value ?? '');
        const svc = m && services.find((s) => s.metadata.name === m[1] && s.metadata.namespace === (m[2] ?? p.ns));
        if (!m || !svc) continue;
        const sp = svc.spec.ports.find((x: any) => x.port === Number(m[3]));
        for (const s of all.filter((x) => x.ns === svc.metadata.namespace && Object.entries(svc.spec.selector).every(([k, v]) => x.labels[k] === v))) {
          const named = s.spec.containers.flatMap((x: any) => x.ports ?? []).find((x: any) => x.name === sp.targetPort);
          out.push({ client: p.who, server: s.who, port: typeof sp.targetPort === 'number' ? sp.targetPort : named.containerPort });
        }
      }
    }
  }
  return out;
}

describe('the example app (dist/): default deny, and exactly the wired allows', () => {
  const objects = orderedManifests(buildApp()).map((m) => m.object);
  const policies = policiesOf(objects);
  const podByWho = Object.fromEntries(podsOf(objects).map((p) => [p.who, p]));
  const peer = (who: string): Peer => ({ ns: podByWho[who].ns, labels: podByWho[who].labels });

  test('the exact policies: selectors, ports, namespaces', () => {
    const training = (instance: string) => workload(sel('r-training', instance), [], [DNS_RULE, { to: [pods(sel('mlflow', 'mlflow'))], ports: tcp(5000) }]);
    // Both models log payloads: their sink (9102 scraped) uploads to MinIO.
    const model = (instance: string, ingressNamespaces: string[]) => workload(sel('r-model', instance), [
      { from: [pods({ [`client.rmlops.io/${instance}`]: 'true' }), ...ingressNamespaces.map((n) => ({ namespaceSelector: byName(n) }))], ports: tcp(8000) },
      { from: [nsPods('monitoring', {})], ports: tcp(8000, 6000, 9102) },
    ], [DNS_RULE, { to: [pods(sel('mlflow', 'mlflow'))], ports: tcp(5000) }, { to: [pods(sel('minio', 'minio'))], ports: tcp(9000) }]);
    // The drift monitors: mc to MinIO, R to MLflow; no ingress.
    const monitor = (instance: string) => workload(sel('r-monitor', instance), [],
      [DNS_RULE, { to: [pods(sel('minio', 'minio'))], ports: tcp(9000) }, { to: [pods(sel('mlflow', 'mlflow'))], ports: tcp(5000) }]);
    expect(table(objects, NAMESPACE)).toEqual({
      'default-deny': DEFAULT_DENY,
      minio: workload(sel('minio', 'minio'), [
        { from: [
          pods(sel('minio-provisioner', 'minio-provision')), pods(sel('mlflow', 'mlflow')), pods(sel('r-model', 'iris')), pods(sel('r-monitor', 'iris-monitor')),
          pods(sel('r-model', 'mtcars')), pods(sel('r-monitor', 'mtcars-monitor')),
        ], ports: tcp(9000) },
      ], [DNS_RULE]),
      'minio-provision': workload(sel('minio-provisioner', 'minio-provision'), [], [DNS_RULE, { to: [pods(sel('minio', 'minio'))], ports: tcp(9000) }]),
      mlflow: workload(sel('mlflow', 'mlflow'), [{
        from: [
          pods(sel('r-training', 'iris-train')), pods(sel('r-training', 'iris-challenger-train')), pods(sel('r-model', 'iris')),
          pods(sel('r-monitor', 'iris-monitor')), pods(sel('r-promotion', 'iris-promote')), pods(sel('r-training', 'mtcars-train')),
          pods(sel('r-model', 'mtcars')), pods(sel('r-monitor', 'mtcars-monitor')),
        ],
        ports: tcp(5000),
      }], [DNS_RULE, { to: [pods(sel('minio', 'minio'))], ports: tcp(9000) }]),
      'iris-train': training('iris-train'),
      'iris-challenger-train': training('iris-challenger-train'),
      'mtcars-train': training('mtcars-train'),
      // iris is served through Istio (ingress: "istio"): its gateway's namespace reaches 8000.
      iris: model('iris', ['istio-system']),
      'iris-clients': clientsOf('iris', 8000),
      mtcars: model('mtcars', []),
      'mtcars-clients': clientsOf('mtcars', 8000),
      'iris-monitor': monitor('iris-monitor'),
      'mtcars-monitor': monitor('mtcars-monitor'),
      'iris-promote': workload(sel('r-promotion', 'iris-promote'), [], [DNS_RULE, { to: [pods(sel('mlflow', 'mlflow'))], ports: tcp(5000) }, API_SERVER]),
    });
  });

  test('every pod is isolated in both directions by the default deny and by its own policy', () => {
    for (const p of podsOf(objects)) {
      // (The clients' policies select the user's labelled pods, none of these.)
      const selecting = policies.filter((np) => Object.entries(np.spec.podSelector.matchLabels ?? {}).every(([k, v]) => p.labels[k] === v)).map((np) => np.metadata.name);
      expect({ pod: p.who, n: selecting.length, deny: selecting.includes('default-deny') }).toEqual({ pod: p.who, n: 2, deny: true });
    }
  });

  test('nothing reachable before is cut off: every wired pair has an egress and an ingress allow, and every pod resolves names', () => {
    const pairs = wiredPairs(objects);
    // The wiring, found from the manifests themselves (the URLs in the environment).
    expect(pairs.map((p) => `${p.client} -> ${p.server}:${p.port}`).sort()).toEqual([
      'CronJob/iris-challenger-train -> Deployment/mlflow:5000',
      'CronJob/iris-monitor -> Deployment/minio:9000',
      'CronJob/iris-promote -> Deployment/mlflow:5000',
      'CronJob/mtcars-monitor -> Deployment/minio:9000',
      'Deployment/mlflow -> Deployment/minio:9000',
      'Job/iris-train -> Deployment/mlflow:5000',
      'Job/minio-provision -> Deployment/minio:9000',
      'Job/mtcars-train -> Deployment/mlflow:5000',
      'SeldonDeployment/iris/canary -> Deployment/minio:9000',
      'SeldonDeployment/iris/canary -> Deployment/mlflow:5000',
      'SeldonDeployment/iris/default -> Deployment/minio:9000',
      'SeldonDeployment/iris/default -> Deployment/mlflow:5000',
      'SeldonDeployment/mtcars/default -> Deployment/minio:9000',
      'SeldonDeployment/mtcars/default -> Deployment/mlflow:5000',
    ]);
    for (const p of pairs) {
      const c = peer(p.client);
      const s = peer(p.server);
      expect({ ...p, egress: allows(policies, c, 'Egress', s, p.port), ingress: allows(policies, s, 'Ingress', c, p.port) })
        .toEqual({ ...p, egress: true, ingress: true });
    }
    const dns: Peer = { ns: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };
    for (const who of Object.keys(podByWho)) {
      expect({ who, udp: allows(policies, peer(who), 'Egress', dns, 53, 'UDP'), tcp: allows(policies, peer(who), 'Egress', dns, 53) })
        .toEqual({ who, udp: true, tcp: true });
    }
    // The promotion reaches the API server's endpoint (after the kubernetes Service's DNAT).
    expect(allows(policies, peer('CronJob/iris-promote'), 'Egress', { ip: '192.168.49.2' }, 6443)).toBe(true);
    expect(allows(policies, peer('CronJob/iris-promote'), 'Egress', { ip: '10.96.0.1' }, 443)).toBe(false);
  });

  test('what stays closed: the model ports to unlabelled pods, the namespace\'s other pods, other namespaces, other ports', () => {
    const model = peer('SeldonDeployment/iris/default');
    const unlabelled: Peer = { ns: NAMESPACE, labels: { app: 'debug' } };
    const labelled: Peer = { ns: NAMESPACE, labels: { app: 'debug', 'client.rmlops.io/iris': 'true' } };
    const elsewhere: Peer = { ns: 'team-b', labels: { 'client.rmlops.io/iris': 'true' } };
    const scraper: Peer = { ns: 'monitoring', labels: { app: 'prometheus' } };
    const reach = (from: Peer) => [8000, 5001, 9000, 9500, 6000].filter((port) => connects(policies, from, model, port));
    expect({ unlabelled: reach(unlabelled), labelled: reach(labelled), elsewhere: reach(elsewhere), scraper: reach(scraper) })
      .toEqual({ unlabelled: [], labelled: [8000], elsewhere: [], scraper: [8000, 6000] });
    // The labelled client's egress (it is isolated by the default deny too) reaches the model's
    // 8000 and DNS, nothing else: not the model's 9000, not MLflow, not the other model.
    expect(allows(policies, labelled, 'Egress', model, 8000)).toBe(true);
    expect(allows(policies, labelled, 'Egress', model, 9000)).toBe(false);
    expect(allows(policies, labelled, 'Egress', peer('Deployment/mlflow'), 5000)).toBe(false);
    expect(allows(policies, labelled, 'Egress', peer('SeldonDeployment/mtcars/default'), 8000)).toBe(false);
    expect(allows(policies, unlabelled, 'Egress', model, 8000)).toBe(false);
    // Out of the model pods: not another namespace's pod, not MinIO (no payload logging), not
    // MLflow on another port, not the internet.
    expect(allows(policies, model, 'Egress', { ns: 'team-b', labels: { app: 'x' } }, 5000)).toBe(false);
    // The payload sink reaches MinIO's S3 port, not its console.
    expect(allows(policies, model, 'Egress', peer('Deployment/minio'), 9001)).toBe(false);
    expect(allows(policies, model, 'Egress', peer('Deployment/mlflow'), 9001)).toBe(false);
    expect(allows(policies, model, 'Egress', { ip: '8.8.8.8' }, 443)).toBe(false);
    // Training goes through MLflow's artifact proxy: no S3, and MinIO does not admit it either.
    expect(connects(policies, peer('Job/iris-train'), peer('Deployment/minio'), 9000)).toBe(false);
    // MinIO's console is behind port-forward only; MinIO itself reaches nothing but DNS.
    expect(connects(policies, peer('Deployment/mlflow'), peer('Deployment/minio'), 9001)).toBe(false);
    expect(allows(policies, peer('Deployment/minio'), 'Egress', peer('Deployment/mlflow'), 5000)).toBe(false);
  });

  test('validates, and warns about nothing network-related', () => {
    expect(validateManifests(objects)).toEqual([]);
    expect(manifestWarnings(objects).filter((w) => /NetworkPolic|default-deny/.test(w))).toEqual([]);
  });
});

describe('the credit app (dist-credit/): namespace risk, the platform\'s MLflow in mlops', () => {
  const app = buildApp(TARGETS.credit.outdir, 'credit');
  const objects = orderedManifests(app).map((m) => m.object);
  const policies = policiesOf(objects);

  test('the exact policies: egress to the imported MLflow\'s pods in mlops by namespace name, its target port', () => {
    const mlflow = nsPods(PLATFORM_MLFLOW.namespace, sel('mlflow', PLATFORM_MLFLOW.serviceName));
    expect(table(objects, CREDIT_NAMESPACE)).toEqual({
      'default-deny': DEFAULT_DENY,
      'credit-train': workload(sel('r-training', 'credit-train'), [], [DNS_RULE, { to: [mlflow], ports: tcp(5000) }]),
      credit: workload(sel('r-model', 'credit'), [
        { from: [pods({ 'client.rmlops.io/credit': 'true' })], ports: tcp(8000) },
        { from: [nsPods('monitoring', {})], ports: tcp(8000, 6000) },
      ], [DNS_RULE, { to: [mlflow], ports: tcp(5000) }]),
      'credit-clients': clientsOf('credit', 8000),
    });
  });

  test('the wired pairs reach the platform\'s MLflow, as its own policy (clientNamespaceLabels) admits them', () => {
    // The platform team's MlflowServer, as docs/shared-mlflow.md has it, in its own app.
    const platform = new Chart(new App(), 'platform', { namespace: PLATFORM_MLFLOW.namespace });
    new MlflowServer(platform, PLATFORM_MLFLOW.serviceName, {
      artifactStore: new MinioStore(platform, 'minio'), clientNamespaceLabels: { ...PLATFORM_MLFLOW.clientNamespaceLabels },
    });
    const theirs = platform.toJson();
    const all = [...policies, ...policiesOf(theirs)];
    const server = podsOf(theirs).find((p) => p.who === `Deployment/${PLATFORM_MLFLOW.serviceName}`)!;
    const nsLabels = objects.find((o) => o.kind === 'Namespace').metadata.labels;
    for (const p of podsOf(objects)) {
      const client: Peer = { ns: p.ns, labels: p.labels, nsLabels };
      // (A labelled client of the credit model is a pod of the risk team's, not of this app.)
      expect({ who: p.who, ok: connects(all, client, { ns: server.ns, labels: server.labels }, 5000) }).toEqual({ who: p.who, ok: true });
      expect(allows(all, client, 'Egress', { ns: 'kube-system', labels: { 'k8s-app': 'kube-dns' } }, 53, 'UDP')).toBe(true);
      // Not the platform's MinIO, which only MLflow talks to.
      const minio = podsOf(theirs).find((x) => x.who === 'Deployment/minio')!;
      expect(connects(all, client, { ns: minio.ns, labels: minio.labels }, 9000)).toBe(false);
    }
  });

  test('validates and warns about nothing', () => {
    expect(validateApp(app)).toEqual([]);
    expect(constructWarnings(app)).toEqual([]);
    expect(manifestWarnings(objects)).toEqual([]);
  });
});

describe('the KServe variant (dist-kserve/)', () => {
  const objects = orderedManifests(buildApp(TARGETS.kserve.outdir, 'kserve')).map((m) => m.object);

  test('Serverless: queue-proxy\'s ports from Knative and Istio, autoscaler scrapes from knative-serving; RawDeployment: the model port from labelled clients', () => {
    const t = table(objects, KSERVE_NAMESPACE);
    expect(t['default-deny']).toEqual(DEFAULT_DENY);
    const egress = [DNS_RULE, { to: [pods(sel('mlflow', 'mlflow'))], ports: tcp(5000) }];
    expect(t['iris-predictor']).toEqual(workload(sel('r-model', 'iris'), [
      { from: [pods({ 'client.rmlops.io/iris': 'true' }), { namespaceSelector: byName('knative-serving') }, { namespaceSelector: byName('istio-system') }], ports: tcp(8012, 8013, 8112) },
      { from: [{ namespaceSelector: byName('knative-serving') }], ports: tcp(9090, 8022) },
      { from: [nsPods('monitoring', {})], ports: tcp(6000, 9091, 9088) },
    ], egress));
    expect(t['mtcars-predictor']).toEqual(workload(sel('r-model', 'mtcars'), [
      { from: [pods({ 'client.rmlops.io/mtcars': 'true' })], ports: tcp(8080) },
      { from: [nsPods('monitoring', {})], ports: tcp(6000) },
    ], egress));
    // RawDeployment clients reach the pods' 8080 after the Service's 80 is DNATed; Serverless
    // clients go through the networking layer, so no client policy is written for iris.
    expect(t['mtcars-clients']).toEqual(clientsOf('mtcars', 8080));
    expect(t['iris-clients']).toBeUndefined();
    expect(validateManifests(objects)).toEqual([]);
  });
});

describe('NamespaceIsolation', () => {
  test('the chart\'s namespace, or one given: every pod, both directions, no rule', () => {
    const chart = newChart();
    new NamespaceIsolation(chart, 'isolation');
    new NamespaceIsolation(chart, 'theirs', { namespace: 'shared-tools', name: 'rmlops-default-deny' });
    const out = chart.toJson();
    expect(out.map((o: any) => [o.metadata.namespace, o.metadata.name, o.spec])).toEqual([
      [NS, 'default-deny', DEFAULT_DENY],
      ['shared-tools', 'rmlops-default-deny', DEFAULT_DENY],
    ]);
  });

  test('a bad namespace is refused at synth', () => {
    const app = new App();
    new NamespaceIsolation(new Chart(app, 'c'), 'isolation', { namespace: 'Team_A' });
    expect(() => app.synth()).toThrow(/\[c\/isolation\] namespace = "Team_A": .*Fix:/);
  });

  test('the validator warns about a created Namespace without a default deny, with the fix', () => {
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } };
    expect(manifestWarnings([ns])).toEqual([expect.stringMatching(/^Namespace team-a: metadata\.name: "team-a" has no default-deny NetworkPolicy.*Fix: add `new NamespaceIsolation\(chart, 'isolation'\)`/)]);
    const chart = newChart('team-a');
    new NamespaceIsolation(chart, 'isolation');
    expect(manifestWarnings([ns, ...chart.toJson()])).toEqual([]);
  });
});

describe('egress derived from the wiring', () => {
  test('ExternalS3Bucket: MLflow\'s egress to the endpoint\'s port on any address by default, or the given blocks and port', () => {
    const chart = newChart();
    const wide = new ExternalS3Bucket(chart, 's3', { endpointUrl: 'https://s3.eu-west-1.amazonaws.com', bucket: 'artifacts' });
    new MlflowServer(chart, 'mlflow', { artifactStore: wide });
    expect(find(synthValid(chart), 'NetworkPolicy', 'mlflow').spec.egress).toEqual([DNS_RULE, { to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: tcp(443) }]);

    const narrow = newChart();
    const ceph = new ExternalS3Bucket(narrow, 's3', {
      endpointUrl: 'http://ceph.storage.example.com:7480', bucket: 'artifacts', ipBlocks: [{ cidr: '10.20.0.0/16', except: ['10.20.9.0/24'] }],
    });
    new MlflowServer(narrow, 'mlflow', { artifactStore: ceph });
    expect(find(synthValid(narrow), 'NetworkPolicy', 'mlflow').spec.egress[1]).toEqual({ to: [{ ipBlock: { cidr: '10.20.0.0/16', except: ['10.20.9.0/24'] } }], ports: tcp(7480) });

    const bad = new App();
    new ExternalS3Bucket(new Chart(bad, 'c', { namespace: NS }), 's3', { endpointUrl: 'https://s3.example.com', bucket: 'artifacts', ipBlocks: [{ cidr: '10.0.0.0' }], port: 0 });
    expect(() => bad.synth()).toThrow(/port = 0: is not a port number[\s\S]*ipBlocks\[0\]\.cidr = "10\.0\.0\.0": is not a CIDR/);
  });

  test('an imported MLflow: egress to its pods in its namespace on its target port (after DNAT), not the Service port', () => {
    const chart = newChart();
    const mlflow = MlflowServer.fromAttributes(chart, 'platform', { namespace: 'mlops', port: 80, targetPort: 5000, allowsNamespaceLabels: { 'x.example.com/client': 'true' } });
    new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: fixtureScript() });
    const out = chart.toJson();
    expect(find(out, 'NetworkPolicy', 'train').spec.egress).toEqual([DNS_RULE, { to: [nsPods('mlops', sel('mlflow', 'mlflow'))], ports: tcp(5000) }]);
  });

  test('ModelPromotion: the API server\'s endpoint only when it rolls models; apiServer narrows it', () => {
    const chart = newChart();
    const minio = new MinioStore(chart, 'minio');
    const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
    const champion = new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: fixtureScript(), modelAlias: 'champion' });
    const iris = new SeldonRModel(chart, 'iris', { model: champion.model, tracking: mlflow });
    new ModelPromotion(chart, 'promote', { tracking: mlflow, champion: champion.model, serving: [iris], apiServer: { ipBlocks: [{ cidr: '10.0.0.5/32' }], port: 443 } });
    new ModelPromotion(chart, 'alias-only', { tracking: mlflow, champion: champion.model });
    const out = synthValid(chart);
    const mlflowRule = { to: [pods(sel('mlflow', 'mlflow'))], ports: tcp(5000) };
    expect(find(out, 'NetworkPolicy', 'promote').spec.egress).toEqual([DNS_RULE, mlflowRule, { to: [{ ipBlock: { cidr: '10.0.0.5/32' } }], ports: tcp(443) }]);
    expect(find(out, 'NetworkPolicy', 'alias-only').spec.egress).toEqual([DNS_RULE, mlflowRule]);

    const bad = newChart();
    const m2 = new MlflowServer(bad, 'mlflow', { artifactStore: new MinioStore(bad, 'minio') });
    new ModelPromotion(bad, 'promote', { tracking: m2, champion: { name: 'iris', alias: 'champion' }, apiServer: { port: 6443 } });
    expect(() => synthValid(bad)).toThrow(/apiServer = .*is set without `serving`.*Fix: remove apiServer/);
  });

  test('KServe s3:// storage: egress to the store the storage initializer downloads from, which admits the pods; without artifactStore a warning', () => {
    const chart = newChart();
    const minio = new MinioStore(chart, 'minio');
    new KServeRModel(chart, 'iris', { model: 's3://mlflow-artifacts/iris/model', artifactStore: minio, serviceAccountName: 'kserve-s3' });
    const out = chart.toJson();
    expect(find(out, 'NetworkPolicy', 'iris-predictor').spec.egress).toEqual([DNS_RULE, { to: [pods(sel('minio', 'minio'))], ports: tcp(9000) }]);
    expect(find(out, 'NetworkPolicy', 'minio').spec.ingress[0].from).toContainEqual(pods(sel('r-model', 'iris')));

    const lone = newChart();
    new KServeRModel(lone, 'iris', { model: 's3://mlflow-artifacts/iris/model', serviceAccountName: 'kserve-s3' });
    expect(constructWarnings(lone)).toEqual([expect.stringMatching(/\[test\/iris\] artifactStore = undefined: is not set, so the predictor's NetworkPolicy has no egress .*Fix: pass the MinioStore/)]);
  });

  test('a tracking server that does not say where its pods are: a warning, and no egress rule to guess', () => {
    const chart = newChart();
    const handMade = { trackingUri: 'http://mlflow.elsewhere.svc:5000', allowClient: () => undefined };
    new RTrainingJob(chart, 'train', { tracking: handMade, trainingScript: fixtureScript() });
    expect(find(chart.toJson(), 'NetworkPolicy', 'train').spec.egress).toEqual([DNS_RULE]);
    expect(constructWarnings(chart)).toEqual([expect.stringMatching(/\[test\/train\] tracking = undefined: the tracking server does not say where its pods are.*Fix: give the server an `endpoint`/)]);
  });

  test('RmlopsDefaults dns moves every pod\'s DNS rule (NodeLocal DNSCache, another label)', () => {
    const app = new App();
    RmlopsDefaults.set(app, { dns: { namespace: 'dns', podLabels: { app: 'node-local-dns' }, port: 5353 } });
    const chart = new Chart(app, 'test', { namespace: NS });
    new MinioStore(chart, 'minio');
    expect(find(chart.toJson(), 'NetworkPolicy', 'minio').spec.egress).toEqual([{
      to: [nsPods('dns', { app: 'node-local-dns' })], ports: [{ protocol: 'UDP', port: 5353 }, { protocol: 'TCP', port: 5353 }],
    }]);
    expect(() => RmlopsDefaults.set(new App(), { dns: { podLabels: {} } })).toThrow(/dns\.podLabels = \{\}: is empty.*Fix:/);
  });

  test('payload logging to another namespace\'s MinIO: egress by namespace name, and that MinIO admits the model pods by it', () => {
    const app = new App();
    const store = new Chart(app, 'store', { namespace: 'storage' });
    const minio = new MinioStore(store, 'minio');
    const chart = new Chart(app, 'models', { namespace: 'models' });
    const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: minio });
    new SeldonRModel(chart, 'iris', { model: 'models:/iris@champion', tracking: mlflow, payloadLogging: PayloadLogging.toBucket(minio) });
    const objects = [...store.toJson(), ...chart.toJson()];
    const model = podsOf(objects).find((p) => p.who === 'SeldonDeployment/iris/default')!;
    const server = podsOf(objects).find((p) => p.who === 'Deployment/minio')!;
    expect(connects(policiesOf(objects), { ns: 'models', labels: model.labels }, { ns: 'storage', labels: server.labels }, 9000)).toBe(true);
    expect(find(objects, 'NetworkPolicy', 'iris').spec.egress).toContainEqual({ to: [nsPods('storage', sel('minio', 'minio'))], ports: tcp(9000) });
  });
});

describe('the validator: a wired dependency the policies block is an error with a fix', () => {
  const base = () => orderedManifests(buildApp()).map((m) => JSON.parse(JSON.stringify(m.object)));

  test('a hand-written client of MLflow under the default deny: no egress, and MLflow does not admit it', () => {
    const objects = base();
    objects.push({
      apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'report', namespace: NAMESPACE },
      spec: { template: { metadata: { labels: { app: 'report' } }, spec: { restartPolicy: 'Never', containers: [{ name: 'r', image: 'r:1', env: [{ name: 'MLFLOW_TRACKING_URI', value: `http://mlflow.${NAMESPACE}.svc:5000` }] }] } } },
    });
    const errors = validateManifests(objects, { security: false });
    expect(errors).toEqual([
      expect.stringMatching(/^Job rmlops-iris\/report: spec\.template\.spec\.containers\[0\]\.env\[0\]\.value: MLFLOW_TRACKING_URI = .*cannot resolve mlflow\.rmlops-iris\.svc: .*port 53\/UDP\. Fix: /),
      expect.stringMatching(/cannot reach Service mlflow's pods \(Deployment rmlops-iris\/mlflow, target port 5000\): no egress rule of the NetworkPolicies isolating them \(default-deny\) allows it\. Fix: wire the client/),
      expect.stringMatching(/Deployment rmlops-iris\/mlflow's pods do not admit these pods on target port 5000: no ingress rule of the NetworkPolicies isolating them \(default-deny, mlflow\) matches.*Fix: wire the client to the server by reference/),
    ]);
  });

  test('a policy edited by hand: MLflow\'s egress to MinIO removed, a training Job\'s DNS removed', () => {
    const objects = base();
    find(objects, 'NetworkPolicy', 'mlflow').spec.egress = [DNS_RULE];
    find(objects, 'NetworkPolicy', 'mtcars-train').spec.egress.shift();
    const errors = validateManifests(objects);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^Deployment rmlops-iris\/mlflow: .*MLFLOW_S3_ENDPOINT_URL = "http:\/\/minio\.rmlops-iris\.svc:9000": the pods cannot reach Service minio's pods .*target port 9000.*\(default-deny, mlflow\)/);
    expect(errors[1]).toMatch(/^Job rmlops-iris\/mtcars-train: .*MLFLOW_TRACKING_URI = .*cannot resolve/);
  });

  test('MinIO no longer admitting MLflow is caught on the server side', () => {
    const objects = base();
    const np = find(objects, 'NetworkPolicy', 'minio');
    np.spec.ingress[0].from = np.spec.ingress[0].from.filter((f: any) => f.podSelector.matchLabels['app.kubernetes.io/name'] !== 'mlflow');
    expect(validateManifests(objects)).toEqual([expect.stringMatching(/^Deployment rmlops-iris\/mlflow: .*Deployment rmlops-iris\/minio's pods do not admit these pods on target port 9000/)]);
  });

  test('without any NetworkPolicy nothing is isolated, so nothing is reported', () => {
    const objects = base().filter((o) => o.kind !== 'NetworkPolicy');
    expect(validateManifests(objects)).toEqual([]);
  });
});
