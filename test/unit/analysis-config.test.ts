/** spec.rollout.canary.analysis parsed once: defaults, percents, durations, and refusals naming the field. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAnalysisConfig, parsePercent, parseSpecDuration } from '../../operator/src/analysis/config.ts';
import { AnalysisSpecError } from '../../operator/src/analysis/errors.ts';

test('an omitted analysis takes the safe defaults', () => {
  const expected = {
    intervalMs: 30_000,
    minRequests: 50,
    maxErrorRate: 0.01,
    maxP99LatencyMs: undefined,
    maxP99LatencyIncrease: 1,
    maxClientErrorRateIncrease: undefined,
  };
  assert.deepEqual(parseAnalysisConfig(undefined), expected);
  assert.deepEqual(parseAnalysisConfig({}), expected);
});

test('every field parsed into numbers', () => {
  assert.deepEqual(
    parseAnalysisConfig({
      interval: '1m30s',
      minRequests: 200,
      maxErrorRate: '0.5%',
      maxP99LatencyMs: 250,
      maxP99LatencyIncrease: '50%',
      maxClientErrorRateIncrease: '5%',
    }),
    {
      intervalMs: 90_000,
      minRequests: 200,
      maxErrorRate: 0.005,
      maxP99LatencyMs: 250,
      maxP99LatencyIncrease: 0.5,
      maxClientErrorRateIncrease: 0.05,
    },
  );
});

test('durations: the CRD forms, compound, and refusals', () => {
  assert.equal(parseSpecDuration('5s', 'f'), 5_000);
  assert.equal(parseSpecDuration('5m', 'f'), 300_000);
  assert.equal(parseSpecDuration('1h', 'f'), 3_600_000);
  assert.equal(parseSpecDuration('1h2m3s', 'f'), 3_723_000);
  for (const bad of ['', '5', 's', '5ms', '1.5s', '-1s', '5 s', '5d', 'x'.repeat(40)]) {
    assert.throws(
      () => parseSpecDuration(bad, 'spec.x'),
      (e: unknown) => e instanceof AnalysisSpecError && e.message.startsWith('spec.x: '),
      bad,
    );
  }
});

test('percents: the CRD pattern only', () => {
  assert.equal(parsePercent('1%', 'f'), 0.01);
  assert.equal(parsePercent('150%', 'f'), 1.5);
  for (const bad of ['1', '%', '-1%', '1.%', '.5%', '1e2%', ' 1%', '1 %']) {
    assert.throws(() => parsePercent(bad, 'f'), AnalysisSpecError, bad);
  }
});

test('refusals name the field', () => {
  const cases: Array<[Parameters<typeof parseAnalysisConfig>[0], string]> = [
    [{ interval: '4s' }, 'spec.rollout.canary.analysis.interval: "4s" is shorter than 5s'],
    [{ interval: 'soon' }, 'spec.rollout.canary.analysis.interval: "soon" is not a duration like 30s, 5m, 1h or 1m30s'],
    [{ minRequests: 0 }, 'spec.rollout.canary.analysis.minRequests: 0 is not a whole number of at least 1'],
    [{ minRequests: 2.5 }, 'spec.rollout.canary.analysis.minRequests: 2.5 is not a whole number of at least 1'],
    [{ maxErrorRate: '1' }, 'spec.rollout.canary.analysis.maxErrorRate: "1" is not a percentage like "1%" or "0.5%"'],
    [{ maxP99LatencyMs: 0 }, 'spec.rollout.canary.analysis.maxP99LatencyMs: 0 is not a positive number of milliseconds'],
    [{ maxP99LatencyIncrease: 'x%' }, 'spec.rollout.canary.analysis.maxP99LatencyIncrease: "x%" is not a percentage like "1%" or "0.5%"'],
    [
      { maxClientErrorRateIncrease: '5' },
      'spec.rollout.canary.analysis.maxClientErrorRateIncrease: "5" is not a percentage like "1%" or "0.5%"',
    ],
  ];
  for (const [spec, message] of cases) assert.throws(() => parseAnalysisConfig(spec), { name: 'AnalysisSpecError', message });
});
