import type { CanaryStatus } from '../api/types.generated.ts';

/** spec.rollout.canary.analysis.maxWait when the spec has none (the CRD's default). */
export const DEFAULT_MAX_WAIT = '10m';

export interface JudgementDeadlineInput {
  /** spec.rollout.canary.analysis.maxWait; undefined: no bound. */
  maxWaitMs: number | undefined;
  /** spec.rollout.canary.analysis.minRequests, for the message. */
  minRequests: number;
  /** spec.rollout.canary.analysis.interval, for the message. */
  intervalMs: number;
  /** status.canary of a Progressing canary, with lastAnalysis already updated by this reconcile. */
  status: CanaryStatus;
  /** The canary's ready pods and how many the step wants. */
  canaryReady: number;
  canaryWanted: number;
  now: Date;
}

/** Go's time.Duration form, as Kubernetes prints durations: 10m0s, 1h0m0s, 45s. */
export function formatDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** Since when the running step has waited for a passing analysis: unjudgedSince, else the step's start (older status). */
export function waitingSince(status: CanaryStatus, now: Date): number {
  return new Date(status.unjudgedSince ?? status.stepStartedAt ?? now.toISOString()).getTime();
}

/**
 * Pure: why a running step that has had no passing analysis for maxWait must end, or undefined.
 * Without a bound, a canary that never gets minRequests in a window (no traffic, or too small a
 * share of it) or whose pods never become ready would hold its step forever, neither promoted nor
 * aborted. A pass at or after the step's start stops the clock (the step advances when its pause
 * ends); a paused canary is not asked (it waits as long as the user wants).
 */
export function judgementOverdue(input: JudgementDeadlineInput): string | undefined {
  const { status, maxWaitMs, now } = input;
  if (maxWaitMs === undefined || status.phase !== 'Progressing') return undefined;
  const since = waitingSince(status, now);
  const stepStart = new Date(status.stepStartedAt ?? now.toISOString()).getTime();
  const last = status.lastAnalysis;
  const lastAt = last?.time === undefined ? undefined : new Date(last.time).getTime();
  if (last?.verdict === 'Pass' && lastAt !== undefined && lastAt >= stepStart) return undefined;
  if (now.getTime() - since < maxWaitMs) return undefined;
  const waited = formatDuration(maxWaitMs);
  if (last?.verdict === 'Inconclusive' && lastAt !== undefined && lastAt >= since) {
    const got = last.canary?.requests ?? 0;
    return (
      `not enough traffic to judge: ${got} of ${input.minRequests} requests in the last ${formatDuration(input.intervalMs)} window, ` +
      `no window judged in ${waited} (spec.rollout.canary.analysis.maxWait)`
    );
  }
  if (input.canaryReady < input.canaryWanted) {
    return `no analysis in ${waited}: ${input.canaryReady} of ${input.canaryWanted} canary pods ready (spec.rollout.canary.analysis.maxWait)`;
  }
  return `no analysis window judged in ${waited} (spec.rollout.canary.analysis.maxWait)`;
}
