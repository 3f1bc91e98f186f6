import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSubset, parseQuantity } from '../../operator/src/kube/diff.ts';

test('fields added by the server are ignored', () => {
  assert.ok(isSubset({ spec: { replicas: 2 } }, { spec: { replicas: 2, paused: false }, status: {} }));
});

test('a changed or missing field is a difference', () => {
  assert.equal(isSubset({ spec: { replicas: 2 } }, { spec: { replicas: 3 } }), false);
  assert.equal(isSubset({ spec: { image: 'a' } }, { spec: {} }), false);
  assert.equal(isSubset({ args: ['serve'] }, { args: ['serve', '--debug'] }), false, 'scalar lists must be equal');
  assert.equal(isSubset({ a: [{ x: 1 }] }, { a: [{ x: 1, y: 2 }] }), true);
  assert.equal(
    isSubset({ env: [{ name: 'A', value: '1' }] }, { env: [{ name: 'A', value: '2' }] }),
    false,
    'a changed entry is a difference',
  );
  assert.equal(
    isSubset(
      { env: [{ name: 'A', value: '1' }] },
      {
        env: [
          { name: 'B', value: '9' },
          { name: 'A', value: '1' },
        ],
      },
    ),
    true,
    'entries added by others are tolerated',
  );
  assert.equal(
    isSubset(
      {
        env: [
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ],
      },
      { env: [{ name: 'A', value: '1' }] },
    ),
    false,
    'a missing entry is a difference',
  );
});

test('quantities compare by value', () => {
  assert.ok(isSubset({ cpu: '1000m' }, { cpu: '1' }));
  assert.ok(isSubset({ memory: '1Gi' }, { memory: '1024Mi' }));
  assert.equal(isSubset({ cpu: '500m' }, { cpu: '1' }), false);
  assert.equal(isSubset({ image: 'runtime:1' }, { image: 'runtime:2' }), false);
  assert.equal(parseQuantity('250m'), 0.25);
  assert.equal(parseQuantity('nginx'), undefined);
});

test('ownsField reads managedFields of an Apply by the given manager', async () => {
  const { ownsField } = await import('../../operator/src/kube/diff.ts');
  const mf = [
    { manager: 'modelship-operator', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:replicas': {}, 'f:template': {} } } },
    { manager: 'kube-controller-manager', operation: 'Update', fieldsV1: { 'f:status': {} } },
  ];
  assert.equal(ownsField(mf, 'modelship-operator', ['spec', 'replicas']), true);
  assert.equal(ownsField(mf, 'modelship-operator', ['spec', 'paused']), false);
  assert.equal(ownsField(mf, 'someone-else', ['spec', 'replicas']), false);
  assert.equal(ownsField(undefined, 'modelship-operator', ['spec']), false);
});
