/**
 * The operator's reader of the runtime's metrics text: fed the exposition the runtime's own Metrics
 * class writes (prom-client), and junk a misbehaving pod could send.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_LINE_CHARS, MAX_LINES, parsePrometheusText, parseSeriesLine } from '../../operator/src/analysis/prometheus-text.ts';
import { Metrics } from '../../runtime/src/http/metrics.ts';

const RUNTIME_BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Infinity];

test('reads inference requests by code and the summed latency buckets from the runtime exposition; metadata calls are left out', async () => {
  const m = new Metrics('iris', 'v2');
  for (let i = 0; i < 7; i++) m.end('v2', 200, 0.003);
  m.end('v1', 200, 0.2);
  m.end('v2', 500, undefined);
  m.end('v2', 503, undefined);
  m.end('v2', 404, undefined);
  m.end('v2', 499, undefined);
  // metadata calls (model metadata, server metadata) are not predictions: not judged
  for (let i = 0; i < 20; i++) m.count('metadata', 'v2', 200, 0.0001);
  m.count('metadata', 'v1', 404);
  m.count('metadata', 'v2', 503);
  const text = await m.text();
  assert.match(text, /^modelship_requests_total\{model="iris",version="v2",kind="metadata",protocol="v2",code="200"\} 20$/m);
  assert.match(text, /^modelship_request_duration_seconds_count\{model="iris",version="v2",kind="metadata",protocol="v2"\} 20$/m);
  const { sample, malformedLines, truncated } = parsePrometheusText(text);
  assert.equal(malformedLines, 0);
  assert.equal(truncated, false);
  assert.equal(sample.requests, 12);
  assert.equal(sample.serverErrors, 2);
  assert.equal(sample.clientErrors, 2);
  assert.deepEqual(
    sample.buckets.map(([le]) => le),
    RUNTIME_BOUNDS,
  );
  const at = (le: number) => sample.buckets.find(([b]) => b === le)?.[1];
  // v2 (7 at 3 ms) and v1 (1 at 200 ms) summed per bound
  assert.equal(at(0.0025), 0);
  assert.equal(at(0.005), 7);
  assert.equal(at(0.1), 7);
  assert.equal(at(0.25), 8);
  assert.equal(at(Infinity), 8);
});

test('a runtime that predates the kind label (no `kind`) is read as before; any kind but inference is skipped', () => {
  const text = [
    'modelship_requests_total{model="iris",version="1",protocol="v2",code="200"} 10',
    'modelship_requests_total{model="iris",version="1",protocol="v2",code="500"} 1',
    'modelship_requests_total{model="iris",version="1",kind="inference",protocol="v2",code="200"} 5',
    'modelship_requests_total{model="iris",version="1",kind="metadata",protocol="v2",code="500"} 7',
    'modelship_requests_total{model="iris",version="1",kind="health",protocol="v2",code="200"} 9',
    'modelship_request_duration_seconds_bucket{le="0.01",protocol="v2"} 4',
    'modelship_request_duration_seconds_bucket{le="+Inf",protocol="v2"} 10',
    'modelship_request_duration_seconds_bucket{le="0.01",kind="metadata",protocol="v2"} 100',
    'modelship_request_duration_seconds_bucket{le="+Inf",kind="metadata",protocol="v2"} 100',
  ].join('\n');
  const { sample, malformedLines } = parsePrometheusText(text);
  assert.equal(malformedLines, 0);
  assert.deepEqual(sample, {
    requests: 16,
    serverErrors: 1,
    clientErrors: 0,
    buckets: [
      [0.01, 4],
      [Infinity, 10],
    ],
  });
});

test('an idle runtime gives zero requests and an empty histogram', async () => {
  const { sample, malformedLines, isRuntimeExposition } = parsePrometheusText(await new Metrics('iris', 'v1').text());
  assert.deepEqual(sample, { requests: 0, serverErrors: 0, clientErrors: 0, buckets: [] });
  assert.equal(malformedLines, 0);
  assert.equal(isRuntimeExposition, true);
});

test('an answer that is not the runtime exposition is recognised as such', () => {
  assert.equal(parsePrometheusText('<html>404 page not found</html>').isRuntimeExposition, false);
  assert.equal(parsePrometheusText('# TYPE other_total counter\nother_total 5\n').isRuntimeExposition, false);
  assert.equal(parsePrometheusText('modelship_requests_total{code="200"} 1').isRuntimeExposition, true);
});

test('malformed lines of the two series are counted and skipped; other metrics are not looked at', () => {
  const text = [
    '# HELP modelship_requests_total x',
    'modelship_requests_total{code="200"} 10',
    'modelship_requests_total{code="500"} 2 1700000000000',
    'modelship_requests_total{code="abc"} 3', // bad code
    'modelship_requests_total{code="200"} -1', // negative counter
    'modelship_requests_total{code="200"} NaN',
    'modelship_requests_total{code="200"}', // no value
    'modelship_requests_total{code="200" 5', // unterminated labels
    'modelship_requests_total{code="2\\"00"} 5', // escaped quote, then a bad code
    'modelship_requests_total 5', // no code label
    'modelship_request_duration_seconds_bucket{le="x"} 1',
    'modelship_request_duration_seconds_bucket{le="-1"} 1',
    'modelship_request_duration_seconds_bucket{le="0.1"} 4',
    'modelship_request_duration_seconds_bucket{le="+Inf"} 5',
    'modelship_requests_totalish{code="500"} 100', // a different metric
    'other_metric{code="500"} garbage',
    'garbage line without anything',
    '',
  ].join('\n');
  const { sample, malformedLines } = parsePrometheusText(text);
  assert.equal(sample.requests, 12);
  assert.equal(sample.serverErrors, 2);
  assert.deepEqual(sample.buckets, [
    [0.1, 4],
    [Infinity, 5],
  ]);
  assert.equal(malformedLines, 9);
});

test('CRLF line ends, label escapes and spaces between labels are read', () => {
  const { sample, malformedLines } = parsePrometheusText(
    'modelship_requests_total{model="a\\\\b\\nc", code="404"} 3\r\nmodelship_requests_total{code="200",} 1\r\n',
  );
  assert.equal(malformedLines, 0);
  assert.equal(sample.requests, 4);
  assert.equal(sample.clientErrors, 3);
  assert.deepEqual(
    parseSeriesLine('m{a="x\\"y",b="z"} 1e+3')?.labels,
    new Map([
      ['a', 'x"y'],
      ['b', 'z'],
    ]),
  );
  assert.equal(parseSeriesLine('m{a="x\\"y",b="z"} 1e+3')?.value, 1000);
});

test('a histogram without a +Inf line gets one holding its largest count; falling counts are raised', () => {
  const { sample } = parsePrometheusText(
    [
      'modelship_request_duration_seconds_bucket{le="0.5"} 3',
      'modelship_request_duration_seconds_bucket{le="0.1"} 4',
      'modelship_request_duration_seconds_bucket{le="1"} 2',
    ].join('\n'),
  );
  assert.deepEqual(sample.buckets, [
    [0.1, 4],
    [0.5, 4],
    [1, 4],
    [Infinity, 4],
  ]);
});

test(`more than ${MAX_LINES} lines: the rest is not read and truncated is set`, () => {
  const line = 'modelship_requests_total{code="200"} 1\n';
  const { sample, truncated } = parsePrometheusText(line.repeat(MAX_LINES + 10));
  assert.equal(truncated, true);
  assert.equal(sample.requests, MAX_LINES);
});

test(`a series line over ${MAX_LINE_CHARS} characters is skipped as malformed`, () => {
  const long = `modelship_requests_total{code="500",junk="${'x'.repeat(MAX_LINE_CHARS)}"} 7\nmodelship_requests_total{code="200"} 1`;
  const { sample, malformedLines } = parsePrometheusText(long);
  assert.equal(malformedLines, 1);
  assert.equal(sample.requests, 1);
});

test('pathological text is read in linear time (no backtracking)', () => {
  const t0 = performance.now();
  parsePrometheusText(`modelship_requests_total{${'a="\\\\",'.repeat(500)}`.repeat(200));
  parsePrometheusText(`modelship_requests_total{code="${'\\'.repeat(4000)}\n`.repeat(200));
  parsePrometheusText('\n'.repeat(1_000_000));
  assert.ok(performance.now() - t0 < 2000, `took ${performance.now() - t0} ms`);
});

test('property: any text parses without throwing into non-negative finite counts', () => {
  const piece = fc.constantFrom(
    'modelship_requests_total',
    'modelship_request_duration_seconds_bucket',
    '{',
    '}',
    '"',
    '\\',
    ',',
    '=',
    ' ',
    '\n',
    'code',
    'le',
    '"500"',
    '"+Inf"',
    '1',
    '-2',
    'NaN',
    '+Inf',
    'e',
    '.',
  );
  fc.assert(
    fc.property(fc.array(fc.oneof(piece, fc.string()), { maxLength: 60 }), (parts) => {
      const { sample, malformedLines } = parsePrometheusText(parts.join(''));
      for (const n of [sample.requests, sample.serverErrors, sample.clientErrors, malformedLines]) assert.ok(Number.isFinite(n) && n >= 0);
      assert.ok(sample.serverErrors + sample.clientErrors <= sample.requests);
      let prev = -Infinity;
      let prevCount = 0;
      for (const [le, c] of sample.buckets) {
        assert.ok(le > prev && c >= prevCount && Number.isFinite(c));
        prev = le;
        prevCount = c;
      }
      if (sample.buckets.length > 0) assert.equal(prev, Infinity);
    }),
    { numRuns: 300 },
  );
});
