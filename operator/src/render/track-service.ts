import type { V1PodTemplateSpec, V1Service } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.generated.ts';
import { LABEL_MODEL_VERSION, selectorLabels } from '../api/labels.ts';
import { DEFAULT_SERVICE_PORT, childMetadata, servicePortSpec } from './children.ts';

/**
 * A per-track Service, `<name>-<track>` (e.g. iris-stable, iris-canary, iris-experiment): the
 * pods of one model version, for an HTTPRoute's weighted backendRefs and header pins. It selects
 * by the modelship.dev/model-version label every runtime pod already carries, not by a track
 * label, so no existing pod template changes (the stable pods have no track label) and both
 * Deployments of one version (canary and, once promoting, stable) are behind it. The one place
 * that renders track Services; the canary's HTTPRoute and the A/B experiment share it.
 */
export function renderTrackService(md: ModelDeployment, track: string, version: string): V1Service {
  const name = md.metadata?.name as string;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(md, trackServiceName(name, track)),
    spec: {
      type: 'ClusterIP',
      selector: { ...selectorLabels(name), [LABEL_MODEL_VERSION]: version },
      ports: [servicePortSpec(md)],
    },
  };
}

export const trackServiceName = (name: string, track: string): string => `${name}-${track}`;

export const servicePort = (md: ModelDeployment): number => md.spec.service?.port ?? DEFAULT_SERVICE_PORT;

/**
 * `<name>-stable` while an HTTPRoute is requested (kept for the route's whole life, so the route
 * never points at a deleted Service) or an experiment runs (its version route's target).
 */
export function renderStableTrackService(
  md: ModelDeployment,
  ctx: { template: V1PodTemplateSpec; experiment?: unknown },
): V1Service | undefined {
  const version = ctx.template.metadata?.labels?.[LABEL_MODEL_VERSION];
  if (version === undefined || (!md.spec.rollout?.httpRoute && !ctx.experiment)) return undefined;
  return renderTrackService(md, 'stable', version);
}
