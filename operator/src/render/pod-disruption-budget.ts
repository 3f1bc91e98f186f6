import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.generated.ts';
import { selectorLabels } from '../api/labels.ts';
import { childMetadata } from './children.ts';

/**
 * Whether the ModelDeployment can run more than one pod: spec.replicas > 1, or with autoscaling a
 * maxReplicas > 1. With autoscaling the bound is maxReplicas, not minReplicas: an HPA at 5 pods with
 * minReplicas 1 needs the budget as much as 5 fixed replicas, and while it runs one pod the budget
 * (maxUnavailable 1) still lets that pod go, like no budget at all.
 */
export function mayRunSeveralPods(md: ModelDeployment): boolean {
  return md.spec.autoscaling ? md.spec.autoscaling.maxReplicas > 1 : (md.spec.replicas ?? 1) > 1;
}

/**
 * The runtime pods' PodDisruptionBudget `<name>`, while the ModelDeployment may run several pods
 * (deleted when it drops to one): a voluntary eviction (kubectl drain, a node upgrade, the cluster
 * autoscaler) takes at most one pod at a time. maxUnavailable 1 rather than a minAvailable: the
 * disruption controller reads the Deployments' current scale, so the budget follows kubectl scale
 * and the HPA with no re-render, and never blocks a drain for good while the pods are healthy.
 * It selects every track's pods (stable, canary, experiment), which all serve the one Service.
 * unhealthyPodEvictionPolicy AlwaysAllow: a pod that is not ready serves nothing, and protecting it
 * would only let a broken rollout block node drains.
 */
export function renderPodDisruptionBudget(md: ModelDeployment): V1PodDisruptionBudget | undefined {
  if (!mayRunSeveralPods(md)) return undefined;
  const name = md.metadata?.name as string;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMetadata(md),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(name) },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}
