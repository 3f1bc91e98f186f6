// Manual control of a canary rollout and an operator crash mid-canary, on the real node under a steady
// load of 50 requests/s to the Service (each on a new connection, every answer counted by the
// model_version the runtime reports); the patches go through the real kubectl of the dev cluster:
//  a. abort through `kubectl patch` (spec.rollout.abortVersion) at step 0 of a canary paused there:
//     Aborted, the canary Deployment gone, traffic only on the stable version, history Aborted,
//     0 failed requests;
//  b. promote through `kubectl patch` (spec.rollout.promoteVersion) at step 0 of a 1h step: the canary's
//     version serves everything, history Succeeded, 0 failed requests;
//  c. the operator SIGKILLed (by PID) at step 1: a new operator resumes at the same step
//     (status.canary.step and stepStartedAt unchanged, the same pods and Deployments) and finishes:
//     promoted, one history entry, 0 failed requests.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { attachControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, condition, createMd, type Clients } from '@modelship/devcluster/kube-clients';
import { RATE, canaryIris, startCanaryLoad } from './canary-iris.ts';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { irisServiceUrl } from './faults.ts';
import { exampleIris, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import type { Load } from './load.ts';

const STABLE_REPLICAS = 2;
const LONG_STEPS = [
  { weight: 10, pause: '1h' },
  { weight: 50, pause: '1h' },
];
const STEP1_PAUSE_S = 60;

describe('e2e: canary manual abort and promote through kubectl patch; operator killed mid-canary', { timeout: 1_200_000 }, () => {
  let cluster: E2eCluster;
  let cp: ControlPlane;
  let c: Clients;
  let ns: string;
  let url: string;
  const operators: OperatorProcess[] = [];
  const loads: Load[] = [];

  const { md, deployment, describeMd, pods, settledOn, startCanary, abortedWith, atStep, stableAlone } = canaryIris(
    () => c,
    () => ns,
    STABLE_REPLICAS,
    () => cluster.modelServerUrl,
  );

  const load = () => {
    const l = startCanaryLoad(url, RATE, 400);
    loads.push(l);
    return l;
  };

  /** `kubectl patch mdep iris --type=merge -p <patch>` with the dev cluster's own kubectl. */
  const kubectlPatch = async (patch: object) => {
    const r = await cp.kubectl(['-n', ns, 'patch', 'modeldeployment', 'iris', '--type=merge', '-p', JSON.stringify(patch)], {
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, `kubectl patch failed: ${r.stderr}`);
    return r.stdout.trim();
  };

  /** The canary's version answers through the Service (kube-proxy has its pods). */
  const answering = (l: Load, version: string) =>
    waitFor(async () => ((l.snapshot().byVersion[version] ?? 0) > 0 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 250,
      description: `version ${version} answering through the Service`,
    });

  /** Answers per version over `ms`: what the Service serves now. */
  const servedOver = async (l: Load, ms: number) => {
    const a = l.snapshot();
    await sleep(ms);
    const b = l.snapshot();
    const versions = new Set([...Object.keys(a.byVersion), ...Object.keys(b.byVersion)]);
    return Object.fromEntries([...versions].map((v) => [v, (b.byVersion[v] ?? 0) - (a.byVersion[v] ?? 0)]).filter(([, n]) => n !== 0));
  };

  before(async () => {
    cluster = await getE2eCluster();
    cp = attachControlPlane(cluster.cpDir);
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-canary-ctl');
    operators.push(await startE2eOperator(cluster, ns));
    const spec = exampleIris(cluster.modelServerUrl).spec;
    spec.replicas = STABLE_REPLICAS;
    spec.rollout = { strategy: 'Canary', canary: { steps: LONG_STEPS, analysis: { interval: '10s', minRequests: 20 } } };
    await createMd(c, ns, 'iris', spec);
    await settledOn('1');
    url = await irisServiceUrl(c, ns);
  });

  after(async () => {
    for (const l of loads) await l.stop();
    for (const op of operators) await op.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('kubectl patch abortVersion at step 0 of a paused canary: aborted, canary gone, traffic back on stable, 0 failed requests', async (t) => {
    const l = load();
    try {
      await startCanary('2', 'iris', {}, { paused: true });
      await atStep('2', 0, 'Paused');
      await answering(l, '2');
      // paused for longer than several analysis windows: still paused, still at step 0
      await sleep(25_000);
      const held = await md();
      assert.deepEqual([held.status?.canary?.phase, held.status?.canary?.step], ['Paused', 0], describeMd(held));
      const split = await servedOver(l, 5_000);
      t.diagnostic(`paused at step 0: answers over 5 s by version ${JSON.stringify(split)}`);
      assert.ok((split['2'] ?? 0) > 0 && (split['1'] ?? 0) > 0, 'both versions serve while paused');

      const patchedAt = Date.now();
      t.diagnostic(`kubectl: ${await kubectlPatch({ spec: { rollout: { abortVersion: '2' } } })}`);
      const aborted = await abortedWith('2', 60_000);
      const aloneAt = await stableAlone();
      t.diagnostic(
        `aborted ${((Date.now() - patchedAt) / 1000).toFixed(1)} s after the patch; canary pods gone ` +
          `${((aloneAt - patchedAt) / 1000).toFixed(1)} s after it: ${aborted.status?.canary?.message}`,
      );
      assert.equal(aborted.status?.canary?.message, 'canary of version 2 aborted by spec.rollout.abortVersion at step 1 of 2 (10%)');
      assert.equal(condition(aborted, 'Degraded')?.reason, 'CanaryAborted');
      assert.equal(aborted.status?.history?.find((h) => h.version === '2')?.outcome, 'Aborted');
      assert.equal(aborted.status?.currentVersion, '1');
      assert.equal(await deployment('iris-canary'), undefined, 'the canary Deployment is gone (scaled to zero)');
      await sleep(2_000);
      const after = await servedOver(l, 8_000);
      t.diagnostic(`after the abort: answers over 8 s by version ${JSON.stringify(after)}`);
      assert.deepEqual(Object.keys(after), ['1'], 'only the stable version answers');
    } finally {
      const s = await l.stop();
      t.diagnostic(`abort: ${s.sent} requests, ${s.ok} ok, ${s.failed} failed, by version ${JSON.stringify(s.byVersion)}`);
      assert.equal(s.failed, 0, s.failures.join('; '));
    }
  });

  it('kubectl patch promoteVersion mid-rollout: the canary becomes stable, history Succeeded, 0 failed requests', async (t) => {
    const l = load();
    try {
      await startCanary('3', 'iris', {}, { paused: false });
      await atStep('3', 0, 'Progressing');
      await answering(l, '3');
      const patchedAt = Date.now();
      t.diagnostic(`kubectl: ${await kubectlPatch({ spec: { rollout: { promoteVersion: '3' } } })}`);
      const done = await waitFor(
        async () => {
          const m = await md();
          return m.status?.canary?.version === '3' && m.status.canary.phase === 'Succeeded' ? m : undefined;
        },
        { timeoutMs: 300_000, intervalMs: 1_000, description: 'canary 3 promoted' },
      );
      await settledOn('3');
      t.diagnostic(`promoted ${((Date.now() - patchedAt) / 1000).toFixed(1)} s after the patch`);
      const entry = done.status?.history?.find((h) => h.version === '3');
      assert.deepEqual([entry?.outcome, entry?.reason], ['Succeeded', 'CanaryPromoted'], JSON.stringify(done.status?.history));
      assert.equal(done.status?.currentVersion, '3');
      assert.equal(condition(await md(), 'Ready')?.status, 'True');
      // Succeeded is reported once the stable Deployment serves version 3; the old pods are still
      // draining then, and kube-proxy drops them from its rules a moment after they go (seen: 13 of 250
      // answers from version 1 in the 5 s right after Succeeded). Measure once they are gone.
      await waitFor(
        async () => {
          // every pod, those being deleted too (they answer until they are gone)
          const now = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=iris' })).items;
          return (
            now.length > 0 &&
            now.every((p) => p.metadata?.labels?.['modelship.dev/model-version'] === '3' && !p.metadata?.deletionTimestamp)
          );
        },
        { timeoutMs: 120_000, intervalMs: 500, description: 'only version 3 pods left' },
      );
      await sleep(2_000);
      const after = await servedOver(l, 5_000);
      t.diagnostic(`after the promotion (old pods gone): answers over 5 s by version ${JSON.stringify(after)}`);
      assert.deepEqual(Object.keys(after), ['3'], 'the promoted version serves everything');
    } finally {
      const s = await l.stop();
      t.diagnostic(`promote: ${s.sent} requests, ${s.ok} ok, ${s.failed} failed, by version ${JSON.stringify(s.byVersion)}`);
      assert.equal(s.failed, 0, s.failures.join('; '));
    }
  });

  it('operator SIGKILLed at step 1: a new one resumes at the same step with the same pods and finishes, 0 failed requests', async (t) => {
    const l = load();
    try {
      await startCanary(
        '4',
        'iris',
        {},
        {
          canary: {
            steps: [
              { weight: 10, pause: '20s' },
              { weight: 50, pause: `${STEP1_PAUSE_S}s` },
            ],
          },
        },
      );
      const atOne = await atStep('4', 1, 'Progressing');
      const before = atOne.status!.canary!;
      const podUids = (await pods()).map((p) => p.metadata!.uid!).sort();
      const canaryDep = (await deployment('iris-canary'))!;
      const stableDep = (await deployment('iris'))!;

      const first = operators[0]!;
      process.kill(first.pid, 'SIGKILL');
      assert.equal(await first.exited, null, 'killed by the signal, not exited');
      const killedAt = Date.now();
      t.diagnostic(
        `operator ${first.pid} SIGKILLed at step 1, ${((killedAt - Date.parse(before.stepStartedAt!)) / 1000).toFixed(1)} s into it`,
      );

      const second = await startE2eOperator(cluster, ns);
      operators.push(second);
      await waitFor(async () => ((await second.metric('modelship_reconcile_total')) > 0 ? true : undefined), {
        timeoutMs: 30_000,
        description: 'the new operator reconciling',
      });
      await sleep(8_000);
      const resumed = (await md()).status!.canary!;
      t.diagnostic(
        `new operator up ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill: step ${resumed.step}, ` +
          `stepStartedAt ${resumed.stepStartedAt} (was ${before.stepStartedAt}), phase ${resumed.phase}`,
      );
      assert.deepEqual(
        [resumed.version, resumed.step, resumed.stepStartedAt, resumed.phase],
        ['4', 1, before.stepStartedAt, 'Progressing'],
        'resumed at the same step, its start not reset',
      );
      assert.deepEqual((await pods()).map((p) => p.metadata!.uid!).sort(), podUids, 'no pod replaced or added');
      const canaryNow = (await deployment('iris-canary'))!;
      const stableNow = (await deployment('iris'))!;
      assert.deepEqual(
        [canaryNow.metadata?.uid, canaryNow.metadata?.generation, stableNow.metadata?.generation],
        [canaryDep.metadata?.uid, canaryDep.metadata?.generation, stableDep.metadata?.generation],
        'neither Deployment recreated or rewritten',
      );

      const done = await waitFor(
        async () => {
          const m = await md();
          return m.status?.canary?.version === '4' && m.status.canary.phase === 'Succeeded' ? m : undefined;
        },
        { timeoutMs: 300_000, intervalMs: 1_000, description: 'canary 4 promoted by the new operator' },
      );
      await settledOn('4');
      const entries = done.status?.history?.filter((h) => h.version === '4') ?? [];
      assert.deepEqual(
        entries.map((h) => h.outcome),
        ['Succeeded'],
        'one history entry for the canary',
      );
      t.diagnostic(
        `promoted ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill; last analysis ${JSON.stringify(done.status?.canary?.lastAnalysis)}`,
      );
    } finally {
      const s = await l.stop();
      t.diagnostic(`operator kill: ${s.sent} requests, ${s.ok} ok, ${s.failed} failed, by version ${JSON.stringify(s.byVersion)}`);
      assert.equal(s.failed, 0, s.failures.join('; '));
    }
  });
});
