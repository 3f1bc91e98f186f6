import type { V1ContainerStatus, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { CONTAINER, EXIT_CODE } from '../../../contract/runtime-contract.ts';

/** A hard failure signal: evidence that a rollout cannot succeed, never mere slowness. */
export interface FailureSignal {
  reason: 'ProgressDeadlineExceeded' | 'FetchFailed' | 'ModelLoadFailed' | 'CrashLoop' | 'ImagePullFailed';
  message: string;
  /** When the signal was first observable (for rollback latency reporting). */
  since: string | undefined;
}

export interface SignalThresholds {
  /** `serve` restarts before a crash loop counts as failure. */
  crashLoopRestarts: number;
  /** How long an image pull may keep failing before it counts as failure. */
  imagePullFailureMs: number;
}

export const DEFAULT_THRESHOLDS: SignalThresholds = { crashLoopRestarts: 3, imagePullFailureMs: 60_000 };

/**
 * The runtime's `serve` exits with this code when the model cannot be loaded, verified or warmed
 * up: the same file fails on every restart, so one such exit is enough evidence.
 */
export const MODEL_LOAD_FAILED_EXIT_CODE = EXIT_CODE.modelLoadFailed;

const IMAGE_PULL_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff']);
const IMAGE_FATAL_REASONS = new Set(['InvalidImageName', 'ErrImageNeverPull']);

function firstLine(text: string | undefined): string {
  const line = (text ?? '').trim().split('\n').filter(Boolean).pop() ?? '';
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

function toIso(t: Date | string | undefined): string | undefined {
  if (!t) return undefined;
  return t instanceof Date ? t.toISOString() : t;
}

function fetchFailure(status: V1ContainerStatus): FailureSignal | undefined {
  const terminated = status.state?.terminated ?? status.lastState?.terminated;
  if (terminated && terminated.exitCode !== 0) {
    const detail = firstLine(terminated.message) || `exit code ${terminated.exitCode}`;
    return { reason: 'FetchFailed', message: `model fetch failed: ${detail}`, since: toIso(terminated.finishedAt) };
  }
  return undefined;
}

function imageFailure(status: V1ContainerStatus, podCreated: Date | undefined, now: Date, t: SignalThresholds): FailureSignal | undefined {
  const waiting = status.state?.waiting;
  if (!waiting?.reason) return undefined;
  if (IMAGE_FATAL_REASONS.has(waiting.reason)) {
    return {
      reason: 'ImagePullFailed',
      message: `image ${status.image}: ${waiting.reason}: ${firstLine(waiting.message)}`,
      since: toIso(podCreated),
    };
  }
  if (IMAGE_PULL_REASONS.has(waiting.reason) && podCreated && now.getTime() - podCreated.getTime() >= t.imagePullFailureMs) {
    return {
      reason: 'ImagePullFailed',
      message: `image ${status.image} cannot be pulled: ${firstLine(waiting.message) || waiting.reason}`,
      since: toIso(podCreated),
    };
  }
  return undefined;
}

function modelLoadFailure(status: V1ContainerStatus): FailureSignal | undefined {
  const terminated = status.state?.terminated ?? status.lastState?.terminated;
  if (terminated?.exitCode !== MODEL_LOAD_FAILED_EXIT_CODE) return undefined;
  const detail = firstLine(terminated.message) || `exit code ${terminated.exitCode}`;
  return { reason: 'ModelLoadFailed', message: `model load failed: ${detail}`, since: toIso(terminated.finishedAt) };
}

function crashLoop(status: V1ContainerStatus, t: SignalThresholds): FailureSignal | undefined {
  if (status.restartCount < t.crashLoopRestarts) return undefined;
  const last = status.lastState?.terminated;
  const detail = firstLine(last?.message) || (last ? `exit code ${last.exitCode}` : (status.state?.waiting?.reason ?? 'restarting'));
  return {
    reason: 'CrashLoop',
    message: `container serve restarted ${status.restartCount} times: ${detail}`,
    since: toIso(last?.finishedAt),
  };
}

/**
 * Milliseconds until a signal can appear with no event to announce it: every other signal is a
 * change to a Pod or the Deployment, which wakes the reconcile, but an image pull turns into a
 * failure only when it has kept failing for `imagePullFailureMs`. Undefined when no pod is waiting
 * on a pull, so nothing is due.
 */
export function nextSignalDueMs(
  podsOfRevision: readonly V1Pod[],
  now: Date,
  thresholds: SignalThresholds = DEFAULT_THRESHOLDS,
): number | undefined {
  let due: number | undefined;
  for (const pod of podsOfRevision) {
    const created = pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp) : undefined;
    if (!created) continue;
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    if (!statuses.some((s) => IMAGE_PULL_REASONS.has(s.state?.waiting?.reason ?? ''))) continue;
    const inMs = Math.max(0, created.getTime() + thresholds.imagePullFailureMs - now.getTime());
    due = due === undefined ? inMs : Math.min(due, inMs);
  }
  return due;
}

/** Hard failure signals on the pods of one pod-template revision, plus the Deployment's own deadline. */
export function detectFailure(
  deployment: V1Deployment | undefined,
  podsOfRevision: readonly V1Pod[],
  now: Date,
  thresholds: SignalThresholds = DEFAULT_THRESHOLDS,
): FailureSignal | undefined {
  for (const pod of podsOfRevision) {
    const created = pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp) : undefined;
    for (const s of pod.status?.initContainerStatuses ?? []) {
      if (s.name !== CONTAINER.fetch) continue;
      const signal = fetchFailure(s) ?? imageFailure(s, created, now, thresholds);
      if (signal) return signal;
    }
    for (const s of pod.status?.containerStatuses ?? []) {
      if (s.name !== CONTAINER.serve) continue;
      const signal = imageFailure(s, created, now, thresholds) ?? modelLoadFailure(s) ?? crashLoop(s, thresholds);
      if (signal) return signal;
    }
  }
  const progressing = deployment?.status?.conditions?.find((c) => c.type === 'Progressing');
  const observed = (deployment?.status?.observedGeneration ?? -1) >= (deployment?.metadata?.generation ?? 0);
  if (observed && progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
    return {
      reason: 'ProgressDeadlineExceeded',
      message: progressing.message ?? 'the Deployment did not progress within progressDeadlineSeconds',
      since: toIso(progressing.lastUpdateTime ?? progressing.lastTransitionTime),
    };
  }
  return undefined;
}
