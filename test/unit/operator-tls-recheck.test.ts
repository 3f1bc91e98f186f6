// README ("Encryption in transit"): the operator does not watch Secrets, so a ModelDeployment
// blocked on its TLS Secret recovers within 30 s, the recheck of a blocked ModelDeployment. That
// recheck is asked for here; nothing else is written but the status.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Reconciler } from '../../operator/src/controller/reconciler.ts';
import { modelDeployment } from './operator-fixtures.ts';
import { fakeWorld } from './operator-reconcile-fakes.ts';

test('a missing TLS Secret: Degraded TLSSecretInvalid, no child applied, looked at again in 30 s', async () => {
  const md = modelDeployment();
  md.spec.service = { ...md.spec.service, tls: { secretName: 'nope' } };
  const w = fakeWorld();
  w.mds.put(md);
  assert.deepEqual(await new Reconciler(w.deps()).reconcile('ml/iris'), { requeueAfterMs: 30_000 });
  assert.deepEqual(w.clients.writes, ['apply modeldeployments/status']);
  const degraded = w.clients.statuses[0]?.conditions?.find((c) => c.type === 'Degraded');
  assert.equal(degraded?.reason, 'TLSSecretInvalid');
  assert.match(degraded?.message ?? '', /Secret "nope" does not exist/);
});
