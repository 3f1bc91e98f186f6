// The canary's two bounds, pure: spec.rollout.canary.analysis.maxWait (a step that cannot be judged
// ends; rollout/canary-deadline.ts) and, with autoscaling, the stable track's capacity before the
// canary goes (rollout/canary-capacity.ts), each alone and inside the state machine; and what they
// render (the canary's own HPA, the stable HPA's raised minReplicas).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AnalysisSpecError } from '../../operator/src/analysis/errors.ts';
import { parseCanary } from '../../operator/src/reconcile/canary-settings.ts';
import { renderCanaryDeployment, renderCanaryHpa, renderHpa } from '../../operator/src/render/children.ts';
import { renderPodTemplate } from '../../operator/src/render/pod-template.ts';
import { PROMOTION_RECHECK_MS, decideCanary } from '../../operator/src/rollout/canary.ts';
import { canaryHpaBounds, restoreStableCapacity, type CapacityInput } from '../../operator/src/rollout/canary-capacity.ts';
import { formatDuration, judgementOverdue } from '../../operator/src/rollout/canary-deadline.ts';
import { NOW, SETTINGS, ago, analysis, input, running } from './operator-canary-fixtures.ts';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';

const TEN_MIN = 600_000;
const BOUNDED = { ...SETTINGS, maxWaitMs: TEN_MIN, minRequests: 20 };
const inconclusive = (requests: number, at = NOW) => ({
  ...analysis('inconclusive', `canary served ${requests} requests, fewer than the 20 needed to judge`),
  at,
  canary: { requests, serverErrors: 0, clientErrors: 0, p99Ms: 4 },
});

describe('maxWait: a step that cannot be judged ends', () => {
  test('formatDuration prints durations as Kubernetes (Go) does', () => {
    assert.equal(formatDuration(600_000), '10m0s');
    assert.equal(formatDuration(30_000), '30s');
    assert.equal(formatDuration(3_600_000), '1h0m0s');
    assert.equal(formatDuration(90_500), '1m31s');
  });

  test('too few requests for maxWait: aborted with the figures, the canary goes, history Aborted', () => {
    const status = running({ stepStartedAt: ago(TEN_MIN), unjudgedSince: ago(TEN_MIN) });
    const d = decideCanary(input({ settings: BOUNDED, status, analysis: inconclusive(3) }));
    const msg =
      'canary of version 2 aborted at step 1 of 2 (10%): not enough traffic to judge: 3 of 20 requests in the last 30s window, ' +
      'no window judged in 10m0s (spec.rollout.canary.analysis.maxWait)';
    assert.equal(d.status.phase, 'Aborted');
    assert.equal(d.status.message, msg);
    assert.equal(d.canaryReplicas, 0);
    assert.deepEqual([d.history[0]?.outcome, d.history[0]?.reason, d.history[0]?.message], ['Aborted', 'CanaryAborted', msg]);
    assert.deepEqual(d.events, [{ type: 'CanaryAborted', version: '2', reason: 'CanaryAborted', message: msg }]);
    assert.equal(d.failedVersion, '2');
  });

  test('one second short of maxWait: still waiting; no bound set: waits on', () => {
    const status = running({ stepStartedAt: ago(TEN_MIN - 1000), unjudgedSince: ago(TEN_MIN - 1000) });
    const d = decideCanary(input({ settings: BOUNDED, status, analysis: inconclusive(3) }));
    assert.equal(d.status.phase, 'Progressing');
    assert.match(d.status.message ?? '', /waiting for a passing analysis/);
    const unbounded = decideCanary(input({ status: running({ stepStartedAt: ago(10 * TEN_MIN) }), analysis: inconclusive(3) }));
    assert.equal(unbounded.status.phase, 'Progressing', 'settings without maxWaitMs: no bound');
  });

  test('a pass in the step stops the clock (the step advances when its pause ends)', () => {
    const longStep = { ...BOUNDED, steps: [{ weight: 10, pauseMs: 3_600_000 }, ...BOUNDED.steps.slice(1)] };
    const status = running({
      stepStartedAt: ago(2 * TEN_MIN),
      unjudgedSince: ago(2 * TEN_MIN),
      lastAnalysis: { time: ago(TEN_MIN), verdict: 'Pass', message: 'ok' },
    });
    const d = decideCanary(input({ settings: longStep, status }));
    assert.equal(d.status.phase, 'Progressing');
    assert.match(d.status.message ?? '', /holding/);
  });

  test('the clock starts at the step start, at each step advance and at a resume, not while paused', () => {
    const started = decideCanary(input({ settings: BOUNDED, status: undefined, canaryTrack: undefined }));
    assert.equal(started.status.unjudgedSince, NOW.toISOString());
    const advanced = decideCanary(
      input({ settings: BOUNDED, status: running({ unjudgedSince: ago(120_000) }), analysis: analysis('pass') }),
    );
    assert.equal(advanced.status.step, 1);
    assert.equal(advanced.status.unjudgedSince, NOW.toISOString());
    // paused for an hour at step 0: no abort while paused, and the resume restarts the clock
    const longAgo = running({ phase: 'Paused', stepStartedAt: ago(3_600_000), unjudgedSince: ago(3_600_000) });
    const held = decideCanary(input({ settings: { ...BOUNDED, paused: true }, status: longAgo, analysis: inconclusive(0) }));
    assert.equal(held.status.phase, 'Paused');
    const resumed = decideCanary(input({ settings: BOUNDED, status: held.status, analysis: inconclusive(0) }));
    assert.equal(resumed.status.phase, 'Progressing');
    assert.equal(resumed.status.unjudgedSince, NOW.toISOString());
    const later = new Date(NOW.getTime() + TEN_MIN - 1000);
    assert.equal(decideCanary(input({ settings: BOUNDED, status: resumed.status, now: later })).status.phase, 'Progressing');
    const overdue = new Date(NOW.getTime() + TEN_MIN);
    const ended = decideCanary(input({ settings: BOUNDED, status: resumed.status, now: overdue, analysis: inconclusive(2, overdue) }));
    assert.equal(ended.status.phase, 'Aborted');
  });

  test('a status written before unjudgedSince existed counts from the step start', () => {
    const status = running({ stepStartedAt: ago(TEN_MIN) });
    assert.equal(decideCanary(input({ settings: BOUNDED, status, analysis: inconclusive(0) })).status.phase, 'Aborted');
  });

  test('canary pods that never get ready: the message says so; no window at all: says that', () => {
    const status = running({ stepStartedAt: ago(TEN_MIN), unjudgedSince: ago(TEN_MIN) });
    const notReady = decideCanary(
      input({ settings: BOUNDED, status, canaryTrack: { replicas: 1, readyReplicas: 0, rolledOut: false, templateHash: 'h2' } }),
    );
    assert.equal(
      notReady.status.message,
      'canary of version 2 aborted at step 1 of 2 (10%): no analysis in 10m0s: 0 of 1 canary pods ready (spec.rollout.canary.analysis.maxWait)',
    );
    assert.equal(
      judgementOverdue({ maxWaitMs: TEN_MIN, minRequests: 20, intervalMs: 30_000, status, canaryReady: 1, canaryWanted: 1, now: NOW }),
      'no analysis window judged in 10m0s (spec.rollout.canary.analysis.maxWait)',
    );
  });

  test('parsed from the spec: 10m by default, 3 intervals when longer, refused below 3 intervals naming the field', () => {
    const md = (analysisSpec: Record<string, unknown>) =>
      modelDeployment({ rollout: { strategy: 'Canary', canary: { analysis: analysisSpec } } });
    assert.equal(parseCanary(md({}))?.settings.maxWaitMs, TEN_MIN);
    assert.equal(parseCanary(md({}))?.settings.minRequests, 50);
    assert.equal(parseCanary(md({ interval: '5m' }))?.settings.maxWaitMs, 900_000);
    assert.equal(parseCanary(md({ interval: '10s', maxWait: '1m30s' }))?.settings.maxWaitMs, 90_000);
    assert.throws(
      () => parseCanary(md({ interval: '1m', maxWait: '2m' })),
      (e: unknown) =>
        e instanceof AnalysisSpecError && e.message === 'spec.rollout.canary.analysis.maxWait: "2m" is shorter than 3 analysis intervals',
    );
    assert.throws(
      () => parseCanary(md({ maxWait: 'ten minutes' })),
      /spec\.rollout\.canary\.analysis\.maxWait: "ten minutes" is not a duration/,
    );
  });
});

describe('autoscaling: stable capacity before the canary goes', () => {
  const base: CapacityInput = {
    autoscaling: { minReplicas: 2, maxReplicas: 10 },
    stableReady: 4,
    canary: { replicas: 4, readyReplicas: 4 },
    wantedCanaryReplicas: 0,
    recordedTarget: undefined,
    endedAgoMs: 1000,
    deadlineMs: 300_000,
  };

  test('the canary is held and the stable HPA raised to the pods both tracks had', () => {
    assert.deepEqual(restoreStableCapacity(base), { canaryReplicas: 4, stableMinReplicas: 8, target: 8 });
    assert.deepEqual(
      restoreStableCapacity({ ...base, stableReady: 8, canary: { replicas: 6, readyReplicas: 6 } }).target,
      10,
      'at most maxReplicas',
    );
  });

  test('the recorded target does not grow as the stable track does; reached: the canary goes and the HPA minimum returns', () => {
    assert.deepEqual(restoreStableCapacity({ ...base, stableReady: 6, recordedTarget: 8 }), {
      canaryReplicas: 4,
      stableMinReplicas: 8,
      target: 8,
    });
    assert.deepEqual(restoreStableCapacity({ ...base, stableReady: 8, recordedTarget: 8 }), {
      canaryReplicas: 0,
      stableMinReplicas: undefined,
      target: undefined,
    });
  });

  test('nothing to hold: no autoscaling, the canary still wanted, no canary, a canary with no ready pod, the deadline passed', () => {
    const none = (wanted = 0) => ({ canaryReplicas: wanted, stableMinReplicas: undefined, target: undefined });
    assert.deepEqual(restoreStableCapacity({ ...base, autoscaling: undefined }), none());
    assert.deepEqual(restoreStableCapacity({ ...base, wantedCanaryReplicas: 4 }), none(4));
    assert.deepEqual(
      restoreStableCapacity({ ...base, wantedCanaryReplicas: 4, recordedTarget: 8 }),
      { canaryReplicas: 4, stableMinReplicas: 8, target: 8 },
      'still wanted (the stable track rolling back): a recorded target holds',
    );
    assert.deepEqual(restoreStableCapacity({ ...base, canary: undefined }), none());
    assert.deepEqual(restoreStableCapacity({ ...base, canary: { replicas: 2, readyReplicas: 0 } }), none());
    assert.deepEqual(restoreStableCapacity({ ...base, endedAgoMs: 300_000 }), none());
  });

  test('in the state machine: an abort keeps the canary until the stable track is big enough, then it goes', () => {
    const autoscaled = { autoscaling: { minReplicas: 2, maxReplicas: 10 }, capacityDeadlineMs: 300_000 };
    const canaryTrack = { replicas: 4, readyReplicas: 4, rolledOut: true, templateHash: 'h2' };
    const aborted = decideCanary(
      input({ ...autoscaled, settings: { ...SETTINGS, abort: true }, status: running({ step: 1, weight: 50 }), canaryTrack }),
    );
    assert.equal(aborted.status.phase, 'Aborted');
    assert.equal(aborted.canaryReplicas, 4, 'the canary serves while the stable track grows');
    assert.equal(aborted.stableMinReplicas, 8);
    assert.equal(aborted.status.restoreStableReplicas, 8);
    assert.equal(aborted.requeueAfterMs, PROMOTION_RECHECK_MS);
    assert.equal(aborted.status.weight, 0);

    const growing = decideCanary(
      input({
        ...autoscaled,
        status: aborted.status,
        history: aborted.history,
        canaryTrack,
        stableTrack: { replicas: 8, readyReplicas: 6, rolledOut: false, templateHash: 'h1' },
      }),
    );
    assert.deepEqual([growing.canaryReplicas, growing.stableMinReplicas, growing.status.restoreStableReplicas], [4, 8, 8]);
    assert.deepEqual(growing.events, []);

    const restored = decideCanary(
      input({
        ...autoscaled,
        status: growing.status,
        history: growing.history,
        canaryTrack,
        stableTrack: { replicas: 8, readyReplicas: 8, rolledOut: true, templateHash: 'h1' },
      }),
    );
    assert.deepEqual(
      [restored.canaryReplicas, restored.stableMinReplicas, restored.status.restoreStableReplicas],
      [0, undefined, undefined],
    );
    assert.equal(restored.requeueAfterMs, undefined);

    const plain = decideCanary(input({ settings: { ...SETTINGS, abort: true }, canaryTrack }));
    assert.deepEqual([plain.canaryReplicas, plain.stableMinReplicas], [0, undefined], 'without autoscaling the stable track never shrank');
  });

  test('in the state machine: a promotion too keeps the canary until the promoted stable track has both tracks’ pods', () => {
    const d = decideCanary(
      input({
        autoscaling: { minReplicas: 1, maxReplicas: 10 },
        status: running({ phase: 'Promoting', step: 1, weight: 50 }),
        stableTrack: { replicas: 3, readyReplicas: 3, rolledOut: true, templateHash: 'h2' },
        canaryTrack: { replicas: 3, readyReplicas: 3, rolledOut: true, templateHash: 'h2' },
      }),
    );
    assert.equal(d.status.phase, 'Succeeded');
    assert.deepEqual([d.canaryReplicas, d.stableMinReplicas], [3, 6]);
  });

  test('the canary HPA: at least the step’s replicas, at most the weight’s share of maxReplicas', () => {
    assert.deepEqual(canaryHpaBounds({ minReplicas: 2, maxReplicas: 10 }, 1, 10), { minReplicas: 1, maxReplicas: 1 });
    assert.deepEqual(canaryHpaBounds({ minReplicas: 2, maxReplicas: 10 }, 4, 50), { minReplicas: 4, maxReplicas: 10 });
    assert.deepEqual(canaryHpaBounds({ minReplicas: 2, maxReplicas: 9 }, 1, 25), { minReplicas: 1, maxReplicas: 3 });
    assert.deepEqual(canaryHpaBounds({ minReplicas: 2, maxReplicas: 10 }, 4, 100), { minReplicas: 4, maxReplicas: 10 });
  });

  test('rendered: the canary HPA targets <name>-canary; the stable HPA minimum is raised within its bounds; the canary Deployment leaves replicas to its HPA', () => {
    const md = modelDeployment({ autoscaling: { minReplicas: 2, maxReplicas: 10, targetCPUUtilizationPercentage: 60 } });
    const hpa = renderCanaryHpa(md, { minReplicas: 4, maxReplicas: 10 });
    assert.equal(hpa?.metadata?.name, 'iris-canary');
    assert.equal(hpa?.metadata?.labels?.['modelship.dev/track'], 'canary');
    assert.deepEqual(hpa?.spec?.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'iris-canary' });
    assert.deepEqual([hpa?.spec?.minReplicas, hpa?.spec?.maxReplicas], [4, 10]);
    assert.equal(hpa?.spec?.metrics?.[0]?.resource?.target.averageUtilization, 60, 'the same CPU target as the stable track');
    assert.equal(renderCanaryHpa(modelDeployment(), { minReplicas: 1, maxReplicas: 1 }), undefined, 'no autoscaling: no HPA');
    assert.equal(renderHpa(md)?.spec?.minReplicas, 2);
    assert.equal(renderHpa(md, 8)?.spec?.minReplicas, 8);
    assert.equal(renderHpa(md, 12)?.spec?.minReplicas, 10, 'never above maxReplicas');
    assert.equal(renderHpa(md, 1)?.spec?.minReplicas, 2, 'never below the spec');
    const template = renderPodTemplate(md, { ...md.spec.model, name: 'iris' }, RUNTIME_DEFAULTS);
    assert.equal(renderCanaryDeployment(md, template, 3).spec?.replicas, undefined);
    assert.equal(renderCanaryDeployment(modelDeployment(), template, 3).spec?.replicas, 3);
  });
});
