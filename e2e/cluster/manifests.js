'use strict';
// dist/ as objects, the pod templates inside them, and Pod Security dry-runs of those templates.
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const { ROOT } = require('./controlplane');

const DIST = process.env.RMLOPS_DIST || path.join(ROOT, 'dist');
const DIST_KSERVE = process.env.RMLOPS_DIST_KSERVE || path.join(ROOT, 'dist-kserve');

function distObjects(dir = DIST) {
  const out = [];
  for (const file of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
      const obj = doc.toJS();
      if (obj) out.push({ file, obj });
    }
  }
  return out;
}

const ref = (o) => `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

// Every pod spec the objects would make the cluster run, with where it came from.
function podTemplates(objects) {
  const out = [];
  for (const { obj } of objects) {
    if (obj.kind === 'Deployment' || obj.kind === 'Job') {
      out.push({ source: ref(obj), name: `${obj.kind}-${obj.metadata.name}`, metadata: obj.spec.template.metadata, spec: obj.spec.template.spec });
    } else if (obj.kind === 'CronJob') {
      const t = obj.spec.jobTemplate.spec.template;
      out.push({ source: `${ref(obj)} jobTemplate`, name: `${obj.kind}-${obj.metadata.name}`, metadata: t.metadata, spec: t.spec });
    } else if (obj.kind === 'SeldonDeployment') {
      for (const p of obj.spec.predictors || []) {
        (p.componentSpecs || []).forEach((c, i) => out.push({
          source: `${ref(obj)} predictor ${p.name} componentSpecs[${i}]`,
          name: `sdep-${obj.metadata.name}-${p.name}-${i}`,
          metadata: c.metadata,
          spec: c.spec,
        }));
      }
    } else if (obj.kind === 'InferenceService' && ((obj.spec.predictor || {}).containers || []).length) {
      // A custom predictor is a pod spec inline, next to KServe's own fields (replicas, scaling,
      // canary), which a Pod does not have.
      const p = obj.spec.predictor;
      const podFields = ['containers', 'volumes', 'securityContext', 'serviceAccountName', 'automountServiceAccountToken', 'nodeSelector', 'tolerations', 'affinity', 'priorityClassName', 'imagePullSecrets'];
      const spec = Object.fromEntries(podFields.filter((k) => p[k] !== undefined).map((k) => [k, p[k]]));
      out.push({ source: `${ref(obj)} predictor`, name: `isvc-${obj.metadata.name}`, metadata: { labels: p.labels || {} }, spec });
    }
  }
  return out;
}

function podFrom(template, namespace) {
  const name = template.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 63).replace(/-+$/, '');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: (template.metadata && template.metadata.labels) || {} },
    spec: template.spec,
  };
}

// The API server's Pod Security message lists violations as `<check> (<detail>)`, comma separated.
function psaViolations(stderr) {
  const m = /violates PodSecurity "([^"]+)": (.*)$/m.exec(stderr);
  if (!m) return null;
  const parts = [];
  let depth = 0;
  let cur = '';
  for (const ch of m[2]) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur.trim());
  return { level: m[1], violations: parts };
}

// Creates the Pod with --dry-run=server: admission (Pod Security included) runs, nothing is stored.
// The check namespace is not the template's own, so a ServiceAccount the template names (which
// dist/ creates in its namespace) is created there first: the ServiceAccount admission plugin
// refuses a Pod whose account does not exist.
async function dryRunPod(cp, template, namespace) {
  const pod = podFrom(template, namespace);
  if (pod.spec.serviceAccountName) await ensureServiceAccount(cp, namespace, pod.spec.serviceAccountName);
  const r = await cp.kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: JSON.stringify(pod) });
  const v = r.code === 0 ? null : psaViolations(r.stderr);
  return {
    source: template.source,
    pod: pod.metadata.name,
    namespace,
    admitted: r.code === 0,
    psa: v,
    error: r.code === 0 ? '' : r.stderr.trim(),
    warnings: r.stderr.split('\n').filter((l) => l.startsWith('Warning:')),
  };
}

// Namespaces for the checks. No controller manager runs, so the "default" ServiceAccount that the
// ServiceAccount admission plugin requires before it admits a Pod is created here by hand.
async function psaNamespace(cp, name, level) {
  const ns = {
    apiVersion: 'v1', kind: 'Namespace',
    metadata: {
      name,
      labels: {
        'pod-security.kubernetes.io/enforce': level,
        'pod-security.kubernetes.io/enforce-version': 'v1.28',
      },
    },
  };
  await cp.kubectlOk(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(ns) });
  await ensureDefaultServiceAccount(cp, name);
}

async function ensureServiceAccount(cp, namespace, name) {
  const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } };
  await cp.kubectlOk(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(sa) });
}

const ensureDefaultServiceAccount = (cp, namespace) => ensureServiceAccount(cp, namespace, 'default');

// Leaves of `want` that `got` lacks or holds differently, as JSON paths. Used to find fields the
// API server dropped (CRD pruning) or rewrote on the way in.
function missingLeaves(want, got, at = '') {
  if (want === null || typeof want !== 'object') {
    return String(want) === String(got) ? [] : [`${at}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`];
  }
  // An empty list or map and an absent field are the same to the API server (Go's omitempty
  // drops the empty one on the way in), so only a non-empty one can go missing.
  if (Object.keys(want).length === 0 && (got === undefined || typeof got === 'object')) return [];
  if (got === null || typeof got !== 'object') return [`${at}: missing (want ${JSON.stringify(want).slice(0, 120)})`];
  const out = [];
  for (const k of Object.keys(want)) {
    out.push(...missingLeaves(want[k], got[k], Array.isArray(want) ? `${at}[${k}]` : `${at}.${k}`));
  }
  return out;
}

module.exports = {
  DIST, DIST_KSERVE, distObjects, ref, podTemplates, podFrom, dryRunPod, psaNamespace, ensureDefaultServiceAccount, psaViolations, missingLeaves,
};
