/**
 * Shared types of the canary analysis: per-pod metric samples scraped from the runtime, per-track
 * snapshots, the window between two snapshots, the parsed analysis settings and the judge's verdict.
 * The reconciler keeps the previous snapshot per track in memory and feeds windows to the judge.
 */

/** Counters and the latency histogram of one runtime pod, summed over its label sets. */
export interface PodSample {
  requests: number;
  /** Requests answered with a 5xx status. */
  serverErrors: number;
  /** Requests answered with a 4xx status. */
  clientErrors: number;
  /** Cumulative histogram buckets of request duration, ascending by bound; the last bound is +Infinity. */
  buckets: ReadonlyArray<readonly [upperBoundSeconds: number, cumulativeCount: number]>;
}

/** One scrape of every ready pod of a track. */
export interface TrackSnapshot {
  takenAtMs: number;
  /** Keyed by pod uid, so a pod replaced under the same name is a new pod. */
  pods: Readonly<Record<string, PodSample>>;
}

/** What a track served between two snapshots. */
export interface TrackWindow {
  requests: number;
  serverErrors: number;
  clientErrors: number;
  /** undefined when requests == 0. */
  p99Ms: number | undefined;
  /**
   * The window's latency histogram (cumulative, seconds, ending with +Infinity), summed over the pods;
   * lets the judge count how many requests were slower than a limit. Absent: the judge compares p99s only.
   */
  latencyBuckets?: ReadonlyArray<readonly [upperBoundSeconds: number, cumulativeCount: number]>;
}

/** A pod to scrape: its name (for the pod proxy URL) and uid (the snapshot key). */
export interface PodRef {
  name: string;
  uid: string;
}

export interface ScrapeResult {
  snapshot: TrackSnapshot;
  /** One human-readable line per pod that could not be scraped; such pods are absent from the snapshot. */
  failures: string[];
}

export interface MetricsScraper {
  scrape(namespace: string, pods: readonly PodRef[]): Promise<ScrapeResult>;
}

/** spec.rollout.canary.analysis, parsed once: numbers, not strings. */
export interface AnalysisConfig {
  intervalMs: number;
  /** A window with fewer canary requests is not judged. */
  minRequests: number;
  /** Maximum canary 5xx / requests, as a fraction (0.01 = "1%"). */
  maxErrorRate: number;
  /** Absolute p99 limit for the canary, if set. */
  maxP99LatencyMs: number | undefined;
  /** Canary p99 may exceed stable p99 by at most this fraction (1 = "100%", i.e. 2× stable). */
  maxP99LatencyIncrease: number;
  /** When set: canary 4xx rate minus stable 4xx rate may be at most this fraction (0.05 = "5%" = 5 points). */
  maxClientErrorRateIncrease: number | undefined;
}

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export interface Judgement {
  verdict: Verdict;
  /** Carries the measured figures, e.g. "error rate 7.9% > 1% over 412 requests". */
  message: string;
}
