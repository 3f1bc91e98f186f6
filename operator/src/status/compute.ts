import type { V1Deployment } from '@kubernetes/client-node';
import type { CanaryStatus, HistoryEntry } from '../api/types.generated.ts';
import type { ConditionInput } from './conditions.ts';

/** Problems that stop the operator from applying the spec at all. */
export interface BlockingProblem {
  reason: string;
  message: string;
}

export interface ConditionFacts {
  head: HistoryEntry | undefined;
  currentVersion: string | undefined;
  deployment: V1Deployment | undefined;
  blocking: BlockingProblem | undefined;
  /** A problem that does not stop serving (an optional child's API missing): Degraded unless something worse already is. */
  notice?: BlockingProblem | undefined;
  /** status.canary, while the rollout of the head is a Canary. */
  canary?: CanaryStatus | undefined;
}

/** Progressing/Ready while a canary runs: Ready stays False until the canary's version serves everything. */
function canaryInProgress(c: CanaryStatus): { progressing: ConditionInput; ready: ConditionInput } {
  const reason = c.phase === 'Paused' ? 'CanaryPaused' : c.phase === 'Promoting' ? 'CanaryPromoting' : 'CanaryProgressing';
  const message =
    c.phase === 'Promoting'
      ? `promoting version ${c.version}: the stable Deployment is rolling to it`
      : `canary of version ${c.version} at step ${c.step + 1}: weight ${c.weight ?? 0}%, effective ${c.effectiveWeight ?? 0}%` +
        `, stable version ${c.stableVersion ?? ''} serves the rest${c.message ? ` (${c.message})` : ''}`;
  return {
    progressing: { type: 'Progressing', status: 'True', reason, message },
    ready: { type: 'Ready', status: 'False', reason, message: `version ${c.version} is a canary: ${message}` },
  };
}

/** Derives Ready / Available / Progressing / Degraded from the rollout head and the Deployment. */
export function computeConditions(f: ConditionFacts): ConditionInput[] {
  const d = f.deployment;
  const ready = d?.status?.readyReplicas ?? 0;
  const want = d?.spec?.replicas ?? 0;
  const deploymentAvailable = d?.status?.conditions?.find((c) => c.type === 'Available');

  let available: ConditionInput;
  if (!d) {
    available = { type: 'Available', status: 'False', reason: 'NoDeployment', message: 'the runtime Deployment does not exist yet' };
  } else if (deploymentAvailable?.status === 'True' && (d.status?.availableReplicas ?? 0) > 0) {
    available = {
      type: 'Available',
      status: 'True',
      reason: 'MinimumReplicasAvailable',
      message: `${d.status?.availableReplicas} of ${want} replicas available${f.currentVersion ? ` (serving version ${f.currentVersion})` : ''}`,
    };
  } else {
    available = {
      type: 'Available',
      status: 'False',
      reason: want === 0 ? 'ScaledToZero' : 'MinimumReplicasUnavailable',
      message: want === 0 ? 'replicas is 0' : `${ready} of ${want} replicas ready`,
    };
  }

  const head = f.head;
  let progressing: ConditionInput;
  let degraded: ConditionInput = { type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' };
  let readyCond: ConditionInput;

  if (f.blocking) {
    degraded = { type: 'Degraded', status: 'True', reason: f.blocking.reason, message: f.blocking.message };
    progressing = { type: 'Progressing', status: 'False', reason: f.blocking.reason, message: f.blocking.message };
    readyCond = { type: 'Ready', status: 'False', reason: f.blocking.reason, message: f.blocking.message };
    return [readyCond, available, progressing, degraded];
  }

  switch (head?.outcome) {
    case 'Progressing':
      if (f.canary) {
        ({ progressing, ready: readyCond } = canaryInProgress(f.canary));
        break;
      }
      progressing = {
        type: 'Progressing',
        status: 'True',
        reason: 'RollingOut',
        message: `rolling out version ${head.version}: ${d?.status?.updatedReplicas ?? 0} updated, ${ready} ready of ${want}`,
      };
      readyCond = { type: 'Ready', status: 'False', reason: 'RollingOut', message: `version ${head.version} is rolling out` };
      break;
    case 'Succeeded':
      progressing = { type: 'Progressing', status: 'False', reason: 'RolloutComplete', message: head.message ?? '' };
      readyCond =
        available.status === 'True'
          ? { type: 'Ready', status: 'True', reason: 'Ready', message: `version ${head.version} is serving` }
          : { type: 'Ready', status: 'False', reason: available.reason, message: available.message };
      break;
    case 'RolledBack':
      progressing = { type: 'Progressing', status: 'False', reason: 'RolledBack', message: head.message ?? '' };
      degraded = { type: 'Degraded', status: 'True', reason: 'RolledBack', message: head.message ?? '' };
      readyCond = { type: 'Ready', status: 'False', reason: 'RolledBack', message: head.message ?? '' };
      break;
    case 'Aborted':
      progressing = { type: 'Progressing', status: 'False', reason: 'CanaryAborted', message: head.message ?? '' };
      degraded = { type: 'Degraded', status: 'True', reason: 'CanaryAborted', message: head.message ?? '' };
      readyCond = { type: 'Ready', status: 'False', reason: 'CanaryAborted', message: head.message ?? '' };
      break;
    case 'Failed':
      progressing = { type: 'Progressing', status: 'False', reason: 'RolloutFailed', message: head.message ?? '' };
      degraded = { type: 'Degraded', status: 'True', reason: head.reason ?? 'RolloutFailed', message: head.message ?? '' };
      readyCond = { type: 'Ready', status: 'False', reason: 'RolloutFailed', message: head.message ?? '' };
      break;
    default:
      progressing = { type: 'Progressing', status: 'Unknown', reason: 'Pending', message: 'no rollout recorded yet' };
      readyCond = { type: 'Ready', status: 'Unknown', reason: 'Pending', message: 'no rollout recorded yet' };
  }
  if (f.notice && degraded.status !== 'True') degraded = { type: 'Degraded', status: 'True', ...f.notice };
  return [readyCond, available, progressing, degraded];
}
