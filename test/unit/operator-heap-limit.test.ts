// The V8 heap limit against the container's memory limit (operator/src/heap-limit.ts), and the
// benchmark's copy of the chart's process settings (bench/operator/chart-settings.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { totalmem } from 'node:os';
import { describe, test } from 'node:test';
import { processSettingsFrom } from '../../bench/operator/chart-settings.ts';
import { MAX_SAFE_HEAP_SHARE, checkHeapLimit, containerMemoryLimit, oldSpaceLimitMiB } from '../../operator/src/heap-limit.ts';

const MiB = 1024 * 1024;

describe('containerMemoryLimit', () => {
  test('a cgroup limit is the limit', () => {
    assert.equal(containerMemoryLimit(320 * MiB), 320 * MiB);
  });
  test("libuv's ways of saying 'no limit' are no limit", () => {
    assert.equal(containerMemoryLimit(0), undefined);
    assert.equal(containerMemoryLimit(2 ** 64), undefined, 'UINT64_MAX');
    assert.equal(containerMemoryLimit(9223372036854771712), undefined, 'cgroup v1 "unlimited" (LONG_MAX rounded to a page)');
    assert.equal(containerMemoryLimit(Number.NaN), undefined);
  });
});

describe('oldSpaceLimitMiB', () => {
  test('a percentage of the limit in whole MiB, truncated', () => {
    assert.equal(oldSpaceLimitMiB(320 * MiB, 50), 160);
    assert.equal(oldSpaceLimitMiB(320 * MiB + MiB - 1, 50), 160, 'the part of a MiB is dropped first');
    assert.equal(oldSpaceLimitMiB(333 * MiB, 50), 166);
  });
  test('a percentage outside (0, 100] is refused', () => {
    assert.throws(() => oldSpaceLimitMiB(MiB, 0), RangeError);
    assert.throws(() => oldSpaceLimitMiB(MiB, 101), RangeError);
  });
  test("gives the same heap as Node's --max-old-space-size-percentage on this machine", () => {
    // No cgroup limit here, so Node takes the percentage of total memory; same rule either way.
    const available = containerMemoryLimit(process.constrainedMemory()) ?? totalmem();
    const heapLimit = (flag: string) =>
      Number(execFileSync(process.execPath, [flag, '-p', 'require("v8").getHeapStatistics().heap_size_limit'], { encoding: 'utf8' }));
    assert.equal(heapLimit('--max-old-space-size-percentage=5'), heapLimit(`--max-old-space-size=${oldSpaceLimitMiB(available, 5)}`));
  });
});

describe('checkHeapLimit', () => {
  test('a heap limit within the safe share of the container limit passes', () => {
    assert.deepEqual(checkHeapLimit({ constrainedBytes: 320 * MiB, heapSizeLimitBytes: 166 * MiB }), {
      containerLimitMiB: 320,
      heapLimitMiB: 166,
    });
  });
  test('a heap limit above the safe share warns, naming both sizes and the flag', () => {
    const r = checkHeapLimit({ constrainedBytes: 320 * MiB, heapSizeLimitBytes: 4096 * MiB });
    assert.equal(r.heapLimitMiB, 4096);
    assert.match(r.warning ?? '', /4096 MiB.*above 75%.*320 MiB.*--max-old-space-size-percentage=50/);
    assert.equal(MAX_SAFE_HEAP_SHARE, 0.75);
  });
  test('without a container limit there is nothing to check', () => {
    assert.deepEqual(checkHeapLimit({ constrainedBytes: 2 ** 64, heapSizeLimitBytes: 4096 * MiB }), {
      containerLimitMiB: undefined,
      heapLimitMiB: 4096,
    });
  });
});

describe("the benchmark's chart settings", () => {
  const container = {
    name: 'operator',
    env: [
      { name: 'NODE_OPTIONS', value: '--disable-warning=ExperimentalWarning --max-old-space-size-percentage=50 --max-semi-space-size=2' },
      { name: 'MALLOC_ARENA_MAX', value: '2' },
      { name: 'MODELSHIP_RUNTIME_IMAGE', value: 'x' },
    ],
    resources: { limits: { memory: '320Mi' } },
  };
  test('the heap percentage becomes MiB of the chart limit; only process-level variables are kept', () => {
    assert.deepEqual(processSettingsFrom(container).env, {
      NODE_OPTIONS: '--disable-warning=ExperimentalWarning --max-old-space-size=160 --max-semi-space-size=2',
      MALLOC_ARENA_MAX: '2',
    });
  });
  test('a heap percentage without a memory limit is an error, not a silent uncapped run', () => {
    assert.throws(() => processSettingsFrom({ ...container, resources: {} }), /no memory limit/);
  });
});
