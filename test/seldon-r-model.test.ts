import {
  DEFAULT_R_SERVING_IMAGE, ENV, MinioStore, MlflowServer, PATHS, R_ENTRYPOINTS, R_MODEL_HTTP_PORT, R_MODEL_PORT_NAME, RTrainingJob,
  PayloadLogging, SELDON_EXECUTOR_HTTP_PORT, SeldonRModel,
} from '../lib';
import { DNS_RULE, NS, containers, envOf, expectMountsResolve, expectRestricted, find, fixtureScript, newChart, synthValid } from './constructs-support';

function setup() {
  const chart = newChart();
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio') });
  const train = new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: fixtureScript(), registeredModelName: 'iris' });
  return { chart, mlflow, train };
}

function predictor(out: any[], name = 'iris') {
  return find(out, 'SeldonDeployment', name).spec.predictors[0];
}

describe('SeldonRModel', () => {
  test('default snapshot', () => {
    const { chart, mlflow, train } = setup();
    new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow });
    expect(find(synthValid(chart), 'SeldonDeployment', 'iris')).toMatchSnapshot();
  });

  test('variant snapshot: port 9001, replicas, predictor name, extra container, file:// model', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/iris', modelVolume: { claimName: 'models' },
      httpPort: 9001,
      replicas: 3,
      predictorName: 'main',
      maxRequestBytes: 1048576,
      extraContainers: [{ name: 'stats', image: 'docker.io/prom/statsd-exporter:v0.28.0', ports: [{ name: 'stats', containerPort: 9102 }] }],
    });
    expect(find(synthValid(chart), 'SeldonDeployment', 'iris')).toMatchSnapshot();
  });

  test('predictor "default", R container with port http = 9000, graph node paired by name', () => {
    const { chart, mlflow, train } = setup();
    new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow, replicas: 2 });
    const p = predictor(synthValid(chart));
    expect(p.name).toBe('default');
    expect(p.replicas).toBe(2);
    const c = p.componentSpecs[0].spec.containers[0];
    expect(c.image).toBe(DEFAULT_R_SERVING_IMAGE);
    expect(c.ports).toEqual([
      { name: R_MODEL_PORT_NAME, containerPort: R_MODEL_HTTP_PORT, protocol: 'TCP' },
      { name: 'metrics', containerPort: 6000, protocol: 'TCP' },
    ]);
    expect(p.graph).toMatchObject({ name: c.name, type: 'MODEL', endpoint: { type: 'REST' } });
  });

  test('env: MODEL_URI from the training job, tracking URI from MLflow; the port is left to the operator', () => {
    const { chart, mlflow, train } = setup();
    new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow });
    const env = envOf(predictor(synthValid(chart)).componentSpecs[0].spec.containers[0]);
    expect(env[ENV.modelUri]).toBe('models:/iris@champion');
    expect(env[ENV.trackingUri]).toBe(mlflow.trackingUri);
    expect(env[ENV.httpPort]).toBeUndefined();
  });

  test('HTTP readiness on /health/status, liveness on /health/ping, on the model port', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, httpPort: 9001 });
    const c = predictor(synthValid(chart)).componentSpecs[0].spec.containers[0];
    expect(c.readinessProbe.httpGet).toEqual({ path: PATHS.healthStatus, port: 9001 });
    expect(c.livenessProbe.httpGet).toEqual({ path: PATHS.healthPing, port: 9001 });
    expect(c.ports[0]).toEqual({ name: 'http', containerPort: 9001, protocol: 'TCP' });
  });

  test('exposes the Service Seldon creates and the prediction URL', () => {
    const { chart, mlflow, train } = setup();
    const m = new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow });
    expect(m.serviceName).toBe('iris-default');
    expect(m.servicePort).toBe(SELDON_EXECUTOR_HTTP_PORT);
    expect(m.predictionsPath).toBe('/api/v1.0/predictions');
    expect(m.predictionsUrl).toBe(`http://iris-default.${NS}.svc:8000/api/v1.0/predictions`);
    expect(m.modelUri).toBe(train.model.uri);
  });

  test('model pods are admitted by the MLflow NetworkPolicy through their labels', () => {
    const { chart, mlflow, train } = setup();
    new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow });
    const out = synthValid(chart);
    const podLabels = predictor(out).componentSpecs[0].metadata.labels;
    const peers = find(out, 'NetworkPolicy', 'mlflow').spec.ingress[0].from.map((f: any) => f.podSelector.matchLabels);
    expect(peers.some((sel: any) => Object.entries(sel).every(([k, v]) => podLabels[k] === v))).toBe(true);
  });

  test('the operator\'s Deployment is `<sdep>-<predictor>-0-model` whatever the sidecars: componentSpecs[0].metadata.name is the model container\'s', () => {
    // Seldon 1.17.1 (GetDeploymentName) joins every container's name unless the componentSpec
    // names itself; the payload sink made it iris-default-0-model-payload-sink on the real node.
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      extraContainers: [{ name: 'sidecar', image: 'docker.io/library/busybox:1.37.0' }],
    });
    const sdep = synthValid(chart).find((o: any) => o.kind === 'SeldonDeployment');
    for (const p of sdep.spec.predictors) {
      expect(p.componentSpecs[0].spec.containers.map((c: any) => c.name)).toEqual(['model', 'sidecar']);
      expect(p.componentSpecs[0].metadata.name).toBe('model');
    }
  });

  test('extra containers get the restricted defaults; every container is restricted', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      extraContainers: [{ name: 'sidecar', image: 'docker.io/library/busybox:1.37.0', ports: [{ name: 'stats', containerPort: 9102 }] }],
    });
    const out = synthValid(chart);
    const all = containers(out);
    expect(all.map((c) => c.container.name)).toEqual(['model', 'sidecar']);
    for (const { owner, container, pod } of all) {
      expectRestricted(owner, container, pod);
      expectMountsResolve(container, pod);
    }
    const p = predictor(out);
    expect(p.svcOrchSpec.resources.limits.memory).toBeDefined();
  });

  test('every container carries the complete restricted context itself (the operator replaces the pod-level one)', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      runAsUser: 10001,
      extraContainers: [
        { name: 'plain', image: 'docker.io/library/busybox:1.37.0' },
        // A sidecar that sets only its uid and one flag keeps every other restricted field.
        { name: 'own-uid', image: 'docker.io/library/busybox:1.37.0', securityContext: { runAsUser: 2000, readOnlyRootFilesystem: true } },
      ],
    });
    const spec = predictor(synthValid(chart)).componentSpecs[0].spec;
    const complete = (uid: number) => ({
      runAsNonRoot: true,
      runAsUser: uid,
      runAsGroup: uid,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(spec.containers.map((c: any) => [c.name, c.securityContext])).toEqual([
      ['model', complete(10001)],
      ['plain', complete(10001)],
      ['own-uid', complete(2000)],
    ]);
    // The pod-level context is advisory and carries nothing that only it could provide.
    expect(spec.securityContext.fsGroup).toBeUndefined();
  });

  test('scratch: /tmp emptyDir of 1Gi by default, requested as ephemeral-storage by the model container', () => {
    for (const [props, size] of [[{}, '1Gi'], [{ scratchSize: '3Gi' }, '3Gi']] as const) {
      const chart = newChart();
      new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, ...props });
      const spec = predictor(synthValid(chart)).componentSpecs[0].spec;
      expect(spec.volumes[0]).toEqual({ name: 'tmp', emptyDir: { sizeLimit: size } });
      expect(spec.containers[0].resources.requests['ephemeral-storage']).toBe(size);
    }
  });

  test('resources: a limit alone never leaves the default request above it (model and executor)', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      resources: { memoryLimit: '256Mi', cpuLimit: '50m' },
      executorResources: { memoryLimit: '64Mi' },
    });
    const p = predictor(synthValid(chart));
    expect(p.componentSpecs[0].spec.containers[0].resources).toEqual({
      requests: { cpu: '50m', memory: '256Mi', 'ephemeral-storage': '1Gi' },
      limits: { cpu: '50m', memory: '256Mi' },
    });
    expect(p.svcOrchSpec.resources).toEqual({ requests: { cpu: '25m', memory: '64Mi' }, limits: { memory: '64Mi' } });
  });

  test('extra containers may use 9001/9501/6001: the operator assigns ports to graph-node containers only', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      extraContainers: [{ name: 'exporter', image: 'docker.io/prom/statsd-exporter:v0.28.0', ports: [
        { name: 'stats', containerPort: 9001 }, { name: 'stats-grpc', containerPort: 9501 }, { name: 'stats-m', containerPort: 6001 },
      ] }],
    });
    expect(predictor(synthValid(chart)).componentSpecs[0].spec.containers[1].ports.map((p: any) => p.containerPort)).toEqual([9001, 9501, 6001]);
  });

  test('command: Rscript /opt/rmlops/serve.R by default; the command and args props replace it', () => {
    const byDefault = newChart();
    new SeldonRModel(byDefault, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' } });
    const model = (objs: any[]) => find(objs, 'SeldonDeployment', 'iris').spec.predictors[0].componentSpecs[0].spec.containers[0];
    expect(model(synthValid(byDefault)).command).toEqual(['Rscript', R_ENTRYPOINTS.serve]);
    expect(R_ENTRYPOINTS.serve).toBe('/opt/rmlops/serve.R');
    expect(model(synthValid(byDefault)).args).toBeUndefined();
    const custom = newChart();
    new SeldonRModel(custom, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, command: ['Rscript', '/app/serve.R'], args: ['--quiet'] });
    expect(model(synthValid(custom)).command).toEqual(['Rscript', '/app/serve.R']);
    expect(model(synthValid(custom)).args).toEqual(['--quiet']);
  });

  test('protocol: "seldon" by default; "v2" sets spec.protocol and the OIP probe paths', () => {
    const byDefault = newChart();
    new SeldonRModel(byDefault, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' } });
    const sdep = find(synthValid(byDefault), 'SeldonDeployment', 'iris');
    expect(sdep.spec.protocol).toBe('seldon');
    const v2 = newChart();
    new SeldonRModel(v2, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' }, protocol: 'v2' });
    const out = find(synthValid(v2), 'SeldonDeployment', 'iris');
    expect(out.spec.protocol).toBe('v2');
    const c = out.spec.predictors[0].componentSpecs[0].spec.containers[0];
    expect(c.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port: R_MODEL_HTTP_PORT });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/v2/health/live', port: R_MODEL_HTTP_PORT });
    // The executor calls /v2/models/<graph node>/infer, and the operator sets PREDICTIVE_UNIT_ID
    // to the container's name: the node and the container must keep the same name.
    expect(out.spec.predictors[0].graph.name).toBe(c.name);
  });

  test('metrics: the port named metrics (6000, the operator\'s) is declared on the model container; its env is left to the operator', () => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'models' } });
    const c = predictor(synthValid(chart)).componentSpecs[0].spec.containers[0];
    expect(c.ports).toContainEqual({ name: 'metrics', containerPort: 6000, protocol: 'TCP' });
    const env = envOf(c);
    expect(env[ENV.metricsPort]).toBeUndefined();
    expect(env[ENV.metricsEndpoint]).toBeUndefined();
  });

  test.each([
    [undefined, '1'], ['250m', '1'], ['1', '1'], ['1500m', '2'], ['2', '2'], ['3.2', '4'], ['200', '64'],
  ])('workers: cpu request %s gives %s worker process(es)', (cpu, workers) => {
    const chart = newChart();
    new SeldonRModel(chart, 'iris', {
      model: 'file:///models/m', modelVolume: { claimName: 'models' },
      resources: cpu === undefined ? undefined : { cpuRequest: cpu, memoryRequest: '512Mi', memoryLimit: '1Gi' },
    });
    expect(envOf(predictor(synthValid(chart)).componentSpecs[0].spec.containers[0])[ENV.workers]).toBe(workers);
  });
});


/**
 * A NetworkPolicy evaluated as Kubernetes enforces it (numeric ports; podSelector and
 * namespaceSelector peers; policies selecting the pod are ORed; no policy: everything admitted).
 */
function admits(policies: any[], pod: { ns: string; labels: Record<string, string> }, port: number, from: { ns: string; labels: Record<string, string>; nsLabels?: Record<string, string> }): boolean {
  const matches = (sel: any, labels: Record<string, string>) => Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const applying = policies.filter((p) => p.metadata.namespace === pod.ns && matches(p.spec.podSelector, pod.labels) && p.spec.policyTypes.includes('Ingress'));
  if (applying.length === 0) return true;
  const nsLabels = { 'kubernetes.io/metadata.name': from.ns, ...(from.nsLabels ?? {}) };
  return applying.some((p) => (p.spec.ingress ?? []).some((rule: any) => {
    expect(rule.ports.every((p2: any) => typeof p2.port === 'number')).toBe(true);
    const portOk = rule.ports.some((p2: any) => p2.port === port && (p2.protocol ?? 'TCP') === 'TCP');
    const peerOk = rule.from.some((peer: any) => {
      if (peer.namespaceSelector) return matches(peer.namespaceSelector, nsLabels) && (!peer.podSelector || matches(peer.podSelector, from.labels));
      return from.ns === pod.ns && matches(peer.podSelector, from.labels);
    });
    return portOk && peerOk;
  }));
}

describe('SeldonRModel NetworkPolicy: only the executor, never the model directly', () => {
  // What the operator makes of a predictor pod: our componentSpecs labels plus its own.
  const podOf = (sdep: any, i: number) => ({
    ns: sdep.metadata.namespace,
    labels: { ...sdep.spec.predictors[i].componentSpecs[0].metadata.labels, 'seldon-deployment-id': sdep.metadata.name, app: `x-${i}` },
  });

  test('8000 from labelled clients, 8000 and 6000 from monitoring; 9000, 9500 and 5001 from nowhere; an unlabelled pod or another namespace is refused; Istio\'s gateway reaches 8000 only', () => {
    const { chart, mlflow, train } = setup();
    const m = new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow, canary: { model: 'models:/iris@challenger', traffic: 10 }, ingress: 'istio' });
    const out = synthValid(chart);
    const sdep = find(out, 'SeldonDeployment', 'iris');
    const policies = out.filter((o: any) => o.kind === 'NetworkPolicy');
    const np = find(out, 'NetworkPolicy', 'iris');
    expect(np.spec.podSelector).toEqual({ matchLabels: m.podSelector });
    expect(m.networkPolicy.name).toBe('iris');
    // Numbers only: the pod has two ports named http (8000, 9000), metrics (8000, 6000) and grpc (5001, 9500).
    expect(np.spec.ingress.flatMap((r: any) => r.ports)).toEqual([
      { protocol: 'TCP', port: 8000 }, { protocol: 'TCP', port: 8000 }, { protocol: 'TCP', port: 6000 },
    ]);
    expect(m.clientLabels).toEqual({ 'client.rmlops.io/iris': 'true' });
    const neighbour: { ns: string; labels: Record<string, string> } = { ns: NS, labels: { app: 'client' } };
    const client = { ns: NS, labels: { app: 'client', 'client.rmlops.io/iris': 'true' } };
    const otherModelsClient = { ns: NS, labels: { 'client.rmlops.io/mtcars': 'true' } };
    const stranger = { ns: 'team-b', labels: { app: 'client', 'client.rmlops.io/iris': 'true' } };
    const gateway = { ns: 'istio-system', labels: { istio: 'ingressgateway' } };
    const prometheus = { ns: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } };
    for (const i of [0, 1]) {
      const pod = podOf(sdep, i);
      const at = (from: typeof neighbour) => [8000, 5001, 9000, 9500, 6000].filter((port) => admits(policies, pod, port, from));
      expect({ predictor: i, neighbour: at(neighbour), client: at(client), other: at(otherModelsClient), stranger: at(stranger), gateway: at(gateway), prometheus: at(prometheus) })
        .toEqual({ predictor: i, neighbour: [], client: [8000], other: [], stranger: [], gateway: [8000], prometheus: [8000, 6000] });
    }
    // Out: the DNS and MLflow's pods on 5000 only (no payload logging, so no S3).
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.egress).toEqual([DNS_RULE, { to: [{ podSelector: { matchLabels: mlflow.podSelector } }], ports: [{ protocol: 'TCP', port: 5000 }] }]);
  });

  test('`clients` and `scrapers` replace the namespace: only those pods, in their namespaces; [] admits nobody', () => {
    const { chart, mlflow, train } = setup();
    new SeldonRModel(chart, 'iris', {
      model: train.model, tracking: mlflow,
      // The training pods stand for a client in the namespace (the validator wants a same-namespace
      // selector to match a pod of the app).
      clients: [{ podLabels: train.podSelector }, { podLabels: {}, namespace: 'web' }],
      scrapers: [{ podLabels: { 'app.kubernetes.io/name': 'prometheus' }, namespace: 'monitoring' }],
    });
    const out = synthValid(chart);
    const policies = out.filter((o: any) => o.kind === 'NetworkPolicy');
    const pod = podOf(find(out, 'SeldonDeployment', 'iris'), 0);
    const ports = (from: { ns: string; labels: Record<string, string> }) => [8000, 9000, 6000].filter((port) => admits(policies, pod, port, from));
    expect(ports({ ns: NS, labels: train.podSelector })).toEqual([8000]);
    expect(ports({ ns: NS, labels: { app: 'other' } })).toEqual([]);
    expect(ports({ ns: 'web', labels: {} })).toEqual([8000]);
    expect(ports({ ns: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } })).toEqual([8000, 6000]);

    const closed = setup();
    new SeldonRModel(closed.chart, 'iris', { model: closed.train.model, tracking: closed.mlflow, clients: [], scrapers: [] });
    expect(find(synthValid(closed.chart), 'NetworkPolicy', 'iris').spec).toMatchObject({ policyTypes: ['Ingress', 'Egress'], ingress: [] });
  });

  test('`ingressNamespaces` admits the ingress controller\'s namespace to 8000; payload logging opens 9102 to the scrapers and egress to the store\'s S3 port', () => {
    const { chart, mlflow, train } = setup();
    const minio = new MinioStore(chart, 'store');
    new SeldonRModel(chart, 'iris', { model: train.model, tracking: mlflow, ingressNamespaces: ['ingress-nginx'], payloadLogging: PayloadLogging.toBucket(minio) });
    const out = synthValid(chart);
    const policies = out.filter((o: any) => o.kind === 'NetworkPolicy');
    const pod = podOf(find(out, 'SeldonDeployment', 'iris'), 0);
    const ports = (from: { ns: string; labels: Record<string, string> }) => [8000, 9000, 6000, 9102].filter((port) => admits(policies, pod, port, from));
    expect(ports({ ns: 'ingress-nginx', labels: { app: 'controller' } })).toEqual([8000]);
    expect(ports({ ns: 'monitoring', labels: {} })).toEqual([8000, 6000, 9102]);
    const np = find(out, 'NetworkPolicy', 'iris');
    expect(np.spec.egress).toContainEqual({ to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'store', 'app.kubernetes.io/instance': 'store' } } }], ports: [{ protocol: 'TCP', port: 9000 }] });
    // And the store admits the model pods.
    expect(find(out, 'NetworkPolicy', 'store').spec.ingress[0].from).toContainEqual({ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'r-model', 'app.kubernetes.io/instance': 'iris' } } });
  });
});
