import type { ExperimentStatus, ExperimentVariantStatus } from '../api/types.generated.ts';
import type { TrackWindow } from '../analysis/types.ts';
import { canaryReplicasFor, effectiveWeight, type TrackFacts } from './canary.ts';
import type { FailureSignal } from './signals.ts';

/** spec.experiment, parsed once at the edge. */
export interface ExperimentSettings {
  version: string;
  /** spec.experiment.weight, percent. */
  weight: number;
  /** How often the per-variant figures are measured (the canary analysis interval). */
  intervalMs: number;
}

/** What each variant served in the window measured in this reconcile. */
export interface ExperimentWindow {
  at: Date;
  stable: TrackWindow;
  experiment: TrackWindow;
}

export interface ExperimentInput {
  /** undefined: spec.experiment is not set. */
  settings: ExperimentSettings | undefined;
  /** The version the stable Deployment's template serves (the main model, or a rollback's). */
  stableVersion: string;
  /** Replicas the stable track runs (its Deployment's spec.replicas, the HPA's count, or spec.replicas before it exists). */
  stableReplicas: number;
  stableTrack: TrackFacts | undefined;
  /** The experiment Deployment, when it exists. */
  experimentTrack: TrackFacts | undefined;
  /** Hard failure evidence on the experiment's pods (cannot fetch, crash loop, ...), if any. */
  failure: FailureSignal | undefined;
  /** status.experiment as last written. */
  status: ExperimentStatus | undefined;
  /** The per-variant window measured in this reconcile, if one was due. */
  window: ExperimentWindow | undefined;
  /** spec.model.version: tells a promotion (the ended experiment's version became the main one) from a removal. */
  mainVersion: string;
  now: Date;
}

export type ExperimentEvent =
  | { type: 'ExperimentStarted'; version: string; stableVersion: string; weight: number }
  | { type: 'ExperimentFailing'; version: string; message: string }
  | { type: 'ExperimentEnded'; version: string; promoted: boolean };

export interface ExperimentDecision {
  /** Replicas of the experiment Deployment; undefined: no experiment, its Deployment and Services must not exist. */
  experimentReplicas: number | undefined;
  status: ExperimentStatus | undefined;
  events: ExperimentEvent[];
  /** When to look again (the next measurement); undefined when no experiment runs. */
  requeueAfterMs: number | undefined;
}

const percent = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((10_000 * part) / whole) / 100);

function variant(
  version: string,
  track: 'stable' | 'experiment',
  facts: TrackFacts | undefined,
  window: TrackWindow | undefined,
  previous: ExperimentVariantStatus | undefined,
): ExperimentVariantStatus {
  const base = { version, track, replicas: facts?.replicas ?? 0, readyReplicas: facts?.readyReplicas ?? 0 };
  if (window) {
    return {
      ...base,
      requests: window.requests,
      errorRate: percent(window.serverErrors, window.requests),
      ...(window.p99Ms === undefined ? {} : { p99LatencyMs: Math.round(window.p99Ms * 10) / 10 }),
    };
  }
  // No window this time: keep the last measured figures of the same variant.
  if (previous?.version !== version) return base;
  const { requests, errorRate, p99LatencyMs } = previous;
  return {
    ...base,
    ...(requests === undefined ? {} : { requests }),
    ...(errorRate === undefined ? {} : { errorRate }),
    ...(p99LatencyMs === undefined ? {} : { p99LatencyMs }),
  };
}

/**
 * The A/B experiment. Pure: from spec.experiment, status.experiment, both tracks and the window
 * measured in this reconcile, how many experiment replicas run and what status.experiment says.
 *
 * The split is by replica proportion, as for the canary (canaryReplicasFor): beside N stable pods
 * the experiment runs max(1, round(N*w/(100-w))); the effective share is ready experiment pods over
 * all ready pods of both tracks. There is no verdict: the experiment runs until the user removes
 * spec.experiment or promotes it (spec.model := its model, spec.experiment removed, in one change).
 */
export function decideExperiment(input: ExperimentInput): ExperimentDecision {
  const { settings, status: before, now } = input;
  if (!settings) {
    if (!before) return { experimentReplicas: undefined, status: undefined, events: [], requeueAfterMs: undefined };
    const promoted = before.version === input.mainVersion;
    return {
      experimentReplicas: undefined,
      status: undefined,
      events: [{ type: 'ExperimentEnded', version: before.version, promoted }],
      requeueAfterMs: undefined,
    };
  }
  const { version, weight } = settings;
  const events: ExperimentEvent[] = [];
  const isNew = before?.version !== version;
  if (isNew) events.push({ type: 'ExperimentStarted', version, stableVersion: input.stableVersion, weight });

  const replicas = canaryReplicasFor(input.stableReplicas, weight);
  const stableReady = input.stableTrack?.readyReplicas ?? 0;
  const experimentReady = input.experimentTrack?.readyReplicas ?? 0;
  const effective = effectiveWeight(stableReady, experimentReady);
  const previous = (track: string) => (isNew ? undefined : before?.variants?.find((v) => v.track === track));
  const w = input.window;

  let message: string;
  if (input.failure) {
    message = `experiment version ${version} is failing: ${input.failure.message}`;
    if (before?.message !== message) events.push({ type: 'ExperimentFailing', version, message });
  } else if (replicas === 0) {
    message = `no experiment pods: the stable track has no replicas`;
  } else if (experimentReady < replicas) {
    message = `waiting for the experiment's pods: ${experimentReady} of ${replicas} ready`;
  } else {
    message = `version ${version} serves ${effective}% of the traffic (${experimentReady} of ${stableReady + experimentReady} pods) beside version ${input.stableVersion}`;
  }

  const lastAnalysisAt = w ? w.at.toISOString() : isNew ? undefined : before?.lastAnalysisAt;
  const status: ExperimentStatus = {
    version,
    weight,
    effectiveWeight: effective,
    summary: `${version}@${effective}%`,
    startedAt: isNew ? now.toISOString() : (before?.startedAt ?? now.toISOString()),
    ...(lastAnalysisAt ? { lastAnalysisAt } : {}),
    message,
    variants: [
      variant(input.stableVersion, 'stable', input.stableTrack, w?.stable, previous('stable')),
      variant(version, 'experiment', input.experimentTrack, w?.experiment, previous('experiment')),
    ],
  };
  return { experimentReplicas: replicas, status, events, requeueAfterMs: settings.intervalMs };
}
