// Every transition of the canary state machine (operator/src/rollout/canary.ts), as one table: from
// each phase (and from no canary), each trigger the machine reads — time and a passing analysis, the
// last step passing, promoteVersion, abortVersion, both at once, paused / unpaused, a failing
// analysis, a hard failure, maxWait without a judgement, the stable track rolled out, a spec change —
// and the phase and events it must give. operator-canary.test.ts checks the details (messages,
// replicas, history) of the main ones; this table makes sure no (phase, trigger) pair is left out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CanaryStatus } from '../../operator/src/api/types.generated.ts';
import { decideCanary, type CanaryInput } from '../../operator/src/rollout/canary.ts';
import { CANARY_ENTRY, NOW, SETTINGS, STABLE_ENTRY, ago, analysis, input, running } from './operator-canary-fixtures.ts';

type Phase = CanaryStatus['phase'];
type Trigger =
  | 'nothing'
  | 'pass'
  | 'last step passes'
  | 'promote'
  | 'abort'
  | 'promote and abort'
  | 'paused'
  | 'unpaused'
  | 'analysis fails'
  | 'hard failure'
  | 'maxWait without a judgement'
  | 'stable rolled out on the canary template'
  | 'spec changes';

const MAX_WAIT_MS = 600_000;
const FAILURE = { reason: 'CrashLoop' as const, message: 'container serve restarted 3 times: exit code 1', since: undefined };
const BIG_CANARY = { replicas: 4, readyReplicas: 4, rolledOut: true, templateHash: 'h2' };
const STABLE_ON_CANARY = { replicas: 4, readyReplicas: 4, rolledOut: true, templateHash: 'h2' };

/** status.canary in `phase`, paused by the spec when Paused, with the history that goes with it. */
function from(phase: Phase | 'none'): Partial<CanaryInput> {
  if (phase === 'none') return { status: undefined, history: [STABLE_ENTRY], canaryTrack: undefined };
  const finished = { ...CANARY_ENTRY, finishedAt: ago(60_000) };
  const history =
    phase === 'Succeeded'
      ? [{ ...finished, outcome: 'Succeeded' as const, reason: 'CanaryPromoted' }, STABLE_ENTRY]
      : phase === 'Aborted'
        ? [{ ...finished, outcome: 'Aborted' as const, reason: 'CanaryAborted' }, STABLE_ENTRY]
        : [CANARY_ENTRY, STABLE_ENTRY];
  return {
    status: running({ phase, ...(phase === 'Succeeded' ? { weight: 100 } : phase === 'Aborted' ? { weight: 0 } : {}) }),
    history,
    settings: phase === 'Paused' ? { ...SETTINGS, paused: true } : SETTINGS,
    ...(phase === 'Succeeded' ? { stableTrack: STABLE_ON_CANARY, canaryTrack: undefined } : {}),
    ...(phase === 'Aborted' ? { canaryTrack: undefined } : {}),
  };
}

/** `base` with the trigger applied. */
function withTrigger(base: Partial<CanaryInput>, trigger: Trigger): CanaryInput {
  const i = input(base);
  const s = { ...i.settings, maxWaitMs: MAX_WAIT_MS, minRequests: 50 };
  switch (trigger) {
    case 'nothing':
      return { ...i, settings: s };
    case 'pass':
      return { ...i, settings: s, analysis: analysis('pass') };
    case 'last step passes':
      return {
        ...i,
        settings: s,
        status: i.status && { ...i.status, step: 1, weight: 50 },
        canaryTrack: i.canaryTrack && BIG_CANARY,
        analysis: analysis('pass'),
      };
    case 'promote':
      return { ...i, settings: { ...s, promote: true } };
    case 'abort':
      return { ...i, settings: { ...s, abort: true } };
    case 'promote and abort':
      return { ...i, settings: { ...s, promote: true, abort: true } };
    case 'paused':
      return { ...i, settings: { ...s, paused: true } };
    case 'unpaused':
      return { ...i, settings: { ...s, paused: false } };
    case 'analysis fails':
      return { ...i, settings: s, analysis: analysis('fail', 'error rate 8.0% > 1% over 412 requests') };
    case 'hard failure':
      return { ...i, settings: s, failure: FAILURE };
    case 'maxWait without a judgement':
      return {
        ...i,
        settings: s,
        status: i.status && { ...i.status, stepStartedAt: ago(MAX_WAIT_MS + 1000), unjudgedSince: ago(MAX_WAIT_MS + 1000) },
        analysis: { ...analysis('inconclusive', 'canary served 3 requests, fewer than the 50 needed to judge'), canary: window3() },
      };
    case 'stable rolled out on the canary template':
      return { ...i, settings: s, stableTrack: STABLE_ON_CANARY };
    case 'spec changes':
      return { ...i, settings: s, desired: { model: { version: '3', uri: 'https://m/3.onnx' }, hash: 'h3' } };
  }
}

const window3 = () => ({ requests: 3, serverErrors: 0, clientErrors: 0, p99Ms: 5 });

/** [from, trigger, phase after, event types, canary version after (default 2)]. */
type Row = [Phase | 'none', Trigger, Phase, string[], string?];
const TABLE: Row[] = [
  // no canary yet: a canary starts, whatever else the spec says
  ['none', 'nothing', 'Progressing', ['CanaryStarted']],
  ['none', 'paused', 'Paused', ['CanaryStarted', 'CanaryPaused']],
  ['none', 'promote', 'Promoting', ['CanaryStarted', 'CanaryPromoting']],
  ['none', 'abort', 'Aborted', ['CanaryStarted', 'CanaryAborted']],

  ['Progressing', 'nothing', 'Progressing', []],
  ['Progressing', 'pass', 'Progressing', ['CanaryStepAdvanced']],
  ['Progressing', 'last step passes', 'Promoting', ['CanaryPromoting']],
  ['Progressing', 'promote', 'Promoting', ['CanaryPromoting']],
  ['Progressing', 'abort', 'Aborted', ['CanaryAborted']],
  ['Progressing', 'promote and abort', 'Aborted', ['CanaryAborted']],
  ['Progressing', 'paused', 'Paused', ['CanaryPaused']],
  ['Progressing', 'analysis fails', 'Aborted', ['CanaryAborted']],
  ['Progressing', 'hard failure', 'Aborted', ['CanaryAborted']],
  ['Progressing', 'maxWait without a judgement', 'Aborted', ['CanaryAborted']],
  ['Progressing', 'stable rolled out on the canary template', 'Progressing', []],
  ['Progressing', 'spec changes', 'Progressing', ['CanaryStarted'], '3'],

  ['Paused', 'nothing', 'Paused', []],
  ['Paused', 'pass', 'Paused', []],
  ['Paused', 'unpaused', 'Progressing', ['CanaryResumed']],
  ['Paused', 'promote', 'Promoting', ['CanaryPromoting']],
  ['Paused', 'abort', 'Aborted', ['CanaryAborted']],
  ['Paused', 'promote and abort', 'Aborted', ['CanaryAborted']],
  ['Paused', 'analysis fails', 'Aborted', ['CanaryAborted']],
  ['Paused', 'hard failure', 'Aborted', ['CanaryAborted']],
  ['Paused', 'maxWait without a judgement', 'Paused', []],
  ['Paused', 'spec changes', 'Paused', ['CanaryStarted', 'CanaryPaused'], '3'],

  ['Promoting', 'nothing', 'Promoting', []],
  ['Promoting', 'stable rolled out on the canary template', 'Succeeded', ['CanarySucceeded']],
  ['Promoting', 'abort', 'Aborted', ['CanaryAborted']],
  ['Promoting', 'analysis fails', 'Aborted', ['CanaryAborted']],
  ['Promoting', 'hard failure', 'Aborted', ['CanaryAborted']],
  ['Promoting', 'paused', 'Promoting', []],
  ['Promoting', 'maxWait without a judgement', 'Promoting', []],
  ['Promoting', 'spec changes', 'Progressing', ['CanaryStarted'], '3'],

  // the end states hold until the spec changes
  ['Succeeded', 'nothing', 'Succeeded', []],
  ['Succeeded', 'abort', 'Succeeded', []],
  ['Succeeded', 'analysis fails', 'Succeeded', []],
  ['Succeeded', 'hard failure', 'Succeeded', []],
  ['Succeeded', 'paused', 'Succeeded', []],
  ['Succeeded', 'maxWait without a judgement', 'Succeeded', []],
  ['Succeeded', 'spec changes', 'Progressing', ['CanaryStarted'], '3'],

  ['Aborted', 'nothing', 'Aborted', []],
  ['Aborted', 'pass', 'Aborted', []],
  ['Aborted', 'promote', 'Aborted', []],
  ['Aborted', 'unpaused', 'Aborted', []],
  ['Aborted', 'maxWait without a judgement', 'Aborted', []],
  ['Aborted', 'spec changes', 'Progressing', ['CanaryStarted'], '3'],
];

describe('canary state machine: every (phase, trigger) pair', () => {
  for (const [phase, trigger, after, events, version = '2'] of TABLE) {
    test(`${phase} + ${trigger} → ${after}${events.length ? ` (${events.join(', ')})` : ''}`, () => {
      const d = decideCanary(withTrigger(from(phase), trigger));
      assert.equal(d.status.phase, after, d.status.message);
      assert.deepEqual(
        d.events.map((e) => e.type),
        events,
      );
      assert.equal(d.status.version, version);
      // invariants of every outcome
      const head = d.history[0];
      assert.equal(head?.version, version, 'the canary heads the history');
      const outcome = {
        Progressing: 'Progressing',
        Paused: 'Progressing',
        Promoting: 'Progressing',
        Succeeded: 'Succeeded',
        Aborted: 'Aborted',
      }[after];
      assert.equal(head?.outcome, outcome);
      if (after === 'Aborted') {
        assert.equal(d.canaryReplicas, 0, 'no canary after an abort (the stable track runs its template)');
        assert.equal(d.failedVersion, version);
        assert.equal(d.stableTemplate, 'stable');
      }
      if (after === 'Succeeded') {
        assert.equal(d.currentVersion, version);
        assert.equal(d.stableTemplate, 'desired');
      }
      if (after === 'Promoting') assert.equal(d.stableTemplate, 'desired');
      if (after === 'Progressing' || after === 'Paused') {
        assert.ok(d.canaryReplicas > 0, 'the canary runs');
        assert.equal(d.stableTemplate, 'stable');
        assert.equal(d.currentVersion, '1');
      }
      if (events.includes('CanaryStarted') && phase !== 'none') {
        assert.equal(d.history[1]?.version, '2', 'the earlier canary stays on record');
        if (phase !== 'Succeeded' && phase !== 'Aborted') assert.equal(d.history[1]?.outcome, 'Superseded');
      }
    });
  }

  test('the table covers every phase as a start and as an outcome, and every trigger', () => {
    const phases: Array<Phase | 'none'> = ['none', 'Progressing', 'Paused', 'Promoting', 'Succeeded', 'Aborted'];
    for (const p of phases)
      assert.ok(
        TABLE.some((r) => r[0] === p),
        `from ${p}`,
      );
    for (const p of phases.slice(1))
      assert.ok(
        TABLE.some((r) => r[2] === p),
        `to ${p}`,
      );
    const triggers = new Set(TABLE.map((r) => r[1]));
    assert.equal(triggers.size, 13);
    assert.ok(NOW instanceof Date);
  });
});
