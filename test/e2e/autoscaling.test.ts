// The HorizontalPodAutoscaler the operator renders, driven by real CPU usage: metrics-server scrapes
// the kubelet, the real HPA controller (tuned for test speed, see FAST_HPA_ARGS in controlplane.ts)
// scales the runtime Deployment up under load and back down when the load stops. No request fails
// while new pods join.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, condition, getMd, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { createAndWaitReady, exampleIris, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import { irisServiceUrl } from './faults.ts';
import { startLoad } from './load.ts';

// 100m CPU requested, target 50 % (50m); an idle runtime uses ~10-20 %, 200 predictions a second well over 100 %
const CPU_REQUEST = '100m';
const TARGET_PERCENT = 50;
const RATE = 200;

describe('e2e: autoscaling on CPU (metrics-server + the real HPA controller)', { timeout: 600_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;

  const replicas = async () => {
    const d = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns });
    return { spec: d.spec?.replicas ?? 0, ready: d.status?.readyReplicas ?? 0 };
  };
  const hpaStatus = async () => {
    const h = await c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'iris', namespace: ns });
    const cpu = h.status?.currentMetrics?.find((m) => m.type === 'Resource')?.resource?.current.averageUtilization;
    return `desired ${h.status?.desiredReplicas}, current ${h.status?.currentReplicas}, cpu ${cpu ?? '?'}%`;
  };

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-hpa');
    op = await startE2eOperator(cluster, ns);
    const md = exampleIris(cluster.modelServerUrl);
    md.spec.resources = { requests: { cpu: CPU_REQUEST, memory: '128Mi' } };
    md.spec.autoscaling = { minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: TARGET_PERCENT };
    await createAndWaitReady(c, ns, md);
  });

  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('load drives CPU up → more replicas (no failed request); load stops → back to minReplicas', async (t) => {
    assert.equal((await replicas()).spec, 1, 'starts at minReplicas');
    // the HPA reads metrics before the load: idle CPU is far below the target
    await waitFor(async () => /cpu \d+%/.test(await hpaStatus()), {
      timeoutMs: 90_000,
      intervalMs: 2_000,
      description: 'the HPA to read CPU metrics',
    });
    t.diagnostic(`idle: ${await hpaStatus()}`);

    const url = await irisServiceUrl(c, ns);
    const load = startLoad({
      url,
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [6.3, 3.3, 6.0, 2.5] }] }),
      rate: RATE,
      maxSeconds: 300,
      check: (status, body) => (status === 200 ? undefined : `HTTP ${status} ${body.slice(0, 200)}`),
    });
    const t0 = Date.now();
    let up: { spec: number; ready: number };
    try {
      up = await waitFor(
        async () => {
          const r = await replicas();
          return r.spec > 1 && r.ready === r.spec ? r : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 2_000, description: 'the HPA to scale iris up under load' },
      );
      t.diagnostic(
        `scaled up to ${up.spec} ready replicas ${((Date.now() - t0) / 1000).toFixed(0)}s after the load started (${await hpaStatus()})`,
      );
      // keep the load on a little while the new pods serve
      await new Promise((r) => setTimeout(r, 5_000));
    } finally {
      const result = await load.stop();
      t.diagnostic(`load: ${result.sent} sent, ${result.ok} ok, ${result.failed} failed in ${result.seconds.toFixed(0)}s`);
      assert.equal(result.failed, 0, `failed requests: ${result.failures.join('; ')}`);
    }
    assert.ok(up.spec <= 3, 'never above maxReplicas');
    // the HPA may still be adding a replica (its pod not ready yet): Ready must come back by itself
    await waitFor(async () => condition(await getMd(c, ns, 'iris'), 'Ready')?.status === 'True', {
      timeoutMs: 90_000,
      intervalMs: 1_000,
      description: 'iris Ready=True with the scaled-up replicas',
    });

    const t1 = Date.now();
    await waitFor(async () => (await replicas()).spec === 1, {
      timeoutMs: 180_000,
      intervalMs: 2_000,
      description: 'the HPA to scale iris back down to minReplicas',
    });
    t.diagnostic(`scaled back down to 1 replica ${((Date.now() - t1) / 1000).toFixed(0)}s after the load stopped (${await hpaStatus()})`);
  });
});
