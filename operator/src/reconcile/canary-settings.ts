import type { ModelDeployment } from '../api/types.generated.ts';
import { parseAnalysisConfig, parseSpecDuration } from '../analysis/config.ts';
import { AnalysisSpecError } from '../analysis/errors.ts';
import type { AnalysisConfig } from '../analysis/types.ts';
import type { CanarySettings } from '../rollout/canary.ts';
import { DEFAULT_MAX_WAIT } from '../rollout/canary-deadline.ts';

/** spec.rollout.canary.steps when the spec has none (the CRD's default, for objects stored before it). */
export const DEFAULT_STEPS = [
  { weight: 10, pause: '1m' },
  { weight: 50, pause: '1m' },
] as const;

export interface ParsedCanary {
  settings: CanarySettings;
  analysis: AnalysisConfig;
}

/**
 * spec.rollout's Canary settings, parsed once at the edge; undefined unless the strategy is Canary.
 * promoteVersion/abortVersion count only when they name the version the spec asks for (the
 * canary's). Throws AnalysisSpecError naming the field when a value is out of shape.
 */
export function parseCanary(md: ModelDeployment): ParsedCanary | undefined {
  const rollout = md.spec.rollout;
  if (rollout?.strategy !== 'Canary') return undefined;
  const analysis = parseAnalysisConfig(rollout.canary?.analysis);
  const steps = (rollout.canary?.steps?.length ? rollout.canary.steps : DEFAULT_STEPS).map((s, i) => ({
    weight: s.weight,
    pauseMs: parseSpecDuration(s.pause ?? '1m', `spec.rollout.canary.steps[${i}].pause`),
  }));
  const version = md.spec.model.version;
  return {
    settings: {
      steps,
      intervalMs: analysis.intervalMs,
      paused: rollout.paused ?? false,
      promote: rollout.promoteVersion === version,
      abort: rollout.abortVersion === version,
      maxWaitMs: parseMaxWait(rollout.canary?.analysis?.maxWait, analysis.intervalMs),
      minRequests: analysis.minRequests,
    },
    analysis,
  };
}

/**
 * spec.rollout.canary.analysis.maxWait in ms. Unset: 10m, or 3 intervals when longer (a fixed
 * default would refuse a long interval). Set: at least 3 intervals, the CRD's rule, repeated for
 * objects stored before it.
 */
export function parseMaxWait(value: string | undefined, intervalMs: number): number {
  const field = 'spec.rollout.canary.analysis.maxWait';
  if (value === undefined) return Math.max(parseSpecDuration(DEFAULT_MAX_WAIT, field), 3 * intervalMs);
  const ms = parseSpecDuration(value, field);
  if (ms < 3 * intervalMs) throw new AnalysisSpecError(`${field}: "${value}" is shorter than 3 analysis intervals`);
  return ms;
}
