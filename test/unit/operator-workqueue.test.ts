import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../operator/src/controller/workqueue.ts';

test('a key added many times while waiting is handed out once', async () => {
  const q = new WorkQueue();
  q.add('a');
  q.add('a');
  q.add('b');
  q.add('a');
  assert.equal(q.length, 2);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
  assert.equal(q.length, 0);
});

test('a key being processed is not handed out again until done, then once more if re-added', async () => {
  const q = new WorkQueue();
  q.add('a');
  const key = await q.get();
  assert.equal(key, 'a');
  q.add('a');
  q.add('a');
  assert.equal(q.length, 0, 'not queued while in flight');
  let second: string | undefined;
  void q.get().then((k) => (second = k));
  await new Promise((r) => setImmediate(r));
  assert.equal(second, undefined, 'no concurrent hand-out of the same key');
  q.done('a');
  await new Promise((r) => setImmediate(r));
  assert.equal(second, 'a');
  q.done('a');
  assert.equal(q.length, 0);
});

test('failures back off exponentially per key and forget resets', () => {
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
  assert.deepEqual([q.addRateLimited('a'), q.addRateLimited('a'), q.addRateLimited('a'), q.addRateLimited('a')], [10, 20, 40, 50]);
  assert.equal(q.addRateLimited('b'), 10, 'per key');
  q.forget('a');
  assert.equal(q.addRateLimited('a'), 10);
  q.shutdown();
});

test('addAfter delivers later; an earlier pending delay wins', async () => {
  const q = new WorkQueue();
  q.addAfter('a', 30);
  q.addAfter('a', 5000);
  assert.equal(q.length, 0);
  const start = Date.now();
  assert.equal(await q.get(), 'a');
  assert.ok(Date.now() - start < 4000);
  q.shutdown();
});

test('shutdown releases waiting getters with undefined', async () => {
  const q = new WorkQueue();
  const pending = q.get();
  q.shutdown();
  assert.equal(await pending, undefined);
  q.add('x');
  assert.equal(q.length, 0, 'no adds after shutdown');
});
