import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBudget, Reservation } from '../../runtime/src/execution/budget.ts';
import { createReclaimer, exposedGc, RECLAIM_MIN_BYTES } from '../../runtime/src/execution/reclaim.ts';

const noHooks = { inUse: () => {}, rejected: () => {} };

/** a reclaimer whose deferred collections run when `flush` is called */
function harness() {
  let collections = 0;
  const deferred: Array<() => void> = [];
  const released = createReclaimer(
    () => collections++,
    (fn) => deferred.push(fn),
  );
  const flush = () => {
    for (const fn of deferred.splice(0)) fn();
    return collections;
  };
  return { released, flush };
}

describe('runtime reclaim: a full collection after large requests', () => {
  it('small releases never collect; a large one schedules one collection', () => {
    const { released, flush } = harness();
    released(RECLAIM_MIN_BYTES - 1);
    released(1024);
    assert.equal(flush(), 0);
    released(RECLAIM_MIN_BYTES);
    assert.equal(flush(), 1);
  });

  it('large releases in the same turn share one collection; a later one gets its own', () => {
    const { released, flush } = harness();
    for (let i = 0; i < 10; i++) released(16_000_000);
    assert.equal(flush(), 1);
    released(16_000_000);
    assert.equal(flush(), 2);
  });

  it('without a collector (no --expose-gc) nothing is scheduled', () => {
    let scheduled = 0;
    const released = createReclaimer(undefined, () => scheduled++);
    released(64 * 1024 ** 2);
    assert.equal(scheduled, 0);
  });

  it('exposedGc finds the collector only when the flag installed it', () => {
    const had = (globalThis as { gc?: unknown }).gc;
    assert.equal(exposedGc() === undefined, typeof had !== 'function');
  });

  it('the budget tells the reclaimer what a finished request held', () => {
    const seen: number[] = [];
    const budget = new MemoryBudget(100 * 1024 ** 2, noHooks, (b) => seen.push(b));
    const r = new Reservation(budget);
    assert.ok(r.add(16_000_000));
    assert.ok(r.add(16_000_000));
    r.release();
    r.release(); // released once
    assert.deepEqual(seen, [32_000_000]);
    assert.equal(budget.inUse, 0);
  });
});
