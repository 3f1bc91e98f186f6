// `status --watch`: has the rollout of the desired spec ended, and how (pure).
import { canaryOfDesired } from './controls.ts';
import type { Condition, ModelDeployment } from './types.ts';

export type WatchVerdict = { done: false; waitingFor: string } | { done: true; ok: boolean; message: string };

const cond = (md: ModelDeployment, type: string): Condition | undefined => md.status?.conditions?.find((c) => c.type === type);

/**
 * Ends when the operator has observed the current spec and either serves the desired version on
 * every replica (Ready, exit 0) or reports it failed: rolled back, aborted, failed in place, or
 * blocked (Degraded). A paused canary keeps the watch waiting (--timeout bounds it).
 */
export function watchVerdict(md: ModelDeployment): WatchVerdict {
  const status = md.status;
  const desired = md.spec.model.version;
  const generation = md.metadata?.generation;
  if (!status || (generation !== undefined && (status.observedGeneration ?? 0) < generation))
    return { done: false, waitingFor: `the operator to observe generation ${generation ?? '?'}` };
  const degraded = cond(md, 'Degraded');
  const ready = cond(md, 'Ready');
  if (status.failedVersion === desired || degraded?.status === 'True') {
    const why = degraded?.status === 'True' ? `${degraded.reason}: ${degraded.message}` : (ready?.message ?? 'failed');
    return { done: true, ok: false, message: `rollout of version ${desired} failed: ${oneLine(why)}` };
  }
  if (ready?.status === 'True' && status.currentVersion === desired && !status.updatingVersion)
    return { done: true, ok: true, message: `version ${desired} is serving: ${oneLine(ready.message)}` };
  const canary = canaryOfDesired(md);
  if (canary) return { done: false, waitingFor: `the canary of version ${desired} (${canary.phase}, step ${canary.step + 1})` };
  return { done: false, waitingFor: `version ${desired} to be ready${ready?.message ? `: ${oneLine(ready.message)}` : ''}` };
}

export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
