// The Event recorder sends Events without holding the reconcile up, and can wait for them at shutdown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventRecorder } from '../../operator/src/kube/events.ts';
import { silentLogger } from '../../operator/src/log.ts';
import { modelDeployment } from './operator-fixtures.ts';
import { FakeClients, apiError } from './operator-reconcile-fakes.ts';

test('record returns before the API answers; flush waits for the Events in flight', async () => {
  const clients = new FakeClients();
  let answer: () => void = () => {};
  clients.answers.set('createNamespacedEvent', () => new Promise<void>((resolve) => (answer = resolve)));
  const recorder = new EventRecorder(clients.asKubeClients(), silentLogger(), 'op-1');
  await recorder.record(modelDeployment(), 'Normal', 'Created', 'created Deployment and Service iris');
  assert.deepEqual(
    clients.calls.map((c) => c.method),
    ['createNamespacedEvent'],
    'sent',
  );
  const body = clients.calls[0]?.arg.body as { reason: string; message: string; involvedObject: { name: string } };
  assert.deepEqual([body.reason, body.message, body.involvedObject.name], ['Created', 'created Deployment and Service iris', 'iris']);
  let flushed = false;
  const flush = recorder.flush().then(() => (flushed = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(flushed, false, 'flush waits while the Event is in flight');
  answer();
  await flush;
  assert.equal(flushed, true);
});

test('an Event the API refuses is logged, never thrown (neither by record nor by flush)', async () => {
  const clients = new FakeClients();
  clients.answers.set('createNamespacedEvent', () => {
    throw apiError(403, 'forbidden');
  });
  const recorder = new EventRecorder(clients.asKubeClients(), silentLogger(), 'op-1');
  await recorder.record(modelDeployment(), 'Warning', 'ResourceConflict', 'taken');
  await recorder.flush();
  assert.equal(clients.writes.length, 1);
});
