/**
 * With autoscaling, each track has its own HorizontalPodAutoscaler, and the stable one has scaled
 * the stable track for the stable track's share of the traffic only. Removing the canary's pods
 * at once (abort, or the end of a promotion) would put the canary's share on a stable track that
 * is too small until its HPA notices and new pods start (Flagger #869). So the canary goes away
 * only once the stable track has, ready, the pods both tracks had: the stable HPA's minReplicas is
 * held at that count meanwhile (the HPA scales up now rather than after its next metrics
 * window), then returns to spec.autoscaling.minReplicas, and the HPA's scale-down stabilization
 * keeps the pods while they carry the whole load.
 */

/** spec.autoscaling's bounds. */
export interface AutoscalingBounds {
  minReplicas: number;
  maxReplicas: number;
}

export interface CapacityInput {
  /** Undefined without spec.autoscaling: the stable track keeps its spec.replicas throughout, nothing to restore. */
  autoscaling: AutoscalingBounds | undefined;
  /** The stable Deployment's ready pods. */
  stableReady: number;
  /** The canary Deployment's replicas and ready pods now; undefined when it does not exist. */
  canary: { replicas: number; readyReplicas: number } | undefined;
  /** What the state machine wants the canary to have; 0: go away. */
  wantedCanaryReplicas: number;
  /** status.canary.restoreStableReplicas: the target, once set, so it does not grow as the stable track does. */
  recordedTarget: number | undefined;
  /** The canary ended (abort or promotion) this long ago. */
  endedAgoMs: number;
  /** After this long the canary goes anyway (a stable track that cannot grow must not keep a failed canary forever). */
  deadlineMs: number;
}

export interface CapacityDecision {
  /** The canary Deployment's replicas: the wanted ones, or the current ones while the stable track grows. */
  canaryReplicas: number;
  /** The stable HPA's minReplicas while it is raised; undefined: spec.autoscaling.minReplicas. */
  stableMinReplicas: number | undefined;
  /** To record in status.canary.restoreStableReplicas; undefined clears it. */
  target: number | undefined;
}

/** Pure: whether the canary may go now, and the stable HPA's minReplicas meanwhile. */
export function restoreStableCapacity(input: CapacityInput): CapacityDecision {
  const none = { canaryReplicas: input.wantedCanaryReplicas, stableMinReplicas: undefined, target: undefined };
  const { autoscaling, canary } = input;
  // Still wanted (running, or serving while the stable track rolls back): a target already set holds.
  if (input.wantedCanaryReplicas > 0) return { ...none, stableMinReplicas: input.recordedTarget, target: input.recordedTarget };
  // Only the canary's ready pods carry traffic: a canary that never got ready leaves no share to take over.
  if (!autoscaling || !canary || canary.replicas === 0 || canary.readyReplicas === 0) return none;
  const target =
    input.recordedTarget ?? Math.min(autoscaling.maxReplicas, Math.max(autoscaling.minReplicas, input.stableReady + canary.readyReplicas));
  if (input.stableReady >= target || input.endedAgoMs >= input.deadlineMs) return none;
  return { canaryReplicas: canary.replicas, stableMinReplicas: target, target };
}

/**
 * The canary HPA's bounds: at least the replicas the state machine gives the step's weight (so
 * the split starts at the weight and the step's readiness check holds), at most the weight's
 * share of spec.autoscaling.maxReplicas. Between them the canary scales on its own load.
 */
export function canaryHpaBounds(autoscaling: AutoscalingBounds, canaryReplicas: number, weight: number): AutoscalingBounds {
  const share = weight >= 100 ? autoscaling.maxReplicas : Math.max(1, Math.round((autoscaling.maxReplicas * weight) / (100 - weight)));
  return { minReplicas: canaryReplicas, maxReplicas: Math.max(canaryReplicas, share) };
}
