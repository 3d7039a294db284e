// The Helm chart writer without Helm (e2e/helm renders it with a real `helm template`).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Chart, Yaml } from 'cdk8s';
import { buildApp } from '../main';
import { orderedManifests } from '../lib';
import { chartYaml, helmOptionProblems, helmTemplateText, writeHelmChart } from '../lib/helm';
import { SeldonRModel } from '../lib';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'rmlops-helm-unit-'));

describe('writeHelmChart', () => {
  test('one template per dist/ object with the same file name, Chart.yaml with the version, no values', () => {
    const out = tmp();
    try {
      const manifests = writeHelmChart(buildApp(), out, { name: 'rmlops-iris', version: '0.3.0' });
      const dir = path.join(out, 'rmlops-iris');
      expect(fs.readdirSync(path.join(dir, 'templates'))).toEqual(manifests.map((m) => m.file));
      expect(fs.readdirSync(path.join(dir, 'templates'))).toEqual(fs.readdirSync(path.join(__dirname, '..', 'dist')).filter((f) => f.endsWith('.yaml')).sort());
      expect(Yaml.load(path.join(dir, 'Chart.yaml'))[0]).toEqual({
        apiVersion: 'v2', name: 'rmlops-iris', description: 'Manifests synthesized by rmlops-cdk8s.', type: 'application',
        version: '0.3.0', appVersion: '0.3.0', kubeVersion: '>=1.27.0-0',
      });
      expect(fs.readFileSync(path.join(dir, 'values.yaml'), 'utf8')).toMatch(/^#[^\n]*\n$/);
      // Rewriting replaces the chart (no stale templates).
      fs.writeFileSync(path.join(dir, 'templates', 'stale.yaml'), 'x: 1\n');
      writeHelmChart(buildApp(), out, { name: 'rmlops-iris', version: '0.3.1' });
      expect(fs.existsSync(path.join(dir, 'templates', 'stale.yaml'))).toBe(false);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('an invalid app, a bad version or name, or a folder that is not a chart: nothing written', () => {
    const out = tmp();
    try {
      const app = new App();
      new SeldonRModel(new Chart(app, 'c', { namespace: 'a' }), 'iris', { model: 'file:///models/m', modelVolume: { claimName: 'm' }, replicas: -1 });
      expect(() => writeHelmChart(app, out, { name: 'x', version: '1.0.0' })).toThrow(/\[c\/iris\] replicas = -1/);
      expect(() => writeHelmChart(buildApp(), out, { name: 'x', version: 'v1' })).toThrow('chart version "v1": Helm requires SemVer 2');
      expect(() => writeHelmChart(buildApp(), out, { name: 'My_Chart', version: '1.0.0' })).toThrow('chart name "My_Chart"');
      fs.mkdirSync(path.join(out, 'docs'));
      fs.writeFileSync(path.join(out, 'docs', 'notes.md'), 'mine');
      expect(() => writeHelmChart(buildApp(), out, { name: 'docs', version: '1.0.0' })).toThrow('is not a chart (no Chart.yaml)');
      expect(fs.readdirSync(out)).toEqual(['docs']);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('option checks, template escaping and Chart.yaml', () => {
    expect(helmOptionProblems({ name: 'rmlops-iris', version: '1.2.3-rc.1+build.5' })).toEqual([]);
    expect(helmOptionProblems({ name: 'a'.repeat(54), version: '01.2.3' })).toHaveLength(2);
    expect(helmTemplateText({ data: { s: 'a {{ b }} {{c' } })).toBe('data:\n  s: a {{ "{{" }} b }} {{ "{{" }}c\n');
    expect(helmTemplateText({ data: { s: 'plain' } })).toBe(Yaml.stringify({ data: { s: 'plain' } }));
    expect(chartYaml({ name: 'n', version: '1.0.0', appVersion: '2', kubeVersion: '>=1.29.0-0' })).toContain('kubeVersion: ">=1.29.0-0"');
    expect(orderedManifests(buildApp()).length).toBeGreaterThan(0);
  });
});
