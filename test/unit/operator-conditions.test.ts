import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeConditions } from '../../operator/src/status/conditions.ts';
import { computeConditions } from '../../operator/src/status/compute.ts';
import { deploymentWith } from './operator-fixtures.ts';

const T0 = new Date('2026-11-23T10:00:00Z');
const T1 = new Date('2026-11-23T11:00:00Z');

test('lastTransitionTime moves only when the status value changes', () => {
  const first = mergeConditions(undefined, [{ type: 'Ready', status: 'False', reason: 'RollingOut', message: 'a' }], 1, T0);
  const same = mergeConditions(first, [{ type: 'Ready', status: 'False', reason: 'Other', message: 'b' }], 2, T1);
  assert.equal(same[0]?.lastTransitionTime, T0.toISOString());
  assert.equal(same[0]?.observedGeneration, 2);
  assert.equal(same[0]?.reason, 'Other');
  const flipped = mergeConditions(same, [{ type: 'Ready', status: 'True', reason: 'Ready', message: '' }], 2, T1);
  assert.equal(flipped[0]?.lastTransitionTime, T1.toISOString());
});

const byType = (cs: ReturnType<typeof computeConditions>) => Object.fromEntries(cs.map((c) => [c.type, c]));

test('succeeded and available -> Ready', () => {
  const c = byType(
    computeConditions({
      head: { version: '2', uri: 'u', templateHash: 'h', startedAt: '', outcome: 'Succeeded' },
      currentVersion: '2',
      deployment: deploymentWith('h', { complete: true }),
      blocking: undefined,
    }),
  );
  assert.equal(c.Ready?.status, 'True');
  assert.equal(c.Available?.status, 'True');
  assert.equal(c.Progressing?.status, 'False');
  assert.equal(c.Degraded?.status, 'False');
});

test('rolled back -> Degraded True, Ready False, still Available', () => {
  const c = byType(
    computeConditions({
      head: {
        version: '3',
        uri: 'u',
        templateHash: 'h3',
        startedAt: '',
        outcome: 'RolledBack',
        reason: 'FetchFailed',
        message: 'version 3 failed: x; serving version 2',
      },
      currentVersion: '2',
      deployment: deploymentWith('h2', { complete: true }),
      blocking: undefined,
    }),
  );
  assert.equal(c.Degraded?.status, 'True');
  assert.equal(c.Degraded?.reason, 'RolledBack');
  assert.equal(c.Degraded?.message, 'version 3 failed: x; serving version 2');
  assert.equal(c.Ready?.status, 'False');
  assert.equal(c.Available?.status, 'True');
});

test('a blocking problem (name conflict) -> Degraded with its reason', () => {
  const c = byType(
    computeConditions({
      head: undefined,
      currentVersion: undefined,
      deployment: undefined,
      blocking: { reason: 'ResourceConflict', message: 'Service iris already exists' },
    }),
  );
  assert.equal(c.Degraded?.status, 'True');
  assert.equal(c.Degraded?.reason, 'ResourceConflict');
  assert.equal(c.Ready?.status, 'False');
  assert.equal(c.Available?.status, 'False');
});
