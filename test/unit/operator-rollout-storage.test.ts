// A version's storage fields (spec.model.credentialsSecretRef, plainHTTP) are recorded in its
// status.history entry, and a rollback pulls the old version with ITS credentials, not with the
// ones of the version that failed (e.g. a new registry whose Secret has a wrong password).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HistoryEntry, ModelSpec } from '../../operator/src/api/types.generated.ts';
import { decideRollout, modelOf, type RolloutInput } from '../../operator/src/rollout/decide.ts';
import { deploymentWith, rolloutInput } from './operator-fixtures.ts';

const NOW = new Date('2026-11-30T12:00:00Z');
const v2: ModelSpec = { version: '2', uri: 'oci://new.example/iris:2', name: 'iris', credentialsSecretRef: { name: 'new-cred' } };
const v1Entry: HistoryEntry = {
  version: '1',
  uri: 'oci://old.example:5000/iris:1',
  credentialsSecretRef: { name: 'old-cred' },
  plainHTTP: true,
  templateHash: 'h1',
  startedAt: '2026-11-30T11:00:00.000Z',
  finishedAt: '2026-11-30T11:05:00.000Z',
  outcome: 'Succeeded',
};

const input = (over: Partial<RolloutInput>): RolloutInput => rolloutInput(v2, NOW, over);

test('a new rollout records the credentials Secret name and plainHTTP, and nothing when they are unset', () => {
  const d = decideRollout(input({ desiredModel: { ...v2, plainHTTP: false }, history: [v1Entry], currentVersion: '1' }));
  assert.deepEqual(d.history[0]?.credentialsSecretRef, { name: 'new-cred' });
  assert.equal(d.history[0]?.plainHTTP, false);
  const plain = decideRollout(input({ desiredModel: { version: '2', uri: 'https://m/2.onnx' } }));
  assert.equal('credentialsSecretRef' in (plain.history[0] ?? {}), false);
  assert.equal('plainHTTP' in (plain.history[0] ?? {}), false);
});

test('the rollback after a FetchFailed pulls the old version with its own Secret and plainHTTP', () => {
  const progressing: HistoryEntry = {
    ...v1Entry,
    version: '2',
    uri: v2.uri,
    credentialsSecretRef: { name: 'new-cred' },
    templateHash: 'h2',
    outcome: 'Progressing',
  };
  delete progressing.plainHTTP;
  delete progressing.finishedAt;
  const d = decideRollout(
    input({
      history: [progressing, v1Entry],
      currentVersion: '1',
      deployedHash: 'h2',
      failure: { reason: 'FetchFailed', message: 'model fetch failed: the registry refused the credentials (HTTP 401)', since: undefined },
      deployment: deploymentWith('h2'),
    }),
  );
  assert.equal(d.template.kind, 'rollback');
  if (d.template.kind === 'rollback') {
    assert.equal(d.template.model.uri, 'oci://old.example:5000/iris:1');
    assert.deepEqual(d.template.model.credentialsSecretRef, { name: 'old-cred' });
    assert.equal(d.template.model.plainHTTP, true);
  }
});

test('an entry without storage fields (an https model, or one recorded before they existed) rolls back without any', () => {
  const old: HistoryEntry = {
    version: '1',
    uri: 'https://m/1.onnx',
    templateHash: 'h1',
    startedAt: v1Entry.startedAt,
    outcome: 'Succeeded',
  };
  const m = modelOf(old, { ...v2, plainHTTP: true });
  assert.equal(m.uri, 'https://m/1.onnx');
  assert.equal('credentialsSecretRef' in m, false);
  assert.equal('plainHTTP' in m, false);
});
