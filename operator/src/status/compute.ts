import type { V1Deployment } from '@kubernetes/client-node';
import type { HistoryEntry } from '../api/types.generated.ts';
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
    case 'Failed':
      progressing = { type: 'Progressing', status: 'False', reason: 'RolloutFailed', message: head.message ?? '' };
      degraded = { type: 'Degraded', status: 'True', reason: head.reason ?? 'RolloutFailed', message: head.message ?? '' };
      readyCond = { type: 'Ready', status: 'False', reason: 'RolloutFailed', message: head.message ?? '' };
      break;
    default:
      progressing = { type: 'Progressing', status: 'Unknown', reason: 'Pending', message: 'no rollout recorded yet' };
      readyCond = { type: 'Ready', status: 'Unknown', reason: 'Pending', message: 'no rollout recorded yet' };
  }
  return [readyCond, available, progressing, degraded];
}
