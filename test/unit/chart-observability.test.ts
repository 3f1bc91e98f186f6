// The chart's observability kit through the real helm: the runtime PodMonitor, the PrometheusRule
// (rendered from charts/modelship/files/rules.yaml, the one source of the alert expressions) and
// the Grafana dashboard ConfigMap; off by default, and consistent with what the operator renders
// and the runtime and operator export. promtool tests the rules (test/integration/
// prometheus-rules.test.ts); a real Prometheus runs every query (test/e2e/observability.test.ts).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { load } from 'js-yaml';
import { repoRoot } from '@modelship/devcluster/binaries';
import { chartDir, findManifest, renderChart, resolveHelm, runHelm, setArgs, type Manifest } from '@modelship/devcluster/helm';
import { podMonitorScrapeConfig, sanitizeLabelName, type PodMonitorSpec } from '@modelship/devcluster/prometheus-monitors';
import { LABEL_INSTANCE, LABEL_MODEL_VERSION, LABEL_TRACK } from '../../operator/src/api/labels.ts';
import { renderCanaryDeployment } from '../../operator/src/render/children.ts';
import { renderPodTemplate } from '../../operator/src/render/pod-template.ts';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';
import {
  absentArgument,
  alertParts,
  annotationLabels,
  labelValuesQuery,
  outerByLabels,
  splitThreshold,
  substitute,
} from '../e2e/observability-queries.ts';

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroup {
  name: string;
  rules: Rule[];
}
interface Dashboard {
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
  panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>;
}

const rulesFile = join(chartDir, 'files/rules.yaml');
const dashboardFile = join(chartDir, 'files/dashboard.json');
const sourceGroups = () => (load(readFileSync(rulesFile, 'utf8')) as { groups: RuleGroup[] }).groups;
const sourceDashboard = () => JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;
const alerts = () => sourceGroups().flatMap((g) => g.rules);
const dashboardExprs = () => sourceDashboard().panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

const ALL_ON = {
  'metrics.serviceMonitor.enabled': true,
  'metrics.podMonitor.enabled': true,
  'metrics.prometheusRule.enabled': true,
  'metrics.dashboard.enabled': true,
};
type PodMonitor = Manifest & { spec: PodMonitorSpec };
type ServiceMonitor = Manifest & { spec: { endpoints: Array<{ honorLabels?: boolean; relabelings?: Array<Record<string, unknown>> }> } };
const jobOf = (relabelings: Array<Record<string, unknown>> | undefined) =>
  relabelings?.find((r) => r.targetLabel === 'job' && !r.sourceLabels)?.replacement as string | undefined;

/** Every source file of a workspace, concatenated: the metric names the queries use must be there. */
function sources(dir: string): string {
  return readdirSync(join(repoRoot, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'))
    .join('\n');
}

describe('chart observability kit (helm template)', () => {
  before(async () => {
    await resolveHelm();
  });

  test('off by default: no PodMonitor, PrometheusRule or dashboard ConfigMap', async () => {
    const ms = await renderChart();
    for (const kind of ['PodMonitor', 'PrometheusRule', 'ConfigMap']) assert.equal(findManifest(ms, kind), undefined, kind);
  });

  test('helm lint --strict passes with every monitoring object on', async () => {
    const r = await runHelm(['lint', '--strict', chartDir, ...setArgs(ALL_ON)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test("PodMonitor: selects the operator's runtime pods on their metrics port and relabels from their labels", async () => {
    const ms = await renderChart({ values: { ...ALL_ON, 'metrics.podMonitor.labels': { release: 'prom' } } });
    const pm = findManifest(ms, 'PodMonitor') as PodMonitor;
    assert.equal(pm.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(pm.metadata.name, 'modelship-runtime');
    assert.equal(pm.metadata.labels?.release, 'prom');
    assert.deepEqual(pm.spec.namespaceSelector, { any: true });
    const ep = pm.spec.podMetricsEndpoints[0]!;
    assert.deepEqual([ep.port, ep.path, ep.interval, ep.scrapeTimeout], ['metrics', '/metrics', '30s', '10s']);

    // the pods the operator renders (stable and canary) carry every selector label and the port
    const md = modelDeployment();
    const stable = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);
    const canary = renderCanaryDeployment(md, stable, 1).spec!.template;
    for (const pod of [stable, canary]) {
      for (const [k, v] of Object.entries(pm.spec.selector.matchLabels ?? {}))
        assert.equal(pod.metadata?.labels?.[k], v, `runtime pod label ${k}=${v}`);
      const ports = pod.spec!.containers.flatMap((c) => c.ports ?? []);
      assert.ok(
        ports.some((p) => p.name === ep.port && p.containerPort === RUNTIME_DEFAULTS.metricsPort),
        `port ${ep.port}: ${JSON.stringify(ports)}`,
      );
    }
    assert.equal(canary.metadata?.labels?.[LABEL_TRACK], 'canary');

    // modeldeployment, version and track come from the labels the operator writes
    const source = (target: string) => ep.relabelings?.filter((r) => r.targetLabel === target).map((r) => r.sourceLabels?.[0]);
    const meta = (key: string) => `__meta_kubernetes_pod_label_${sanitizeLabelName(key)}`;
    assert.deepEqual(source('modeldeployment'), [meta(LABEL_INSTANCE)]);
    assert.deepEqual(source('version'), [meta(LABEL_MODEL_VERSION)]);
    assert.deepEqual(source('track'), [meta(LABEL_TRACK), meta(LABEL_TRACK)]);
    assert.equal(ep.relabelings?.find((r) => r.targetLabel === 'track' && r.regex === '')?.replacement, 'stable');
    assert.equal(jobOf(ep.relabelings as Array<Record<string, unknown>>), 'modelship-runtime');
    assert.deepEqual(ep.metricRelabelings, [{ action: 'labeldrop', regex: 'exported_version' }]);
    // pods still in their init containers (fetching the model) are no targets
    assert.deepEqual(
      ep.relabelings?.find((r) => r.action === 'drop'),
      { sourceLabels: ['__meta_kubernetes_pod_phase'], regex: 'Pending', action: 'drop' },
    );
  });

  test('PodMonitor: port http when runtime.metricsPort is 0; namespaces from the list, else watchNamespace', async () => {
    const onHttp = (await renderChart({ values: { 'metrics.podMonitor.enabled': true, 'runtime.metricsPort': 0 } })).find(
      (m) => m.kind === 'PodMonitor',
    ) as PodMonitor;
    assert.equal(onHttp.spec.podMetricsEndpoints[0]!.port, 'http');
    const md = modelDeployment();
    const pod = renderPodTemplate(md, md.spec.model, { ...RUNTIME_DEFAULTS, metricsPort: 0 });
    assert.deepEqual(
      pod.spec!.containers.flatMap((c) => c.ports ?? []).map((p) => p.name),
      ['http'],
      'with metricsPort 0 the runtime serves /metrics on http',
    );
    const watched = findManifest(
      await renderChart({ values: { 'metrics.podMonitor.enabled': true, watchNamespace: 'ml' } }),
      'PodMonitor',
    ) as PodMonitor;
    assert.deepEqual(watched.spec.namespaceSelector, { matchNames: ['ml'] });
    const listed = findManifest(
      await renderChart({
        values: { 'metrics.podMonitor.enabled': true, watchNamespace: 'ml', 'metrics.podMonitor.namespaces': ['a', 'b'] },
      }),
      'PodMonitor',
    ) as PodMonitor;
    assert.deepEqual(listed.spec.namespaceSelector, { matchNames: ['a', 'b'] });
  });

  test('the scrape configuration derived from the PodMonitor keeps the runtime pods and their metrics port', async () => {
    const pm = findManifest(await renderChart({ values: ALL_ON }), 'PodMonitor') as PodMonitor;
    const sc = podMonitorScrapeConfig(pm as PodMonitor & { metadata: { name: string } }, 0, { kubeconfig_file: '/k' }) as {
      kubernetes_sd_configs: unknown[];
      relabel_configs: Array<Record<string, unknown>>;
      metric_relabel_configs: unknown[];
    };
    assert.deepEqual(sc.kubernetes_sd_configs, [{ role: 'pod', kubeconfig_file: '/k' }]);
    const keeps = sc.relabel_configs.filter((r) => r.action === 'keep');
    assert.deepEqual(
      keeps.map((r) => [r.source_labels, r.regex]),
      [
        [
          ['__meta_kubernetes_pod_label_app_kubernetes_io_name', '__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name'],
          '(modelship-runtime);true',
        ],
        [
          ['__meta_kubernetes_pod_label_app_kubernetes_io_managed_by', '__meta_kubernetes_pod_labelpresent_app_kubernetes_io_managed_by'],
          '(modelship);true',
        ],
        [['__meta_kubernetes_pod_container_port_name'], 'metrics'],
      ],
    );
    // the monitor's own relabelings come last, so its job name wins over the generated one
    const jobs = sc.relabel_configs.filter((r) => r.target_label === 'job').map((r) => r.replacement);
    assert.deepEqual(jobs, ['modelship-system/modelship-runtime', 'modelship-runtime']);
    assert.deepEqual(sc.metric_relabel_configs, [{ action: 'labeldrop', regex: 'exported_version' }]);
  });

  test('ServiceMonitor: honorLabels (the operator labels its series by ModelDeployment namespace) and job modelship-operator', async () => {
    const sm = findManifest(await renderChart({ values: ALL_ON }), 'ServiceMonitor') as ServiceMonitor;
    assert.equal(sm.spec.endpoints[0]!.honorLabels, true);
    assert.equal(jobOf(sm.spec.endpoints[0]!.relabelings), 'modelship-operator');
  });

  test('PrometheusRule: the groups of files/rules.yaml, with additionalRuleLabels added and severity kept', async () => {
    const plain = findManifest(await renderChart({ values: ALL_ON }), 'PrometheusRule') as Manifest & { spec: { groups: RuleGroup[] } };
    assert.equal(plain.apiVersion, 'monitoring.coreos.com/v1');
    assert.deepEqual(plain.spec.groups, sourceGroups(), 'rendered unchanged from the rules file');
    const labelled = findManifest(
      await renderChart({
        values: {
          ...ALL_ON,
          'metrics.prometheusRule.labels': { release: 'prom' },
          'metrics.prometheusRule.additionalRuleLabels': { team: 'ml', severity: 'page-everyone' },
        },
      }),
      'PrometheusRule',
    ) as Manifest & { spec: { groups: RuleGroup[] } };
    assert.equal(labelled.metadata.labels?.release, 'prom');
    const want = sourceGroups().map((g) => ({
      ...g,
      rules: g.rules.map((r) => ({ ...r, labels: { team: 'ml', ...r.labels } })),
    }));
    assert.deepEqual(labelled.spec.groups, want);
  });

  test('dashboard ConfigMap: the sidecar label, files/dashboard.json unchanged; label and namespace configurable', async () => {
    const cm = findManifest(await renderChart({ values: ALL_ON }), 'ConfigMap') as Manifest & { data: Record<string, string> };
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    assert.equal(cm.metadata.namespace, 'modelship-system');
    assert.deepEqual(JSON.parse(cm.data['modelship.json']!), sourceDashboard());
    const custom = findManifest(
      await renderChart({
        values: {
          'metrics.dashboard.enabled': true,
          'metrics.dashboard.namespace': 'grafana',
          'metrics.dashboard.sidecarLabel': 'example.com/dashboard',
          'metrics.dashboard.sidecarLabelValue': 'yes',
          'metrics.dashboard.annotations': { grafana_folder: 'Modelship' },
        },
      }),
      'ConfigMap',
    ) as Manifest;
    assert.equal(custom.metadata.namespace, 'grafana');
    assert.equal(custom.metadata.labels?.['example.com/dashboard'], 'yes');
    assert.equal(custom.metadata.labels?.grafana_dashboard, undefined);
    assert.equal(custom.metadata.annotations?.grafana_folder, 'Modelship');
  });

  test('bad values are refused by the schema with the field or key named', async () => {
    for (const [values, field] of [
      [{ 'metrics.podMonitor.enabled': true, 'metrics.podMonitor.intervall': '5s' }, 'intervall'],
      [{ 'metrics.podMonitor.namespaces': ['Not_A_Namespace'] }, 'namespaces'],
      [{ 'metrics.podMonitor.interval': 'often' }, 'interval'],
      // helm names the offending key here, not its path
      [{ 'metrics.prometheusRule.additionalRuleLabels': { 'bad-label': 'x' } }, "invalid propertyName 'bad-label'"],
      [{ 'metrics.dashboard.sidecarLabel': '' }, 'sidecarLabel'],
    ] as const) {
      const r = await runHelm(['template', 'x', chartDir, ...setArgs(values)]);
      assert.notEqual(r.code, 0, `${JSON.stringify(values)} accepted`);
      assert.match(r.stderr, new RegExp(field), r.stderr);
    }
  });
});

describe('alert rules and dashboard queries (static)', () => {
  test('every alert has a severity, a summary and a description naming what to look at', () => {
    const all = alerts();
    assert.ok(all.length >= 5);
    for (const r of all) {
      assert.match(r.alert ?? '', /^Modelship[A-Z][A-Za-z0-9]+$/, JSON.stringify(r));
      assert.ok(['critical', 'warning'].includes(r.labels?.severity ?? ''), `${r.alert}: severity`);
      assert.ok((r.annotations?.summary ?? '').length > 10, `${r.alert}: summary`);
      assert.ok((r.annotations?.description ?? '').length > 40, `${r.alert}: description`);
    }
    for (const name of [
      'ModelshipHighErrorRate',
      'ModelshipHighLatencyP99',
      'ModelshipModelDeploymentNotReady',
      'ModelshipRolloutRolledBack',
      'ModelshipOperatorDown',
    ])
      assert.ok(
        all.some((r) => r.alert === name),
        `${name} exists`,
      );
  });

  test('every alert has a promtool test where it fires and one where it must not', () => {
    const spec = load(readFileSync(join(repoRoot, 'test/promtool/rules.test.yaml'), 'utf8')) as {
      rule_files: string[];
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    assert.deepEqual(spec.rule_files, ['../../charts/modelship/files/rules.yaml']);
    const cases = spec.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const r of alerts()) {
      const mine = cases.filter((c) => c.alertname === r.alert);
      assert.ok(
        mine.some((c) => c.exp_alerts.length > 0),
        `${r.alert}: a firing case`,
      );
      assert.ok(
        mine.some((c) => c.exp_alerts.length === 0),
        `${r.alert}: a case where it does not fire`,
      );
    }
  });

  test("queries select the monitors' job names, and every metric they use is exported by the runtime or the operator", async () => {
    await resolveHelm();
    const ms = await renderChart({ values: ALL_ON });
    const runtimeJob = jobOf((findManifest(ms, 'PodMonitor') as PodMonitor).spec.podMetricsEndpoints[0]!.relabelings as never);
    const operatorJob = jobOf((findManifest(ms, 'ServiceMonitor') as ServiceMonitor).spec.endpoints[0]!.relabelings);
    const jobs = new Set([runtimeJob, operatorJob]);
    const exprs = [...alerts().map((r) => r.expr), ...dashboardExprs()];
    assert.ok(exprs.length > 20);
    const code = `${sources('runtime/src')}\n${sources('operator/src')}\n${readFileSync(join(repoRoot, 'contract/runtime-contract.ts'), 'utf8')}`;
    for (const expr of exprs) {
      for (const m of expr.matchAll(/job="([^"]+)"/g)) assert.ok(jobs.has(m[1]), `${m[1]} in ${expr}`);
      assert.match(expr, /job="/, `${expr} selects a job`);
      for (const [name] of expr.matchAll(/\b(?:modelship|controller_runtime|workqueue)_[a-z_]+/g)) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        assert.ok(code.includes(`'${base}'`), `${base} (in ${expr}) is not a metric name in runtime/src, operator/src or the contract`);
      }
    }
  });

  test('the e2e splits every alert into a threshold (or absent) and its left-hand side, and finds its annotation labels', () => {
    for (const r of alerts()) {
      const parts = alertParts(r.expr);
      assert.ok(parts && parts.lhs.length > 10, `${r.alert}: ${r.expr}`);
      if (parts.threshold) assert.ok(!/(>|<|==)\s*[0-9.]+\s*$/.test(parts.lhs), `${r.alert}: one comparison only at the end`);
    }
    const notReady = alertParts(alerts().find((r) => r.alert === 'ModelshipModelDeploymentNotReady')!.expr)!;
    assert.deepEqual([notReady.threshold?.op, notReady.threshold?.value, notReady.unless?.on], ['==', 0, ['namespace', 'name']]);
    assert.match(notReady.unless!.expr, /^modelship_modeldeployment_info\{.*phase="RolledBack"\}$/);
    const errorRate = alerts().find((r) => r.alert === 'ModelshipHighErrorRate')!;
    assert.deepEqual({ ...splitThreshold(errorRate.expr), lhs: undefined }, { lhs: undefined, op: '>', value: 0.05 });
    assert.deepEqual(annotationLabels(errorRate as Parameters<typeof annotationLabels>[0]), ['modeldeployment', 'namespace', 'version']);
    assert.equal(absentArgument('absent(up{job="x"} == 1)'), 'up{job="x"} == 1');
    assert.equal(splitThreshold('absent(up{job="x"} == 1)'), undefined);
    assert.deepEqual(labelValuesQuery('label_values(m{job="a", namespace="ml"}, modeldeployment)'), {
      expr: 'group by (modeldeployment) (m{job="a", namespace="ml"})',
      label: 'modeldeployment',
    });
    assert.deepEqual(outerByLabels('histogram_quantile(0.99, sum by (version, le) (rate(x[1m])))'), ['version']);
    assert.equal(
      substitute('x{namespace="$namespace", modeldeployment="$modeldeployment", version=~"$version"}[$__rate_interval]', {
        namespace: 'ml',
        modeldeployment: 'iris',
        rateInterval: '1m',
      }),
      'x{namespace="ml", modeldeployment="iris", version=~".*"}[1m]',
    );
  });

  test('dashboard: variables namespace, modeldeployment, version; every runtime panel filters by all three', () => {
    const d = sourceDashboard();
    assert.deepEqual(
      d.templating.list.map((v) => v.name),
      ['datasource', 'namespace', 'modeldeployment', 'version'],
    );
    const panels = d.panels.filter((p) => p.type !== 'row');
    assert.ok(panels.length >= 15);
    for (const p of panels) {
      assert.ok((p.targets ?? []).length > 0, `${p.title}: has queries`);
      for (const t of p.targets ?? []) {
        if (t.expr.includes('job="modelship-runtime"'))
          assert.match(t.expr, /namespace="\$namespace", modeldeployment="\$modeldeployment", version=~"\$version"/, p.title);
      }
    }
    const titles = panels.map((p) => p.title.toLowerCase()).join('\n');
    for (const want of [
      'request rate',
      'error ratio',
      'latency',
      'rollouts',
      'rollbacks',
      'ready',
      'operator up',
      'reconcile errors',
      'work queue',
    ])
      assert.ok(titles.includes(want), `a panel about ${want}`);
  });
});
