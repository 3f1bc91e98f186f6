// The operator's controller-runtime-style metrics (workqueue_*, controller_runtime_*) and the
// per-ModelDeployment gauges computed from the cache at scrape time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import { WorkQueueMetrics } from '../../operator/src/controller/queue-metrics.ts';
import { ReconcileMetrics } from '../../operator/src/controller/reconcile-metrics.ts';
import { WorkQueue } from '../../operator/src/controller/workqueue.ts';
import { modelDeploymentSamples, registerModelDeploymentGauges } from '../../operator/src/modeldeployment-metrics.ts';
import { modelDeployment } from './operator-fixtures.ts';

/** Every sample of one metric (histograms: by sample name), as `labels -> value`. */
async function samples(registry: Registry, name: string): Promise<Array<{ name: string; labels: Record<string, unknown>; value: number }>> {
  const metric = registry.getSingleMetric(name.replace(/_(sum|count|bucket)$/, ''));
  assert.ok(metric, `${name} registered`);
  const got = await metric.get();
  return got.values
    .map((v) => ({
      name: (v as { metricName?: string }).metricName ?? got.name,
      labels: v.labels as Record<string, unknown>,
      value: v.value,
    }))
    .filter((v) => v.name === name);
}
const one = async (registry: Registry, name: string) => {
  const s = await samples(registry, name);
  assert.equal(s.length, 1, `${name}: one series`);
  const [first] = s;
  assert.ok(first);
  return first;
};

test('workqueue metrics follow client-go: adds, queue and work duration, retries, in-flight work, with a fake clock', async () => {
  const registry = new Registry();
  let now = 100;
  const q = new WorkQueue({ baseDelayMs: 60_000, maxDelayMs: 60_000 });
  q.observe(
    new WorkQueueMetrics(
      registry,
      'modeldeployment',
      () => q.length,
      () => now,
    ),
  );
  q.add('ns/a');
  q.add('ns/a'); // dirty already: not another add
  q.add('ns/b');
  assert.deepEqual((await one(registry, 'workqueue_adds_total')).labels, { name: 'modeldeployment', controller: 'modeldeployment' });
  assert.equal((await one(registry, 'workqueue_adds_total')).value, 2);
  assert.equal((await one(registry, 'workqueue_depth')).value, 2);

  now = 102.5;
  assert.equal(await q.get(), 'ns/a');
  assert.equal((await one(registry, 'workqueue_depth')).value, 1);
  assert.equal((await one(registry, 'workqueue_queue_duration_seconds_sum')).value, 2.5);
  now = 106.5;
  assert.equal((await one(registry, 'workqueue_unfinished_work_seconds')).value, 4);
  assert.equal((await one(registry, 'workqueue_longest_running_processor_seconds')).value, 4);
  assert.equal(await q.get(), 'ns/b');
  now = 107.5;
  assert.equal((await one(registry, 'workqueue_unfinished_work_seconds')).value, 5 + 1);
  assert.equal((await one(registry, 'workqueue_longest_running_processor_seconds')).value, 5);

  q.add('ns/a'); // while in flight: counted, queued again after done
  q.done('ns/a');
  assert.equal((await one(registry, 'workqueue_work_duration_seconds_sum')).value, 5);
  assert.equal((await one(registry, 'workqueue_work_duration_seconds_count')).value, 1);
  assert.equal((await one(registry, 'workqueue_adds_total')).value, 3);
  assert.equal(q.length, 1);
  assert.equal(q.addRateLimited('ns/b'), 60_000);
  assert.equal((await one(registry, 'workqueue_retries_total')).value, 1);
  q.done('ns/b');
  assert.equal((await one(registry, 'workqueue_longest_running_processor_seconds')).value, 0, 'nothing in flight');
  q.shutdown();
});

test('a key handed straight to a waiting worker is counted as added and started', async () => {
  const registry = new Registry();
  let now = 0;
  const q = new WorkQueue();
  q.observe(
    new WorkQueueMetrics(
      registry,
      'modeldeployment',
      () => q.length,
      () => now,
    ),
  );
  const next = q.get();
  now = 1;
  q.add('ns/a');
  assert.equal(await next, 'ns/a');
  assert.equal((await one(registry, 'workqueue_adds_total')).value, 1);
  assert.equal((await one(registry, 'workqueue_queue_duration_seconds_count')).value, 1);
  now = 3;
  q.done('ns/a');
  assert.equal((await one(registry, 'workqueue_work_duration_seconds_sum')).value, 2);
  q.shutdown();
});

test('controller_runtime_* metrics: totals by result, errors, active workers, max concurrency', async () => {
  const registry = new Registry();
  const m = new ReconcileMetrics(registry, 'modeldeployment', 4);
  const results = await samples(registry, 'controller_runtime_reconcile_total');
  assert.deepEqual(results.map((r) => [r.labels.result, r.value]).sort(), [
    ['error', 0],
    ['requeue', 0],
    ['requeue_after', 0],
    ['success', 0],
  ]);
  assert.deepEqual(await one(registry, 'controller_runtime_max_concurrent_reconciles'), {
    name: 'controller_runtime_max_concurrent_reconciles',
    labels: { controller: 'modeldeployment' },
    value: 4,
  });
  const a = m.begin();
  const b = m.begin();
  assert.equal((await one(registry, 'controller_runtime_active_workers')).value, 2);
  a('error');
  b('requeue_after');
  m.begin()('success');
  assert.equal((await one(registry, 'controller_runtime_active_workers')).value, 0);
  const byResult = Object.fromEntries(
    (await samples(registry, 'controller_runtime_reconcile_total')).map((r) => [r.labels.result, r.value]),
  );
  assert.deepEqual(byResult, { success: 1, error: 1, requeue: 0, requeue_after: 1 });
  assert.equal((await one(registry, 'controller_runtime_reconcile_errors_total')).value, 1);
  assert.equal((await one(registry, 'controller_runtime_reconcile_time_seconds_count')).value, 3);
});

function md(name: string, status?: ModelDeployment['status'], version = '2'): ModelDeployment {
  const base = modelDeployment();
  return {
    ...base,
    metadata: { ...base.metadata, name, namespace: 'ml' },
    spec: { ...base.spec, model: { ...base.spec.model, version } },
    status,
  };
}
const ready = (s: 'True' | 'False') => [{ type: 'Ready', status: s, reason: 'R', message: '', lastTransitionTime: '2026-11-30T00:00:00Z' }];

test('modelDeploymentSamples: Ready condition as 0/1 and one info sample with versions and the newest rollout phase', () => {
  const got = modelDeploymentSamples([
    md('new'),
    md('serving', {
      conditions: ready('True'),
      currentVersion: '2',
      history: [
        { version: '2', outcome: 'Succeeded', startedAt: '2026-11-30T00:00:00Z' } as never,
        { version: '1', outcome: 'Succeeded' } as never,
      ],
    }),
    md('rolling', {
      conditions: ready('False'),
      currentVersion: '1',
      updatingVersion: '2',
      history: [{ version: '2', outcome: 'Progressing' } as never],
    }),
  ]);
  assert.deepEqual(got.ready, [
    { labels: { namespace: 'ml', name: 'new' }, value: 0 },
    { labels: { namespace: 'ml', name: 'serving' }, value: 1 },
    { labels: { namespace: 'ml', name: 'rolling' }, value: 0 },
  ]);
  assert.deepEqual(
    got.info.map((s) => s.labels),
    [
      { namespace: 'ml', name: 'new', version: '2', current_version: '', updating_version: '', phase: 'None' },
      { namespace: 'ml', name: 'serving', version: '2', current_version: '2', updating_version: '', phase: 'Succeeded' },
      { namespace: 'ml', name: 'rolling', version: '2', current_version: '1', updating_version: '2', phase: 'Progressing' },
    ],
  );
  assert.ok(got.info.every((s) => s.value === 1));
});

test('the gauges are computed at scrape time: a changed version replaces its info series, a deleted ModelDeployment disappears', async () => {
  const registry = new Registry();
  let cache = [md('a', undefined, '1'), md('b', { conditions: ready('True') })];
  registerModelDeploymentGauges(registry, () => cache);
  assert.deepEqual(
    (await samples(registry, 'modelship_modeldeployment_ready')).map((s) => [s.labels.name, s.value]),
    [
      ['a', 0],
      ['b', 1],
    ],
  );
  cache = [md('a', undefined, '2')];
  const info = await samples(registry, 'modelship_modeldeployment_info');
  assert.deepEqual(
    info.map((s) => [s.labels.name, s.labels.version]),
    [['a', '2']],
    'old version and deleted b are gone',
  );
  assert.deepEqual(
    (await samples(registry, 'modelship_modeldeployment_ready')).map((s) => s.labels.name),
    ['a'],
  );
  const text = await registry.metrics();
  assert.match(
    text,
    /^modelship_modeldeployment_info\{namespace="ml",name="a",version="2",current_version="",updating_version="",phase="None"\} 1$/m,
  );
});
