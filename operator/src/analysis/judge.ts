/**
 * The verdict on one analysis window: pure, from the canary's and the stable track's windows.
 *
 * - fewer than minRequests canary requests → inconclusive (not judged);
 * - canary 5xx / requests > maxErrorRate → fail;
 * - canary p99 > maxP99LatencyMs (when set) → fail;
 * - canary p99 > (1 + maxP99LatencyIncrease) × stable p99, judged only when the stable track served at
 *   least minRequests in the window, and only when the excess is over MIN_P99_EXCESS_MS: at a few
 *   milliseconds the histogram's bucket width and scheduling noise make a ratio meaningless;
 * - both latency rules fail only when the canary's p99 is over its limit beyond sampling noise: "p99 over
 *   L" means "more than 1% of the answers slower than L", and the count of canary answers slower than L
 *   (from the window's histogram) must exceed 1% of them by SIGNIFICANCE_Z standard deviations. Without
 *   this, the p99 of a few hundred answers is decided by their two or three slowest, and one scheduling
 *   hiccup aborts a good canary (seen on a busy node: "p99 29 ms > 2× stable p99 15 ms" for the same model);
 * - with maxClientErrorRateIncrease set: canary 4xx rate − stable 4xx rate > that many points → fail
 *   (judged only when the stable track served at least minRequests);
 * - otherwise pass. Every message carries the measured figures.
 */
import type { AnalysisConfig, Judgement, TrackWindow } from './types.ts';
import { countAbove } from './window.ts';

export const MIN_P99_EXCESS_MS = 10;
/** One-sided: a good canary fails a latency rule by chance in about 0.1% of windows. */
export const SIGNIFICANCE_Z = 3;

/**
 * The canary's p99 is over `limitMs`: a failure if the count of its answers slower than the limit is
 * significantly above 1% of them, else a pass "within noise". Without the histogram, a failure.
 */
function latencyOver(canary: TrackWindow, limitMs: number, figures: string, failures: string[], passes: string[]): void {
  const buckets = canary.latencyBuckets;
  const answered = buckets?.[buckets.length - 1]?.[1];
  if (!buckets || !answered) {
    failures.push(figures);
    return;
  }
  const slower = countAbove(buckets, limitMs / 1000);
  const threshold = answered * 0.01 + SIGNIFICANCE_Z * Math.sqrt(answered * 0.01 * 0.99);
  const counted = `${Math.round(slower)} of ${answered} answers slower than ${ms(limitMs)}`;
  if (slower > threshold) failures.push(`${figures} (${counted})`);
  else passes.push(`${figures.replace(' > ', ' vs ')}: only ${counted}, within noise`);
}

export function judgeWindow(cfg: AnalysisConfig, canary: TrackWindow, stable: TrackWindow): Judgement {
  if (canary.requests < cfg.minRequests) {
    return {
      verdict: 'inconclusive',
      message: `canary served ${canary.requests} requests, fewer than the ${cfg.minRequests} needed to judge`,
    };
  }
  const failures: string[] = [];
  const passes: string[] = [];
  const stableJudged = stable.requests >= cfg.minRequests;

  const errorRate = canary.serverErrors / canary.requests;
  const errorFigures = `error rate ${pct(errorRate)} ${errorRate > cfg.maxErrorRate ? '>' : '≤'} ${limitPct(cfg.maxErrorRate)} over ${canary.requests} requests`;
  (errorRate > cfg.maxErrorRate ? failures : passes).push(errorFigures);

  const p99 = canary.p99Ms;
  if (p99 !== undefined && cfg.maxP99LatencyMs !== undefined) {
    const limit = cfg.maxP99LatencyMs;
    const what = `limit ${ms(limit)}`;
    if (p99 <= limit) passes.push(`p99 ${ms(p99)} ≤ ${what}`);
    else latencyOver(canary, limit, `p99 ${ms(p99)} > ${what}`, failures, passes);
  }
  if (p99 !== undefined && stableJudged && stable.p99Ms !== undefined) {
    const factor = 1 + cfg.maxP99LatencyIncrease;
    const limit = stable.p99Ms * factor;
    const what = `${trim(factor)}× stable p99 ${ms(stable.p99Ms)}`;
    if (p99 <= limit || p99 - stable.p99Ms <= MIN_P99_EXCESS_MS) passes.push(`p99 ${ms(p99)} within ${what}`);
    else latencyOver(canary, limit, `p99 ${ms(p99)} > ${what}`, failures, passes);
  }
  if (cfg.maxClientErrorRateIncrease !== undefined && stableJudged) {
    const canaryRate = canary.clientErrors / canary.requests;
    const stableRate = stable.clientErrors / stable.requests;
    const over = canaryRate - stableRate > cfg.maxClientErrorRateIncrease;
    const limit = `${trim(cfg.maxClientErrorRateIncrease * 100)} points`;
    (over ? failures : passes).push(`4xx rate ${pct(canaryRate)} vs stable ${pct(stableRate)} ${over ? '>' : '≤'} +${limit}`);
  }

  if (failures.length > 0) return { verdict: 'fail', message: failures.join('; ') };
  return { verdict: 'pass', message: passes.join('; ') };
}

/** A measured fraction as a percentage with one decimal: 0.0792 → "7.9%". */
const pct = (fraction: number): string => `${(fraction * 100).toFixed(1)}%`;

/** A configured fraction as written: 0.01 → "1%", 0.005 → "0.5%". */
const limitPct = (fraction: number): string => `${trim(fraction * 100)}%`;

/** Milliseconds: one decimal under 10 ms, whole above. */
const ms = (v: number): string => `${v < 10 ? v.toFixed(1) : Math.round(v).toString()} ms`;

/** A number without float noise or trailing zeros: 7.000000000000001 → "7", 1.5 → "1.5". */
const trim = (v: number): string => Number(v.toFixed(4)).toString();
