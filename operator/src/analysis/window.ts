/**
 * What a track served between two snapshots, from counter and histogram deltas per pod.
 *
 * - A pod in both snapshots contributes current minus previous. If any of its counters went down,
 *   the runtime restarted (counters reset): it contributes its current values, all served since then.
 * - A pod only in the current snapshot (new, or not scraped last time) contributes its current values.
 * - A pod only in the previous snapshot (gone, or not scraped this time) contributes nothing.
 * p99 comes from the summed bucket deltas, interpolated linearly inside the bucket like Prometheus's
 * histogram_quantile. The runtime's histogram holds successful (200) requests only.
 */
import type { PodSample, TrackSnapshot, TrackWindow } from './types.ts';

type Buckets = PodSample['buckets'];

export function windowBetween(prev: TrackSnapshot, cur: TrackSnapshot): TrackWindow {
  let requests = 0;
  let serverErrors = 0;
  let clientErrors = 0;
  const bucketDeltas: Buckets[] = [];
  for (const [uid, now] of Object.entries(cur.pods)) {
    const before = Object.hasOwn(prev.pods, uid) ? prev.pods[uid] : undefined;
    const d = before && !wasReset(before, now) ? podDelta(before, now) : now;
    requests += d.requests;
    serverErrors += d.serverErrors;
    clientErrors += d.clientErrors;
    bucketDeltas.push(d.buckets);
  }
  const merged = mergeBuckets(bucketDeltas);
  const q = requests > 0 ? histogramQuantile(0.99, merged) : undefined;
  return { requests, serverErrors, clientErrors, p99Ms: q === undefined ? undefined : q * 1000, latencyBuckets: merged };
}

function wasReset(before: PodSample, now: PodSample): boolean {
  if (now.requests < before.requests || now.serverErrors < before.serverErrors || now.clientErrors < before.clientErrors) return true;
  return countAt(now.buckets, Infinity) < countAt(before.buckets, Infinity);
}

function podDelta(before: PodSample, now: PodSample): PodSample {
  return {
    requests: now.requests - before.requests,
    serverErrors: now.serverErrors - before.serverErrors,
    clientErrors: now.clientErrors - before.clientErrors,
    // per bound of the current layout; max(0, …) guards a bucket that fell while the total did not
    buckets: now.buckets.map(([le, c]) => [le, Math.max(0, c - countAt(before.buckets, le))] as const),
  };
}

/** Cumulative count at bound `le`: that of the largest bound <= le (0 below the first bound). */
function countAt(buckets: Buckets, le: number): number {
  let count = 0;
  for (const [bound, c] of buckets) {
    if (bound > le) break;
    count = c;
  }
  return count;
}

/**
 * Sums cumulative bucket series over pods. Pods normally share one layout; if not, each pod's count at
 * a bound it lacks is taken from its largest lower bound, which keeps the sum cumulative.
 */
export function mergeBuckets(series: readonly Buckets[]): Array<readonly [number, number]> {
  const bounds = [...new Set(series.flatMap((s) => s.map(([le]) => le)))].sort((a, b) => a - b);
  const merged = bounds.map((le) => [le, series.reduce((sum, s) => sum + countAt(s, le), 0)] as const);
  // keep cumulative counts monotonic even if a pod's series was not
  let running = 0;
  return merged.map(([le, c]) => {
    running = Math.max(running, c);
    return [le, running] as const;
  });
}

/**
 * The q-quantile (0 < q < 1) of a cumulative histogram, in the histogram's unit, as Prometheus's
 * histogram_quantile computes it: find the bucket holding rank q·total and interpolate linearly inside
 * it (the first bucket starts at 0). If that is the +Inf bucket, the answer is the largest finite bound.
 * undefined when the histogram is empty.
 */
export function histogramQuantile(q: number, buckets: Buckets): number | undefined {
  const last = buckets[buckets.length - 1];
  if (!last || last[1] <= 0) return undefined;
  const total = last[1];
  const rank = q * total;
  let i = 0;
  while (i < buckets.length - 1 && (buckets[i] as readonly [number, number])[1] < rank) i++;
  const [upper, count] = buckets[i] as readonly [number, number];
  if (upper === Infinity) {
    const below = buckets[i - 1];
    return below ? below[0] : undefined;
  }
  const lower = i === 0 ? 0 : (buckets[i - 1] as readonly [number, number])[0];
  const countBelow = i === 0 ? 0 : (buckets[i - 1] as readonly [number, number])[1];
  if (i === 0 && upper <= 0) return upper;
  const inBucket = count - countBelow;
  if (inBucket <= 0) return upper;
  return lower + (upper - lower) * ((rank - countBelow) / inBucket);
}

/**
 * How many observations of a cumulative histogram lie above `limit` (same unit as the bounds),
 * interpolating linearly inside the bucket that holds the limit, as histogramQuantile does.
 */
export function countAbove(buckets: Buckets, limit: number): number {
  const last = buckets[buckets.length - 1];
  if (!last) return 0;
  let lower = 0;
  let below = 0;
  for (const [upper, count] of buckets) {
    if (limit < upper) {
      const atLimit = upper === Infinity ? below : below + (count - below) * ((limit - lower) / (upper - lower));
      return last[1] - atLimit;
    }
    lower = upper;
    below = count;
  }
  return 0;
}
