// The operator's EventRecorder sends Events in the background (off the reconcile path): one
// ModelDeployment's Events in order, several ModelDeployments' concurrently, bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CoreV1Event } from '@kubernetes/client-node';
import { EventRecorder, MAX_PENDING_EVENTS } from '../../operator/src/kube/events.ts';
import { silentLogger } from '../../operator/src/log.ts';
import { modelDeployment } from './operator-fixtures.ts';
import { FakeClients, apiError } from './operator-reconcile-fakes.ts';

const named = (name: string) => {
  const md = modelDeployment();
  md.metadata = { ...md.metadata, name };
  return md;
};

/** Event creates that wait until `open()`; records the order they were sent in and the most in flight. */
function gatedClients() {
  const c = new FakeClients();
  const sent: string[] = [];
  let inFlight = 0;
  let most = 0;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  c.answers.set('createNamespacedEvent', async (arg) => {
    const body = arg.body as CoreV1Event;
    most = Math.max(most, ++inFlight);
    await gate;
    inFlight--;
    sent.push(`${body.involvedObject.name} ${body.reason}`);
    if (body.reason === 'Refused') throw apiError(403, 'forbidden');
    return body;
  });
  return { c, sent, open, most: () => most };
}

test('record returns before the Event is sent; drain waits for it; one ModelDeployment in order, several concurrently', async () => {
  const { c, sent, open, most } = gatedClients();
  const events = new EventRecorder(c.asKubeClients(), silentLogger(), 'op-1');
  const names = Array.from({ length: 8 }, (_, i) => `m${i}`);
  for (const name of names) {
    await events.record(named(name), 'Normal', 'Created', `created Deployment ${name}`);
    await events.record(named(name), 'Normal', 'RolloutStarted', 'rolling out version 1');
  }
  assert.equal(sent.length, 0, 'nothing answered yet: record did not wait');
  assert.equal(events.waiting, 16);
  open();
  await events.drain();
  assert.equal(events.waiting, 0);
  assert.equal(sent.length, 16);
  for (const name of names)
    assert.deepEqual(
      sent.filter((s) => s.startsWith(`${name} `)),
      [`${name} Created`, `${name} RolloutStarted`],
      `${name}: in the order recorded`,
    );
  assert.ok(most() > 1 && most() <= 4, `several ModelDeployments' Events in flight at once, at most 4 (saw ${most()})`);
  assert.deepEqual(c.writes.filter((w) => w === 'create events').length, 16, 'every Event counted as a write');
});

test('a refused Event is logged and the next one of the same ModelDeployment is still sent', async () => {
  const { c, sent, open } = gatedClients();
  const events = new EventRecorder(c.asKubeClients(), silentLogger(), 'op-1');
  await events.record(named('iris'), 'Warning', 'Refused', 'x');
  await events.record(named('iris'), 'Normal', 'RolloutStarted', 'y');
  open();
  await events.drain();
  assert.deepEqual(sent, ['iris Refused', 'iris RolloutStarted']);
});

test('an Event recorded after a lane went idle is sent (the lane starts again)', async () => {
  const { c, sent, open } = gatedClients();
  open();
  const events = new EventRecorder(c.asKubeClients(), silentLogger(), 'op-1');
  await events.record(named('iris'), 'Normal', 'Created', 'x');
  await events.drain();
  await events.record(named('iris'), 'Normal', 'RolloutStarted', 'y');
  await events.drain();
  assert.deepEqual(sent, ['iris Created', 'iris RolloutStarted']);
});

test(`beyond ${MAX_PENDING_EVENTS} waiting, new Events are dropped instead of held without bound`, async () => {
  const { c, sent, open } = gatedClients();
  const events = new EventRecorder(c.asKubeClients(), silentLogger(), 'op-1');
  for (let i = 0; i < MAX_PENDING_EVENTS + 10; i++) await events.record(named(`m${i}`), 'Normal', 'Created', 'x');
  assert.equal(events.waiting, MAX_PENDING_EVENTS);
  open();
  await events.drain();
  assert.equal(sent.length, MAX_PENDING_EVENTS);
});
