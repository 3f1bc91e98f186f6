import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import { clients, condition, createMd, createNamespace, getMd, patchMd, type Clients, waitForMd } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import { markCrashLooping, markFetchFailed, markReady, podsOf } from './pods.ts';

const uri = (v: string) => `https://models.example.com/iris/${v}/model.onnx`;
const model = (v: string) => ({ version: v, uri: uri(v) });

async function deployedVersion(c: Clients, ns: string, name: string): Promise<string | undefined> {
  const d = await c.apps.readNamespacedDeployment({ name, namespace: ns });
  return d.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'MODELSHIP_MODEL_VERSION')?.value;
}

async function templateHash(c: Clients, ns: string, name: string): Promise<string> {
  return (await c.apps.readNamespacedDeployment({ name, namespace: ns })).spec?.template.metadata?.annotations?.[
    'modelship.dev/template-hash'
  ] as string;
}

/** Marks every pod of the Deployment's current template ready, until the rollout completes. */
async function completeRollout(c: Clients, ns: string, name: string, version: string) {
  const hash = await waitFor(async () => ((await deployedVersion(c, ns, name)) === version ? templateHash(c, ns, name) : undefined), {
    description: `template at ${version}`,
  });
  return waitFor(
    async () => {
      const pods = await podsOf(c, ns, name, hash);
      await markReady(
        c,
        pods.filter((p) => !p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')),
      );
      const m = await getMd(c, ns, name);
      return m.status?.currentVersion === version &&
        m.status.history?.[0]?.outcome === 'Succeeded' &&
        m.status.history[0].version === version
        ? m
        : undefined;
    },
    { description: `version ${version} Succeeded`, intervalMs: 500, timeoutMs: 90_000 },
  );
}

async function newPods(c: Clients, ns: string, name: string, version: string) {
  const hash = await waitFor(async () => ((await deployedVersion(c, ns, name)) === version ? templateHash(c, ns, name) : undefined), {
    description: `template at ${version}`,
  });
  return waitFor(
    async () => {
      const p = await podsOf(c, ns, name, hash);
      return p.length > 0 ? p : undefined;
    },
    { description: `pods of version ${version}` },
  );
}

describe('rollout and automatic rollback', () => {
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'rollout');
    op = await startOperator({ namespace: ns });
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  test('a failing version (fetch: checksum mismatch) is rolled back to the last good one, with status, history and an Event', async () => {
    await createMd(c, ns, 'iris', { model: model('1'), replicas: 2 });
    await completeRollout(c, ns, 'iris', '1');
    const goodHash = await templateHash(c, ns, 'iris');
    const rollbacksBefore = await op.metric('modelship_rollbacks_total');

    await patchMd(c, ns, 'iris', { spec: { model: { version: '2', uri: uri('2'), sha256: 'b'.repeat(64) } } });
    const pods = await newPods(c, ns, 'iris', '2');
    const signalAt = Date.now();
    await markFetchFailed(c, pods, `fetch: sha256 mismatch for model.onnx: expected ${'b'.repeat(64)}, got ${'c'.repeat(64)}`);

    const md = await waitForMd(c, ns, 'iris', 'rolled back', (m) => m.status?.history?.[0]?.outcome === 'RolledBack');
    const detectMs = Date.now() - signalAt;
    await waitFor(async () => (await templateHash(c, ns, 'iris')) === goodHash, {
      description: 'Deployment back on the old template (old ReplicaSet reused)',
    });
    assert.equal(md.status?.failedVersion, '2');
    assert.equal(md.status?.currentVersion, '1');
    assert.equal(md.status?.updatingVersion, undefined);
    assert.equal(md.status?.history?.[0]?.reason, 'FetchFailed');
    assert.match(
      md.status?.history?.[0]?.message ?? '',
      /^version 2 failed: model fetch failed: fetch: sha256 mismatch for model.onnx: .*; serving version 1$/,
    );
    assert.deepEqual(
      md.status?.history?.map((h) => [h.version, h.outcome]),
      [
        ['2', 'RolledBack'],
        ['1', 'Succeeded'],
      ],
    );
    assert.equal(condition(md, 'Degraded')?.status, 'True');
    assert.equal(condition(md, 'Degraded')?.reason, 'RolledBack');
    assert.equal(condition(md, 'Ready')?.status, 'False');
    assert.equal(md.spec.model.version, '2', 'the user spec is never rewritten');
    const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=iris' });
    assert.ok(events.items.some((e) => e.type === 'Warning' && e.reason === 'RolledBack' && /version 2 failed/.test(e.message ?? '')));
    assert.equal((await op.metric('modelship_rollbacks_total')) - rollbacksBefore, 1);
    const rsList = await c.apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=iris' });
    const oldRs = rsList.items.find((rs) => rs.spec?.template?.metadata?.annotations?.['modelship.dev/template-hash'] === goodHash);
    assert.equal(oldRs?.spec?.replicas, 2, 'the old ReplicaSet kept its replicas');
    process.stdout.write(`# rollback detected ${detectMs} ms after the fetch failure was reported\n`);

    // No retry loop: over 20 s the operator writes nothing and reconciles rarely.
    await sleep(2000);
    const writes = await op.metric('modelship_api_writes_total');
    const reconciles = await op.metric('modelship_reconcile_total');
    await sleep(20_000);
    assert.equal((await op.metric('modelship_api_writes_total')) - writes, 0, 'no writes after the rollback');
    assert.ok((await op.metric('modelship_reconcile_total')) - reconciles <= 3, 'no reconcile loop');
    assert.equal(await deployedVersion(c, ns, 'iris'), '1');
  });

  test('a spec change after a failure starts a new rollout and clears failedVersion', async () => {
    await patchMd(c, ns, 'iris', { spec: { model: model('3') } });
    const progressing = await waitForMd(c, ns, 'iris', 'rollout of 3', (m) => m.status?.updatingVersion === '3');
    assert.equal(progressing.status?.failedVersion, undefined);
    const done = await completeRollout(c, ns, 'iris', '3');
    assert.equal(condition(done, 'Ready')?.status, 'True');
    assert.equal(condition(done, 'Degraded')?.status, 'False');
    assert.deepEqual(
      done.status?.history?.slice(0, 3).map((h) => [h.version, h.outcome]),
      [
        ['3', 'Succeeded'],
        ['2', 'RolledBack'],
        ['1', 'Succeeded'],
      ],
    );
  });

  test('serve crash-looping past the threshold also rolls back', async () => {
    await patchMd(c, ns, 'iris', { spec: { model: model('4') } });
    const pods = await newPods(c, ns, 'iris', '4');
    await markCrashLooping(c, pods, 3, 'serve: /models/model.onnx is not a valid ONNX model');
    const md = await waitForMd(
      c,
      ns,
      'iris',
      'rolled back from 4',
      (m) => m.status?.history?.[0]?.outcome === 'RolledBack' && m.status.history[0].version === '4',
    );
    assert.equal(md.status?.history?.[0]?.reason, 'CrashLoop');
    assert.match(
      condition(md, 'Degraded')?.message ?? '',
      /version 4 failed: container serve restarted 3 times: serve: \/models\/model.onnx is not a valid ONNX model; serving version 3/,
    );
    await waitFor(async () => (await deployedVersion(c, ns, 'iris')) === '3', { description: 'back on version 3' });
  });

  test('autoRollback false: stays on the failing version, Degraded, nothing reverted', async () => {
    await createMd(c, ns, 'manual', { model: model('1'), replicas: 1, rollout: { autoRollback: false } });
    await completeRollout(c, ns, 'manual', '1');
    await patchMd(c, ns, 'manual', { spec: { model: model('2') } });
    const pods = await newPods(c, ns, 'manual', '2');
    await markFetchFailed(c, pods, 'fetch: GET https://models.example.com/iris/2/model.onnx: 404 Not Found');
    const md = await waitForMd(c, ns, 'manual', 'failed', (m) => m.status?.history?.[0]?.outcome === 'Failed');
    assert.equal(condition(md, 'Degraded')?.status, 'True');
    assert.equal(condition(md, 'Degraded')?.reason, 'FetchFailed');
    assert.equal(condition(md, 'Ready')?.status, 'False');
    assert.match(condition(md, 'Degraded')?.message ?? '', /automatic rollback is off/);
    assert.equal(md.status?.failedVersion, '2');
    await sleep(3000);
    assert.equal(await deployedVersion(c, ns, 'manual'), '2', 'nothing reverted');
  });

  test('first deployment failing: Degraded with the reason, no rollback target', async () => {
    await createMd(c, ns, 'fresh', { model: model('1'), replicas: 1 });
    const pods = await newPods(c, ns, 'fresh', '1');
    await markFetchFailed(c, pods, 'fetch: connect ECONNREFUSED 10.0.0.9:80');
    const md = await waitForMd(c, ns, 'fresh', 'first deploy failed', (m) => m.status?.history?.[0]?.outcome === 'Failed');
    assert.equal(condition(md, 'Degraded')?.reason, 'FetchFailed');
    assert.match(condition(md, 'Degraded')?.message ?? '', /no earlier version to roll back to/);
    assert.equal(md.status?.currentVersion, undefined);
    assert.equal(await deployedVersion(c, ns, 'fresh'), '1');
  });

  test('ProgressDeadlineExceeded from the real Deployment controller triggers the rollback', async () => {
    await createMd(c, ns, 'slow', { model: model('1'), replicas: 1, rollout: { progressDeadlineSeconds: 10 } });
    await completeRollout(c, ns, 'slow', '1');
    await patchMd(c, ns, 'slow', { spec: { model: model('2') } });
    const md = await waitForMd(c, ns, 'slow', 'rolled back on deadline', (m) => m.status?.history?.[0]?.outcome === 'RolledBack', 90_000);
    assert.equal(md.status?.history?.[0]?.reason, 'ProgressDeadlineExceeded');
    await waitFor(async () => (await deployedVersion(c, ns, 'slow')) === '1', { description: 'back on 1' });
  });

  test('historyLimit trims the history (keeping the rollback target)', async () => {
    await createMd(c, ns, 'short', { model: model('1'), replicas: 1, rollout: { historyLimit: 2 } });
    await completeRollout(c, ns, 'short', '1');
    await patchMd(c, ns, 'short', { spec: { model: model('2') } });
    await completeRollout(c, ns, 'short', '2');
    await patchMd(c, ns, 'short', { spec: { model: model('3') } });
    const md = await completeRollout(c, ns, 'short', '3');
    assert.deepEqual(
      md.status?.history?.map((h) => h.version),
      ['3', '2'],
    );
    const dep = await c.apps.readNamespacedDeployment({ name: 'short', namespace: ns });
    assert.equal(dep.spec?.revisionHistoryLimit, 2);
  });

  test('operator restarted mid-rollout continues it', async () => {
    await createMd(c, ns, 'restart', { model: model('1'), replicas: 1 });
    await completeRollout(c, ns, 'restart', '1');
    await patchMd(c, ns, 'restart', { spec: { model: model('2') } });
    const started = await waitForMd(c, ns, 'restart', 'rollout of 2', (m) => m.status?.updatingVersion === '2');
    const pods = await newPods(c, ns, 'restart', '2');
    assert.equal(await op.stop(), 0);
    await markReady(c, pods);
    op = await startOperator({ namespace: ns });
    const md = await completeRollout(c, ns, 'restart', '2');
    assert.equal(md.status?.history?.[0]?.startedAt, started.status?.history?.[0]?.startedAt, 'the same rollout entry was continued');
    assert.deepEqual(
      md.status?.history?.map((h) => [h.version, h.outcome]),
      [
        ['2', 'Succeeded'],
        ['1', 'Succeeded'],
      ],
    );
  });

  test('operator restarted after a rollback keeps the rollback and does not retry', async () => {
    await op.stop();
    op = await startOperator({ namespace: ns });
    await sleep(5000);
    const md = await getMd(c, ns, 'iris');
    assert.equal(md.status?.history?.[0]?.outcome, 'RolledBack');
    assert.equal(await deployedVersion(c, ns, 'iris'), '3');
    assert.equal(await op.metric('modelship_api_writes_total', { resource: 'deployments' }), 0, 'no Deployment write after restart');
  });
});
