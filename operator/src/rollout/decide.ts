import type { V1Deployment } from '@kubernetes/client-node';
import type { HistoryEntry, ModelSpec } from '../api/types.generated.ts';
import type { FailureSignal } from './signals.ts';
import { storageFields, withStorageOf } from './model-storage.ts';

/** What the pure rollout decision needs to know; all of it is read from the cluster. */
export interface RolloutInput {
  /** The model the spec asks for, and the hash of the pod template rendered from it. */
  desiredModel: ModelSpec;
  desiredHash: string;
  autoRollback: boolean;
  historyLimit: number;
  /** Replicas the Deployment should end up with (spec.replicas, or the HPA's current count). */
  history: readonly HistoryEntry[];
  currentVersion: string | undefined;
  deployment: V1Deployment | undefined;
  /** Hash of the template currently in the Deployment (undefined before the first apply). */
  deployedHash: string | undefined;
  /** Hard failure evidence for pods of `desiredHash`, if any. */
  failure: FailureSignal | undefined;
  now: Date;
}

export type TemplateChoice = { kind: 'desired' } | { kind: 'rollback'; model: ModelSpec };

export type RolloutEvent =
  | { type: 'RolloutStarted'; version: string }
  | { type: 'RolloutSucceeded'; version: string }
  | { type: 'RolloutFailed'; version: string; reason: string; message: string }
  | { type: 'RolledBack'; version: string; toVersion: string; reason: string; message: string };

export interface RolloutDecision {
  /** Which pod template the Deployment must run. */
  template: TemplateChoice;
  history: HistoryEntry[];
  currentVersion: string | undefined;
  updatingVersion: string | undefined;
  failedVersion: string | undefined;
  events: RolloutEvent[];
}

/** A Deployment that has observed its spec and runs only updated, available replicas. */
export function rolloutComplete(d: V1Deployment | undefined): boolean {
  if (!d?.status || !d.spec) return false;
  if ((d.status.observedGeneration ?? -1) < (d.metadata?.generation ?? 0)) return false;
  const want = d.spec.replicas ?? 1;
  const s = d.status;
  return (s.updatedReplicas ?? 0) >= want && (s.availableReplicas ?? 0) >= want && (s.replicas ?? 0) === (s.updatedReplicas ?? 0);
}

export function lastSucceeded(history: readonly HistoryEntry[]): HistoryEntry | undefined {
  return history.find((h) => h.outcome === 'Succeeded');
}

export function modelOf(entry: HistoryEntry, desired: ModelSpec): ModelSpec {
  return withStorageOf(
    {
      ...desired,
      version: entry.version,
      uri: entry.uri,
      ...(entry.sha256 ? { sha256: entry.sha256 } : { sha256: undefined }),
    },
    entry,
  );
}

/** Keeps at most `limit` entries, newest first, never dropping the newest Succeeded entry (the rollback target). */
export function trimHistory(history: readonly HistoryEntry[], limit: number): HistoryEntry[] {
  if (history.length <= limit) return [...history];
  const keep = history.slice(0, limit);
  const target = lastSucceeded(history);
  if (target && !keep.includes(target)) keep[keep.length - 1] = target;
  return keep;
}

/**
 * The rollout state machine. Pure: given the spec, the recorded history and what the cluster
 * shows, it says which template to run and how the history and versions change.
 *
 * history[0] is the rollout of the newest spec. Its outcome moves
 * Progressing -> Succeeded | Failed | RolledBack; a newer spec marks a still-progressing entry
 * Superseded. `Failed` (no rollback possible or allowed) can still turn Succeeded if the
 * Deployment recovers; `RolledBack` is final until the spec changes.
 */
export function decideRollout(input: RolloutInput): RolloutDecision {
  const now = input.now.toISOString();
  const events: RolloutEvent[] = [];
  let history = input.history.map((h) => ({ ...h }));
  let currentVersion = input.currentVersion;
  let head = history[0];

  // An aborted canary of this template ends the record too: the strategy changed to RollingUpdate
  // (a spec change), so the template is rolled out anew, with its own entry.
  if (!head || head.templateHash !== input.desiredHash || head.outcome === 'Aborted') {
    if (head?.outcome === 'Progressing') {
      head.outcome = 'Superseded';
      head.finishedAt = now;
      head.reason = 'Superseded';
      head.message = `replaced by version ${input.desiredModel.version} before it finished`;
    }
    head = {
      version: input.desiredModel.version,
      uri: input.desiredModel.uri,
      ...(input.desiredModel.sha256 ? { sha256: input.desiredModel.sha256 } : {}),
      ...storageFields(input.desiredModel),
      templateHash: input.desiredHash,
      startedAt: now,
      outcome: 'Progressing',
      reason: 'RolloutStarted',
      message: `rolling out version ${input.desiredModel.version}`,
    };
    history = [head, ...history];
    events.push({ type: 'RolloutStarted', version: head.version });
  }

  const deployedDesired = input.deployedHash === input.desiredHash;
  if ((head.outcome === 'Progressing' || head.outcome === 'Failed') && deployedDesired && rolloutComplete(input.deployment)) {
    head.outcome = 'Succeeded';
    head.finishedAt = now;
    head.reason = 'RolloutComplete';
    head.message = `version ${head.version} is serving on all replicas`;
    currentVersion = head.version;
    events.push({ type: 'RolloutSucceeded', version: head.version });
  } else if (head.outcome === 'Progressing' && deployedDesired && input.failure) {
    const target = lastSucceeded(history);
    const detail = `version ${head.version} failed: ${input.failure.message}`;
    if (input.autoRollback && target && target.version !== undefined) {
      head.outcome = 'RolledBack';
      head.reason = input.failure.reason;
      head.message = `${detail}; serving version ${target.version}`;
      head.finishedAt = now;
      events.push({
        type: 'RolledBack',
        version: head.version,
        toVersion: target.version,
        reason: input.failure.reason,
        message: head.message,
      });
    } else {
      head.outcome = 'Failed';
      head.reason = input.failure.reason;
      head.message = target ? `${detail}; automatic rollback is off` : `${detail}; no earlier version to roll back to`;
      head.finishedAt = now;
      events.push({ type: 'RolloutFailed', version: head.version, reason: input.failure.reason, message: head.message });
    }
  }

  let template: TemplateChoice = { kind: 'desired' };
  if (head.outcome === 'RolledBack') {
    const target = lastSucceeded(history);
    if (target) template = { kind: 'rollback', model: modelOf(target, input.desiredModel) };
  }

  history = trimHistory(history, input.historyLimit);
  return {
    template,
    history,
    currentVersion,
    updatingVersion: head.outcome === 'Progressing' ? head.version : undefined,
    failedVersion: head.outcome === 'Failed' || head.outcome === 'RolledBack' ? head.version : undefined,
    events,
  };
}
