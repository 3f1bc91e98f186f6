/** Windows between two track snapshots: deltas per pod uid, restarts, pods coming and going, p99. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { PodSample, TrackSnapshot } from '../../operator/src/analysis/types.ts';
import { countAbove, histogramQuantile, mergeBuckets, windowBetween } from '../../operator/src/analysis/window.ts';

const BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, Infinity];

/** A pod sample from per-bucket (non-cumulative) counts over BOUNDS plus error counts. */
function pod(perBucket: number[], serverErrors = 0, clientErrors = 0): PodSample {
  let running = 0;
  const buckets = BOUNDS.map((le, i) => {
    running += perBucket[i] ?? 0;
    return [le, running] as const;
  });
  return { requests: running + serverErrors + clientErrors, serverErrors, clientErrors, buckets };
}
const snap = (pods: Record<string, PodSample>, takenAtMs = 0): TrackSnapshot => ({ takenAtMs, pods });

test('a pod in both snapshots contributes its deltas', () => {
  const w = windowBetween(snap({ a: pod([10], 1, 2) }), snap({ a: pod([10, 0, 100], 5, 2) }));
  assert.deepEqual(
    { requests: w.requests, serverErrors: w.serverErrors, clientErrors: w.clientErrors },
    { requests: 104, serverErrors: 4, clientErrors: 0 },
  );
  // all 100 new successes are in (2.5 ms, 5 ms]: p99 at rank 99 of 100 interpolates to 4.975 ms
  assert.ok(Math.abs((w.p99Ms as number) - 4.975) < 1e-9, String(w.p99Ms));
});

test('a counter that went down means the pod restarted: its current values count whole', () => {
  const w = windowBetween(snap({ a: pod([500], 50) }), snap({ a: pod([20], 3) }));
  assert.equal(w.requests, 23);
  assert.equal(w.serverErrors, 3);
  const histogramOnlyReset = windowBetween(snap({ a: { ...pod([500]), requests: 1 } }), snap({ a: pod([20]) }));
  assert.equal(histogramOnlyReset.requests, 20);
});

test('a pod replaced under a new uid counts whole; a pod gone contributes nothing', () => {
  const w = windowBetween(snap({ old: pod([1000], 30) }), snap({ new: pod([40], 2) }));
  assert.equal(w.requests, 42);
  assert.equal(w.serverErrors, 2);
});

test('pods are summed: deltas of one plus whole values of a new one', () => {
  const w = windowBetween(snap({ a: pod([100]), b: pod([7]) }), snap({ a: pod([150], 1), b: pod([7]), c: pod([0, 9]) }));
  assert.equal(w.requests, 50 + 1 + 0 + 9);
  assert.equal(w.serverErrors, 1);
});

test('no requests: p99 is undefined; only errors: p99 is undefined too', () => {
  const empty = windowBetween(snap({}), snap({}));
  assert.deepEqual(empty, { requests: 0, serverErrors: 0, clientErrors: 0, p99Ms: undefined, latencyBuckets: [] });
  const errorsOnly = windowBetween(snap({ a: pod([5]) }), snap({ a: pod([5], 9) }));
  assert.equal(errorsOnly.requests, 9);
  assert.equal(errorsOnly.p99Ms, undefined);
});

test('p99 in the +Inf bucket is the largest finite bound (as Prometheus)', () => {
  const w = windowBetween(snap({}), snap({ a: pod([90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10]) }));
  assert.equal(w.p99Ms, 1000);
});

test('histogramQuantile matches Prometheus histogram_quantile on known cases', () => {
  // 100 observations: 50 in (0, 0.1], 50 in (0.1, 0.2]
  const b = [
    [0.1, 50],
    [0.2, 100],
    [Infinity, 100],
  ] as const;
  assert.ok(Math.abs((histogramQuantile(0.5, b) as number) - 0.1) < 1e-12);
  assert.ok(Math.abs((histogramQuantile(0.99, b) as number) - 0.198) < 1e-12);
  assert.ok(Math.abs((histogramQuantile(0.25, b) as number) - 0.05) < 1e-12); // first bucket starts at 0
  assert.equal(histogramQuantile(0.99, [[Infinity, 0]]), undefined);
  assert.equal(histogramQuantile(0.99, []), undefined);
  assert.equal(histogramQuantile(0.99, [[Infinity, 5]]), undefined); // no finite bound to answer with
  assert.equal(
    histogramQuantile(0.5, [
      [0, 4],
      [Infinity, 4],
    ]),
    0,
  );
});

test('mergeBuckets sums pods of different bucket layouts and stays cumulative', () => {
  const merged = mergeBuckets([
    [
      [0.1, 2],
      [Infinity, 3],
    ],
    [
      [0.05, 1],
      [0.2, 4],
      [Infinity, 4],
    ],
  ]);
  assert.deepEqual(merged, [
    [0.05, 1],
    [0.1, 3],
    [0.2, 6],
    [Infinity, 7],
  ]);
});

const perBucketArb = fc.array(fc.nat({ max: 1000 }), { minLength: BOUNDS.length, maxLength: BOUNDS.length });
const podArb = fc.tuple(perBucketArb, fc.nat({ max: 100 }), fc.nat({ max: 100 })).map(([b, s, c]) => pod(b, s, c));
const snapArb = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), podArb).map((pods) => snap(pods));

test('property: a snapshot against itself is an empty window', () => {
  fc.assert(
    fc.property(snapArb, (s) => {
      const w = windowBetween(s, s);
      assert.deepEqual(
        { ...w, latencyBuckets: undefined },
        { requests: 0, serverErrors: 0, clientErrors: 0, p99Ms: undefined, latencyBuckets: undefined },
      );
      assert.ok((w.latencyBuckets ?? []).every(([, c]) => c === 0));
    }),
  );
});

test('property: growth only → the window is the sum of growth; p99 lies within the bounds holding it', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(podArb, perBucketArb), { minLength: 1, maxLength: 4 }), (pairs) => {
      const prev: Record<string, PodSample> = {};
      const cur: Record<string, PodSample> = {};
      const grown = new Array<number>(BOUNDS.length).fill(0);
      let grownRequests = 0;
      pairs.forEach(([p, growth], i) => {
        prev[`p${i}`] = p;
        const per = p.buckets.map(([, c], j) => c - (j === 0 ? 0 : (p.buckets[j - 1] as readonly [number, number])[1]) + (growth[j] ?? 0));
        cur[`p${i}`] = pod(per, p.serverErrors, p.clientErrors);
        growth.forEach((g, j) => (grown[j] = (grown[j] as number) + g));
        grownRequests += growth.reduce((s, g) => s + g, 0);
      });
      const w = windowBetween(snap(prev), snap(cur));
      assert.equal(w.requests, grownRequests);
      assert.equal(w.serverErrors, 0);
      if (grownRequests === 0) {
        assert.equal(w.p99Ms, undefined);
        return;
      }
      // the bucket holding rank 0.99·total: p99 must lie within its bounds
      const rank = 0.99 * grownRequests;
      let cum = 0;
      let k = 0;
      for (; k < BOUNDS.length - 1; k++) {
        cum += grown[k] as number;
        if (cum >= rank) break;
      }
      const upper = BOUNDS[k] as number;
      if (upper === Infinity) {
        assert.equal(w.p99Ms, (BOUNDS[BOUNDS.length - 2] as number) * 1000);
      } else {
        const lower = k === 0 ? 0 : (BOUNDS[k - 1] as number);
        assert.ok(
          (w.p99Ms as number) >= lower * 1000 - 1e-9 && (w.p99Ms as number) <= upper * 1000 + 1e-9,
          `${w.p99Ms} not in [${lower}, ${upper}]s`,
        );
      }
    }),
  );
});

test('property: never negative, whatever the two snapshots', () => {
  fc.assert(
    fc.property(snapArb, snapArb, (a, b) => {
      const w = windowBetween(a, b);
      assert.ok(w.requests >= 0 && w.serverErrors >= 0 && w.clientErrors >= 0);
      assert.ok(w.serverErrors + w.clientErrors <= w.requests);
      if (w.p99Ms !== undefined) assert.ok(w.p99Ms >= 0 && w.p99Ms <= 1000);
    }),
  );
});

test('countAbove interpolates inside the bucket holding the limit', () => {
  const b = [
    [0.1, 50],
    [0.2, 100],
    [Infinity, 104],
  ] as const;
  assert.equal(countAbove(b, 0.15), 29); // 104 - (50 + 50 * 0.5)
  assert.equal(countAbove(b, 0.05), 79); // first bucket starts at 0
  assert.equal(countAbove(b, 0.2), 4);
  assert.equal(countAbove(b, 5), 4); // beyond the last finite bound: the +Inf bucket's share
  assert.equal(countAbove([], 1), 0);
});

test('the window carries its summed latency buckets', () => {
  const w = windowBetween(snap({ a: pod([1]) }), snap({ a: pod([1, 2]), b: pod([0, 0, 3]) }));
  assert.deepEqual(w.latencyBuckets?.slice(0, 4), [
    [0.001, 0],
    [0.0025, 2],
    [0.005, 5],
    [0.01, 5],
  ]);
});
