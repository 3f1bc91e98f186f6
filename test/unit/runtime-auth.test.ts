import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeKeyCheck, presentedKey } from '../../runtime/src/http/auth.ts';
import { parseCpuMax } from '../../runtime/src/execution/cpu.ts';
import { HttpError } from '../../runtime/src/errors.ts';
import { pvcPath } from '../../runtime/src/fetch/pvc.ts';
import { redactUri } from '../../runtime/src/fetch/sink.ts';
import { defaultInflightBudget, parseMemoryLimit } from '../../runtime/src/execution/memory.ts';

test('API key: Bearer or x-api-key, 401 otherwise; no key = open', () => {
  const check = makeKeyCheck('abc');
  assert.doesNotThrow(() => check({ authorization: 'Bearer abc' }));
  assert.doesNotThrow(() => check({ authorization: 'bearer   abc' }));
  assert.doesNotThrow(() => check({ 'x-api-key': 'abc' }));
  for (const h of [{}, { authorization: 'Bearer abd' }, { authorization: 'abc' }, { 'x-api-key': 'ab' }, { 'x-api-key': 'abcd' }]) {
    assert.throws(
      () => check(h),
      (e: unknown) => e instanceof HttpError && e.status === 401,
      JSON.stringify(h),
    );
  }
  assert.throws(() => check({}), /missing API key/);
  assert.throws(() => check({ 'x-api-key': 'x' }), /invalid API key/);
  assert.doesNotThrow(() => makeKeyCheck(undefined)({}));
  assert.equal(presentedKey({ authorization: 'Basic abc' }), undefined);
});

test('cgroup v2 cpu.max parsing', () => {
  assert.equal(parseCpuMax('max 100000'), undefined);
  assert.equal(parseCpuMax('150000 100000'), 1.5);
  assert.equal(parseCpuMax('50000 100000'), 0.5);
  assert.equal(parseCpuMax(''), undefined);
  assert.equal(parseCpuMax(undefined), undefined);
});

test('fetch: URIs are logged without credentials or query; pvc paths stay in the claim', () => {
  assert.equal(redactUri('https://user:pw@h.example/m/model.onnx?X-Amz-Signature=s'), 'https://h.example/m/model.onnx?<redacted>');
  assert.equal(redactUri('http://h/m.onnx'), 'http://h/m.onnx');
  assert.equal(pvcPath('pvc://models/iris/3/model.onnx', '/mnt/pvc'), '/mnt/pvc/models/iris/3/model.onnx');
  assert.throws(() => pvcPath('pvc://models/../../etc/passwd', '/mnt/pvc'), /inside the claim/);
  assert.throws(() => pvcPath('pvc://models', '/mnt/pvc'), /pvc:\/\/<claim>\/<path>/);
});

test('default worker count keeps one CPU for the HTTP thread', async () => {
  const { defaultWorkers } = await import('../../runtime/src/execution/cpu.ts');
  assert.equal(defaultWorkers(1), 1);
  assert.equal(defaultWorkers(2), 1);
  assert.equal(defaultWorkers(4), 3);
  assert.equal(defaultWorkers(1.5), 1);
});

test('default intra-op threads share the CPUs left after the HTTP thread', async () => {
  const { defaultIntraOpThreads } = await import('../../runtime/src/execution/cpu.ts');
  assert.equal(defaultIntraOpThreads(2, 1), 1);
  assert.equal(defaultIntraOpThreads(4, 3), 1);
  assert.equal(defaultIntraOpThreads(8, 2), 3);
  assert.equal(defaultIntraOpThreads(1, 1), 1);
  assert.equal(defaultIntraOpThreads(16, 1), 15);
});

test('an empty or blank API key never turns authentication off', () => {
  assert.throws(() => makeKeyCheck(''), /empty/);
  assert.throws(() => makeKeyCheck('  '), /empty/);
});

test('cgroup memory limit parsing (v2 memory.max, v1 memory.limit_in_bytes)', () => {
  assert.equal(parseMemoryLimit('max'), undefined);
  assert.equal(parseMemoryLimit('536870912'), 536_870_912);
  assert.equal(parseMemoryLimit('9223372036854771712'), undefined, 'v1 "unlimited"');
  assert.equal(parseMemoryLimit(''), undefined);
  assert.equal(parseMemoryLimit(undefined), undefined);
  assert.equal(parseMemoryLimit('garbage'), undefined);
});

test('default in-flight budget: (limit - 128 MiB - workers x (model + 32 MiB)) / 3, 32 MiB floor; unlimited: a quarter of the machine, 1 GiB cap', () => {
  const Mi = 1024 ** 2;
  assert.equal(defaultInflightBudget(512 * Mi, 1 * Mi, 1), 117 * Mi);
  assert.equal(defaultInflightBudget(512 * Mi, 1 * Mi, 2), 106 * Mi);
  assert.equal(defaultInflightBudget(1024 * Mi, 50 * Mi, 2), Math.floor(((1024 - 128 - 164) * Mi) / 3));
  assert.equal(defaultInflightBudget(256 * Mi, 100 * Mi, 1), 32 * Mi, 'floor');
  assert.equal(defaultInflightBudget(undefined, 1 * Mi, 1, 2048 * Mi), 512 * Mi);
  assert.equal(defaultInflightBudget(undefined, 1 * Mi, 1, 64 * 1024 * Mi), 1024 * Mi, 'cap');
});
