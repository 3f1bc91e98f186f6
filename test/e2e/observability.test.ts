// The chart's observability kit against a real Prometheus (built from its Go module) that scrapes
// the e2e cluster: the runtime pods through Kubernetes service discovery with the scrape
// configuration derived from the chart's rendered PodMonitor (so the two cannot drift), and the
// operator (a host process here) with the ServiceMonitor's label handling. iris serves under
// load with a third of its requests refused 400, then a version with a wrong sha256 is rolled
// back. Then every dashboard panel query (variables substituted) and every alert expression (and
// the left-hand side of each threshold) is run through Prometheus's HTTP API: each returns data
// with the labels the panels and alert annotations use; the alerts the scenario provokes fire.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dump } from 'js-yaml';
import { chartDir, findManifest, renderChart, resolveHelm, type Manifest } from '@modelship/devcluster/helm';
import { clients, condition, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import {
  podMonitorScrapeConfig,
  staticScrapeConfig,
  type PodMonitorSpec,
  type MonitorEndpoint,
} from '@modelship/devcluster/prometheus-monitors';
import { repoRoot } from '@modelship/devcluster/binaries';
import { startModelServer, type ModelServer } from '@modelship/devcluster/model-server';
import { GATEWAY_IP } from '@modelship/devcluster/network';
import { resolvePrometheus, startPrometheus, type PrometheusServer, type Sample } from '@modelship/devcluster/prometheus';
import { waitFor } from '@modelship/devcluster/wait';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { irisServiceUrl } from './faults.ts';
import { createAndWaitReady, exampleIris, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import { startLoad, type Load } from './load.ts';
import {
  alertParts,
  annotationLabels,
  chartAlerts,
  chartDashboard,
  holds,
  labelValuesQuery,
  outerByLabels,
  substitute,
} from './observability-queries.ts';

const SCRAPE = '2s';
const BAD_SHA = 'ab'.repeat(32);
/**
 * Version 2's model is sent at this rate (iris is 506 bytes: ~10 s), so its rollout lasts several
 * scrapes before the checksum fails it; unthrottled it once ended between two scrapes (CI, stop 22).
 */
const SLOW_BYTES_PER_SECOND = 50;
const GOOD = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [6.3, 3.3, 6.0, 2.5] }] };
const BAD = { inputs: [{ name: 'no-such-input', datatype: 'FP32', shape: [1, 4], data: [6.3, 3.3, 6.0, 2.5] }] };

const show = (samples: Sample[]) =>
  samples.length === 0
    ? '(empty)'
    : samples
        .map((s) => {
          const { __name__: _name, ...labels } = s.metric;
          return `${JSON.stringify(labels)} ${Number.isInteger(s.value) ? s.value : s.value.toPrecision(4)}`;
        })
        .join('; ');

describe('e2e: dashboard and alert queries against a real Prometheus scraping the cluster', { timeout: 600_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess | undefined;
  let prom: PrometheusServer | undefined;
  let load: Load | undefined;
  let metadataTimer: NodeJS.Timeout | undefined;
  let dir: string | undefined;
  let slowModels: ModelServer | undefined;
  /** ModelshipRolloutStuck's series exist only while a rollout is under way: sampled then. */
  let duringRollout: { time: number } | undefined;

  const q = (expr: string, time?: number) => prom!.query(expr, time);

  before(
    async () => {
      // started in the background by test/run.ts; waits here only if that build is still running
      await resolvePrometheus((line) => process.stderr.write(`prometheus: ${line}\n`));
      await resolveHelm();
      cluster = await getE2eCluster();
      c = clients();
      ns = await restrictedNamespace(c, 'e2e-observe');
      op = await startE2eOperator(cluster, ns);

      // the chart's monitors, as an installation with the kit on renders them
      const ms = await renderChart({
        values: {
          'metrics.podMonitor.enabled': true,
          'metrics.podMonitor.interval': SCRAPE,
          'metrics.podMonitor.scrapeTimeout': '1s',
          'metrics.serviceMonitor.enabled': true,
          'metrics.serviceMonitor.interval': SCRAPE,
          'metrics.serviceMonitor.scrapeTimeout': '1s',
        },
      });
      const pm = findManifest(ms, 'PodMonitor') as Manifest & { spec: PodMonitorSpec };
      const sm = findManifest(ms, 'ServiceMonitor') as Manifest & { spec: { endpoints: MonitorEndpoint[] } };
      const config = {
        global: { scrape_interval: SCRAPE, evaluation_interval: SCRAPE },
        rule_files: [join(chartDir, 'files/rules.yaml')],
        scrape_configs: [
          podMonitorScrapeConfig(pm, 0, { kubeconfig_file: cluster.kubeconfigPath }),
          staticScrapeConfig('modelship-operator', `127.0.0.1:${op.port}`, sm.spec.endpoints[0]!),
        ],
      };
      dir = await mkdtemp(join(tmpdir(), 'modelship-prometheus-'));
      prom = await startPrometheus({ config: dump(config, { lineWidth: -1 }), dir, log: (l) => process.stderr.write(`${l}\n`) });
    },
    { timeout: 30 * 60_000 },
  );

  after(async () => {
    clearInterval(metadataTimer);
    await load?.stop();
    await prom?.stop();
    await slowModels?.close();
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
    await cluster?.stop();
  });

  it('runtime pods are discovered through the Kubernetes API and labelled as the PodMonitor says', async (t) => {
    await createAndWaitReady(c, ns, exampleIris(cluster.modelServerUrl));
    const [pod] = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=iris' })).items;
    const up = await waitFor(
      async () => {
        const r = await q(`up{job="modelship-runtime", namespace="${ns}"} == 1`);
        return r.length > 0 ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, description: 'the iris pod scraped by Prometheus' },
    );
    t.diagnostic(`up: ${show(up)}`);
    assert.equal(up.length, 1);
    const labels = up[0]!.metric;
    assert.equal(labels.pod, pod?.metadata?.name);
    assert.equal(labels.modeldeployment, 'iris');
    assert.equal(labels.version, '1');
    assert.equal(labels.track, 'stable');
    assert.equal(labels.instance, `${pod?.status?.podIP}:9090`);
    // the runtime's own version label is dropped after the pod label wins the clash
    const series = await q(`modelship_requests_total{namespace="${ns}"} or modelship_ready{namespace="${ns}"}`);
    assert.ok(series.length > 0);
    for (const s of series) {
      assert.equal(s.metric.exported_version, undefined, JSON.stringify(s.metric));
      assert.equal(s.metric.version, '1', JSON.stringify(s.metric));
    }
    // the later tests read the operator's series: wait for its first good scrape (a loaded CI run
    // once found no `up` for it yet here), and say what Prometheus saw when there is none
    const operatorUp = await waitFor(
      async () => {
        const r = await q('up{job="modelship-operator"} == 1');
        return r.length > 0 ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, description: 'the operator scraped by Prometheus' },
    ).catch(async (err: unknown) => {
      const targets = (await prom!.targets()).filter((x) => x.scrapePool === 'modelship-operator');
      throw new Error(`${String(err)}; operator targets: ${JSON.stringify(targets)}`);
    });
    t.diagnostic(`operator up: ${show(operatorUp)}`);
    assert.deepEqual(
      operatorUp.map((s) => s.value),
      [1],
    );
  });

  it('under load with client errors, a failed rollout is rolled back; the provoked alerts fire', async (t) => {
    const url = await irisServiceUrl(c, ns);
    load = startLoad({
      url,
      body: (n) => JSON.stringify(n % 3 === 0 ? BAD : GOOD),
      rate: 20,
      maxSeconds: 300,
      check: (status, body, n) => {
        if (n % 3 === 0) return status === 400 ? { expected: '400' } : `bad request answered ${status} ${body.slice(0, 200)}`;
        return status === 200 ? undefined : `HTTP ${status} ${body.slice(0, 200)}`;
      },
    });
    // metadata calls (not predictions) beside the load
    const metadataUrl = url.replace(/\/infer$/, '');
    metadataTimer = setInterval(() => void fetch(metadataUrl, { signal: AbortSignal.timeout(2_000) }).catch(() => {}), 500);
    await new Promise((r) => setTimeout(r, 15_000));

    slowModels = await startModelServer({
      root: join(repoRoot, 'examples/models'),
      host: GATEWAY_IP,
      bytesPerSecond: SLOW_BYTES_PER_SECOND,
    });
    await patchMd(c, ns, 'iris', { spec: { model: { version: '2', uri: `${slowModels.url}/iris/model.onnx`, sha256: BAD_SHA } } });
    // while version 2 rolls out, the operator reports it as updating
    await waitFor(
      async () => {
        // the last scrape that saw it (a fast rollback may end it between two of our polls)
        const r = await q(
          `max_over_time(timestamp(modelship_modeldeployment_info{namespace="${ns}", name="iris", updating_version="2"})[5m:1s])`,
        );
        if (r.length === 0) return undefined;
        duringRollout = { time: r[0]!.value };
        return r;
      },
      { timeoutMs: 120_000, intervalMs: 500, description: 'the rollout of version 2 in Prometheus' },
    );
    const md = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'iris');
        return m.status?.failedVersion === '2' && m.status.history?.[0]?.outcome === 'RolledBack' ? m : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1_000, description: 'the rollback of version 2' },
    );
    assert.equal(md.status?.currentVersion, '1');
    // version 2's pod never left its fetch init container (phase Pending): the PodMonitor's
    // relabeling kept it from ever being a target, so no `up` series of version 2 ever existed
    assert.deepEqual(await q(`count_over_time(up{job="modelship-runtime", namespace="${ns}", version="2"}[10m])`), []);
    assert.notEqual(condition(md, 'Ready')?.status, 'True');
    const firing = await waitFor(
      async () => {
        const r = await q(`ALERTS{alertname="ModelshipRolloutRolledBack", alertstate="firing", namespace="${ns}"}`);
        return r.length > 0 ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, description: 'ModelshipRolloutRolledBack firing in Prometheus' },
    );
    t.diagnostic(`ALERTS: ${show(firing)}`);
    assert.equal(firing[0]!.metric.modeldeployment, 'iris');
    assert.equal(firing[0]!.metric.version, '2');
    assert.equal(firing[0]!.metric.current_version, '1');
    const s = load.snapshot();
    t.diagnostic(`load so far: ${s.sent} sent, ${s.ok} ok, ${s.expected['400']?.length ?? 0} refused 400 on purpose, ${s.failed} failed`);
    assert.equal(s.failed, 0, s.failures.join('; '));
  });

  it('every dashboard panel query returns data with the labels its panel shows', async (t) => {
    const vars = { namespace: ns, modeldeployment: 'iris', rateInterval: '1m' };
    const d = chartDashboard();
    // the variables' own queries offer this namespace, ModelDeployment and version
    const wantValue: Record<string, string> = { namespace: ns, modeldeployment: 'iris', version: '1' };
    for (const v of d.templating.list.filter((x) => x.type === 'query')) {
      const lv = labelValuesQuery(substitute(v.definition ?? '', vars))!;
      const r = await q(lv.expr);
      t.diagnostic(`variable ${v.name}: ${lv.expr} → ${r.map((s) => s.metric[lv.label]).join(', ')}`);
      assert.ok(
        r.some((s) => s.metric[lv.label] === wantValue[v.name]),
        `${v.name} offers ${wantValue[v.name]}`,
      );
    }
    const time = Date.now() / 1000;
    let count = 0;
    for (const p of d.panels.filter((x) => x.type !== 'row')) {
      for (const target of p.targets ?? []) {
        const expr = substitute(target.expr, vars);
        const r = await q(expr, time);
        count++;
        t.diagnostic(`[${p.title}] ${expr} = ${show(r)}`);
        assert.ok(r.length > 0, `panel "${p.title}": ${expr} returned no data`);
        for (const s of r) {
          for (const l of outerByLabels(expr)) assert.ok(s.metric[l], `panel "${p.title}": label ${l} in ${JSON.stringify(s.metric)}`);
          // version 1 serves; version 2's pod never got past its init container, so it was never a target
          if (expr.includes('job="modelship-runtime"') && outerByLabels(expr).includes('version'))
            assert.equal(s.metric.version, '1', `panel "${p.title}"`);
          if (/name="iris"/.test(expr)) assert.deepEqual([s.metric.namespace, s.metric.name], [ns, 'iris'], p.title);
        }
        if (/histogram_quantile/.test(expr))
          assert.ok(
            r.every((s) => Number.isFinite(s.value)),
            `panel "${p.title}": a latency`,
          );
      }
    }
    t.diagnostic(`${count} panel queries, all with data`);
    // the rollout panels count the rolled-back rollout of version 2 (over 5m: all of this test)
    const panelExpr = (title: string) =>
      substitute(d.panels.find((p) => p.title.startsWith(title))!.targets![0]!.expr, { ...vars, rateInterval: '5m' });
    const outcomes = Object.fromEntries((await q(panelExpr('Rollouts by outcome'), time)).map((s) => [s.metric.outcome, s.value]));
    const rollbacks = (await q(panelExpr('Rollbacks'), time))[0]?.value ?? 0;
    t.diagnostic(`over 5m: rollouts by outcome ${JSON.stringify(outcomes)}, rollbacks ${rollbacks}`);
    assert.ok((outcomes.started ?? 0) >= 0.5 && (outcomes.failed ?? 0) >= 0.5, `a rollout started and failed: ${JSON.stringify(outcomes)}`);
    assert.ok(rollbacks >= 0.5, `a rollback: ${rollbacks}`);
  });

  it('every alert expression, and the left-hand side of every threshold, answers with the labels its annotations use', async (t) => {
    const time = Date.now() / 1000;
    const fired: string[] = [];
    for (const rule of chartAlerts()) {
      // ModelshipRolloutStuck watches rollouts under way: evaluated when one was
      const at = rule.alert === 'ModelshipRolloutStuck' ? duringRollout!.time : time;
      const full = await q(rule.expr, at);
      const parts = alertParts(rule.expr);
      assert.ok(parts, `${rule.alert}: a threshold, a threshold unless another series, or absent()`);
      const lhs = await q(parts.lhs, at);
      t.diagnostic(`${rule.alert}: ${parts.lhs.replace(/\s+/g, ' ')} = ${show(lhs)}`);
      t.diagnostic(`${rule.alert}: full expression = ${show(full)}`);
      assert.ok(lhs.length > 0, `${rule.alert}: ${parts.lhs} returned no data`);
      if (parts.threshold) {
        const threshold = parts.threshold;
        for (const s of lhs)
          for (const l of annotationLabels(rule))
            assert.ok(s.metric[l] !== undefined && s.metric[l] !== '', `${rule.alert}: label ${l} in ${JSON.stringify(s.metric)}`);
        // the full expression keeps exactly the series over the threshold (and not excluded by `unless`)
        let want = lhs.filter((s) => holds(threshold, s.value));
        if (parts.unless) {
          const { on, expr } = parts.unless;
          const excluded = await q(expr, at);
          t.diagnostic(`${rule.alert}: unless ${expr} = ${show(excluded)}`);
          want = want.filter((s) => !excluded.some((e) => on.every((l) => e.metric[l] === s.metric[l])));
        }
        const key = (m: Record<string, string>) => JSON.stringify(Object.entries(m).sort());
        assert.deepEqual(
          full.map((s) => key(s.metric)).sort(),
          want.map((s) => key(s.metric)).sort(),
          `${rule.alert}: full expression vs threshold`,
        );
      } else {
        assert.deepEqual(full, [], `${rule.alert}: ${rule.expr} while the operator is up`);
      }
      // the cluster is shared with the other e2e files (a namespace still being deleted can hold a pod that
      // no longer answers scrapes): only this test's namespace, and the operator's own series, count
      if (full.some((s) => s.metric.namespace === undefined || s.metric.namespace === ns)) fired.push(rule.alert);
    }
    t.diagnostic(`expressions true in this scenario: ${fired.join(', ')}`);
    // what the scenario provoked: a third of the requests refused, a rolled-back ModelDeployment, a rollout under way
    for (const want of ['ModelshipHighClientErrorRate', 'ModelshipRolloutRolledBack', 'ModelshipRolloutStuck'])
      assert.ok(fired.includes(want), `${want} true (${fired.join(', ')})`);
    // iris is not Ready (rolled back) but that is ModelshipRolloutRolledBack's to report; the
    // failed version's pod never left its init container (Pending), so it is no scrape target
    for (const quiet of [
      'ModelshipHighErrorRate',
      'ModelshipHighLatencyP99',
      'ModelshipOperatorReconcileErrors',
      'ModelshipModelDeploymentNotReady',
      'ModelshipRuntimeTargetDown',
    ])
      assert.ok(!fired.includes(quiet), `${quiet} false`);
    const ready = await q(`modelship_modeldeployment_ready{namespace="${ns}", name="iris"}`, time);
    assert.deepEqual(
      ready.map((s) => s.value),
      [0],
      'iris is not Ready after the rollback',
    );
  });

  it('ModelshipOperatorDown: its expression becomes true once the operator stops answering scrapes', async (t) => {
    const result = await load!.stop();
    load = undefined;
    assert.equal(result.failed, 0, result.failures.join('; '));
    const rule = chartAlerts().find((r) => r.alert === 'ModelshipOperatorDown')!;
    await op!.stop();
    op = undefined;
    const r = await waitFor(
      async () => {
        const got = await q(rule.expr);
        return got.length > 0 ? got : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, description: `${rule.expr} true` },
    );
    t.diagnostic(`ModelshipOperatorDown after the operator stopped: ${rule.expr} = ${show(r)}`);
    assert.equal(r[0]!.value, 1);
  });
});
