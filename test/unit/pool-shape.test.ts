/**
 * The default pool shape by model size (runtime/src/execution/cpu.ts): small models get one
 * single-threaded worker per spare CPU, as before; large ones fewer workers with the spare CPUs
 * split evenly as intra-op threads, so the pool holds about POOL_WEIGHTS_BUDGET_BYTES of weights.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPoolShape, defaultWorkers, POOL_WEIGHTS_BUDGET_BYTES } from '../../runtime/src/execution/cpu.ts';

const MiB = 2 ** 20;
const IRIS = 1_200;
const MLP = 16.1 * MiB;
const RESNET18 = 44.6 * MiB;
const BIG = 96.1 * MiB;

test('small models: CPU limit - 1 single-threaded workers, as defaultWorkers', () => {
  for (const cpus of [1, 1.5, 2, 3, 4, 8, 16, 64]) {
    assert.deepEqual(defaultPoolShape(cpus, IRIS), { workers: defaultWorkers(cpus), intraOpThreads: 1 }, `${cpus} CPUs`);
  }
  assert.deepEqual(defaultPoolShape(8, MLP), { workers: 7, intraOpThreads: 1 }, '7 copies of 16 MiB fit 128 MiB');
  assert.deepEqual(defaultPoolShape(0, IRIS), { workers: 1, intraOpThreads: 1 });
  assert.deepEqual(defaultPoolShape(4, 0), { workers: 3, intraOpThreads: 1 }, 'an unreadable file (size 0) keeps the old default');
});

test('large models: fewer workers, the spare CPUs split evenly into intra-op threads', () => {
  // 2 CPUs: one spare CPU, one worker, whatever the size (the default the RSS target is measured at)
  for (const size of [MLP, RESNET18, BIG, 4096 * MiB]) assert.deepEqual(defaultPoolShape(2, size), { workers: 1, intraOpThreads: 1 });
  // resnet18 fits twice in the budget; 3 spare CPUs do not split in 2, so one worker with 3 threads
  assert.deepEqual(defaultPoolShape(4, RESNET18), { workers: 1, intraOpThreads: 3 });
  assert.deepEqual(defaultPoolShape(5, RESNET18), { workers: 2, intraOpThreads: 2 });
  assert.deepEqual(defaultPoolShape(9, RESNET18), { workers: 2, intraOpThreads: 4 });
  assert.deepEqual(defaultPoolShape(9, BIG), { workers: 1, intraOpThreads: 8 });
  assert.deepEqual(defaultPoolShape(17, MLP), { workers: 4, intraOpThreads: 4 }, '16 spare CPUs, 7 copies fit: 4 x 4');
});

test('the pool never holds more weight copies than the budget allows (beyond the first)', () => {
  for (const cpus of [2, 3, 4, 6, 8, 12, 16, 33]) {
    for (const size of [IRIS, MLP, 30 * MiB, RESNET18, 70 * MiB, BIG, 1024 * MiB]) {
      const { workers, intraOpThreads } = defaultPoolShape(cpus, size);
      assert.ok(workers >= 1 && intraOpThreads >= 1);
      assert.ok(workers === 1 || workers * size <= POOL_WEIGHTS_BUDGET_BYTES, `${cpus} CPUs, ${size} B: ${workers} workers`);
      assert.equal(workers * intraOpThreads, Math.max(1, Math.floor(cpus) - 1), 'every spare CPU has an onnxruntime thread');
    }
  }
});
