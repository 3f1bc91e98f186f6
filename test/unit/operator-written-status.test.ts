// A reconcile woken before the informer delivers the status the previous one wrote (a child's
// arrival right after creation) decides from that status, not the stale cached one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import { Reconciler } from '../../operator/src/controller/reconciler.ts';
import { WrittenStatuses } from '../../operator/src/reconcile/written-status.ts';
import { modelDeployment } from './operator-fixtures.ts';
import { fakeWorld, settle } from './operator-reconcile-fakes.ts';

const KEY = 'ml/iris';

function withVersion(md: ModelDeployment, resourceVersion: string): ModelDeployment {
  return { ...md, metadata: { ...md.metadata, resourceVersion } };
}

test('children in the cache, our status not yet: no second status write, no second RolloutStarted', async () => {
  const w = fakeWorld();
  const created = withVersion(modelDeployment(), '10');
  w.mds.put(created);
  const r = new Reconciler(w.deps());
  await r.reconcile(KEY);
  assert.deepEqual(w.clients.writes, [
    'apply services',
    'apply poddisruptionbudgets',
    'apply deployments',
    'apply modeldeployments/status',
  ]);
  assert.deepEqual(
    w.events.events.map((e) => e.reason),
    ['RolloutStarted'],
  );
  const written = w.clients.statuses.at(-1);

  // The children arrive in their caches; the ModelDeployment's cache still holds version 10, without a status.
  settle(w);
  const deployment = w.children.get('Deployment')!.objects[0]!;
  delete (deployment as { status?: unknown }).status; // as it first arrives: the Deployment controller has not looked yet
  w.mds.put(created);
  await r.reconcile(KEY);
  assert.deepEqual(w.clients.writes, [], 'the status written for version 10 is the current one');
  assert.deepEqual(w.events.events, [], 'the rollout was started once');

  // Our write arrives: the cache is the truth again, and it says the same.
  w.mds.put(withVersion({ ...created, status: written }, '11'));
  await r.reconcile(KEY);
  assert.deepEqual(w.clients.writes, []);

  // Anyone's later change (here the status cleared) is seen and answered.
  w.mds.put(withVersion(created, '12'));
  await r.reconcile(KEY);
  assert.deepEqual(w.clients.writes, ['apply modeldeployments/status']);
});

test('WrittenStatuses: the written status while the cache holds the version it was based on; forgotten once the cache moves', () => {
  const written = new WrittenStatuses();
  const v10 = withVersion(modelDeployment(), '10');
  assert.equal(written.current(v10), undefined);
  written.wrote(v10, { observedGeneration: 1 });
  assert.deepEqual(written.current(v10), { observedGeneration: 1 });
  assert.equal(written.current(withVersion(v10, '11')), undefined);
  assert.equal(written.size, 0, 'dropped once the cache moved on');
  assert.equal(written.current(v10), undefined, 'and not back for an older version');
  written.wrote(modelDeployment(), { observedGeneration: 1 });
  assert.equal(written.size, 0, 'an object without a resourceVersion (never from a cache) is not remembered');
  written.wrote(v10, { observedGeneration: 1 });
  written.forget(KEY);
  assert.equal(written.current(v10), undefined, 'forgotten when the ModelDeployment is gone');
});
