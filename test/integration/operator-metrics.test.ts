// The operator's /metrics on a real API server: one ready and one info series per ModelDeployment,
// computed from the cache at scrape time (a deleted one's series go), and the controller-runtime-
// style workqueue_* and controller_runtime_* series with the controller's name.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { getTestControlPlane } from '@modelship/devcluster/controlplane';
import { waitFor } from '@modelship/devcluster/wait';
import { clients, createMd, createNamespace, deleteMd, getMd, waitForMd, type Clients } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import { markReady, podsOf } from './pods.ts';

const OPERATOR_USER = 'modelship-operator-metrics-test';
const model = (version: string) => ({ version, uri: `https://models.example.com/iris/${version}/model.onnx` });

/** The series of one metric in the exposition text, as label maps with their value. */
async function series(op: OperatorProcess, name: string): Promise<Array<{ labels: Record<string, string>; value: number }>> {
  const text = await (await fetch(`http://127.0.0.1:${op.port}/metrics`)).text();
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

describe('operator /metrics', () => {
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'opmetrics');
    const cp = await getTestControlPlane();
    op = await startOperator({ namespace: ns, env: { KUBECONFIG: await cp.writeKubeconfigFor(OPERATOR_USER, ['system:masters']) } });
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  test('one ready and one info series per ModelDeployment, gone when it is deleted; controller-runtime series present', async () => {
    // No kubelet here: the test marks idle's pod Ready as a kubelet would; busy's pod stays pending.
    await createMd(c, ns, 'idle', { model: model('1'), replicas: 1 });
    await createMd(c, ns, 'busy', { model: model('2'), replicas: 1 });
    const ready = (m: { status?: { conditions?: Array<{ type: string; status: string }> } }) =>
      m.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True';
    await waitFor(
      async () => {
        await markReady(c, await podsOf(c, ns, 'idle'));
        return ready(await getMd(c, ns, 'idle')) || undefined;
      },
      { description: 'idle Ready', intervalMs: 500, timeoutMs: 90_000 },
    );
    await waitForMd(c, ns, 'busy', 'busy rolling out', (m) => m.status?.history?.[0]?.outcome === 'Progressing');

    const byName = <T extends { labels: Record<string, string> }>(rows: T[]) =>
      Object.fromEntries(rows.filter((r) => r.labels.namespace === ns).map((r) => [r.labels.name, r]));
    const readySeries = await waitFor(
      async () => {
        const rows = byName(await series(op, 'modelship_modeldeployment_ready'));
        return rows.idle?.value === 1 && rows.busy?.value === 0 ? rows : undefined;
      },
      { description: 'ready gauges for idle (1) and busy (0)' },
    );
    assert.deepEqual(Object.keys(readySeries).sort(), ['busy', 'idle']);
    const info = byName(await series(op, 'modelship_modeldeployment_info'));
    assert.deepEqual(info.idle, {
      labels: { namespace: ns, name: 'idle', version: '1', current_version: '1', updating_version: '', phase: 'Succeeded' },
      value: 1,
    });
    assert.deepEqual(info.busy, {
      labels: { namespace: ns, name: 'busy', version: '2', current_version: '', updating_version: '2', phase: 'Progressing' },
      value: 1,
    });

    await deleteMd(c, ns, 'busy');
    await waitFor(
      async () => ((await series(op, 'modelship_modeldeployment_info')).some((r) => r.labels.name === 'busy') ? undefined : true),
      {
        description: 'busy series gone',
      },
    );
    assert.deepEqual(Object.keys(byName(await series(op, 'modelship_modeldeployment_ready'))), ['idle']);
    assert.deepEqual(Object.keys(byName(await series(op, 'modelship_modeldeployment_info'))), ['idle']);

    // controller-runtime naming, labelled with the controller's name.
    const wq = { name: 'modeldeployment' };
    assert.ok((await op.metric('workqueue_adds_total', wq)) >= 2, 'adds counted');
    assert.ok((await op.metric('workqueue_queue_duration_seconds_count', wq)) >= 2, 'queue latency observed');
    assert.ok((await op.metric('workqueue_work_duration_seconds_count', wq)) >= 2, 'work duration observed');
    assert.equal((await series(op, 'workqueue_depth')).length, 1);
    assert.equal((await series(op, 'workqueue_unfinished_work_seconds')).length, 1);
    assert.equal((await series(op, 'workqueue_longest_running_processor_seconds')).length, 1);
    assert.equal((await series(op, 'workqueue_retries_total')).length, 1);
    const ctl = { controller: 'modeldeployment' };
    assert.ok((await op.metric('controller_runtime_reconcile_total', { ...ctl, result: 'success' })) >= 2, 'successful reconciles counted');
    assert.equal((await series(op, 'controller_runtime_reconcile_errors_total')).length, 1);
    assert.ok((await op.metric('controller_runtime_reconcile_time_seconds_count', ctl)) >= 2);
    assert.equal(await op.metric('controller_runtime_max_concurrent_reconciles', ctl), 4);
    assert.equal((await series(op, 'controller_runtime_active_workers')).length, 1);
    // The existing names still answer.
    assert.ok((await op.metric('modelship_reconcile_total')) >= 2);
    assert.equal((await series(op, 'modelship_workqueue_depth')).length, 1);
  });
});
