import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSubset, parseQuantity } from '../../operator/src/kube/diff.ts';

test('fields added by the server are ignored', () => {
  assert.ok(isSubset({ spec: { replicas: 2 } }, { spec: { replicas: 2, paused: false }, status: {} }));
});

test('a changed or missing field is a difference', () => {
  assert.equal(isSubset({ spec: { replicas: 2 } }, { spec: { replicas: 3 } }), false);
  assert.equal(isSubset({ spec: { image: 'a' } }, { spec: {} }), false);
  assert.equal(isSubset({ a: [1, 2] }, { a: [1, 2, 3] }), false, 'arrays must have the same length');
  assert.equal(isSubset({ a: [{ x: 1 }] }, { a: [{ x: 1, y: 2 }] }), true);
});

test('quantities compare by value', () => {
  assert.ok(isSubset({ cpu: '1000m' }, { cpu: '1' }));
  assert.ok(isSubset({ memory: '1Gi' }, { memory: '1024Mi' }));
  assert.equal(isSubset({ cpu: '500m' }, { cpu: '1' }), false);
  assert.equal(isSubset({ image: 'runtime:1' }, { image: 'runtime:2' }), false);
  assert.equal(parseQuantity('250m'), 0.25);
  assert.equal(parseQuantity('nginx'), undefined);
});
