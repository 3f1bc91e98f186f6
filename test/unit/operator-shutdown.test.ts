import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Shutdown } from '../../operator/src/shutdown.ts';
import { silentLogger } from '../../operator/src/log.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function harness(steps: (reason: string) => Promise<void>) {
  const exits: number[] = [];
  let calls = 0;
  const s = new Shutdown({
    log: silentLogger(),
    exit: (code) => exits.push(code),
    steps: (reason) => {
      calls++;
      return steps(reason);
    },
  });
  return { s, exits, calls: () => calls };
}

test('a shutdown started from inside what it stops still exits (the lost-Lease zombie)', async () => {
  // The old design: the election loop awaited its lost-leadership callback, which awaited
  // shutdown, which awaited the election loop. Here a step waits for the caller of begin().
  let callerDone!: () => void;
  const caller = new Promise<void>((r) => (callerDone = r));
  const h = harness(() => caller);
  h.s.begin('lost leadership', 1, 10_000);
  // begin() returns without awaiting; the caller can finish, and then so can the steps.
  callerDone();
  await sleep(10);
  assert.deepEqual(h.exits, [1]);
});

test('steps that never settle: the hard deadline exits anyway, with the shutdown reason code', async () => {
  const h = harness(() => new Promise<void>(() => {}));
  const started = Date.now();
  h.s.begin('lost leadership', 1, 50);
  while (h.exits.length === 0 && Date.now() - started < 2000) await sleep(5);
  assert.deepEqual(h.exits, [1]);
  assert.ok(Date.now() - started < 1000, 'exited at the deadline');
});

test('idempotent: later begin() calls do not run the steps again or change the code', async () => {
  const h = harness(() => sleep(20));
  h.s.begin('lost leadership', 1, 10_000);
  h.s.begin('controller failed to start', 2, 10_000);
  assert.equal(h.s.inProgress, true);
  await sleep(60);
  assert.equal(h.calls(), 1);
  assert.deepEqual(h.exits, [1]);
});

test('SIGTERM alone is graceful (exit 0); SIGTERM during a shutdown exits at once', async () => {
  const graceful = harness(() => sleep(10));
  graceful.s.signal('SIGTERM', 10_000);
  await sleep(40);
  assert.deepEqual(graceful.exits, [0]);

  const stuck = harness(() => new Promise<void>(() => {}));
  stuck.s.begin('lost leadership', 1, 60_000);
  assert.deepEqual(stuck.exits, []);
  stuck.s.signal('SIGTERM', 60_000);
  assert.deepEqual(stuck.exits, [1], 'the pending shutdown code, immediately');
});

test('a failing step still ends in exit', async () => {
  const h = harness(() => Promise.reject(new Error('boom')));
  h.s.begin('SIGTERM', 0, 10_000);
  await sleep(10);
  assert.deepEqual(h.exits, [0]);
});
