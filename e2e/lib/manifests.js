'use strict';
// Reads the synthesized manifests and finds the workloads by what they are (kind and the
// app.kubernetes.io/component label the constructs set), never by the example's names.
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

function loadDist(dir) {
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  if (files.length === 0) throw new Error(`no manifests in ${dir}: run \`npm run synth\``);
  const docs = [];
  for (const f of files) {
    for (const d of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'))) {
      const obj = d.toJS();
      if (obj && obj.kind) docs.push(obj);
    }
  }
  return new Manifests(docs);
}

const component = (o) => (o.metadata.labels || {})['app.kubernetes.io/component'];

class Manifests {
  constructor(docs) {
    this.docs = docs;
  }

  of(kind) {
    return this.docs.filter((d) => d.kind === kind);
  }

  byComponent(kind, comp) {
    return this.of(kind).filter((d) => component(d) === comp);
  }

  one(kind, comp) {
    const found = this.byComponent(kind, comp);
    if (found.length !== 1) {
      throw new Error(`expected exactly one ${kind} with component=${comp} in dist/, found ${found.length}`);
    }
    return found[0];
  }

  artifactStore() {
    return this.one('Deployment', 'artifact-store');
  }

  provisioningJobs() {
    return this.byComponent('Job', 'provisioning');
  }

  trackingServer() {
    return this.one('Deployment', 'tracking-server');
  }

  // Training Jobs, and the Jobs that training CronJobs create (run here once, on demand).
  trainingJobs() {
    const fromCron = this.byComponent('CronJob', 'training').map((cj) => ({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { ...cj.metadata, ...(cj.spec.jobTemplate.metadata || {}), name: cj.metadata.name, namespace: cj.metadata.namespace },
      spec: cj.spec.jobTemplate.spec,
      fromCronJob: cj.metadata.name,
    }));
    return [...this.byComponent('Job', 'training'), ...fromCron];
  }

  seldonDeployments() {
    return this.of('SeldonDeployment');
  }

  // The drift monitors' CronJobs (ModelMonitor).
  monitors() {
    return this.byComponent('CronJob', 'monitoring');
  }

  inferenceServices() {
    return this.of('InferenceService');
  }

  configMap(ns, name) {
    const cm = this.of('ConfigMap').find((c) => c.metadata.name === name && (c.metadata.namespace || ns) === ns);
    if (!cm) throw new Error(`ConfigMap ${ns}/${name} is mounted but not in dist/`);
    return cm;
  }

  services() {
    return this.of('Service');
  }
}

module.exports = { loadDist, Manifests };
