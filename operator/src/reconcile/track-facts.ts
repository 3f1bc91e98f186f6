import type { V1Deployment } from '@kubernetes/client-node';
import { templateHashOf } from '../render/pod-template.ts';
import type { TrackFacts } from '../rollout/canary.ts';
import { rolloutComplete } from '../rollout/decide.ts';

/** What the canary and experiment decisions read of a track's Deployment (undefined: no such Deployment). */
export function trackFacts(d: V1Deployment | undefined): TrackFacts | undefined {
  if (!d) return undefined;
  return {
    replicas: d.spec?.replicas ?? 1,
    readyReplicas: d.status?.readyReplicas ?? 0,
    rolledOut: rolloutComplete(d),
    templateHash: templateHashOf(d.spec?.template),
  };
}
