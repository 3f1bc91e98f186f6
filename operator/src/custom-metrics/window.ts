/**
 * Per-pod load over a window, from two reads of the runtime's counters (pure; no I/O, no clock):
 * rps = Δ inference requests / Δt, concurrency = Δ in-flight seconds / Δt — the exact mean number
 * of requests in flight over the window (Little's law), not a sampled gauge.
 *
 * Samples are kept per pod uid for about two windows. A value needs two samples at least
 * MIN_WINDOW_MS apart; a pod with one sample (just started, or first asked) has no value yet and is
 * left out of the answer — the HPA then treats it as missing (assumes 0 when scaling up and the
 * target when scaling down), the conservative choice. A counter that fell means the runtime
 * restarted: the pod's history starts over from that sample.
 */

/** What one read of a pod's /metrics gives. */
export interface LoadSample {
  atMs: number;
  /** modelship_requests_total{kind="inference"}, summed over codes and protocols. */
  inferenceRequests: number;
  /** modelship_inflight_seconds_total; undefined from a runtime that predates it. */
  inflightSeconds: number | undefined;
}

export interface PodLoad {
  rps: number;
  /** undefined when the runtime has no in-flight seconds counter. */
  concurrency: number | undefined;
  windowSeconds: number;
  /** When the newer of the two samples was taken. */
  atMs: number;
}

export const MIN_WINDOW_MS = 1_000;

/** The load between two samples of one pod; undefined when they are too close or a counter fell. */
export function loadBetween(older: LoadSample, newer: LoadSample): PodLoad | undefined {
  const dtMs = newer.atMs - older.atMs;
  if (dtMs < MIN_WINDOW_MS) return undefined;
  const dRequests = newer.inferenceRequests - older.inferenceRequests;
  if (dRequests < 0) return undefined;
  let concurrency: number | undefined;
  if (older.inflightSeconds !== undefined && newer.inflightSeconds !== undefined) {
    const dBusy = newer.inflightSeconds - older.inflightSeconds;
    if (dBusy < 0) return undefined;
    concurrency = dBusy / (dtMs / 1000);
  }
  return { rps: dRequests / (dtMs / 1000), concurrency, windowSeconds: Math.round(dtMs / 1000), atMs: newer.atMs };
}

/** Whether `newer` continues `older` (no counter went down, i.e. no runtime restart between them). */
function continues(older: LoadSample, newer: LoadSample): boolean {
  if (newer.inferenceRequests < older.inferenceRequests) return false;
  return !(older.inflightSeconds !== undefined && newer.inflightSeconds !== undefined && newer.inflightSeconds < older.inflightSeconds);
}

export class LoadHistory {
  private readonly samples = new Map<string, LoadSample[]>();
  private readonly windowMs: number;

  /** `windowMs`: the span a value averages over when samples allow (at least MIN_WINDOW_MS). */
  constructor(windowMs: number) {
    this.windowMs = Math.max(MIN_WINDOW_MS, windowMs);
  }

  /** The newest sample of a pod, to decide whether it is fresh enough to reuse. */
  latest(uid: string): LoadSample | undefined {
    const list = this.samples.get(uid);
    return list?.[list.length - 1];
  }

  record(uid: string, sample: LoadSample): void {
    let list = this.samples.get(uid) ?? [];
    const last = list[list.length - 1];
    if (last && sample.atMs <= last.atMs) return;
    if (last && !continues(last, sample)) list = [];
    list.push(sample);
    // keep the newest sample at least one window old (the base of the next value), drop older ones
    let keepFrom = 0;
    for (let i = 0; i < list.length - 1; i++) {
      if (sample.atMs - (list[i] as LoadSample).atMs >= this.windowMs) keepFrom = i;
    }
    this.samples.set(uid, list.slice(keepFrom));
  }

  /**
   * The pod's load over about one window ending at its newest sample: from the newest sample at
   * least a window older, or else from the oldest one kept.
   */
  load(uid: string): PodLoad | undefined {
    const list = this.samples.get(uid);
    if (!list || list.length < 2) return undefined;
    const newest = list[list.length - 1] as LoadSample;
    let base = list[0] as LoadSample;
    for (let i = 0; i < list.length - 1; i++) {
      const s = list[i] as LoadSample;
      if (newest.atMs - s.atMs >= this.windowMs) base = s;
    }
    return loadBetween(base, newest);
  }

  /** Forget pods not read for `maxAgeMs` (gone, or no longer asked for), so the map does not grow forever. */
  prune(nowMs: number, maxAgeMs: number): void {
    for (const [uid, list] of this.samples) {
      if (nowMs - (list[list.length - 1] as LoadSample).atMs > maxAgeMs) this.samples.delete(uid);
    }
  }
}
