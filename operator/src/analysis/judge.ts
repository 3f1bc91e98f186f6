/**
 * The verdict on one analysis window: pure, from the canary's and the stable track's windows.
 *
 * - fewer than minRequests canary requests → inconclusive (not judged);
 * - canary 5xx / requests > maxErrorRate → fail;
 * - canary p99 > maxP99LatencyMs (when set) → fail;
 * - canary p99 > (1 + maxP99LatencyIncrease) × stable p99, judged only when the stable track served at
 *   least minRequests in the window, and only when the excess is over MIN_P99_EXCESS_MS: at a few
 *   milliseconds the histogram's bucket width and scheduling noise make a ratio meaningless;
 * - with maxClientErrorRateIncrease set: canary 4xx rate − stable 4xx rate > that many points → fail
 *   (judged only when the stable track served at least minRequests);
 * - otherwise pass. Every message carries the measured figures.
 */
import type { AnalysisConfig, Judgement, TrackWindow } from './types.ts';

export const MIN_P99_EXCESS_MS = 10;

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
    const over = p99 > cfg.maxP99LatencyMs;
    (over ? failures : passes).push(`p99 ${ms(p99)} ${over ? '>' : '≤'} limit ${ms(cfg.maxP99LatencyMs)}`);
  }
  if (p99 !== undefined && stableJudged && stable.p99Ms !== undefined) {
    const factor = 1 + cfg.maxP99LatencyIncrease;
    const limit = stable.p99Ms * factor;
    const over = p99 > limit && p99 - stable.p99Ms > MIN_P99_EXCESS_MS;
    (over ? failures : passes).push(`p99 ${ms(p99)} ${over ? '>' : 'within'} ${trim(factor)}× stable p99 ${ms(stable.p99Ms)}`);
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
