import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { combinedLine, formatSummary, parseTapSummary, sumSummaries } from '../summary.ts';

describe('parseTapSummary', () => {
  it('reads the TAP reporter summary', () => {
    const tap = [
      'TAP version 13',
      '# Subtest: a',
      'ok 1 - a',
      '1..1',
      '# tests 7',
      '# suites 2',
      '# pass 5',
      '# fail 1',
      '# cancelled 1',
      '# skipped 0',
      '# todo 0',
      '# duration_ms 12.5',
    ].join('\n');
    assert.deepEqual(parseTapSummary(tap), { tests: 7, suites: 2, pass: 5, fail: 1, cancelled: 1, skipped: 0, todo: 0 });
  });

  it('reads the spec reporter summary and keeps the last block', () => {
    const spec = ['ℹ tests 1', 'ℹ pass 1', 'ℹ fail 0', 'later:', 'ℹ tests 3', 'ℹ pass 2', 'ℹ fail 1'].join('\n');
    const s = parseTapSummary(spec);
    assert.equal(s.pass, 2);
    assert.equal(s.fail, 1);
    assert.equal(s.tests, 3);
  });

  it('throws without a summary (crashed run)', () => {
    assert.throws(() => parseTapSummary('TAP version 13\nnot ok 1 - x\n'), /no test summary/);
  });

  it('formats the combined line', () => {
    assert.equal(combinedLine(12, 0), '12 passed, 0 failed');
  });
});

describe('combined summary', () => {
  it('sums phases and prints them the way the spec reporter does', () => {
    const a = parseTapSummary('# tests 3\n# suites 1\n# pass 3\n# fail 0\n');
    const b = parseTapSummary('# tests 4\n# pass 2\n# fail 1\n# cancelled 1\n');
    const text = formatSummary(sumSummaries([a, b]));
    assert.equal(text, 'ℹ tests 7\nℹ suites 1\nℹ pass 5\nℹ fail 1\nℹ cancelled 1\nℹ skipped 0\nℹ todo 0');
    assert.deepEqual(parseTapSummary(text), sumSummaries([a, b]));
  });
});
