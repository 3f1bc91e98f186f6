// The canary's bounds on a real API server and controller-manager (no kubelet: the test marks pods
// ready; the real HorizontalPodAutoscaler controller enforces minReplicas without metrics):
//  1. analysis.maxWait: pods that cannot be scraped give windows too small to judge, so the canary is
//     aborted after maxWait with "not enough traffic to judge" and the figures, and goes away;
//  2. autoscaling: the canary Deployment gets its own HPA (<name>-canary) with bounds from the step's
//     weight; on abortVersion the stable HPA's minReplicas is raised to the pods both tracks had and
//     the canary stays until that many stable pods are ready; then the canary and its HPA go and the
//     stable HPA's minimum returns to the spec's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import {
  clients,
  condition,
  createMd,
  createNamespace,
  deleteMd,
  getMd,
  patchMd,
  type Clients,
  waitForMd,
} from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import { readDeployment, readyUntil, versionOf } from './canary-tracks.ts';

const uri = (v: string) => `https://models.example.com/iris/${v}/model.onnx`;
const model = (v: string) => ({ version: v, uri: uri(v) });

async function readHpa(c: Clients, ns: string, name: string): Promise<V2HorizontalPodAutoscaler | undefined> {
  try {
    return await c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name, namespace: ns });
  } catch {
    return undefined;
  }
}

describe('canary bounds on a real API server', () => {
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'canary-bounds');
    op = await startOperator({ namespace: ns });
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  const stableOn = (name: string, version: string) =>
    readyUntil(
      c,
      ns,
      name,
      async () => ((await getMd(c, ns, name)).status?.currentVersion === version ? true : undefined),
      `${name} serving version ${version}`,
    );

  test('a canary whose windows never reach minRequests is aborted after maxWait with the figures', async () => {
    await createMd(c, ns, 'iris', {
      model: model('1'),
      replicas: 2,
      rollout: {
        strategy: 'Canary',
        canary: { steps: [{ weight: 25, pause: '1h' }], analysis: { interval: '5s', minRequests: 20, maxWait: '15s' } },
      },
    });
    await stableOn('iris', '1');
    await patchMd(c, ns, 'iris', { spec: { model: model('2') } });
    const running = await readyUntil(
      c,
      ns,
      'iris-canary',
      async () => {
        const m = await getMd(c, ns, 'iris');
        return m.status?.canary?.canaryReplicas === 1 ? m : undefined;
      },
      'the canary pod ready',
    );
    const since = Date.parse(running.status!.canary!.unjudgedSince!);
    assert.ok(Number.isFinite(since), `unjudgedSince recorded: ${JSON.stringify(running.status?.canary)}`);
    const aborted = await waitForMd(c, ns, 'iris', 'aborted after maxWait', (m) => m.status?.canary?.phase === 'Aborted', 60_000);
    const after = (Date.now() - since) / 1000;
    const message = aborted.status?.canary?.message ?? '';
    assert.match(
      message,
      /^canary of version 2 aborted at step 1 of 1 \(25%\): not enough traffic to judge: 0 of 20 requests in the last 5s window, no window judged in 15s \(spec\.rollout\.canary\.analysis\.maxWait\)$/,
    );
    assert.ok(after >= 15 && after < 40, `aborted ${after.toFixed(1)} s after the step started waiting`);
    assert.equal(aborted.status?.canary?.lastAnalysis?.verdict, 'Inconclusive');
    assert.equal(condition(aborted, 'Degraded')?.reason, 'CanaryAborted');
    assert.equal(condition(aborted, 'Degraded')?.message, message);
    assert.equal(aborted.status?.history?.[0]?.outcome, 'Aborted');
    await waitFor(async () => (await readDeployment(c, ns, 'iris-canary')) === undefined, { description: 'the canary Deployment deleted' });
    assert.equal(versionOf(await readDeployment(c, ns, 'iris')), '1');
    const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=iris,type=Warning' });
    assert.ok(events.items.some((e) => e.reason === 'CanaryAborted' && e.message?.includes('not enough traffic to judge')));
    await deleteMd(c, ns, 'iris');
    await waitFor(async () => (await readDeployment(c, ns, 'iris')) === undefined, { description: 'iris gone', timeoutMs: 60_000 });
  });

  test('autoscaling: the canary has its own HPA; on abort the stable track gets the canary’s pods before the canary goes', async () => {
    await createMd(c, ns, 'iris', {
      model: model('1'),
      autoscaling: { minReplicas: 2, maxReplicas: 6 },
      rollout: { strategy: 'Canary', canary: { steps: [{ weight: 50, pause: '1h' }], analysis: { interval: '5s' } } },
    });
    // the stable HPA lifts the Deployment (created with 1 replica) to its minimum of 2
    await readyUntil(
      c,
      ns,
      'iris',
      async () => {
        const m = await getMd(c, ns, 'iris');
        const d = await readDeployment(c, ns, 'iris');
        return m.status?.currentVersion === '1' && d?.status?.readyReplicas === 2 ? true : undefined;
      },
      'version 1 on 2 ready pods (HPA minimum)',
    );

    await patchMd(c, ns, 'iris', { spec: { model: model('2') } });
    const canaryHpa = await waitFor(async () => readHpa(c, ns, 'iris-canary'), { description: 'the canary HPA' });
    assert.deepEqual({ ...canaryHpa.spec?.scaleTargetRef }, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'iris-canary' });
    assert.deepEqual([canaryHpa.spec?.minReplicas, canaryHpa.spec?.maxReplicas], [2, 6], '50% beside 2 stable pods; 50% of max 6 → 6');
    assert.equal(canaryHpa.metadata?.ownerReferences?.[0]?.kind, 'ModelDeployment');
    await readyUntil(
      c,
      ns,
      'iris-canary',
      async () => {
        const d = await readDeployment(c, ns, 'iris-canary');
        return d?.spec?.replicas === 2 && d.status?.readyReplicas === 2 ? d : undefined;
      },
      'the canary HPA scales the canary to its minimum of 2, ready',
    );
    assert.equal((await readHpa(c, ns, 'iris'))?.spec?.minReplicas, 2, 'stable HPA at the spec minimum while the canary runs');

    await patchMd(c, ns, 'iris', { spec: { rollout: { abortVersion: '2' } } });
    const aborted = await waitForMd(c, ns, 'iris', 'Aborted', (m) => m.status?.canary?.phase === 'Aborted');
    assert.equal(aborted.status?.canary?.restoreStableReplicas, 4, '2 stable + 2 canary pods');
    await waitFor(async () => ((await readHpa(c, ns, 'iris'))?.spec?.minReplicas === 4 ? true : undefined), {
      description: 'the stable HPA minimum raised to 4',
    });
    // the real HPA controller scales the stable Deployment to 4; its new pods are not ready yet
    await waitFor(async () => ((await readDeployment(c, ns, 'iris'))?.spec?.replicas === 4 ? true : undefined), {
      description: 'the stable Deployment scaled to 4 by its HPA',
      timeoutMs: 60_000,
    });
    await sleep(3_000);
    const held = await readDeployment(c, ns, 'iris-canary');
    assert.equal(held?.status?.readyReplicas, 2, 'the canary still serves while only 2 stable pods are ready');
    assert.equal((await readDeployment(c, ns, 'iris'))?.status?.readyReplicas, 2);

    await readyUntil(
      c,
      ns,
      'iris',
      async () => ((await readDeployment(c, ns, 'iris-canary')) === undefined ? true : undefined),
      'the canary goes once 4 stable pods are ready',
    );
    assert.equal((await readDeployment(c, ns, 'iris'))?.status?.readyReplicas, 4);
    await waitFor(async () => ((await readHpa(c, ns, 'iris-canary')) === undefined ? true : undefined), {
      description: 'the canary HPA deleted',
    });
    const done = await waitForMd(c, ns, 'iris', 'target cleared', (m) => m.status?.canary?.restoreStableReplicas === undefined);
    assert.equal((await readHpa(c, ns, 'iris'))?.spec?.minReplicas, 2, 'the stable HPA minimum back to the spec');
    assert.equal(done.status?.currentVersion, '1');
    assert.equal(done.status?.history?.[0]?.outcome, 'Aborted');
  });
});
