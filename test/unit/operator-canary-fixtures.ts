// Inputs of the canary state machine (operator/src/rollout/canary.ts) for its unit tests: a canary of
// version 2 (template h2) beside stable version 1 (h1), 4 stable replicas, steps 10% → 50%.
import type { CanaryStatus, HistoryEntry } from '../../operator/src/api/types.generated.ts';
import type { TrackWindow } from '../../operator/src/analysis/types.ts';
import type { AnalysisOutcome, CanaryInput, CanarySettings } from '../../operator/src/rollout/canary.ts';

export const NOW = new Date('2026-11-30T12:00:00Z');
export const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
export const SETTINGS: CanarySettings = {
  steps: [
    { weight: 10, pauseMs: 60_000 },
    { weight: 50, pauseMs: 60_000 },
  ],
  intervalMs: 30_000,
  paused: false,
  promote: false,
  abort: false,
};
export const STABLE_ENTRY: HistoryEntry = {
  version: '1',
  uri: 'https://m/1.onnx',
  templateHash: 'h1',
  startedAt: ago(3_600_000),
  finishedAt: ago(3_500_000),
  outcome: 'Succeeded',
};
export const CANARY_ENTRY: HistoryEntry = {
  version: '2',
  uri: 'https://m/2.onnx',
  templateHash: 'h2',
  startedAt: ago(120_000),
  outcome: 'Progressing',
  reason: 'CanaryStarted',
};
export const window = (requests: number, serverErrors: number, p99Ms: number | undefined = 12): TrackWindow => ({
  requests,
  serverErrors,
  clientErrors: 0,
  p99Ms,
});
export const analysis = (verdict: AnalysisOutcome['verdict'], message = 'error rate 0.0% <= 1% over 412 requests'): AnalysisOutcome => ({
  verdict,
  message,
  at: NOW,
  canary: window(412, verdict === 'fail' ? 33 : 0),
  stable: window(1650, 0, 10),
});
export const running = (over: Partial<CanaryStatus> = {}): CanaryStatus => ({
  version: '2',
  stableVersion: '1',
  templateHash: 'h2',
  phase: 'Progressing',
  step: 0,
  stepStartedAt: ago(120_000),
  weight: 10,
  ...over,
});

export function input(over: Partial<CanaryInput> = {}): CanaryInput {
  return {
    settings: SETTINGS,
    desired: { model: { version: '2', uri: 'https://m/2.onnx' }, hash: 'h2' },
    stable: { version: '1', hash: 'h1' },
    stableTrack: { replicas: 4, readyReplicas: 4, rolledOut: true, templateHash: 'h1' },
    canaryTrack: { replicas: 1, readyReplicas: 1, rolledOut: true, templateHash: 'h2' },
    status: running(),
    history: [CANARY_ENTRY, STABLE_ENTRY],
    historyLimit: 10,
    failure: undefined,
    analysis: undefined,
    now: NOW,
    ...over,
  };
}
