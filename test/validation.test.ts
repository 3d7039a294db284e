/**
 * Tests of the manifest validator itself (good manifests pass, each rule can fail), then the
 * validator applied to what the project emits: dist/ and the app built in-process.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { SELDON_EXECUTOR_HTTP_PORT, SELDON_EXECUTOR_GRPC_PORT } from '../lib/contract';
import {
  apiRuleErrors, imageProblem, loadManifestDir, SELDON_CRD_PATH, schemaErrors, securityErrors,
  validateManifests,
} from './support/validate';
import { parseQuantity } from '../lib/k8s-names';
import { buildApp } from '../main';

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const IN_CI = process.env.CI === 'true';
// The SeldonDeployment schema is generated into imports/ (scripts/gen-crd-schema.js), so its
// checks run everywhere; only the drift check against the CRD itself needs ../shared/crds.
const crdPresent = fs.existsSync(SELDON_CRD_PATH);
const withCrd = test;

const NS = 'mlops';

const secureContext = () => ({
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
});

const podSecurity = () => ({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });

const resources = () => ({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } });

/** A small, valid, secure manifest set: every rule below starts from a fresh copy of it. */
function good(): any[] {
  const labels = { 'app.kubernetes.io/name': 'store', 'app.kubernetes.io/instance': 'demo' };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    {
      apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'store-data', namespace: NS },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'store', namespace: NS, labels: { ...labels } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { ...labels } },
        template: {
          metadata: { labels: { ...labels } },
          spec: {
            securityContext: podSecurity(),
            initContainers: [{
              name: 'init', image: 'busybox:1.36.1', command: ['true'],
              securityContext: secureContext(), resources: resources(),
            }],
            containers: [{
              name: 'server',
              image: 'quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z',
              args: ['server', '/data'],
              ports: [{ name: 'api', containerPort: 9000 }, { name: 'console', containerPort: 9001 }],
              env: [
                { name: 'MINIO_ROOT_USER', valueFrom: { secretKeyRef: { name: 'store-credentials', key: 'root-user' } } },
                { name: 'TMPDIR', value: '/tmp' },
              ],
              volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'tmp', mountPath: '/tmp' }],
              readinessProbe: { httpGet: { path: '/minio/health/ready', port: 'api' } },
              livenessProbe: { tcpSocket: { port: 9000 } },
              securityContext: secureContext(),
              resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } },
            }],
            volumes: [
              { name: 'data', persistentVolumeClaim: { claimName: 'store-data' } },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'store', namespace: NS, labels: { ...labels } },
      spec: { selector: { ...labels }, ports: [{ name: 'api', port: 9000, targetPort: 'api' }, { name: 'console', port: 9001, targetPort: 9001 }] },
    },
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'store', namespace: NS },
      spec: {
        podSelector: { matchLabels: { ...labels } },
        policyTypes: ['Ingress'],
        ingress: [{
          from: [
            { podSelector: { matchLabels: { 'job-name': 'train' } } },
            { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: {} },
          ],
          ports: [{ port: 9000, protocol: 'TCP' }],
        }],
      },
    },
    {
      apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'train', namespace: NS },
      spec: {
        backoffLimit: 2,
        template: {
          metadata: { labels: { 'job-name': 'train' } },
          spec: {
            restartPolicy: 'Never',
            securityContext: podSecurity(),
            containers: [{
              name: 'train', image: 'ghcr.io/example/r-train@sha256:' + 'a'.repeat(64),
              env: [{ name: 'MLFLOW_TRACKING_URI', value: 'http://mlflow.mlops.svc.cluster.local:5000' }],
              securityContext: secureContext(), resources: resources(),
            }],
          },
        },
      },
    },
    {
      apiVersion: 'machinelearning.seldon.io/v1', kind: 'SeldonDeployment', metadata: { name: 'iris', namespace: NS },
      spec: {
        predictors: [{
          name: 'default',
          replicas: 1,
          graph: { name: 'model', type: 'MODEL' },
          componentSpecs: [{
            spec: {
              securityContext: podSecurity(),
              containers: [{
                name: 'model', image: 'ghcr.io/example/r-serve:0.1.0',
                ports: [{ name: 'http', containerPort: 9000, protocol: 'TCP' }],
                readinessProbe: { httpGet: { path: '/health/status', port: 'http' } },
                volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
                securityContext: secureContext(), resources: resources(),
              }],
              volumes: [{ name: 'tmp', emptyDir: {} }],
            },
          }],
        }],
      },
    },
  ];
}

const find = (objs: any[], kind: string) => objs.find((o) => o.kind === kind);
const deploymentPod = (objs: any[]) => find(objs, 'Deployment').spec.template.spec;
const server = (objs: any[]) => deploymentPod(objs).containers[0];
const seldonPod = (objs: any[]) => find(objs, 'SeldonDeployment').spec.predictors[0].componentSpecs[0].spec;
const jobPod = (objs: any[]) => find(objs, 'Job').spec.template.spec;

describe('validator: good manifests', () => {
  test('pass every check', () => {
    expect(validateManifests(good())).toEqual([]);
  });

  test('pass the security baseline with pod-level runAsNonRoot and seccomp', () => {
    const objs = good();
    expect(deploymentPod(objs).securityContext.runAsNonRoot).toBe(true);
    expect(server(objs).securityContext.runAsNonRoot).toBeUndefined();
    expect(securityErrors(objs)).toEqual([]);
  });

  test('quantities parse to numbers', () => {
    expect(parseQuantity('250m')).toBeCloseTo(0.25);
    expect(parseQuantity('1Gi')).toBe(2 ** 30);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity(2)).toBe(2);
    expect(parseQuantity('1GB')).toMatch(/not a Kubernetes quantity/);
  });

  test('image references: tag or digest, never latest', () => {
    expect(imageProblem('registry.local:5000/r/serve:1.2.3')).toBeUndefined();
    expect(imageProblem('r/serve@sha256:' + 'b'.repeat(64))).toBeUndefined();
    expect(imageProblem('registry.local:5000/r/serve')).toMatch(/no tag/);
    expect(imageProblem('r/serve:latest')).toMatch(/latest/);
  });
});

/** Each case: what to break, and the error it must produce (object, path and message). */
const bad: [string, (objs: any[]) => void, RegExp][] = [
  // Schemas
  ['built-in schema: wrong type', (o) => { find(o, 'Service').spec.ports[0].port = '9000'; },
    /^Service mlops\/store: spec\.ports\[0\]\.port: must be integer/],
  ['built-in schema: enum', (o) => { find(o, 'Service').spec.type = 'Internal'; },
    /^Service mlops\/store: spec\.type: must be equal to one of the allowed values/],
  ['built-in schema: missing required field', (o) => { delete find(o, 'Deployment').spec.selector; },
    /^Deployment mlops\/store: spec: missing required field "selector"/],
  ['built-in unknown field (misspelt)', (o) => { server(o).securityContext.readOnlyRootFileSystem = true; },
    /^Deployment mlops\/store: spec\.template\.spec\.containers\[0\]\.securityContext\.readOnlyRootFileSystem: unknown field/],
  ['built-in unknown field at the top level', (o) => { find(o, 'Service').data = {}; },
    /^Service mlops\/store: data: unknown field/],
  ['built-in unknown field inside a list', (o) => { find(o, 'Service').spec.ports[1].targetport = 9001; },
    /^Service mlops\/store: spec\.ports\[1\]\.targetport: unknown field/],
  ['unknown kind', (o) => { o.push({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }); },
    /^Widget w: \(root\): no schema for apiVersion "example.com\/v1" kind "Widget"/],
  ['nested type used as a kind', (o) => { o.push({ apiVersion: 'apps/v1', kind: 'DeploymentSpec', metadata: { name: 'x' } }); },
    /^DeploymentSpec x: \(root\): no schema/],
  ['SeldonDeployment with an unsupported version', (o) => { find(o, 'SeldonDeployment').apiVersion = 'machinelearning.seldon.io/v1alpha2'; },
    /^SeldonDeployment mlops\/iris: apiVersion: .*only machinelearning\.seldon\.io\/v1/],
  // Names
  ['object name not a DNS subdomain', (o) => { find(o, 'PersistentVolumeClaim').metadata.name = 'Store_Data'; },
    /^PersistentVolumeClaim mlops\/Store_Data: metadata\.name: "Store_Data" is not a DNS-1123 subdomain/],
  ['Service name not a DNS-1035 label', (o) => { find(o, 'Service').metadata.name = '1store'; },
    /^Service mlops\/1store: metadata\.name: "1store" is not a DNS-1035 label/],
  ['Deployment name over 63 characters', (o) => { find(o, 'Deployment').metadata.name = 'd'.repeat(64); },
    /^Deployment mlops\/d{64}: metadata\.name: .* is longer than 63 characters/],
  ['Namespace name over 63 characters', (o) => { find(o, 'Namespace').metadata.name = 'n'.repeat(64); },
    /^Namespace n{64}: metadata\.name: .*longer than 63 characters \(DNS-1123 label\)/],
  ['namespace not a DNS label', (o) => { find(o, 'Job').metadata.namespace = 'ml.ops'; },
    /^Job ml\.ops\/train: metadata\.namespace: "ml\.ops" is not a DNS-1123 label/],
  ['missing name', (o) => { delete find(o, 'Job').metadata.name; },
    /^Job mlops\/\(no name\): metadata\.name: missing/],
  ['duplicate object', (o) => { o.push(JSON.parse(JSON.stringify(find(o, 'PersistentVolumeClaim')))); },
    /^PersistentVolumeClaim mlops\/store-data: metadata\.name: duplicate object/],
  ['container name not a DNS label', (o) => { server(o).name = 'Server'; },
    /^Deployment mlops\/store: spec\.template\.spec\.containers\[0\]\.name: "Server" is not a DNS-1123 label/],
  ['duplicate container name', (o) => { deploymentPod(o).initContainers[0].name = 'server'; },
    /containers\[0\]\.name: duplicate container name "server"/],
  // Ports
  ['port name too long', (o) => { server(o).ports[1].name = 'console-web-port1'; },
    /containers\[0\]\.ports\[1\]\.name: "console-web-port1" is longer than 15 characters \(IANA_SVC_NAME\)/],
  ['port name without a letter', (o) => { server(o).ports[1].name = '9001'; },
    /ports\[1\]\.name: "9001" must contain at least one letter/],
  ['port name with --', (o) => { server(o).ports[1].name = 'web--ui'; }, /ports\[1\]\.name: "web--ui" must not contain '--'/],
  ['port name with leading -', (o) => { server(o).ports[1].name = '-web'; }, /ports\[1\]\.name: "-web" must not begin or end with '-'/],
  ['port name upper case', (o) => { server(o).ports[1].name = 'Web'; }, /ports\[1\]\.name: "Web" may contain only lower case/],
  ['containerPort out of range', (o) => { server(o).ports[1].containerPort = 70000; },
    /containers\[0\]\.ports\[1\]\.containerPort: 70000 is not a port number \(1-65535\)/],
  ['duplicate containerPort across containers', (o) => {
    deploymentPod(o).containers.push({ ...JSON.parse(JSON.stringify(server(o))), name: 'sidecar', ports: [{ name: 'side', containerPort: 9001 }] });
  }, /containers\[1\]\.ports\[0\]\.containerPort: 9001\/TCP is declared twice in the pod/],
  ['duplicate port name in the pod', (o) => { server(o).ports[1].name = 'api'; },
    /ports\[1\]\.name: duplicate port name "api" in the pod/],
  ['Service port names not unique', (o) => { find(o, 'Service').spec.ports[1].name = 'api'; },
    /^Service mlops\/store: spec\.ports\[1\]\.name: duplicate Service port name "api"/],
  ['Service port numbers not unique', (o) => { find(o, 'Service').spec.ports[1].port = 9000; },
    /^Service mlops\/store: spec\.ports\[1\]\.port: duplicate Service port 9000\/TCP/],
  ['Service port name missing with two ports', (o) => { delete find(o, 'Service').spec.ports[1].name; },
    /spec\.ports\[1\]\.name: required when a Service has more than one port/],
  ['Service port out of range', (o) => { find(o, 'Service').spec.ports[1].port = 0; },
    /^Service mlops\/store: spec\.ports\[1\]\.port: 0 is not a port number/],
  ['Service named targetPort not declared by the pods', (o) => { find(o, 'Service').spec.ports[0].targetPort = 's3'; },
    /spec\.ports\[0\]\.targetPort: named port "s3" is not declared in the pods of Deployment mlops\/store/],
  ['probe on an undeclared named port', (o) => { server(o).readinessProbe.httpGet.port = 'health'; },
    /containers\[0\]\.readinessProbe\.httpGet\.port: named port "health" is not declared by this container/],
  // Labels and selectors
  ['label key with two slashes', (o) => { find(o, 'Deployment').metadata.labels['a/b/c'] = 'x'; },
    /metadata\.labels\["a\/b\/c"\]: key "a\/b\/c" has more than one '\/'/],
  ['label key prefix not a subdomain', (o) => { find(o, 'Deployment').metadata.labels['Example.com/x'] = 'x'; },
    /metadata\.labels\["Example\.com\/x"\]: key prefix of "Example\.com\/x"/],
  ['label value too long', (o) => { find(o, 'Deployment').metadata.labels.extra = 'v'.repeat(64); },
    /^Deployment mlops\/store: metadata\.labels\["extra"\]: value .* longer than 63 characters/],
  ['label value with a space', (o) => { find(o, 'Job').spec.template.metadata.labels.run = 'a b'; },
    /^Job mlops\/train: spec\.template\.metadata\.labels\["run"\]: value "a b" is not a valid label value/],
  ['selector does not match template labels', (o) => { find(o, 'Deployment').spec.selector.matchLabels['app.kubernetes.io/name'] = 'other'; },
    /^Deployment mlops\/store: spec\.selector: does not match spec\.template\.metadata\.labels/],
  ['selector expression does not match', (o) => {
    find(o, 'Deployment').spec.selector.matchExpressions = [{ key: 'tier', operator: 'Exists' }];
  }, /^Deployment mlops\/store: spec\.selector: does not match/],
  ['empty Deployment selector', (o) => { find(o, 'Deployment').spec.selector = {}; },
    /^Deployment mlops\/store: spec\.selector: an empty selector is invalid/],
  ['Service selector matches no pod template', (o) => { find(o, 'Service').spec.selector = { 'app.kubernetes.io/name': 'nothing' }; },
    /^Service mlops\/store: spec\.selector: .* matches no pod template in the manifests/],
  ['Service selector matches only another namespace', (o) => { find(o, 'Service').metadata.namespace = 'other'; },
    /^Service other\/store: spec\.selector: .* matches no pod template/],
  ['NetworkPolicy selects no pod', (o) => { find(o, 'NetworkPolicy').spec.podSelector.matchLabels['app.kubernetes.io/instance'] = 'prod'; },
    /^NetworkPolicy mlops\/store: spec\.podSelector: .* matches no pod template/],
  ['NetworkPolicy admits a client that does not exist', (o) => { find(o, 'NetworkPolicy').spec.ingress[0].from[0].podSelector.matchLabels['job-name'] = 'training'; },
    /^NetworkPolicy mlops\/store: spec\.ingress\[0\]\.from\[0\]\.podSelector: \{"matchLabels":\{"job-name":"training"\}\} matches no pod template/],
  // Volumes, env, resources, restart policy
  ['volumeMount of an undeclared volume', (o) => { server(o).volumeMounts[1].name = 'scratch'; },
    /containers\[0\]\.volumeMounts\[1\]\.name: no volume named "scratch" in the pod/],
  ['duplicate mountPath', (o) => { server(o).volumeMounts[1].mountPath = '/data'; },
    /volumeMounts\[1\]\.mountPath: "\/data" is mounted twice/],
  ['PVC claim not in the set', (o) => { deploymentPod(o).volumes[0].persistentVolumeClaim.claimName = 'missing'; },
    /spec\.template\.spec\.volumes\[0\]\.persistentVolumeClaim\.claimName: no PersistentVolumeClaim "missing"/],
  ['env var name invalid', (o) => { server(o).env[1].name = '1TMP DIR'; },
    /containers\[0\]\.env\[1\]\.name: "1TMP DIR" is not a valid environment variable name/],
  ['secretKeyRef name invalid', (o) => { server(o).env[0].valueFrom.secretKeyRef.name = 'Store_Credentials'; },
    /env\[0\]\.valueFrom\.secretKeyRef\.name: "Store_Credentials" is not a DNS-1123 subdomain/],
  ['secretKeyRef key invalid', (o) => { server(o).env[0].valueFrom.secretKeyRef.key = 'root user'; },
    /env\[0\]\.valueFrom\.secretKeyRef\.key: "root user" is not a valid ConfigMap\/Secret key/],
  ['configMapKeyRef name invalid', (o) => { server(o).env[1] = { name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg/x', key: 'k' } } }; },
    /env\[1\]\.valueFrom\.configMapKeyRef\.name: "cfg\/x" is not a DNS-1123 subdomain/],
  ['resource quantity does not parse', (o) => { server(o).resources.requests.memory = '512MB'; },
    /containers\[0\]\.resources\.requests\.memory: "512MB" is not a Kubernetes quantity/],
  ['request above limit', (o) => { server(o).resources.requests.memory = '2Gi'; },
    /containers\[0\]\.resources\.requests\.memory: request "2Gi" exceeds limit "1Gi"/],
  ['Job without restartPolicy', (o) => { delete jobPod(o).restartPolicy; },
    /^Job mlops\/train: spec\.template\.spec\.restartPolicy: undefined: a Job's pods need restartPolicy Never or OnFailure/],
  ['Job with restartPolicy Always', (o) => { jobPod(o).restartPolicy = 'Always'; },
    /^Job mlops\/train: spec\.template\.spec\.restartPolicy: "Always"/],
  ['Deployment with restartPolicy Never', (o) => { deploymentPod(o).restartPolicy = 'Never'; },
    /^Deployment mlops\/store: spec\.template\.spec\.restartPolicy: "Never": a Deployment only allows Always/],
  ['container without image', (o) => { delete jobPod(o).containers[0].image; },
    /^Job mlops\/train: spec\.template\.spec\.containers\[0\]\.image: missing/],
  // Seldon
  ['Seldon model declares the executor REST port', (o) => { seldonPod(o).containers[0].ports[0].containerPort = SELDON_EXECUTOR_HTTP_PORT; },
    /^SeldonDeployment mlops\/iris: spec\.predictors\[0\]\.componentSpecs\[0\]\.spec\.containers\[0\]\.ports\[0\]\.containerPort: 8000 is bound by the Seldon executor/],
  ['Seldon model declares the executor gRPC port', (o) => {
    seldonPod(o).containers[0].ports.push({ name: 'grpc', containerPort: SELDON_EXECUTOR_GRPC_PORT });
  }, /containers\[0\]\.ports\[1\]\.containerPort: 5001 is bound by the Seldon executor/],
  ['Seldon graph node without a container', (o) => { find(o, 'SeldonDeployment').spec.predictors[0].graph.name = 'classifier'; },
    /^SeldonDeployment mlops\/iris: spec\.predictors\[0\]\.graph\.name: graph node "classifier" matches no container/],
  ['Seldon nested graph node without a container', (o) => {
    find(o, 'SeldonDeployment').spec.predictors[0].graph.children = [{ name: 'post', type: 'TRANSFORMER' }];
  }, /spec\.predictors\[0\]\.graph\.children\[0\]\.name: graph node "post" matches no container/],
  ['Seldon pod rules apply to componentSpecs', (o) => { seldonPod(o).containers[0].volumeMounts[0].name = 'scratch'; },
    /^SeldonDeployment mlops\/iris: spec\.predictors\[0\]\.componentSpecs\[0\]\.spec\.containers\[0\]\.volumeMounts\[0\]\.name: no volume named "scratch"/],
  ['Seldon predictor name invalid', (o) => { find(o, 'SeldonDeployment').spec.predictors[0].name = 'Default'; },
    /spec\.predictors\[0\]\.name: "Default" is not a DNS-1123 label/],
  // Security baseline
  ['runAsNonRoot missing', (o) => { delete jobPod(o).securityContext.runAsNonRoot; },
    /^security: Job mlops\/train: spec\.template\.spec\.containers\[0\]\.securityContext\.runAsNonRoot: must be true/],
  ['container overrides runAsNonRoot', (o) => { server(o).securityContext.runAsNonRoot = false; },
    /^security: Deployment mlops\/store: spec\.template\.spec\.containers\[0\]\.securityContext\.runAsNonRoot: must be true/],
  ['runAsUser 0', (o) => { server(o).securityContext.runAsUser = 0; },
    /^security: .*containers\[0\]\.securityContext\.runAsUser: 0 \(root\)/],
  ['writable root filesystem', (o) => { server(o).securityContext.readOnlyRootFilesystem = false; },
    /^security: .*containers\[0\]\.securityContext\.readOnlyRootFilesystem: must be true/],
  ['privilege escalation allowed (unset)', (o) => { delete deploymentPod(o).initContainers[0].securityContext.allowPrivilegeEscalation; },
    /^security: Deployment mlops\/store: spec\.template\.spec\.initContainers\[0\]\.securityContext\.allowPrivilegeEscalation: must be false/],
  ['capabilities not dropped', (o) => { server(o).securityContext.capabilities = { drop: ['NET_RAW'] }; },
    /^security: .*containers\[0\]\.securityContext\.capabilities\.drop: must include "ALL"/],
  ['capabilities added', (o) => { server(o).securityContext.capabilities.add = ['NET_ADMIN']; },
    /^security: .*containers\[0\]\.securityContext\.capabilities\.add: must be empty/],
  ['no seccomp profile', (o) => { delete seldonPod(o).securityContext.seccompProfile; },
    /^security: SeldonDeployment mlops\/iris: .*containers\[0\]\.securityContext\.seccompProfile\.type: undefined: must be "RuntimeDefault"/],
  ['seccomp Unconfined', (o) => { server(o).securityContext.seccompProfile = { type: 'Unconfined' }; },
    /seccompProfile\.type: "Unconfined": must be "RuntimeDefault"/],
  ['no cpu request', (o) => { delete jobPod(o).containers[0].resources.requests.cpu; },
    /^security: Job mlops\/train: spec\.template\.spec\.containers\[0\]\.resources\.requests\.cpu: must be set/],
  ['no memory limit', (o) => { delete seldonPod(o).containers[0].resources.limits; },
    /^security: SeldonDeployment mlops\/iris: .*containers\[0\]\.resources\.limits\.memory: must be set/],
  ['image without tag', (o) => { server(o).image = 'quay.io/minio/minio'; },
    /^security: .*containers\[0\]\.image: "quay\.io\/minio\/minio" has no tag/],
  ['image with latest tag', (o) => { deploymentPod(o).initContainers[0].image = 'busybox:latest'; },
    /^security: .*initContainers\[0\]\.image: "busybox:latest" uses the "latest" tag/],
];

describe('validator: each rule can fail', () => {
  test.each(bad)('%s', (_name, breakIt, expected) => {
    const objs = good();
    breakIt(objs);
    const errors = validateManifests(objs);
    expect(errors).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
  });

  test('a claim the manifests do not create can be declared as existing', () => {
    const objs = good();
    deploymentPod(objs).volumes[0].persistentVolumeClaim.claimName = 'shared';
    const at = 'Deployment mlops/store: spec.template.spec.volumes[0].persistentVolumeClaim.claimName';
    expect(validateManifests(objs)).toEqual([`${at}: no PersistentVolumeClaim "shared" in the manifests (same namespace) nor in options.existingClaims`]);
    expect(validateManifests(objs, { existingClaims: ['mlops/shared'] })).toEqual([]);
    expect(validateManifests(objs, { existingClaims: ['shared'] })).toEqual([]);
    expect(validateManifests(objs, { existingClaims: ['other/shared'] })).toHaveLength(1);
  });

  test('security errors are reported separately and not as schema errors', () => {
    const objs = good();
    server(objs).securityContext = {};
    const at = 'Deployment mlops/store: spec.template.spec.containers[0].securityContext';
    expect(securityErrors(objs)).toEqual([
      `${at}.readOnlyRootFilesystem: must be true`,
      `${at}.allowPrivilegeEscalation: must be false`,
      `${at}.capabilities.drop: must include "ALL"`,
    ]);
    expect(validateManifests(objs, { security: false })).toEqual([]);
  });
});

describe('validator: ConfigMaps and the volumes that use them', () => {
  const cm = (data: Record<string, string>, name = 'train-script') => ({
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS }, data,
  });
  const job = (configMap: Record<string, unknown>) => ({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'train', namespace: NS },
    spec: {
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'train', image: 'ghcr.io/example/r-train:0.1.0', volumeMounts: [{ name: 'script', mountPath: '/etc/script', readOnly: true }] }],
          volumes: [{ name: 'script', configMap }],
        },
      },
    },
  });
  const errors = (objects: any[]) => apiRuleErrors(objects);

  test('a ConfigMap volume of a ConfigMap in the set, in the same namespace, passes', () => {
    expect(errors([cm({ 'train.R': 'train <- function() 1\n' }), job({ name: 'train-script' })])).toEqual([]);
  });

  test('a ConfigMap volume of a ConfigMap that is not in the set fails, unless optional', () => {
    expect(errors([job({ name: 'train-script' })])).toEqual([
      `Job ${NS}/train: spec.template.spec.volumes[0].configMap.name: no ConfigMap "train-script" in the manifests (same namespace)`,
    ]);
    expect(errors([job({ name: 'train-script', optional: true })])).toEqual([]);
  });

  test('a key that is not a ConfigMap key fails', () => {
    expect(errors([cm({ 'my train.R': 'x' })])).toEqual([
      `ConfigMap ${NS}/train-script: data["my train.R"]: "my train.R" is not a valid ConfigMap/Secret key ([-._a-zA-Z0-9]+)`,
    ]);
  });

  test('more than 1 MiB of data fails (UTF-8 bytes, not characters); exactly 1 MiB passes', () => {
    expect(errors([cm({ 'a.R': 'x'.repeat(1024 * 1024) })])).toEqual([]);
    // 'é' is two bytes in UTF-8: 524289 characters are 1048578 bytes.
    expect(errors([cm({ 'a.R': 'é'.repeat(524289) })])).toEqual([
      `ConfigMap ${NS}/train-script: data: 1048578 bytes of data, more than a ConfigMap holds (1048576)`,
    ]);
  });
});

describe('validator: SeldonDeployment against the Seldon Core 1.17.1 CRD', () => {
  (crdPresent || IN_CI ? test : test.skip)('imports/ holds the schema and validator generated from ../shared/crds (else run node scripts/gen-crd-schema.js)', () => {
    const res = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-crd-schema.js'), '--check'], { encoding: 'utf8' });
    expect({ status: res.status, stderr: res.stderr }).toEqual({ status: 0, stderr: '' });
  }, 60000);

  test('imports/k8s-models.bundle.js is the kubernetes-models classes as installed (else run node scripts/gen-k8s-validators.js)', () => {
    const res = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-k8s-validators.js'), '--check'], { encoding: 'utf8' });
    expect({ status: res.status, stderr: res.stderr }).toEqual({ status: 0, stderr: '' });
    const { KINDS } = require('../scripts/gen-k8s-validators.js');
    expect(KINDS).toEqual(expect.arrayContaining(['v1/Namespace', 'v1/ConfigMap', 'v1/PersistentVolumeClaim', 'v1/Service', 'networking.k8s.io/v1/NetworkPolicy', 'apps/v1/Deployment', 'batch/v1/Job']));
  }, 60000);

  test('unknown fields of the bundled kinds are caught by the shipped validator too (as kubectl apply\'s strict field validation does)', () => {
    const lib = require('../lib/manifest-validation') as typeof import('../lib/manifest-validation');
    const objs = good();
    const dep = find(objs, 'Deployment');
    dep.spec.template.spec.containers[0].resource = { limits: { memory: '1Gi' } };
    dep.metadata.labels.fine = 'x';
    dep.spec.template.spec.volumes = [{ name: 'v', emptyDir: { sizelimit: '1Gi' } }];
    expect(lib.schemaErrors(objs)).toEqual([
      `Deployment ${NS}/store: spec.template.spec.containers[0].resource: unknown field (the API server drops or rejects it)`,
      `Deployment ${NS}/store: spec.template.spec.volumes[0].emptyDir.sizelimit: unknown field (the API server drops or rejects it)`,
    ]);
    // The test-only check over every kind reports the same line once.
    expect(schemaErrors(objs)).toEqual(lib.schemaErrors(objs));
  });

  test('a corrupt V8 code cache of a generated file is ignored (and the file still validates)', () => {
    const { loadGenerated, generatedImportsFile } = require('../lib/k8s-schemas') as typeof import('../lib/k8s-schemas');
    const file = generatedImportsFile('seldondeployment-v1.validate.js');
    const dir = path.join(ROOT, 'node_modules', '.cache', 'rmlops-cdk8s-v8');
    const corrupt: string[] = [];
    if (fs.existsSync(dir)) {
      for (const f of fs.readdirSync(dir).filter((f) => f.startsWith('seldondeployment-v1.validate.js-'))) {
        fs.writeFileSync(path.join(dir, f), 'not a code cache');
        corrupt.push(f);
      }
    }
    const validate = loadGenerated(file);
    expect(validate({ apiVersion: 'machinelearning.seldon.io/v1', kind: 'SeldonDeployment', metadata: { name: 'x' }, spec: {} })).toBe(false);
    expect(validate.errors[0]).toEqual(expect.objectContaining({ keyword: 'required', params: { missingProperty: 'predictors' } }));
    // The next process rewrites the cache; remove the corrupt copies so it does.
    for (const f of corrupt) fs.rmSync(path.join(dir, f), { force: true });
  });

  test('kinds outside the bundle still come from kubernetes-models', () => {
    const sts = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's', namespace: NS }, spec: { serviceName: 's', selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x:1' }] } }, replicas: 'x' } };
    expect(schemaErrors([sts])).toEqual([`StatefulSet ${NS}/s: spec.replicas: must be integer`]);
  });

  test('the generated schema is the CRD\'s v1 openAPIV3Schema, made strict', () => {
    const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'imports', 'seldondeployment-v1.schema.json'), 'utf8'));
    expect(schema.properties.spec.required).toEqual(['predictors']);
    expect(schema.properties.spec.additionalProperties).toBe(false);
    // int32 became a range the standalone code checks without format functions.
    const replicas = schema.properties.spec.properties.predictors.items.properties.replicas;
    expect(replicas).toEqual(expect.objectContaining({ type: 'integer', minimum: -(2 ** 31), maximum: 2 ** 31 - 1 }));
    expect(JSON.stringify(schema)).not.toContain('"format"');
    expect(JSON.stringify(schema)).not.toContain('"description"');
  });

  test('the drift check fails on a stale generated file', () => {
    const file = path.join(ROOT, 'imports', 'seldondeployment-v1.schema.json');
    if (!crdPresent) return;
    const original = fs.readFileSync(file, 'utf8');
    const { generate } = require('../scripts/gen-crd-schema.js');
    expect(generate().schema).toBe(original);
    expect(generate().schema.replace('"predictors"', '"predictorz"')).not.toBe(original);
  }, 60000);

  test('an int32 past its range is caught in the SeldonDeployment', () => {
    const objs = good();
    find(objs, 'SeldonDeployment').spec.predictors[0].replicas = 2 ** 31;
    expect(schemaErrors(objs)).toEqual(expect.arrayContaining([
      'SeldonDeployment mlops/iris: spec.predictors[0].replicas: must be <= 2147483647',
    ]));
  });

  withCrd('unknown field is an error (the API server would prune it)', () => {
    const objs = good();
    seldonPod(objs).containers[0].listenPort = 9000;
    find(objs, 'SeldonDeployment').spec.predictors[0].graph.httpPort = 9000;
    expect(schemaErrors(objs)).toEqual([
      'SeldonDeployment mlops/iris: spec.predictors[0].componentSpecs[0].spec.containers[0].listenPort: unknown field (the API server would prune it)',
      'SeldonDeployment mlops/iris: spec.predictors[0].graph.httpPort: unknown field (the API server would prune it)',
    ]);
  });

  withCrd('wrong types and int-or-string patterns are checked', () => {
    const objs = good();
    const predictor = find(objs, 'SeldonDeployment').spec.predictors[0];
    predictor.replicas = 'one';
    predictor.graph.type = 7;
    seldonPod(objs).containers[0].resources.requests.cpu = 'lots';
    const errors = schemaErrors(objs);
    expect(errors).toEqual(expect.arrayContaining([
      'SeldonDeployment mlops/iris: spec.predictors[0].replicas: must be integer',
      'SeldonDeployment mlops/iris: spec.predictors[0].graph.type: must be string',
      expect.stringMatching(/^SeldonDeployment mlops\/iris: spec\.predictors\[0\]\.componentSpecs\[0\]\.spec\.containers\[0\]\.resources\.requests\.cpu: must match pattern/),
    ]));
  });

  withCrd('missing required field', () => {
    const objs = good();
    delete find(objs, 'SeldonDeployment').spec.predictors[0].graph.name;
    expect(schemaErrors(objs)).toEqual(expect.arrayContaining([
      'SeldonDeployment mlops/iris: spec.predictors[0].graph: missing required field "name"',
    ]));
  });

  test('the CRD path is outside the repository and never copied into it', () => {
    expect(path.relative(ROOT, SELDON_CRD_PATH).startsWith('..')).toBe(true);
    const copies = listFiles(ROOT).filter((f) => path.basename(f) === path.basename(SELDON_CRD_PATH));
    expect(copies).toEqual([]);
  });
});

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name === '.git') return [];
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p) : [p];
  });
}

describe('what the project emits', () => {
  const distFiles = fs.existsSync(DIST) ? loadManifestDir(DIST) : [];

  test('dist/ exists and is not empty in CI', () => {
    if (IN_CI) expect(distFiles.length).toBeGreaterThan(0);
    if (distFiles.length === 0) console.warn('dist/ is absent or empty: run `npm run synth`');
    for (const f of distFiles) expect({ file: path.relative(ROOT, f.file), empty: f.objects.length === 0 }).toEqual({ file: path.relative(ROOT, f.file), empty: false });
  });

  const key = (o: any) => `${o.apiVersion}|${o.kind}|${o.metadata?.namespace ?? ''}|${o.metadata?.name}`;
  const built = buildApp().charts.flatMap((c) => c.toJson());

  test('the app built in-process is valid', () => {
    expect(built.map((o: any) => o.kind)).toEqual(expect.arrayContaining(['Namespace', 'Deployment', 'Service', 'Job', 'SeldonDeployment']));
    expect(validateManifests(built)).toEqual([]);
  });

  (distFiles.length > 0 ? test : test.skip)('dist/ is what the app builds now (else run `npm run synth`)', () => {
    const inDist = distFiles.flatMap((f) => f.objects).sort((a, b) => key(a).localeCompare(key(b)));
    const fresh = [...built].sort((a, b) => key(a).localeCompare(key(b)));
    expect(inDist.map(key)).toEqual(fresh.map(key));
    expect(inDist).toEqual(fresh);
  });

  (distFiles.length > 0 ? test : test.skip)('every manifest in dist/ is valid', () => {
    // Validated as one set: cross-object references (claims, selectors) may span files.
    const all = distFiles.flatMap((f) => f.objects);
    expect(all.length).toBeGreaterThan(0);
    expect(validateManifests(all)).toEqual([]);
  });
});
