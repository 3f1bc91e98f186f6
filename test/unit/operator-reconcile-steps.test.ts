// The reconcile steps (operator/src/reconcile/: observe, decide, act, report) and the Reconciler
// that chains them, on in-memory caches and recording clients: no API server.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import { ANNOTATION_TEMPLATE_HASH } from '../../operator/src/api/labels.ts';
import { CHILD_KINDS } from '../../operator/src/controller/child-kinds.ts';
import { Reconciler } from '../../operator/src/controller/reconciler.ts';
import { silentLogger } from '../../operator/src/log.ts';
import { act, applyErrorPolicy, stagesOf } from '../../operator/src/reconcile/act.ts';
import { decide } from '../../operator/src/reconcile/decide.ts';
import { observe } from '../../operator/src/reconcile/observe.ts';
import { buildStatus, createdList, report } from '../../operator/src/reconcile/report.ts';
import { DEFAULT_THRESHOLDS } from '../../operator/src/rollout/signals.ts';
import { RUNTIME_DEFAULTS, modelDeployment, waitingPod } from './operator-fixtures.ts';
import { FakeClients, apiError, fakeWorld, settle, type FakeWorld } from './operator-reconcile-fakes.ts';

const KEY = 'ml/iris';
const NOW = new Date('2026-11-30T12:00:00Z');
const owned = (uid = 'uid-1') => [{ apiVersion: 'modelship.dev/v1alpha1', kind: 'ModelDeployment', name: 'iris', uid, controller: true }];
const opts = { kinds: CHILD_KINDS, runtimeDefaults: RUNTIME_DEFAULTS, thresholds: DEFAULT_THRESHOLDS };

function world(md: ModelDeployment = modelDeployment()): FakeWorld {
  const w = fakeWorld();
  w.mds.put(md);
  return w;
}

const observeIn = (w: FakeWorld) => observe({ ...w.deps(NOW), childKinds: CHILD_KINDS }, KEY, NOW);

describe('observe: caches to facts', () => {
  test('nothing to do for a ModelDeployment that is gone or being deleted', async () => {
    assert.equal(await observe({ ...fakeWorld().deps(NOW), childKinds: CHILD_KINDS }, KEY, NOW), undefined);
    const deleting = modelDeployment();
    deleting.metadata = { ...deleting.metadata, deletionTimestamp: NOW };
    assert.equal(await observeIn(world(deleting)), undefined);
  });

  test('the Deployment counts only when this ModelDeployment controls it; pods only of this instance', async () => {
    const w = world();
    const foreign: V1Deployment = { metadata: { name: 'iris', namespace: 'ml', ownerReferences: owned('someone-else') } };
    w.children.get('Deployment')?.put(foreign);
    const mine: V1Pod = { metadata: { name: 'iris-a', namespace: 'ml', labels: { 'app.kubernetes.io/instance': 'iris' } } };
    const other: V1Pod = { metadata: { name: 'rose-a', namespace: 'ml', labels: { 'app.kubernetes.io/instance': 'rose' } } };
    w.pods.put(mine);
    w.pods.put(other);
    const f = await observeIn(w);
    assert.equal(f?.deployment, undefined);
    assert.deepEqual(
      f?.pods.map((p) => p.metadata?.name),
      ['iris-a'],
    );
    assert.equal(f?.blocking?.reason, 'ResourceConflict');
    assert.match(f?.blocking?.message ?? '', /^Deployment iris already exists and is controlled by ModelDeployment iris/);
    assert.equal(f?.desiredModel.name, 'iris', 'model name defaults to metadata.name');
    assert.ok(f?.desiredHash);
  });

  test('a wanted child missing from the cache is not read from the API while no conflict is on record (act creates it only if absent)', async () => {
    const w = world();
    w.clients.answers.set('readNamespacedService', () => ({ metadata: { name: 'iris', namespace: 'ml' } }));
    const f = await observeIn(w);
    assert.deepEqual(w.clients.calls, [], 'no reads: creation costs one request per child');
    assert.equal(f?.blocking, undefined);
  });

  test('while a conflict is on record, a child missing from the cache is looked up in the API (conflict with an unwatched object)', async () => {
    const md = modelDeployment();
    md.status = {
      conditions: [
        { type: 'Degraded', status: 'True', reason: 'ResourceConflict', message: 'taken', lastTransitionTime: NOW.toISOString() },
      ],
    };
    const w = world(md);
    w.clients.answers.set('readNamespacedService', () => ({ metadata: { name: 'iris', namespace: 'ml' } }));
    const f = await observeIn(w);
    assert.deepEqual(
      w.clients.calls.map((c) => c.method),
      ['readNamespacedDeployment', 'readNamespacedService'],
    );
    assert.equal(f?.blocking?.message.startsWith('Service iris already exists and is not managed by Modelship'), true);
  });

  test('children in the cache and ours: no API read at all', async () => {
    const w = world();
    for (const kind of ['Deployment', 'Service'])
      w.children.get(kind)?.put({ kind, metadata: { name: 'iris', namespace: 'ml', ownerReferences: owned() } });
    const f = await observeIn(w);
    assert.equal(f?.blocking, undefined);
    assert.deepEqual(w.clients.calls, []);
    assert.ok(f?.deployment);
  });
});

describe('decide: facts to a plan (pure)', () => {
  test('blocked: no rollout decision and no writes', async () => {
    const w = world();
    w.children.get('Service')?.put({ metadata: { name: 'iris', namespace: 'ml' } });
    const plan = decide((await observeIn(w))!, opts);
    assert.equal(plan.rollout, undefined);
    assert.deepEqual(plan.steps, []);
  });

  test('fresh ModelDeployment: apply Deployment and Service; a started rollout', async () => {
    const plan = decide((await observeIn(world()))!, opts);
    assert.deepEqual(
      plan.steps.map((s) => `${s.op} ${s.kind.kind}`),
      ['apply Deployment', 'apply Service', 'apply PodDisruptionBudget'],
    );
    assert.deepEqual(
      plan.rollout?.events.map((e) => e.type),
      ['RolloutStarted'],
    );
    assert.equal(plan.rollout?.updatingVersion, '1');
  });

  test('an HPA we control and no longer want is deleted; one we do not control is left alone', async () => {
    const w = world();
    w.children.get('HorizontalPodAutoscaler')?.put({ metadata: { name: 'iris', namespace: 'ml', ownerReferences: owned() } });
    w.children.get('NetworkPolicy')?.put({ metadata: { name: 'iris', namespace: 'ml' } });
    const plan = decide((await observeIn(w))!, opts);
    assert.deepEqual(
      plan.steps.map((s) => `${s.op} ${s.kind.kind}`),
      ['apply Deployment', 'apply Service', 'delete HorizontalPodAutoscaler', 'apply PodDisruptionBudget'],
    );
  });

  test('a rolled-back head renders the last good version into the Deployment', async () => {
    const md = modelDeployment({ model: { version: '2', uri: 'https://models.example.com/iris/2/model.onnx', format: 'onnx' } });
    const w = world(md);
    const f = (await observeIn(w))!;
    md.status = {
      history: [
        { version: '2', uri: 'u2', templateHash: f.desiredHash, startedAt: NOW.toISOString(), outcome: 'RolledBack' },
        {
          version: '1',
          uri: 'https://models.example.com/iris/1/model.onnx',
          templateHash: 'old',
          startedAt: NOW.toISOString(),
          outcome: 'Succeeded',
        },
      ],
    };
    const plan = decide({ ...f, status: md.status }, opts);
    const dep = plan.steps[0]?.op === 'apply' ? (plan.steps[0].desired as V1Deployment) : undefined;
    const env = dep?.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'MODELSHIP_MODEL_VERSION');
    assert.equal(env?.value, '1');
  });
});

describe('act: writes with a typed error policy', () => {
  const md = modelDeployment();
  md.metadata = { ...md.metadata, uid: 'uid-1' };
  const log = silentLogger();

  test('applies what differs, skips what matches, deletes what it is told; records what it created', async () => {
    const plan = decide((await observeIn(world(md)))!, opts);
    const c = new FakeClients();
    const first = await act(c.asKubeClients(), log, md, plan.steps);
    assert.deepEqual(
      first.created,
      ['Deployment iris', 'Service iris', 'PodDisruptionBudget iris'],
      'in CHILD_KINDS order, whatever order they were written in',
    );
    assert.deepEqual(c.writes, ['apply services', 'apply poddisruptionbudgets', 'apply deployments'], 'the Deployment last');
    // The same objects as actual: nothing to write.
    const again = plan.steps.map((s) => (s.op === 'apply' ? { ...s, actual: structuredClone(s.desired) } : s));
    const c2 = new FakeClients();
    const second = await act(c2.asKubeClients(), log, md, again);
    assert.deepEqual(c2.writes, []);
    assert.deepEqual(second, { created: [], createdObjects: [], problem: undefined, retry: undefined });
  });

  test('422 is InvalidSpec and not retried; 403 Forbidden; 5xx, 429, 409 and network errors are retried', () => {
    assert.deepEqual(applyErrorPolicy(apiError(422, 'spec.x: Invalid value')).problem, {
      reason: 'InvalidSpec',
      message: 'spec.x: Invalid value',
    });
    assert.equal(applyErrorPolicy(apiError(422, 'x')).retryable, false);
    assert.deepEqual(applyErrorPolicy(apiError(403, 'forbidden')).problem.reason, 'Forbidden');
    for (const code of [500, 503, 429, 409]) {
      const p = applyErrorPolicy(apiError(code, 'webhook failed'));
      assert.equal(p.retryable, true, String(code));
      assert.deepEqual(p.problem, { reason: 'ApplyFailed', message: 'webhook failed (retrying)' });
    }
    assert.equal(applyErrorPolicy(new Error('ECONNRESET')).retryable, true);
  });

  test('a failing write of a child that starts no pods stops the reconcile before the Deployment; a retryable error is handed back', async () => {
    const plan = decide((await observeIn(world(md)))!, opts);
    const c = new FakeClients();
    c.answers.set('patchNamespacedService', () => {
      throw apiError(500, 'Internal error occurred: failed calling webhook');
    });
    const out = await act(c.asKubeClients(), log, md, plan.steps);
    assert.equal(out.problem?.reason, 'ApplyFailed');
    assert.ok(out.retry);
    assert.deepEqual(
      c.calls.map((x) => x.method),
      ['patchNamespacedService', 'patchNamespacedPodDisruptionBudget'],
      'no Deployment written',
    );
  });

  test('the children that start no pods are written concurrently, then the Deployment; one failing does not stop the others of its stage', async () => {
    const scaled = modelDeployment({ autoscaling: { minReplicas: 1, maxReplicas: 3 } });
    const plan = decide((await observeIn(world(scaled)))!, opts);
    assert.deepEqual(
      stagesOf(plan.steps).concurrent.map((s) => s.kind.kind),
      ['Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'],
    );
    assert.deepEqual(
      stagesOf(plan.steps).ordered.map((s) => s.kind.kind),
      ['Deployment'],
    );
    // Both first-stage writes are in flight before either answers.
    const c = new FakeClients();
    let inFlight = 0;
    let most = 0;
    const slow = (fail: boolean) => async (arg: Record<string, unknown>) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (fail) throw apiError(503, 'no Service IP left');
      return arg.body;
    };
    c.answers.set('patchNamespacedService', slow(true));
    c.answers.set('patchNamespacedHorizontalPodAutoscaler', slow(false));
    const out = await act(c.asKubeClients(), log, scaled, plan.steps);
    assert.equal(most, 2, 'Service and HPA in flight together');
    assert.deepEqual(out.problem, { reason: 'ApplyFailed', message: 'no Service IP left (retrying)' });
    assert.deepEqual(
      out.created,
      ['HorizontalPodAutoscaler iris', 'PodDisruptionBudget iris'],
      'the HPA and PDB went through and are reported',
    );
    assert.equal(
      c.calls.some((x) => x.method === 'patchNamespacedDeployment'),
      false,
      'no Deployment while a child failed',
    );
  });
});

describe('report: status, Events, metrics', () => {
  test('buildStatus: versions from the decision, replicas from the Deployment, selector and url', async () => {
    const f = (await observeIn(world()))!;
    const plan = decide(f, opts);
    const s = buildStatus(f, plan, undefined);
    assert.equal(s.updatingVersion, '1');
    assert.equal(s.replicas, 0);
    assert.equal(s.selector, 'app.kubernetes.io/name=modelship-runtime,app.kubernetes.io/instance=iris');
    assert.equal(s.url, 'http://iris.ml.svc.cluster.local/v2/models/iris');
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.status, c.reason]),
      [
        ['Ready', 'False', 'RollingOut'],
        ['Available', 'False', 'NoDeployment'],
        ['Progressing', 'True', 'RollingOut'],
        ['Degraded', 'False', 'AsExpected'],
      ],
    );
    const blocked = buildStatus(f, plan, { reason: 'ApplyFailed', message: 'boom (retrying)' });
    assert.deepEqual(blocked.conditions?.find((c) => c.type === 'Degraded')?.reason, 'ApplyFailed');
  });

  test('one Created Event names every child of the reconcile', () => {
    assert.equal(
      createdList(['Deployment iris', 'Service iris', 'HorizontalPodAutoscaler iris']),
      'Deployment, Service and HorizontalPodAutoscaler iris',
    );
    assert.equal(createdList(['Deployment iris-canary']), 'Deployment iris-canary');
    assert.equal(createdList(['Deployment iris-canary', 'NetworkPolicy iris']), 'Deployment iris-canary, NetworkPolicy iris');
  });

  test('writes the status only when it changed; a Warning Event when an apply problem starts, not on every retry', async () => {
    const w = world();
    const md = w.mds.objects[0]!;
    const deps = { ...w.deps(NOW), log: silentLogger() };
    const f = (await observeIn(w))!;
    const failing = buildStatus(f, decide(f, opts), { reason: 'ApplyFailed', message: 'boom (retrying)' });
    await report(deps, md, {}, failing, [], []);
    assert.equal(w.clients.statuses.length, 1);
    assert.deepEqual(
      w.events.events.map((e) => `${e.type} ${e.reason}`),
      ['Warning ApplyFailed'],
    );
    await report(deps, md, failing, structuredClone(failing), [], []);
    assert.equal(w.clients.statuses.length, 1, 'unchanged status: no write');
    assert.equal(w.events.events.length, 1, 'same problem: no second Event');
  });
});

describe('Reconciler on fake caches', () => {
  test('first reconcile creates the children and the status; once settled, a reconcile writes nothing', async () => {
    const w = world();
    const r = new Reconciler(w.deps());
    const first = await r.reconcile(KEY);
    assert.deepEqual(first, { requeueAfterMs: 60_000 }, 'rollout in progress: look again');
    assert.deepEqual(w.clients.writes, [
      'apply services',
      'apply poddisruptionbudgets',
      'apply deployments',
      'apply modeldeployments/status',
    ]);
    assert.deepEqual(
      w.events.events.map((e) => `${e.reason}: ${e.message}`),
      ['RolloutStarted: rolling out version 1; created Deployment, Service and PodDisruptionBudget iris'],
      'one Event for the rollout and every child it created (Events are writes, and creation is when the API server is busiest)',
    );
    settle(w);
    assert.deepEqual(await r.reconcile(KEY), {});
    assert.deepEqual(w.clients.writes, ['apply modeldeployments/status'], 'only the status: the rollout succeeded');
    assert.equal(w.clients.statuses.at(-1)?.currentVersion, '1');
    assert.deepEqual(
      w.events.events.map((e) => e.reason),
      ['RolloutSucceeded'],
    );
    settle(w);
    assert.deepEqual(await r.reconcile(KEY), {});
    assert.deepEqual(w.clients.writes, [], 'steady state: no writes');
  });

  test('a rollout whose new pod waits on an image pull is looked at again when the pull reaches its limit, not on a fixed beat', async () => {
    const w = world();
    const r = new Reconciler(w.deps(NOW));
    assert.deepEqual(await r.reconcile(KEY), { requeueAfterMs: 60_000 }, 'nothing due: only the safety net');
    settle(w, { deploymentComplete: false });
    const desiredHash = (await observeIn(w))?.desiredHash ?? assert.fail('no facts');
    const pulling = waitingPod('ImagePullBackOff', 45_000, NOW);
    pulling.metadata = {
      ...pulling.metadata,
      labels: { 'app.kubernetes.io/instance': 'iris' },
      annotations: { [ANNOTATION_TEMPLATE_HASH]: desiredHash },
    };
    w.pods.put(pulling);
    assert.deepEqual(await r.reconcile(KEY), { requeueAfterMs: 15_000 }, 'the 60 s image-pull limit is 15 s away');
  });

  test('a child created outside a rollout start (deleted by hand, recreated): a Created Event naming it, no RolloutStarted', async () => {
    const w = world();
    const r = new Reconciler(w.deps());
    await r.reconcile(KEY);
    settle(w);
    await r.reconcile(KEY);
    settle(w);
    const services = w.children.get('Service')!;
    services.objects.splice(0, services.objects.length);
    await r.reconcile(KEY);
    assert.deepEqual(w.clients.writes, ['apply services']);
    assert.deepEqual(
      w.events.events.map((e) => `${e.reason}: ${e.message}`),
      ['Created: created Service iris'],
    );
  });

  test('a conflict blocks every write but the status and asks to look again in 30 s', async () => {
    const w = world();
    w.children.get('Deployment')?.put({ metadata: { name: 'iris', namespace: 'ml', ownerReferences: owned('other') } } as KubernetesObject);
    const r = new Reconciler(w.deps());
    assert.deepEqual(await r.reconcile(KEY), { requeueAfterMs: 30_000 });
    assert.deepEqual(w.clients.writes, ['apply modeldeployments/status']);
    assert.equal(w.clients.statuses[0]?.conditions?.find((c) => c.type === 'Degraded')?.reason, 'ResourceConflict');
    assert.deepEqual(
      w.events.events.map((e) => `${e.type} ${e.reason}`),
      ['Warning ResourceConflict'],
    );
  });

  test('children missing from the cache are created with an apply that fails if the name is taken; present ones without', async () => {
    const w = world();
    const r = new Reconciler(w.deps());
    await r.reconcile(KEY);
    assert.deepEqual(
      w.clients.applied().map((o) => `${o.kind} ${o.metadata?.resourceVersion}`),
      ['Service 1', 'PodDisruptionBudget 1', 'Deployment 1'],
      'resourceVersion "1" as precondition: create, or 409',
    );
    settle(w);
    const md = w.mds.objects[0]!;
    w.mds.put({ ...md, metadata: { ...md.metadata, generation: 2 }, spec: { ...md.spec, replicas: 3 } });
    await r.reconcile(KEY);
    assert.deepEqual(
      w.clients.applied().map((o) => `${o.kind} ${o.metadata?.resourceVersion}`),
      ['Deployment undefined'],
      'an update carries no precondition',
    );
  });

  test('creation writes the status once: the created Deployment (its apply answer) is in the first status, so the reconcile its arrival in the cache wakes writes nothing', async () => {
    const w = world();
    const r = new Reconciler(w.deps());
    await r.reconcile(KEY);
    const first = w.clients.statuses[0];
    assert.deepEqual(
      first?.conditions?.find((c) => c.type === 'Available'),
      {
        type: 'Available',
        status: 'False',
        reason: 'MinimumReplicasUnavailable',
        message: '0 of 2 replicas ready',
        observedGeneration: 1,
        lastTransitionTime: first?.conditions?.find((c) => c.type === 'Available')?.lastTransitionTime,
      },
      'not "does not exist yet": it was just created',
    );
    // The children land in the caches as stored, before any controller has touched them.
    const md = w.mds.objects[0]!;
    for (const obj of w.clients.applied()) w.children.get(obj.kind as string)?.put(structuredClone(obj));
    w.mds.put({ ...md, status: first });
    w.clients.writes.length = 0;
    await r.reconcile(KEY);
    assert.deepEqual(w.clients.writes, [], 'second reconcile: nothing to write');
  });

  test('a name taken by an object the cache cannot show (409 on create): Degraded ResourceConflict, looked at again in 30 s, no rollout started', async () => {
    const w = world();
    w.clients.answers.set('patchNamespacedService', (arg) => {
      if ((arg.body as KubernetesObject).metadata?.resourceVersion === '1') throw apiError(409, 'the object has been modified');
      throw new Error('a foreign Service must never be applied');
    });
    w.clients.answers.set('readNamespacedService', () => ({ metadata: { name: 'iris', namespace: 'ml', labels: { team: 'other' } } }));
    const r = new Reconciler(w.deps());
    assert.deepEqual(await r.reconcile(KEY), { requeueAfterMs: 30_000 });
    assert.deepEqual(
      w.clients.writes,
      ['apply services', 'apply poddisruptionbudgets', 'apply modeldeployments/status'],
      'no Deployment: no pods start',
    );
    const status = w.clients.statuses[0];
    const degraded = status?.conditions?.find((c) => c.type === 'Degraded');
    assert.equal(degraded?.reason, 'ResourceConflict');
    assert.match(degraded?.message ?? '', /^Service iris already exists and is not managed by Modelship/);
    assert.equal(status?.updatingVersion, undefined, 'blocked: no rollout on record');
    assert.deepEqual(
      w.events.events.map((e) => `${e.type} ${e.reason}: ${e.message}`),
      ['Normal Created: created PodDisruptionBudget iris', `Warning ResourceConflict: ${degraded?.message}`],
    );

    // With the conflict on record, the next reconcile reads the API and stays blocked: no child is written.
    settle(w);
    w.children.get('Service')!.objects.length = 0; // settle() takes every apply, the refused one too
    assert.deepEqual(await r.reconcile(KEY), { requeueAfterMs: 30_000 });
    assert.deepEqual(w.clients.applied(), []);
    assert.equal(w.clients.statuses.at(-1)?.conditions?.find((c) => c.type === 'Degraded')?.reason, 'ResourceConflict');
    assert.ok(w.clients.calls.some((c) => c.method === 'readNamespacedService'));
  });

  test('a foreign object holding the HPA name (a kind after the Deployment in CHILD_KINDS): blocked before the Deployment is created, so no pods start', async () => {
    const w = world(modelDeployment({ autoscaling: { minReplicas: 1, maxReplicas: 3 } }));
    w.clients.answers.set('patchNamespacedHorizontalPodAutoscaler', (arg) => {
      if ((arg.body as KubernetesObject).metadata?.resourceVersion === '1') throw apiError(409, 'the object has been modified');
      throw new Error('a foreign HPA must never be applied');
    });
    w.clients.answers.set('readNamespacedHorizontalPodAutoscaler', () => ({ metadata: { name: 'iris', namespace: 'ml' } }));
    const r = new Reconciler(w.deps());
    assert.deepEqual(await r.reconcile(KEY), { requeueAfterMs: 30_000 });
    assert.deepEqual(
      w.clients.applied().map((o) => o.kind),
      ['Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'],
      'the Deployment is never applied while the HPA name is taken',
    );
    const degraded = w.clients.statuses[0]?.conditions?.find((c) => c.type === 'Degraded');
    assert.equal(degraded?.reason, 'ResourceConflict');
    assert.match(degraded?.message ?? '', /^HorizontalPodAutoscaler iris already exists/);
    assert.equal(w.clients.statuses[0]?.updatingVersion, undefined, 'no rollout on record');
  });

  test('a 409 on create for a child that is ours (the cache lagged): applied again without the precondition, no Created Event for it', async () => {
    const w = world();
    w.clients.answers.set('patchNamespacedService', (arg) => {
      if ((arg.body as KubernetesObject).metadata?.resourceVersion === '1') throw apiError(409, 'the object has been modified');
      return {};
    });
    w.clients.answers.set('readNamespacedService', () => ({ metadata: { name: 'iris', namespace: 'ml', ownerReferences: owned() } }));
    const r = new Reconciler(w.deps());
    assert.deepEqual(await r.reconcile(KEY), { requeueAfterMs: 60_000 });
    assert.deepEqual(
      w.clients.applied().map((o) => `${o.kind} ${o.metadata?.resourceVersion}`),
      ['Service 1', 'PodDisruptionBudget 1', 'Service undefined', 'Deployment 1'],
    );
    assert.equal(w.clients.statuses[0]?.conditions?.find((c) => c.type === 'Degraded')?.status, 'False');
    assert.deepEqual(
      w.events.events.map((e) => `${e.reason}: ${e.message}`),
      ['RolloutStarted: rolling out version 1; created Deployment and PodDisruptionBudget iris'],
    );
  });

  test('a retryable apply error: the status says so, then the error is rethrown for the work queue', async () => {
    const w = world();
    w.clients.answers.set('patchNamespacedService', () => {
      throw apiError(503, 'no Service IP left');
    });
    const r = new Reconciler(w.deps());
    await assert.rejects(r.reconcile(KEY), /HTTP 503/);
    const degraded = w.clients.statuses[0]?.conditions?.find((c) => c.type === 'Degraded');
    assert.deepEqual([degraded?.reason, degraded?.message], ['ApplyFailed', 'no Service IP left (retrying)']);
  });
});
