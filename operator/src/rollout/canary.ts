import type { CanaryStatus, HistoryEntry, ModelSpec, TrackFigures } from '../api/types.generated.ts';
import type { TrackWindow, Verdict } from '../analysis/types.ts';
import { trimHistory } from './decide.ts';
import type { FailureSignal } from './signals.ts';
import { judgementOverdue } from './canary-deadline.ts';
import { restoreStableCapacity, type AutoscalingBounds } from './canary-capacity.ts';
import { storageFields } from './model-storage.ts';

/** One step of spec.rollout.canary.steps, parsed. */
export interface CanaryStepSettings {
  weight: number;
  pauseMs: number;
}

/** spec.rollout's canary part, parsed once at the edge; manual controls already resolved against the canary's version. */
export interface CanarySettings {
  steps: readonly CanaryStepSettings[];
  /** How often the analysis judges a window (spec.rollout.canary.analysis.interval). */
  intervalMs: number;
  paused: boolean;
  /** spec.rollout.promoteVersion names the canary's version. */
  promote: boolean;
  /** spec.rollout.abortVersion names the canary's version. */
  abort: boolean;
  /** spec.rollout.canary.analysis.maxWait: a running step without a passing analysis this long aborts; undefined: no bound. */
  maxWaitMs?: number | undefined;
  /** spec.rollout.canary.analysis.minRequests (for the maxWait message). */
  minRequests?: number | undefined;
}

/** What one Deployment (one track) shows. */
export interface TrackFacts {
  /** spec.replicas of the Deployment (the HPA's count when it owns it). */
  replicas: number;
  readyReplicas: number;
  /** Observed its latest spec, and every replica runs its template and is available. */
  rolledOut: boolean;
  /** Hash of the pod template it runs. */
  templateHash: string | undefined;
}

/** A window the judge has just ruled on. */
export interface AnalysisOutcome {
  verdict: Verdict;
  /** The judge's words with the figures, e.g. "error rate 7.9% > 1% over 412 requests". */
  message: string;
  at: Date;
  canary: TrackWindow;
  stable: TrackWindow;
}

export interface CanaryInput {
  settings: CanarySettings;
  desired: { model: ModelSpec; hash: string };
  /** The version the stable track serves (the last Succeeded rollout) and its template hash. */
  stable: { version: string; hash: string };
  /** The stable Deployment (named after the ModelDeployment). */
  stableTrack: TrackFacts;
  /** The canary Deployment, when it exists. */
  canaryTrack: TrackFacts | undefined;
  /** status.canary as last written. */
  status: CanaryStatus | undefined;
  history: readonly HistoryEntry[];
  historyLimit: number;
  /** Hard failure evidence on the pods of the canary's template (either track), if any. */
  failure: FailureSignal | undefined;
  /** The analysis window judged in this reconcile, if one was due. */
  analysis: AnalysisOutcome | undefined;
  now: Date;
  /** spec.autoscaling's bounds, when each track has its own HPA (rollout/canary-capacity.ts). */
  autoscaling?: AutoscalingBounds | undefined;
  /** How long the canary may outlive its end while the stable track grows (spec.rollout.progressDeadlineSeconds). */
  capacityDeadlineMs?: number | undefined;
}

export type CanaryEvent =
  | { type: 'CanaryStarted'; version: string; stableVersion: string; weight: number }
  | { type: 'CanaryStepAdvanced'; version: string; step: number; weight: number }
  | { type: 'CanaryPaused'; version: string }
  | { type: 'CanaryResumed'; version: string }
  | { type: 'CanaryPromoting'; version: string; manual: boolean }
  | { type: 'CanarySucceeded'; version: string }
  | { type: 'CanaryAborted'; version: string; reason: string; message: string };

export interface CanaryDecision {
  /** The template of the stable Deployment: the stable version's, or the canary's once promoting. */
  stableTemplate: 'stable' | 'desired';
  /** Replicas of the canary Deployment; 0 means it must not exist. */
  canaryReplicas: number;
  status: CanaryStatus;
  history: HistoryEntry[];
  currentVersion: string | undefined;
  updatingVersion: string | undefined;
  failedVersion: string | undefined;
  events: CanaryEvent[];
  /** When to look again (step end, next analysis window, promotion progress); undefined when finished. */
  requeueAfterMs: number | undefined;
  /** The stable HPA's minReplicas while the stable track takes over the canary's share; undefined: the spec's. */
  stableMinReplicas?: number | undefined;
}

/** While the stable Deployment rolls to the promoted version, look again this often. */
export const PROMOTION_RECHECK_MS = 10_000;

/**
 * The canary's replicas for a weight, the stable track keeping its `stable` replicas:
 * c = max(1, round(N*w/(100-w))); none when the stable track has none.
 */
export function canaryReplicasFor(stable: number, weight: number): number {
  if (stable <= 0) return 0;
  return Math.max(1, Math.round((stable * weight) / (100 - weight)));
}

/** The share of the pods, so of the traffic the one Service spreads evenly, that the canary gets, in percent. */
export function effectiveWeight(stable: number, canary: number): number {
  return stable + canary === 0 ? 0 : Math.round((100 * canary) / (stable + canary));
}

const percent = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((10_000 * part) / whole) / 100);

function figures(w: TrackWindow): TrackFigures {
  return {
    requests: w.requests,
    errorRate: percent(w.serverErrors, w.requests),
    clientErrorRate: percent(w.clientErrors, w.requests),
    ...(w.p99Ms === undefined ? {} : { p99Ms: Math.round(w.p99Ms * 10) / 10 }),
  };
}

const VERDICT_NAMES = { pass: 'Pass', fail: 'Fail', inconclusive: 'Inconclusive' } as const;

function stepLabel(status: CanaryStatus, steps: number): string {
  return `at step ${status.step + 1} of ${steps} (${status.weight ?? 0}%)`;
}

/**
 * The canary state machine. Pure, like decideRollout: given the spec, status.canary, the time,
 * both tracks, hard failure signals, the last analysis verdict and the manual controls, it says
 * how many canary replicas run, which template the stable Deployment runs, and how the status and
 * history change.
 *
 * Phases: Progressing <-> Paused -> Promoting -> Succeeded, and Aborted from any of the first three.
 * A step advances when its pause has passed, the canary's pods are ready and the last analysis of
 * the step passed (an inconclusive one keeps it waiting). After the last step, or on
 * promoteVersion, the stable Deployment rolls to the canary's template; when it is rolled out the
 * canary goes away. A failing analysis, a hard failure or abortVersion abort: the canary goes away
 * once the stable track runs the stable template, and the version is not retried until the spec
 * changes (status.canary keeps its template hash).
 */
export function decideCanary(input: CanaryInput): CanaryDecision {
  const { settings, now } = input;
  const nowIso = now.toISOString();
  const version = input.desired.model.version;
  const events: CanaryEvent[] = [];
  let history = input.history.map((h) => ({ ...h }));
  let head = history[0];

  let status: CanaryStatus;
  if (input.status?.templateHash === input.desired.hash) {
    status = { ...input.status };
  } else {
    // A new canary: the first one for this spec, or the spec changed while another ran.
    if (head?.outcome === 'Progressing' && head.templateHash !== input.desired.hash) {
      head.outcome = 'Superseded';
      head.finishedAt = nowIso;
      head.reason = 'Superseded';
      head.message = `replaced by version ${version} before it finished`;
    }
    if (!head || head.templateHash !== input.desired.hash || head.outcome !== 'Progressing') {
      head = {
        version,
        uri: input.desired.model.uri,
        ...(input.desired.model.sha256 ? { sha256: input.desired.model.sha256 } : {}),
        ...storageFields(input.desired.model),
        templateHash: input.desired.hash,
        startedAt: nowIso,
        outcome: 'Progressing',
        reason: 'CanaryStarted',
        message: `canary of version ${version} beside stable version ${input.stable.version}`,
      };
      history = [head, ...history];
    }
    const first = settings.steps[0] as CanaryStepSettings;
    status = {
      version,
      stableVersion: input.stable.version,
      templateHash: input.desired.hash,
      phase: 'Progressing',
      step: 0,
      stepStartedAt: nowIso,
      unjudgedSince: nowIso,
      weight: first.weight,
    };
    events.push({ type: 'CanaryStarted', version, stableVersion: input.stable.version, weight: first.weight });
  }
  head = history[0] as HistoryEntry;

  if (input.analysis) {
    const a = input.analysis;
    status.lastAnalysis = {
      time: a.at.toISOString(),
      verdict: VERDICT_NAMES[a.verdict],
      canary: figures(a.canary),
      stable: figures(a.stable),
      message: a.message,
    };
  }

  const lastIndex = settings.steps.length - 1;
  if (status.step > lastIndex) status.step = lastIndex;
  const running = status.phase === 'Progressing' || status.phase === 'Paused';
  const abort = (reason: string, message: string) => {
    status.phase = 'Aborted';
    status.message = message;
    head.outcome = 'Aborted';
    head.reason = reason;
    head.message = message;
    head.finishedAt = nowIso;
    events.push({ type: 'CanaryAborted', version, reason, message });
  };

  if (running || status.phase === 'Promoting') {
    const where = status.phase === 'Promoting' ? 'while promoting' : stepLabel(status, settings.steps.length);
    if (settings.abort) {
      abort('CanaryAborted', `canary of version ${version} aborted by spec.rollout.abortVersion ${where}`);
    } else if (input.failure) {
      abort('CanaryAborted', `canary of version ${version} failed ${where}: ${input.failure.message}`);
    } else if (input.analysis?.verdict === 'fail') {
      abort('CanaryAborted', `canary of version ${version} failed its analysis ${where}: ${input.analysis.message}`);
    }
  }

  if (status.phase === 'Progressing' || status.phase === 'Paused') {
    if (settings.promote) {
      status.phase = 'Promoting';
      status.message = `promoting version ${version}: spec.rollout.promoteVersion`;
      events.push({ type: 'CanaryPromoting', version, manual: true });
    } else if (settings.paused) {
      if (status.phase !== 'Paused') events.push({ type: 'CanaryPaused', version });
      status.phase = 'Paused';
      status.message = `paused ${stepLabel(status, settings.steps.length)} by spec.rollout.paused`;
    } else {
      if (status.phase === 'Paused') {
        events.push({ type: 'CanaryResumed', version });
        status.unjudgedSince = nowIso;
      }
      status.phase = 'Progressing';
      const step = settings.steps[status.step] as CanaryStepSettings;
      const startedAt = new Date(status.stepStartedAt ?? nowIso).getTime();
      const elapsed = now.getTime() - startedAt;
      const wanted = canaryReplicasFor(input.stableTrack.replicas, step.weight);
      const canaryReady = (input.canaryTrack?.readyReplicas ?? 0) >= wanted && wanted > 0;
      const last = status.lastAnalysis;
      const passedInStep = last?.verdict === 'Pass' && last.time !== undefined && new Date(last.time).getTime() >= startedAt;
      if (elapsed >= step.pauseMs && canaryReady && passedInStep) {
        if (status.step < lastIndex) {
          status.step += 1;
          status.stepStartedAt = nowIso;
          status.unjudgedSince = nowIso;
          status.weight = (settings.steps[status.step] as CanaryStepSettings).weight;
          events.push({ type: 'CanaryStepAdvanced', version, step: status.step, weight: status.weight });
        } else {
          status.phase = 'Promoting';
          status.message = `promoting version ${version}: every step passed`;
          events.push({ type: 'CanaryPromoting', version, manual: false });
        }
      }
      const overdue =
        status.phase === 'Progressing'
          ? judgementOverdue({
              maxWaitMs: settings.maxWaitMs,
              minRequests: settings.minRequests ?? 0,
              intervalMs: settings.intervalMs,
              status,
              canaryReady: input.canaryTrack?.readyReplicas ?? 0,
              canaryWanted: wanted,
              now,
            })
          : undefined;
      if (overdue) abort('CanaryAborted', `canary of version ${version} aborted ${stepLabel(status, settings.steps.length)}: ${overdue}`);
      else if (status.phase === 'Progressing') {
        status.message = !canaryReady
          ? `waiting for the canary's pods ${stepLabel(status, settings.steps.length)}`
          : !passedInStep
            ? `waiting for a passing analysis ${stepLabel(status, settings.steps.length)}`
            : `holding ${stepLabel(status, settings.steps.length)}`;
      }
    }
  }

  if (status.phase === 'Promoting') {
    const s = input.stableTrack;
    if (s.rolledOut && s.templateHash === input.desired.hash) {
      status.phase = 'Succeeded';
      status.message = `version ${version} promoted: serving on all replicas`;
      head.outcome = 'Succeeded';
      head.reason = 'CanaryPromoted';
      head.message = `version ${version} promoted after canary analysis and is serving on all replicas`;
      head.finishedAt = nowIso;
      events.push({ type: 'CanarySucceeded', version });
    }
  }

  const stepWeight = (settings.steps[status.step] as CanaryStepSettings).weight;
  const running2 = status.phase === 'Progressing' || status.phase === 'Paused' || status.phase === 'Promoting';
  const stableRestored = input.stableTrack.rolledOut && input.stableTrack.templateHash === input.stable.hash;
  let canaryReplicas = 0;
  if (running2) canaryReplicas = canaryReplicasFor(input.stableTrack.replicas, stepWeight);
  // Aborted while the stable track rolls back from a promotion: the canary keeps serving until then.
  else if (status.phase === 'Aborted' && !stableRestored) canaryReplicas = input.canaryTrack?.replicas ?? 0;
  const capacity = restoreStableCapacity({
    autoscaling: input.autoscaling,
    stableReady: input.stableTrack.readyReplicas,
    canary: input.canaryTrack,
    wantedCanaryReplicas: canaryReplicas,
    recordedTarget: status.restoreStableReplicas,
    endedAgoMs: head.finishedAt ? now.getTime() - new Date(head.finishedAt).getTime() : 0,
    deadlineMs: input.capacityDeadlineMs ?? 300_000,
  });
  canaryReplicas = capacity.canaryReplicas;
  if (capacity.target === undefined) delete status.restoreStableReplicas;
  else status.restoreStableReplicas = capacity.target;

  status.weight = status.phase === 'Succeeded' ? 100 : status.phase === 'Aborted' ? 0 : stepWeight;
  status.stableReplicas = input.stableTrack.readyReplicas;
  status.canaryReplicas = input.canaryTrack?.readyReplicas ?? 0;
  status.effectiveWeight =
    status.phase === 'Succeeded' ? 100 : effectiveWeight(status.stableReplicas, canaryReplicas === 0 ? 0 : status.canaryReplicas);

  let requeueAfterMs: number | undefined;
  if (status.phase === 'Progressing' || status.phase === 'Paused') {
    const step = settings.steps[status.step] as CanaryStepSettings;
    const stepEndsIn = new Date(status.stepStartedAt ?? nowIso).getTime() + step.pauseMs - now.getTime();
    requeueAfterMs = Math.max(1000, Math.min(settings.intervalMs, stepEndsIn > 0 ? stepEndsIn : settings.intervalMs));
  } else if (status.phase === 'Promoting' || canaryReplicas > 0) {
    requeueAfterMs = PROMOTION_RECHECK_MS;
  }

  history = trimHistory(history, input.historyLimit);
  const outcome = head.outcome;
  return {
    stableTemplate: status.phase === 'Promoting' || status.phase === 'Succeeded' ? 'desired' : 'stable',
    canaryReplicas,
    status,
    history,
    currentVersion: outcome === 'Succeeded' ? version : input.stable.version,
    updatingVersion: outcome === 'Progressing' ? version : undefined,
    failedVersion: outcome === 'Aborted' ? version : undefined,
    events,
    requeueAfterMs,
    stableMinReplicas: capacity.stableMinReplicas,
  };
}
