// Canary rollouts by the operator on a real API server (no kubelet: the test marks pods ready, as
// operator-rollout.test.ts does). The analysis cannot scrape pods that do not run, so its windows
// are never judged and steps never advance by themselves here (the e2e test covers that); this
// test covers what the API server sees: the canary Deployment and its replicas, status.canary,
// manual promote and abort through spec patches, and an operator restart mid-canary.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment } from '@kubernetes/client-node';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import { clients, condition, createMd, createNamespace, getMd, patchMd, type Clients, waitForMd } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import { readDeployment, readyUntil, versionOf } from './canary-tracks.ts';

const uri = (v: string) => `https://models.example.com/iris/${v}/model.onnx`;
const model = (v: string) => ({ version: v, uri: uri(v) });

describe('canary rollout on a real API server', () => {
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'canary');
    op = await startOperator({ namespace: ns });
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  test('a new version runs as <name>-canary beside the untouched stable Deployment; status.canary says so; promoteVersion promotes', async () => {
    await createMd(c, ns, 'iris', {
      model: model('1'),
      replicas: 3,
      rollout: { strategy: 'Canary', canary: { steps: [{ weight: 25, pause: '1h' }], analysis: { interval: '5s' } } },
    });
    await readyUntil(
      c,
      ns,
      'iris',
      async () => ((await getMd(c, ns, 'iris')).status?.currentVersion === '1' ? true : undefined),
      'version 1 (the first deployment is an ordinary rollout)',
    );
    assert.equal(await readDeployment(c, ns, 'iris-canary'), undefined, 'no canary for the first deployment');
    const stableBefore = (await readDeployment(c, ns, 'iris')) as V1Deployment;

    await patchMd(c, ns, 'iris', { spec: { model: model('2') } });
    const canary = await waitFor(async () => readDeployment(c, ns, 'iris-canary'), { description: 'the canary Deployment' });
    assert.equal(canary.spec?.replicas, 1, 'max(1, round(3*25/75))');
    assert.equal(versionOf(canary), '2');
    assert.deepEqual(canary.spec?.selector.matchLabels, {
      'app.kubernetes.io/name': 'modelship-runtime',
      'app.kubernetes.io/instance': 'iris',
      'modelship.dev/track': 'canary',
    });
    assert.equal(canary.spec?.template.metadata?.labels?.['modelship.dev/track'], 'canary');
    assert.equal(canary.metadata?.ownerReferences?.[0]?.kind, 'ModelDeployment');
    const stable = (await readDeployment(c, ns, 'iris')) as V1Deployment;
    assert.equal(versionOf(stable), '1');
    assert.equal(stable.metadata?.generation, stableBefore.metadata?.generation, 'the stable Deployment was not written');

    const md = await readyUntil(
      c,
      ns,
      'iris-canary',
      async () => {
        const m = await getMd(c, ns, 'iris');
        return m.status?.canary?.canaryReplicas === 1 ? m : undefined;
      },
      'the canary pod ready in status.canary',
    );
    const s = md.status?.canary;
    assert.deepEqual(
      [s?.version, s?.stableVersion, s?.phase, s?.step, s?.weight, s?.stableReplicas, s?.canaryReplicas, s?.effectiveWeight],
      ['2', '1', 'Progressing', 0, 25, 3, 1, 25],
    );
    assert.ok(s?.stepStartedAt);
    assert.equal(md.status?.currentVersion, '1');
    assert.equal(md.status?.updatingVersion, '2');
    assert.equal(condition(md, 'Ready')?.status, 'False', 'kubectl wait --for=condition=Ready still waits');
    assert.equal(condition(md, 'Ready')?.reason, 'CanaryProgressing');
    assert.match(condition(md, 'Progressing')?.message ?? '', /canary of version 2 at step 1: weight 25%, effective 25%/);
    const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=iris' });
    assert.ok(
      events.items.some((e) => e.reason === 'CanaryStarted' && /canary of version 2 started at 25% beside version 1/.test(e.message ?? '')),
    );

    await patchMd(c, ns, 'iris', { spec: { rollout: { promoteVersion: '2' } } });
    await waitForMd(c, ns, 'iris', 'Promoting', (m) => m.status?.canary?.phase === 'Promoting' || m.status?.canary?.phase === 'Succeeded');
    await waitFor(async () => versionOf(await readDeployment(c, ns, 'iris')) === '2', { description: 'the stable Deployment at 2' });
    const done = await readyUntil(
      c,
      ns,
      'iris',
      async () => {
        const m = await getMd(c, ns, 'iris');
        return m.status?.canary?.phase === 'Succeeded' ? m : undefined;
      },
      'promotion Succeeded',
    );
    await waitFor(async () => (await readDeployment(c, ns, 'iris-canary')) === undefined, { description: 'the canary Deployment deleted' });
    assert.equal(done.status?.currentVersion, '2');
    assert.equal(condition(done, 'Ready')?.status, 'True');
    assert.deepEqual(
      done.status?.history?.map((h) => [h.version, h.outcome, h.reason]),
      [
        ['2', 'Succeeded', 'CanaryPromoted'],
        ['1', 'Succeeded', 'RolloutComplete'],
      ],
    );
  });

  test('abortVersion aborts: canary deleted, stable-only, Degraded CanaryAborted with a Warning; not retried until the spec changes', async () => {
    await patchMd(c, ns, 'iris', { spec: { model: model('3') } });
    await waitFor(async () => readDeployment(c, ns, 'iris-canary'), { description: 'the canary of 3' });
    await patchMd(c, ns, 'iris', { spec: { rollout: { abortVersion: '3' } } });
    const md = await waitForMd(c, ns, 'iris', 'Aborted', (m) => m.status?.canary?.phase === 'Aborted');
    await waitFor(async () => (await readDeployment(c, ns, 'iris-canary')) === undefined, { description: 'the canary Deployment deleted' });
    assert.equal(versionOf(await readDeployment(c, ns, 'iris')), '2', 'the stable version serves everything');
    assert.equal(condition(md, 'Degraded')?.status, 'True');
    assert.equal(condition(md, 'Degraded')?.reason, 'CanaryAborted');
    assert.equal(condition(md, 'Degraded')?.message, 'canary of version 3 aborted by spec.rollout.abortVersion at step 1 of 1 (25%)');
    assert.equal(md.status?.failedVersion, '3');
    assert.equal(md.status?.history?.[0]?.outcome, 'Aborted');
    assert.equal(md.status?.canary?.weight, 0);
    const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=iris' });
    assert.ok(events.items.some((e) => e.type === 'Warning' && e.reason === 'CanaryAborted'));
    const writes = await op.metric('modelship_api_writes_total');
    await sleep(8000);
    assert.equal(await readDeployment(c, ns, 'iris-canary'), undefined, 'not retried');
    assert.equal((await op.metric('modelship_api_writes_total')) - writes, 0, 'no writes after the abort');

    await patchMd(c, ns, 'iris', { spec: { model: model('4') } });
    const next = await waitForMd(c, ns, 'iris', 'a canary of 4', (m) => m.status?.canary?.version === '4');
    assert.equal(next.status?.canary?.phase, 'Progressing');
    assert.equal(next.status?.failedVersion, undefined);
    await waitFor(async () => versionOf(await readDeployment(c, ns, 'iris-canary')) === '4', { description: 'the canary Deployment at 4' });
  });

  test('operator restarted mid-canary resumes at the same step, with the same canary Deployment', async () => {
    const before = await getMd(c, ns, 'iris');
    const canary = (await readDeployment(c, ns, 'iris-canary')) as V1Deployment;
    assert.equal(await op.stop(), 0);
    op = await startOperator({ namespace: ns });
    await sleep(5000);
    const after = await getMd(c, ns, 'iris');
    assert.deepEqual(
      [after.status?.canary?.version, after.status?.canary?.step, after.status?.canary?.stepStartedAt, after.status?.canary?.phase],
      ['4', before.status?.canary?.step, before.status?.canary?.stepStartedAt, 'Progressing'],
    );
    const again = (await readDeployment(c, ns, 'iris-canary')) as V1Deployment;
    assert.equal(again.metadata?.uid, canary.metadata?.uid);
    assert.equal(again.metadata?.generation, canary.metadata?.generation, 'not rewritten');
  });
});
