/**
 * The HorizontalPodAutoscaler's metrics and behavior for spec.autoscaling: CPU utilisation through
 * metrics.k8s.io, or the operator's own per-pod custom metrics (custom-metrics/names.ts) as a Pods
 * metric with an AverageValue target. behavior is passed through as autoscaling/v2 has it.
 */
import type { V2HorizontalPodAutoscalerBehavior, V2MetricSpec } from '@kubernetes/client-node';
import type { AutoscalingSpec } from '../api/types.generated.ts';
import { CUSTOM_METRIC } from '../custom-metrics/names.ts';

export const DEFAULT_CPU_TARGET_PERCENT = 80;

export function hpaMetrics(a: AutoscalingSpec): V2MetricSpec[] {
  switch (a.metric ?? 'cpu') {
    case 'concurrency':
      return [podsMetric(CUSTOM_METRIC.concurrency, a.targetConcurrency)];
    case 'rps':
      return [podsMetric(CUSTOM_METRIC.rps, a.targetRequestsPerSecond)];
    default:
      return [
        {
          type: 'Resource',
          resource: {
            name: 'cpu',
            target: { type: 'Utilization', averageUtilization: a.targetCPUUtilizationPercentage ?? DEFAULT_CPU_TARGET_PERCENT },
          },
        },
      ];
  }
}

function podsMetric(name: string, target: number | undefined): V2MetricSpec {
  // the CRD requires the target with its metric; 1 only keeps the type total
  return { type: 'Pods', pods: { metric: { name }, target: { type: 'AverageValue', averageValue: toQuantity(target ?? 1) } } };
}

/** A number as a Kubernetes quantity in milli-units, exact to 0.001 (the CRD's smallest target). */
export function toQuantity(n: number): string {
  const milli = Math.max(1, Math.round(n * 1000));
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

export function hpaBehavior(a: AutoscalingSpec): V2HorizontalPodAutoscalerBehavior | undefined {
  const b = a.behavior;
  if (!b || (!b.scaleUp && !b.scaleDown)) return undefined;
  return {
    ...(b.scaleUp
      ? { scaleUp: { ...b.scaleUp, ...(b.scaleUp.policies ? { policies: b.scaleUp.policies.map((p) => ({ ...p })) } : {}) } }
      : {}),
    ...(b.scaleDown
      ? { scaleDown: { ...b.scaleDown, ...(b.scaleDown.policies ? { policies: b.scaleDown.policies.map((p) => ({ ...p })) } : {}) } }
      : {}),
  };
}
