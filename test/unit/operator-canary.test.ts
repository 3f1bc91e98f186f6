// The canary state machine (operator/src/rollout/canary.ts): every transition, pure.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PROMOTION_RECHECK_MS, canaryReplicasFor, decideCanary, effectiveWeight } from '../../operator/src/rollout/canary.ts';
import { NOW, SETTINGS, STABLE_ENTRY, ago, analysis, input, running } from './operator-canary-fixtures.ts';

describe('canary replica split', () => {
  test('the stable track keeps N; the canary gets max(1, round(N*w/(100-w))); effective weight from the pods', () => {
    assert.equal(canaryReplicasFor(4, 10), 1);
    assert.equal(canaryReplicasFor(4, 50), 4);
    assert.equal(canaryReplicasFor(10, 25), 3);
    assert.equal(canaryReplicasFor(2, 90), 18);
    assert.equal(canaryReplicasFor(0, 50), 0, 'nothing serves: no canary either');
    assert.equal(effectiveWeight(4, 1), 20);
    assert.equal(effectiveWeight(10, 3), 23);
    assert.equal(effectiveWeight(0, 0), 0);
  });
});

describe('canary state machine', () => {
  test('start: step 0, a Progressing history entry, the canary Deployment at its step-0 replicas, stable untouched', () => {
    const d = decideCanary(input({ status: undefined, history: [STABLE_ENTRY], canaryTrack: undefined }));
    assert.equal(d.status.phase, 'Progressing');
    assert.equal(d.status.step, 0);
    assert.equal(d.status.stepStartedAt, NOW.toISOString());
    assert.equal(d.status.weight, 10);
    assert.equal(d.status.effectiveWeight, 0, 'no canary pod is ready yet');
    assert.equal(d.status.version, '2');
    assert.equal(d.status.stableVersion, '1');
    assert.equal(d.canaryReplicas, 1);
    assert.equal(d.stableTemplate, 'stable');
    assert.deepEqual(
      d.history.map((h) => [h.version, h.outcome]),
      [
        ['2', 'Progressing'],
        ['1', 'Succeeded'],
      ],
    );
    assert.equal(d.currentVersion, '1');
    assert.equal(d.updatingVersion, '2');
    assert.deepEqual(d.events, [{ type: 'CanaryStarted', version: '2', stableVersion: '1', weight: 10 }]);
    assert.equal(d.requeueAfterMs, 30_000);
  });

  test('a step advances after its pause, with the canary ready and a passing analysis', () => {
    const d = decideCanary(input({ analysis: analysis('pass') }));
    assert.equal(d.status.step, 1);
    assert.equal(d.status.weight, 50);
    assert.equal(d.status.stepStartedAt, NOW.toISOString());
    assert.equal(d.canaryReplicas, 4);
    assert.deepEqual(d.events, [{ type: 'CanaryStepAdvanced', version: '2', step: 1, weight: 50 }]);
    assert.deepEqual(d.status.lastAnalysis, {
      time: NOW.toISOString(),
      verdict: 'Pass',
      canary: { requests: 412, errorRate: 0, clientErrorRate: 0, p99Ms: 12 },
      stable: { requests: 1650, errorRate: 0, clientErrorRate: 0, p99Ms: 10 },
      message: 'error rate 0.0% <= 1% over 412 requests',
    });
  });

  test('no advance before the pause has passed, nor while the canary pods are not ready', () => {
    const early = decideCanary(input({ status: running({ stepStartedAt: ago(20_000) }), analysis: analysis('pass') }));
    assert.equal(early.status.step, 0);
    assert.equal(early.requeueAfterMs, 30_000, 'next analysis window first (the step ends in 40 s)');
    const late = decideCanary(input({ status: running({ stepStartedAt: ago(50_000) }), analysis: analysis('pass') }));
    assert.equal(late.requeueAfterMs, 10_000, 'the step ends in 10 s: look again then');
    const notReady = decideCanary(
      input({ canaryTrack: { replicas: 1, readyReplicas: 0, rolledOut: false, templateHash: 'h2' }, analysis: analysis('pass') }),
    );
    assert.equal(notReady.status.step, 0);
    assert.match(notReady.status.message ?? '', /waiting for the canary's pods at step 1 of 2 \(10%\)/);
  });

  test('a pass from before the step started does not count; an inconclusive window keeps the step waiting', () => {
    const stale = decideCanary(input({ status: running({ lastAnalysis: { time: ago(200_000), verdict: 'Pass', message: 'old' } }) }));
    assert.equal(stale.status.step, 0);
    const d = decideCanary(input({ analysis: analysis('inconclusive', 'only 12 canary requests, fewer than 50: not judged') }));
    assert.equal(d.status.step, 0);
    assert.equal(d.status.phase, 'Progressing');
    assert.equal(d.status.lastAnalysis?.verdict, 'Inconclusive');
    assert.match(d.status.message ?? '', /waiting for a passing analysis/);
    assert.deepEqual(d.events, []);
  });

  test('a failing analysis aborts with the figures: canary to 0, history Aborted, failedVersion, Warning', () => {
    const d = decideCanary(input({ analysis: analysis('fail', 'error rate 8.0% > 1% over 412 requests') }));
    assert.equal(d.status.phase, 'Aborted');
    assert.equal(d.canaryReplicas, 0);
    assert.equal(d.stableTemplate, 'stable');
    assert.equal(d.status.weight, 0);
    assert.equal(d.status.effectiveWeight, 0);
    const msg = 'canary of version 2 failed its analysis at step 1 of 2 (10%): error rate 8.0% > 1% over 412 requests';
    assert.equal(d.status.message, msg);
    assert.deepEqual(
      [d.history[0]?.outcome, d.history[0]?.reason, d.history[0]?.message, d.history[0]?.finishedAt],
      ['Aborted', 'CanaryAborted', msg, NOW.toISOString()],
    );
    assert.equal(d.status.lastAnalysis?.canary?.errorRate, 8.01);
    assert.equal(d.failedVersion, '2');
    assert.equal(d.currentVersion, '1');
    assert.equal(d.updatingVersion, undefined);
    assert.deepEqual(d.events, [{ type: 'CanaryAborted', version: '2', reason: 'CanaryAborted', message: msg }]);
    assert.equal(d.requeueAfterMs, undefined);
  });

  test('a hard failure aborts at once, before any analysis or the end of the pause', () => {
    const d = decideCanary(
      input({
        status: running({ stepStartedAt: ago(1000) }),
        failure: { reason: 'CrashLoop', message: 'container serve restarted 3 times: exit code 1', since: undefined },
      }),
    );
    assert.equal(d.status.phase, 'Aborted');
    assert.equal(d.canaryReplicas, 0);
    assert.equal(d.status.message, 'canary of version 2 failed at step 1 of 2 (10%): container serve restarted 3 times: exit code 1');
  });

  test('pause holds the step (and a failing analysis still aborts); resume continues', () => {
    const paused = { ...SETTINGS, paused: true };
    const held = decideCanary(input({ settings: paused, analysis: analysis('pass') }));
    assert.equal(held.status.phase, 'Paused');
    assert.equal(held.status.step, 0, 'no advance while paused');
    assert.equal(held.canaryReplicas, 1, 'the canary keeps serving');
    assert.deepEqual(held.events, [{ type: 'CanaryPaused', version: '2' }]);
    const again = decideCanary(input({ settings: paused, status: held.status }));
    assert.deepEqual(again.events, [], 'Paused once');
    const failing = decideCanary(input({ settings: paused, status: held.status, analysis: analysis('fail', 'p99 900 ms > 250 ms') }));
    assert.equal(failing.status.phase, 'Aborted');
    const resumed = decideCanary(input({ status: held.status, analysis: analysis('pass') }));
    assert.equal(resumed.status.phase, 'Progressing');
    assert.equal(resumed.status.step, 1);
    assert.deepEqual(
      resumed.events.map((e) => e.type),
      ['CanaryResumed', 'CanaryStepAdvanced'],
    );
  });

  test('manual promote skips the remaining steps: the stable Deployment takes the canary template, the canary keeps serving', () => {
    const d = decideCanary(input({ settings: { ...SETTINGS, promote: true }, status: running({ stepStartedAt: ago(1000) }) }));
    assert.equal(d.status.phase, 'Promoting');
    assert.equal(d.stableTemplate, 'desired');
    assert.equal(d.canaryReplicas, 1);
    assert.deepEqual(d.events, [{ type: 'CanaryPromoting', version: '2', manual: true }]);
    assert.equal(d.requeueAfterMs, PROMOTION_RECHECK_MS);
    assert.equal(d.updatingVersion, '2');
  });

  test('manual abort: Aborted at once, naming spec.rollout.abortVersion', () => {
    const d = decideCanary(input({ settings: { ...SETTINGS, abort: true }, status: running({ step: 1, weight: 50 }) }));
    assert.equal(d.status.phase, 'Aborted');
    assert.equal(d.canaryReplicas, 0);
    assert.equal(d.status.message, 'canary of version 2 aborted by spec.rollout.abortVersion at step 2 of 2 (50%)');
  });

  test('after the last step passes: Promoting; Succeeded only once the stable Deployment is rolled out on the canary template', () => {
    const big = { replicas: 4, readyReplicas: 4, rolledOut: true, templateHash: 'h2' };
    const last = decideCanary(input({ status: running({ step: 1, weight: 50 }), canaryTrack: big, analysis: analysis('pass') }));
    assert.equal(last.status.phase, 'Promoting');
    assert.deepEqual(last.events, [{ type: 'CanaryPromoting', version: '2', manual: false }]);
    const rolling = decideCanary(
      input({ status: last.status, stableTrack: { replicas: 4, readyReplicas: 4, rolledOut: false, templateHash: 'h2' } }),
    );
    assert.equal(rolling.status.phase, 'Promoting', 'the stable Deployment is still rolling');
    assert.equal(rolling.canaryReplicas, 4, 'the canary serves until then');
    const oldTemplate = decideCanary(input({ status: last.status }));
    assert.equal(oldTemplate.status.phase, 'Promoting', 'rolled out, but still on the old template');
    const done = decideCanary(
      input({ status: last.status, stableTrack: { replicas: 4, readyReplicas: 4, rolledOut: true, templateHash: 'h2' } }),
    );
    assert.equal(done.status.phase, 'Succeeded');
    assert.equal(done.canaryReplicas, 0);
    assert.equal(done.stableTemplate, 'desired');
    assert.equal(done.currentVersion, '2');
    assert.equal(done.updatingVersion, undefined);
    assert.equal(done.status.weight, 100);
    assert.equal(done.status.effectiveWeight, 100);
    assert.deepEqual([done.history[0]?.outcome, done.history[0]?.reason], ['Succeeded', 'CanaryPromoted']);
    assert.deepEqual(done.events, [{ type: 'CanarySucceeded', version: '2' }]);
    assert.equal(done.requeueAfterMs, undefined);
    const after = decideCanary(
      input({
        status: done.status,
        history: done.history,
        stableTrack: { replicas: 4, readyReplicas: 4, rolledOut: true, templateHash: 'h2' },
      }),
    );
    assert.deepEqual([after.status.phase, after.events, after.currentVersion], ['Succeeded', [], '2'], 'stays Succeeded');
  });

  test('a spec change during a canary restarts it with the new version; the old entry is Superseded', () => {
    const d = decideCanary(
      input({
        desired: { model: { version: '3', uri: 'https://m/3.onnx' }, hash: 'h3' },
        status: running({ step: 1, weight: 50 }),
        canaryTrack: { replicas: 4, readyReplicas: 4, rolledOut: true, templateHash: 'h2' },
      }),
    );
    assert.deepEqual([d.status.version, d.status.step, d.status.templateHash, d.status.phase], ['3', 0, 'h3', 'Progressing']);
    assert.equal(d.canaryReplicas, 1);
    assert.deepEqual(
      d.history.map((h) => [h.version, h.outcome]),
      [
        ['3', 'Progressing'],
        ['2', 'Superseded'],
        ['1', 'Succeeded'],
      ],
    );
    assert.equal(d.events[0]?.type, 'CanaryStarted');
  });

  test('an aborted canary is not retried until the spec changes', () => {
    const aborted = decideCanary(input({ analysis: analysis('fail', 'error rate 8.0% > 1% over 412 requests') }));
    const again = decideCanary(input({ status: aborted.status, history: aborted.history, canaryTrack: undefined }));
    assert.equal(again.status.phase, 'Aborted');
    assert.equal(again.canaryReplicas, 0);
    assert.deepEqual(again.events, []);
    assert.equal(again.failedVersion, '2');
    assert.equal(again.requeueAfterMs, undefined);
    const changed = decideCanary(
      input({
        desired: { model: { version: '3', uri: 'https://m/3.onnx' }, hash: 'h3' },
        status: aborted.status,
        history: aborted.history,
      }),
    );
    assert.equal(changed.status.phase, 'Progressing');
    assert.deepEqual(
      changed.history.map((h) => [h.version, h.outcome]),
      [
        ['3', 'Progressing'],
        ['2', 'Aborted'],
        ['1', 'Succeeded'],
      ],
    );
  });

  test('an operator restart resumes at the recorded step and step start (status is the memory)', () => {
    const status = running({ step: 1, weight: 50, stepStartedAt: ago(30_000) });
    const d = decideCanary(input({ status, canaryTrack: { replicas: 4, readyReplicas: 4, rolledOut: true, templateHash: 'h2' } }));
    assert.deepEqual([d.status.step, d.status.stepStartedAt, d.status.phase], [1, status.stepStartedAt, 'Progressing']);
    assert.deepEqual(d.events, []);
    assert.equal(d.canaryReplicas, 4);
    assert.equal(d.history.length, 2, 'the same history entry');
  });

  test('aborted while promoting: the canary keeps serving until the stable track is back on its template', () => {
    const promoting = running({ phase: 'Promoting', step: 1, weight: 50 });
    const stableRolling = { replicas: 4, readyReplicas: 2, rolledOut: false, templateHash: 'h2' };
    const d = decideCanary(
      input({
        status: promoting,
        stableTrack: stableRolling,
        canaryTrack: { replicas: 4, readyReplicas: 4, rolledOut: true, templateHash: 'h2' },
        failure: { reason: 'CrashLoop', message: 'container serve restarted 3 times', since: undefined },
      }),
    );
    assert.equal(d.status.phase, 'Aborted');
    assert.equal(d.stableTemplate, 'stable');
    assert.equal(d.canaryReplicas, 4);
    assert.equal(d.requeueAfterMs, PROMOTION_RECHECK_MS);
    assert.match(d.status.message ?? '', /failed while promoting/);
    const restored = decideCanary(input({ status: d.status, history: d.history }));
    assert.equal(restored.canaryReplicas, 0);
  });
});
