import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HistoryEntry, ModelSpec } from '../../operator/src/api/types.generated.ts';
import { decideRollout, rolloutComplete, trimHistory, type RolloutInput } from '../../operator/src/rollout/decide.ts';
import type { FailureSignal } from '../../operator/src/rollout/signals.ts';
import { deploymentWith, rolloutInput } from './operator-fixtures.ts';

const NOW = new Date('2026-11-23T12:00:00Z');
const v = (version: string): ModelSpec => ({ version, uri: `https://m/${version}.onnx`, name: 'iris' });
const entry = (version: string, hash: string, outcome: HistoryEntry['outcome']): HistoryEntry => ({
  version,
  uri: `https://m/${version}.onnx`,
  templateHash: hash,
  startedAt: '2026-11-23T11:00:00.000Z',
  outcome,
  ...(outcome === 'Progressing' ? {} : { finishedAt: '2026-11-23T11:05:00.000Z' }),
});
const FETCH_FAILED: FailureSignal = {
  reason: 'FetchFailed',
  message: 'model fetch failed: checksum mismatch for model.onnx',
  since: undefined,
};

const input = (over: Partial<RolloutInput>): RolloutInput => rolloutInput(v('2'), NOW, over);

test('first deployment starts a Progressing entry and runs the desired template', () => {
  const d = decideRollout(input({ desiredModel: v('1'), desiredHash: 'h1' }));
  assert.deepEqual(d.template, { kind: 'desired' });
  assert.equal(d.history.length, 1);
  assert.equal(d.history[0]?.outcome, 'Progressing');
  assert.equal(d.history[0]?.version, '1');
  assert.equal(d.history[0]?.templateHash, 'h1');
  assert.equal(d.updatingVersion, '1');
  assert.equal(d.currentVersion, undefined);
  assert.deepEqual(d.events, [{ type: 'RolloutStarted', version: '1' }]);
});

test('completion: all replicas updated and available on the desired template -> Succeeded, currentVersion moves', () => {
  const d = decideRollout(
    input({
      history: [entry('2', 'h2', 'Progressing'), entry('1', 'h1', 'Succeeded')],
      currentVersion: '1',
      deployedHash: 'h2',
      deployment: deploymentWith('h2', { complete: true }),
    }),
  );
  assert.equal(d.history[0]?.outcome, 'Succeeded');
  assert.equal(d.history[0]?.finishedAt, NOW.toISOString());
  assert.equal(d.currentVersion, '2');
  assert.equal(d.updatingVersion, undefined);
  assert.deepEqual(d.events, [{ type: 'RolloutSucceeded', version: '2' }]);
});

test('a slow rollout without a hard signal stays Progressing', () => {
  const d = decideRollout(
    input({ history: [entry('2', 'h2', 'Progressing')], deployedHash: 'h2', deployment: deploymentWith('h2', { complete: false }) }),
  );
  assert.equal(d.history[0]?.outcome, 'Progressing');
  assert.equal(d.events.length, 0);
});

test('completion is not believed while the Deployment has not observed its generation', () => {
  const dep = deploymentWith('h2', { complete: true });
  dep.status!.observedGeneration = 2;
  assert.equal(rolloutComplete(dep), false);
  const d = decideRollout(input({ history: [entry('2', 'h2', 'Progressing')], deployedHash: 'h2', deployment: dep }));
  assert.equal(d.history[0]?.outcome, 'Progressing');
});

test('old replicas still present is not complete', () => {
  const dep = deploymentWith('h2', { complete: true });
  dep.status!.replicas = 3;
  assert.equal(rolloutComplete(dep), false);
});

test('hard failure with a good version -> RolledBack to it, failedVersion set, template is the old model', () => {
  const d = decideRollout(
    input({
      history: [entry('2', 'h2', 'Progressing'), entry('1', 'h1', 'Succeeded')],
      currentVersion: '1',
      deployedHash: 'h2',
      failure: FETCH_FAILED,
      deployment: deploymentWith('h2'),
    }),
  );
  assert.equal(d.history[0]?.outcome, 'RolledBack');
  assert.equal(d.history[0]?.reason, 'FetchFailed');
  assert.equal(d.history[0]?.message, 'version 2 failed: model fetch failed: checksum mismatch for model.onnx; serving version 1');
  assert.equal(d.failedVersion, '2');
  assert.equal(d.currentVersion, '1');
  assert.equal(d.updatingVersion, undefined);
  assert.equal(d.template.kind, 'rollback');
  if (d.template.kind === 'rollback') {
    assert.equal(d.template.model.version, '1');
    assert.equal(d.template.model.uri, 'https://m/1.onnx');
  }
  assert.equal(d.events[0]?.type, 'RolledBack');
});

test('after a rollback the failed version is not retried: same decision, no events', () => {
  const history = [{ ...entry('2', 'h2', 'RolledBack'), reason: 'FetchFailed' }, entry('1', 'h1', 'Succeeded')];
  const d = decideRollout(
    input({ history, currentVersion: '1', deployedHash: 'h1', deployment: deploymentWith('h1', { complete: true }) }),
  );
  assert.equal(d.template.kind, 'rollback');
  assert.deepEqual(d.history, history);
  assert.equal(d.events.length, 0);
  assert.equal(d.failedVersion, '2');
});

test('operator restart after a rollback (Deployment already on the old template) keeps the rollback', () => {
  const history = [entry('2', 'h2', 'RolledBack'), entry('1', 'h1', 'Succeeded')];
  const d = decideRollout(
    input({
      history,
      currentVersion: '1',
      deployedHash: 'h1',
      deployment: deploymentWith('h1', { complete: true }),
      failure: FETCH_FAILED,
    }),
  );
  assert.equal(d.template.kind, 'rollback');
  assert.equal(d.events.length, 0);
});

test('spec change after a failure starts a new rollout and clears failedVersion', () => {
  const history = [entry('2', 'h2', 'RolledBack'), entry('1', 'h1', 'Succeeded')];
  const d = decideRollout(input({ desiredModel: v('3'), desiredHash: 'h3', history, currentVersion: '1', deployedHash: 'h1' }));
  assert.deepEqual(d.template, { kind: 'desired' });
  assert.equal(d.history[0]?.version, '3');
  assert.equal(d.history[0]?.outcome, 'Progressing');
  assert.equal(d.history[1]?.outcome, 'RolledBack', 'the old entry is kept as it was');
  assert.equal(d.failedVersion, undefined);
  assert.equal(d.updatingVersion, '3');
});

test('autoRollback false: Failed, stays on the failing template, nothing reverted', () => {
  const d = decideRollout(
    input({
      autoRollback: false,
      history: [entry('2', 'h2', 'Progressing'), entry('1', 'h1', 'Succeeded')],
      currentVersion: '1',
      deployedHash: 'h2',
      failure: FETCH_FAILED,
    }),
  );
  assert.equal(d.history[0]?.outcome, 'Failed');
  assert.match(d.history[0]?.message ?? '', /automatic rollback is off/);
  assert.deepEqual(d.template, { kind: 'desired' });
  assert.equal(d.failedVersion, '2');
  assert.equal(d.events[0]?.type, 'RolloutFailed');
});

test('first deployment failing: Failed with the reason, no rollback target, keeps the desired template', () => {
  const d = decideRollout(
    input({
      desiredModel: v('1'),
      desiredHash: 'h1',
      history: [entry('1', 'h1', 'Progressing')],
      deployedHash: 'h1',
      failure: FETCH_FAILED,
    }),
  );
  assert.equal(d.history[0]?.outcome, 'Failed');
  assert.match(d.history[0]?.message ?? '', /no earlier version to roll back to/);
  assert.deepEqual(d.template, { kind: 'desired' });
});

test('a Failed rollout that recovers (Deployment completes) becomes Succeeded', () => {
  const d = decideRollout(
    input({ history: [entry('2', 'h2', 'Failed')], deployedHash: 'h2', deployment: deploymentWith('h2', { complete: true }) }),
  );
  assert.equal(d.history[0]?.outcome, 'Succeeded');
  assert.equal(d.currentVersion, '2');
  assert.equal(d.failedVersion, undefined);
});

test('a new spec while a rollout progresses supersedes it', () => {
  const d = decideRollout(
    input({
      desiredModel: v('3'),
      desiredHash: 'h3',
      history: [entry('2', 'h2', 'Progressing'), entry('1', 'h1', 'Succeeded')],
      currentVersion: '1',
      deployedHash: 'h2',
    }),
  );
  assert.equal(d.history[0]?.version, '3');
  assert.equal(d.history[1]?.outcome, 'Superseded');
  assert.equal(d.history[1]?.finishedAt, NOW.toISOString());
});

test('operator restart mid-rollout: an existing Progressing entry for the desired hash is continued, not duplicated', () => {
  const history = [entry('2', 'h2', 'Progressing'), entry('1', 'h1', 'Succeeded')];
  const d = decideRollout(
    input({ history, currentVersion: '1', deployedHash: 'h2', deployment: deploymentWith('h2', { complete: false }) }),
  );
  assert.equal(d.history.length, 2);
  assert.equal(d.history[0]?.startedAt, history[0]?.startedAt);
  assert.equal(d.events.length, 0);
});

test('failure signals are ignored until the desired template is deployed', () => {
  const d = decideRollout(
    input({ history: [entry('2', 'h2', 'Progressing'), entry('1', 'h1', 'Succeeded')], deployedHash: 'h1', failure: FETCH_FAILED }),
  );
  assert.equal(d.history[0]?.outcome, 'Progressing');
});

test('manual rollback = spec back to an older version: a new rollout entry for it', () => {
  const history = [entry('2', 'h2', 'Succeeded'), entry('1', 'h1', 'Succeeded')];
  const d = decideRollout(input({ desiredModel: v('1'), desiredHash: 'h1', history, currentVersion: '2', deployedHash: 'h2' }));
  assert.equal(d.history[0]?.version, '1');
  assert.equal(d.history[0]?.outcome, 'Progressing');
  assert.deepEqual(d.template, { kind: 'desired' });
});

test('historyLimit trims oldest entries but keeps the newest Succeeded one', () => {
  const history = [entry('5', 'h5', 'Failed'), entry('4', 'h4', 'Failed'), entry('3', 'h3', 'Succeeded'), entry('2', 'h2', 'Succeeded')];
  const trimmed = trimHistory(history, 2);
  assert.deepEqual(
    trimmed.map((h) => h.version),
    ['5', '3'],
  );
  assert.deepEqual(trimHistory(history, 10).length, 4);
  const d = decideRollout(input({ desiredModel: v('6'), desiredHash: 'h6', historyLimit: 3, history }));
  assert.deepEqual(
    d.history.map((h) => h.version),
    ['6', '5', '3'],
  );
});

test('an aborted canary of the desired template, strategy now RollingUpdate: a new rollout entry, rolled out with failure tracking', () => {
  const d = decideRollout(
    input({
      history: [entry('2', 'h2', 'Aborted'), entry('1', 'h1', 'Succeeded')],
      currentVersion: '1',
      deployedHash: 'h1',
      deployment: deploymentWith('h1', { complete: true }),
    }),
  );
  assert.deepEqual(
    d.history.map((h) => [h.version, h.outcome]),
    [
      ['2', 'Progressing'],
      ['2', 'Aborted'],
      ['1', 'Succeeded'],
    ],
  );
  assert.deepEqual(d.template, { kind: 'desired' });
  assert.equal(d.updatingVersion, '2');
  assert.deepEqual(d.events, [{ type: 'RolloutStarted', version: '2' }]);
});
