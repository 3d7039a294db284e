// The KServe bindings come from a reduced copy of the InferenceService schema (scripts/gen-kserve.js):
// these tests prove the reduction keeps every field KServeRModel writes, that what it writes is
// valid against the full CRD, and that the committed generated files are what the script makes.
// The offline rules of lib/manifest-validation.ts for hand-written InferenceServices are here too.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import Ajv from 'ajv';
import { KServeRModel, KServeRModelProps, MinioStore, MlflowServer, RTrainingJob } from '../lib';
import { buildApp } from '../main';
import { validateManifests } from './support/validate';
import { NS, fixtureScript, newChart } from './constructs-support';

const ROOT = path.join(__dirname, '..');
const CRD = path.join(ROOT, '..', 'shared', 'crds', 'serving.kserve.io_inferenceservices.yaml');
const IN_CI = process.env.CI === 'true';
const crdPresent = fs.existsSync(CRD);
const withCrd = crdPresent || IN_CI ? test : test.skip;

let synthesized: any[] | undefined;
/** Every InferenceService the construct can write: each mode, model kind and optional prop (fresh copies). */
function variants(): any[] {
  synthesized ??= synthVariants();
  return JSON.parse(JSON.stringify(synthesized));
}

function synthVariants(): any[] {
  const chart = newChart();
  const mlflow = new MlflowServer(chart, 'mlflow', { artifactStore: new MinioStore(chart, 'minio') });
  const train = new RTrainingJob(chart, 'train', { tracking: mlflow, trainingScript: fixtureScript(), registeredModelName: 'iris' });
  const all: [string, KServeRModelProps<number>][] = [
    ['raw-mlflow', { model: train.model, tracking: mlflow }],
    ['raw-scaled', { model: 's3://m/x', minReplicas: 1, maxReplicas: 4, scaleMetric: 'memory', scaleTarget: 60, serviceAccountName: 'sa', maxRequestBytes: 1024, httpPort: 9000, args: ['--x'] }],
    ['knative', { model: train.model, tracking: mlflow, deploymentMode: 'Serverless', canaryTrafficPercent: 10, minReplicas: 0, maxReplicas: 2, scaleMetric: 'rps', scaleTarget: 20 }],
    ['no-metrics', { model: 'pvc://claim/iris', metrics: false, deploymentMode: 'Knative', resources: { cpuRequest: '2', cpuLimit: '2', memoryRequest: '1Gi', memoryLimit: '2Gi' } }],
  ];
  for (const [id, props] of all) new KServeRModel(chart, id, props);
  return Testing.synth(chart).filter((o) => o.kind === 'InferenceService');
}

let reduced: ReturnType<Ajv['compile']> | undefined;
/** The reduced schema made strict as for synth (no unknown field anywhere), compiled once. */
function reducedValidator() {
  const { reducedSchema } = require('../scripts/gen-kserve.js');
  const { strict } = require('../scripts/gen-crd-schema.js');
  reduced ??= new Ajv({ allErrors: true, strict: false }).compile(strict(reducedSchema()));
  return reduced;
}

describe('KServe bindings from a reduced schema', () => {
  withCrd('every field KServeRModel writes is in the reduced schema (unknown fields rejected)', () => {
    const validate = reducedValidator();
    const objects = variants();
    expect(objects).toHaveLength(4);
    for (const o of objects) {
      const ok = validate(o);
      expect({ name: o.metadata.name, errors: ok ? [] : validate.errors }).toEqual({ name: o.metadata.name, errors: [] });
    }
  });

  withCrd('the reduced schema can fail: a field it dropped (the explainer) is rejected', () => {
    const validate = reducedValidator();
    const o = variants()[0];
    expect(validate({ ...o, spec: { ...o.spec, explainer: {} } })).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ keyword: 'additionalProperties', params: { additionalProperty: 'explainer' } });
  });

  test('every variant validates against the full CRD (the committed validator, whose freshness the last test checks)', () => {
    const { schemaErrors } = require('../lib/manifest-validation') as typeof import('../lib/manifest-validation');
    expect(schemaErrors(variants())).toEqual([]);
  });

  withCrd('the bindings keep each predictor field KServeRModel uses and nothing of the other predictors', () => {
    const text = fs.readFileSync(path.join(ROOT, 'imports', 'serving.kserve.io.ts'), 'utf8');
    for (const field of ['canaryTrafficPercent', 'minReplicas', 'maxReplicas', 'scaleMetric', 'scaleTarget', 'containers', 'volumes', 'serviceAccountName']) {
      expect(text).toContain(`@schema InferenceServiceSpecPredictor#${field}`);
    }
    for (const dropped of ['InferenceServiceSpecExplainer', 'InferenceServiceSpecTransformer', 'InferenceServiceSpecPredictorSklearn', 'InferenceServiceSpecPredictorModel ']) {
      expect(text).not.toContain(dropped);
    }
    expect(Buffer.byteLength(text)).toBeLessThan(200 * 1024);
  });

  withCrd('imports/ holds the bindings and validator generated from ../shared/crds (else run node scripts/gen-kserve.js)', () => {
    const res = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-kserve.js'), '--check'], { encoding: 'utf8' });
    expect({ status: res.status, stderr: res.stderr.replace(/Importing resources, this may take a few moments...\n/g, '') }).toEqual({ status: 0, stderr: '' });
  }, 60000);
});

describe('validator: InferenceService rules (KServe 0.20 and Knative webhooks)', () => {
  function raw(mode: string | undefined): any {
    const o = JSON.parse(JSON.stringify(variants()[0]));
    if (mode === undefined) delete o.metadata.annotations['serving.kserve.io/deploymentMode'];
    else o.metadata.annotations['serving.kserve.io/deploymentMode'] = mode;
    return o;
  }
  const errs = (o: any) => validateManifests([o], { references: false });
  const at = `InferenceService ${NS}/raw-mlflow`;

  test('the construct\'s object passes, under the old mode names too', () => {
    expect(errs(raw('Standard'))).toEqual([]);
    expect(errs(raw('RawDeployment'))).toEqual([]);
  });

  test('a reserved port, a second port, a port name and PORT in Knative mode', () => {
    const o = raw('Knative');
    const c = o.spec.predictor.containers[0];
    c.env = c.env.filter((e: any) => e.name !== 'PORT');
    expect(errs(o)).toEqual([]);
    c.ports = [{ name: 'http', containerPort: 9091 }, { containerPort: 8081 }];
    c.env.push({ name: 'PORT', value: '8080' });
    expect(errs(o)).toEqual([
      `${at}: spec.predictor.containers[0].ports[0].containerPort: 9091 is owned by Knative's queue-proxy (user metrics) in every KServe predictor pod: use 8080`,
      `${at}: spec.predictor.containers[0].ports[0].name: "http": Knative accepts only "http1" or "h2c" (or no name)`,
      `${at}: spec.predictor.containers[0].env[7].name: PORT is set by Knative in Serverless mode and rejected by its webhook`,
      `${at}: spec.predictor.containers: 2 container ports: Knative routes to one port per pod and rejects more`,
    ]);
  });

  test('without the annotation the cluster default decides, and KServe ships Knative: the Knative rules apply', () => {
    const o = raw(undefined);
    expect(errs(o)).toContain(`${at}: spec.predictor.containers[0].env[3].name: PORT is set by Knative in Serverless mode and rejected by its webhook`);
  });

  test('a pod-level securityContext in Knative mode; canary, scale to zero and a Knative metric in Standard mode', () => {
    const k = raw('Knative');
    k.spec.predictor.containers[0].env = k.spec.predictor.containers[0].env.filter((e: any) => e.name !== 'PORT');
    k.spec.predictor.securityContext = { runAsNonRoot: true };
    k.spec.predictor.scaleMetric = 'cpu';
    expect(errs(k)).toEqual([
      `${at}: spec.predictor.securityContext: Knative rejects a pod-level securityContext unless the cluster enables kubernetes.podspec-securitycontext: set the fields on each container`,
      `${at}: spec.predictor.scaleMetric: "cpu": Knative's autoscaler (Serverless mode) scales on concurrency or rps; KServe's webhook rejects other metrics`,
    ]);
    const s = raw('Standard');
    Object.assign(s.spec.predictor, { canaryTrafficPercent: 10, minReplicas: 0, scaleMetric: 'rps' });
    expect(errs(s)).toEqual([
      `${at}: spec.predictor.canaryTrafficPercent: splits traffic between Knative revisions; in Standard (RawDeployment) mode KServe ignores it silently`,
      `${at}: spec.predictor.minReplicas: 0: Standard (RawDeployment) mode cannot scale to zero; KServe raises the HorizontalPodAutoscaler's minimum to 1`,
      `${at}: spec.predictor.scaleMetric: "rps": the HorizontalPodAutoscaler of Standard (RawDeployment) mode scales on cpu or memory`,
    ]);
  });

  test('the first container must be kserve-container; the mode must be one KServe knows; the name must leave room for KServe\'s suffixes', () => {
    const o = raw('Standard');
    o.spec.predictor.containers[0].name = 'model';
    o.metadata.annotations['serving.kserve.io/deploymentMode'] = 'Raw';
    expect(errs(o)).toEqual([
      `${at}: metadata.annotations["serving.kserve.io/deploymentMode"]: "Raw" is not a KServe deployment mode (Knative, Standard, ModelMesh; Serverless and RawDeployment are their old names)`,
      `${at}: spec.predictor.containers[0].name: "model": KServe runs the custom predictor's first container as "kserve-container" and replaces it by the container of that name`,
    ]);
    const long = raw('Standard');
    long.metadata.name = `m${'a'.repeat(53)}`;
    expect(errs(long)).toEqual([
      `InferenceService ${NS}/${long.metadata.name}: metadata.name: "${long.metadata.name}" is 54 characters; KServe derives "${long.metadata.name}-predictor", past the 63-character limit of a DNS label (at most 53)`,
    ]);
    const digit = raw('Standard');
    digit.metadata.name = '1iris';
    expect(errs(digit).join('\n')).toMatch(/metadata\.name: .*1iris/);
  });

  test('the security baseline applies to the predictor\'s containers', () => {
    const o = raw('Standard');
    delete o.spec.predictor.containers[0].securityContext.readOnlyRootFilesystem;
    expect(validateManifests([o], { references: false })).toEqual([
      `security: ${at}: spec.predictor.containers[0].securityContext.readOnlyRootFilesystem: must be true`,
    ]);
  });

  test('an InferenceService of another apiVersion is refused with the supported one', () => {
    const o = raw('Standard');
    o.apiVersion = 'serving.kserve.io/v1alpha1';
    expect(validateManifests([o], { references: false, security: false })[0]).toBe(
      `InferenceService ${NS}/raw-mlflow: apiVersion: "serving.kserve.io/v1alpha1": only serving.kserve.io/v1beta1 is supported (KServe 0.20.0 CRD)`,
    );
  });
});

describe('the KServe example app', () => {
  test('synthesizes, validates as a whole, and serves both models from MLflow by InferenceService', () => {
    const app = buildApp('dist-kserve', 'kserve');
    const objects = app.charts.flatMap((c: Chart) => c.toJson());
    expect(validateManifests(objects)).toEqual([]);
    const isvcs = objects.filter((o: any) => o.kind === 'InferenceService');
    expect(isvcs.map((o: any) => [o.metadata.name, o.metadata.annotations['serving.kserve.io/deploymentMode']]))
      .toEqual([['iris', 'Knative'], ['mtcars', 'Standard']]);
    expect(objects.filter((o: any) => o.kind === 'SeldonDeployment')).toEqual([]);
    const ns = objects.find((o: any) => o.kind === 'Namespace');
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });
});

describe('validator: Knative feature-flagged pod fields', () => {
  test('each field Knative masks by default is reported with the flag that enables it', () => {
    const o = JSON.parse(JSON.stringify(variants()[2]));
    const at = `InferenceService ${NS}/knative`;
    Object.assign(o.spec.predictor, {
      nodeSelector: { disk: 'ssd' },
      tolerations: [{ key: 'gpu', operator: 'Exists' }],
      terminationGracePeriodSeconds: 60,
    });
    o.spec.predictor.volumes.push({ name: 'models', persistentVolumeClaim: { claimName: 'models' } });
    o.spec.predictor.containers[0].securityContext.capabilities.add = ['NET_ADMIN'];
    const lib = require('../lib/manifest-validation') as typeof import('../lib/manifest-validation');
    expect(lib.apiRuleErrors([o], { references: false })).toEqual([
      `${at}: spec.predictor.nodeSelector: Knative rejects it unless the cluster enables kubernetes.podspec-nodeselector (config-features)`,
      `${at}: spec.predictor.tolerations: Knative rejects it unless the cluster enables kubernetes.podspec-tolerations (config-features)`,
      `${at}: spec.predictor.terminationGracePeriodSeconds: Knative masks it on every revision (no feature flag allows it); it derives the grace period from the revision timeout`,
      `${at}: spec.predictor.volumes[1].persistentVolumeClaim: Knative rejects PersistentVolumeClaim volumes unless the cluster enables kubernetes.podspec-persistent-volume-claim`,
      `${at}: spec.predictor.containers[0].securityContext.capabilities.add: Knative rejects added capabilities unless the cluster enables kubernetes.containerspec-addcapabilities`,
    ]);
  });
});
