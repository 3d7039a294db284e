'use strict';
// Issue 22 on the real node: payload logging and the drift monitor as dist/ deploys them. By the
// time these run, the walkthrough has sent hundreds of predictions to iris's default predictor,
// each logged by Seldon's executor to the payload sink in its pod, which uploads to MinIO. The
// iris-monitor CronJob, triggered once, must fetch that log (mc), compare it with the champion's
// training reference (R, against MLflow by its Service name), upload its figures (mc), and the
// sink of an iris-default pod must serve them on its metrics port to a pod of the scrapers'
// namespace (the only one its NetworkPolicy admits there).
const { it } = require('node:test');
const assert = require('node:assert/strict');
const { promSum } = require('../lib/checks');
const { contract } = require('../lib/stack');

const METRICS = contract.metrics;

function register({ node, ns, dist, wget, predictorPods, scrapePod, scrapeNamespace }) {
  const cron = dist.of('CronJob').find((c) => c.metadata.name === 'iris-monitor');
  const iris = dist.seldonDeployments().find((d) => d.metadata.name === 'iris');
  const main = iris.spec.predictors[0];
  const sink = main.componentSpecs[0].spec.containers.find((c) => c.name === 'payload-sink');

  it('payload logging and drift on the node: the sinks upload, iris-monitor triggered once runs fetch, R and upload, and an iris-default pod\'s sink serves its figures', async (t) => {
    assert.ok(cron && sink, 'dist/ has the iris-monitor CronJob and a payload sink in iris\'s pods');
    const port = sink.ports.find((p) => p.name === 'sink-metrics').containerPort;
    const pod = (await predictorPods(main))[0];
    const metrics = async () => {
      const r = await wget(scrapePod, `http://${pod.status.podIP}:${port}/metrics`, { namespace: scrapeNamespace });
      assert.equal(r.code, 0, `the sink's metrics: ${r.stderr}`);
      return r.stdout;
    };
    const uploaded = promSum(await metrics(), 'rmlops_sink_events_uploaded_total');
    t.diagnostic(`${pod.metadata.name}: the sink uploaded ${uploaded} events so far`);
    assert.ok(uploaded > 0, 'the sink of a serving pod uploaded no event');

    const job = 'iris-monitor-node';
    const started = Date.now() / 1000;
    await node.kubectlOk(['-n', ns, 'create', 'job', job, `--from=cronjob/${cron.metadata.name}`]);
    let status = {};
    const deadline = Date.now() + 300000;
    while (Date.now() < deadline) {
      status = (await node.getJson(['-n', ns, 'job', job])).status || {};
      if (status.succeeded || status.failed) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const logs = async () => {
      const out = [];
      for (const c of ['fetch', 'drift', 'upload']) {
        const r = await node.kubectl(['-n', ns, 'logs', `job/${job}`, '-c', c, '--tail=15']);
        out.push(`--- ${c}\n${r.stdout}${r.stderr}`);
      }
      return out.join('\n');
    };
    assert.equal(status.succeeded, 1, `the monitor Job did not succeed within 300 s: ${JSON.stringify(status)}\n${await logs()}`);
    const ran = (Date.parse(status.completionTime) - Date.parse(status.startTime)) / 1000;
    t.diagnostic(`figure: the monitor Job (fetch, R, upload) ran in ${ran.toFixed(0)} s on the node`);
    t.diagnostic((await logs()).split('\n').filter((l) => /rows|window|alarm|drift|upload|objects/i.test(l)).slice(0, 8).join('\n'));

    // The sink re-reads the figures every SINK_MONITOR_POLL_SECONDS (60 s in dist/).
    const poll = Number((sink.env || []).find((e) => e.name === 'SINK_MONITOR_POLL_SECONDS')?.value || 60);
    let text = '';
    const until = Date.now() + (poll + 60) * 1000;
    while (Date.now() < until) {
      text = await metrics();
      if (promSum(text, METRICS.monitorLastSuccess) >= started - 1) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    const last = promSum(text, METRICS.monitorLastSuccess);
    assert.ok(last >= started - 1, `the sink serves no figures of this run within ${poll + 60} s:\n${text.split('\n').filter((l) => l.startsWith('rmlops_monitor') || l.startsWith('rmlops_sink_monitor')).join('\n')}`);
    const events = promSum(text, METRICS.monitorWindowEvents);
    assert.ok(events > 0, 'the monitor saw no request event in the window');
    const alarms = text.split('\n').filter((l) => l.startsWith('rmlops_monitor_drift_alarm'));
    t.diagnostic(`figure: drift monitor on the node: a window of ${events} request events; ${alarms.join('; ') || 'no drift figures (fewer rows than minRows)'}`);
  });
}

module.exports = { register };
