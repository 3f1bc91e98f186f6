import type { Condition } from '../api/types.generated.ts';

export type ConditionType = 'Ready' | 'Available' | 'Progressing' | 'Degraded';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionInput {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export const CONDITION_ORDER: readonly ConditionType[] = ['Ready', 'Available', 'Progressing', 'Degraded'];

/**
 * Builds the condition list following the API conventions: `lastTransitionTime` only moves when
 * the status value changes, `observedGeneration` is the ModelDeployment generation just seen.
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  next: readonly ConditionInput[],
  generation: number,
  now: Date,
): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = old && old.status === c.status ? old.lastTransitionTime : now.toISOString();
    return {
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: truncate(c.message, 32_000),
      observedGeneration: generation,
      lastTransitionTime,
    };
  });
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
