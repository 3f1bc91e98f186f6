// The parts of a ModelDeployment the plugin reads. The CRD is the plugin's contract; the operator's
// generated types describe it. spec.experiment / status.experiment (the A/B experiment API) are
// read through experimentSpec/experimentStatus so the plugin works with or without them.
import type { ModelDeployment, ModelSpec } from '../../operator/src/api/types.generated.ts';

export type { CanaryStatus, Condition, HistoryEntry, ModelDeployment, ModelSpec } from '../../operator/src/api/types.generated.ts';

export const MD_GROUP = 'modelship.dev';
export const MD_VERSION = 'v1alpha1';
export const MD_PLURAL = 'modeldeployments';

/** spec.experiment: an A/B experiment variant beside the main model. */
export interface ExperimentSpec {
  model: Pick<ModelSpec, 'version' | 'uri' | 'sha256'>;
  weight?: number;
}

export interface ExperimentVariant {
  version: string;
  track?: string;
  replicas?: number;
  readyReplicas?: number;
  requests?: number;
  errorRate?: number;
  p99LatencyMs?: number;
}

/** status.experiment, as the operator reports it. */
export interface ExperimentStatus {
  version?: string;
  weight?: number;
  effectiveWeight?: number;
  startedAt?: string;
  variants?: ExperimentVariant[];
  lastAnalysisAt?: string;
  message?: string;
}

interface WithExperiment {
  spec?: { experiment?: ExperimentSpec | null };
  status?: { experiment?: ExperimentStatus | null };
}

export function experimentSpec(md: ModelDeployment): ExperimentSpec | undefined {
  return (md as unknown as WithExperiment).spec?.experiment ?? undefined;
}

export function experimentStatus(md: ModelDeployment): ExperimentStatus | undefined {
  return (md as unknown as WithExperiment).status?.experiment ?? undefined;
}

/** The name the runtime serves the model under: spec.model.name, else metadata.name. */
export function modelName(md: ModelDeployment): string {
  return md.spec.model.name || (md.metadata?.name ?? '');
}
