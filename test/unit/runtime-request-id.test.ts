/**
 * Request ids and W3C trace context (runtime/src/http/request-id.ts) and the access-log setting
 * (contract parseAccessLog, runtime config): pure parsing, every bad value refused or replaced,
 * never thrown.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseAccessLog } from '../../contract/runtime-contract.ts';
import { parseServe } from '../../runtime/src/config.ts';
import { ConfigError } from '../../runtime/src/errors.ts';
import { REQUEST_ID_MAX_LENGTH, requestIdentity, saneRequestId, traceIdOf } from '../../runtime/src/http/request-id.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${PARENT}-01`;

test('x-request-id: a printable, space-free value of 1-128 characters is kept; anything else is replaced', () => {
  for (const ok of ['abc', 'f3c1e1d2-7c7e-4b59-9a57-0f7c3d1a2b3c', 'req:42/a=b+c@d', 'x'.repeat(REQUEST_ID_MAX_LENGTH)]) {
    assert.equal(saneRequestId(ok), ok);
  }
  for (const bad of [
    undefined,
    '',
    'x'.repeat(REQUEST_ID_MAX_LENGTH + 1),
    'has space',
    'tab\there',
    'new\nline',
    'nul\u0000',
    'ümlaut',
    'del\u007f',
    'a, b', // a repeated header, as Node joins it
    ['a', 'b'],
  ]) {
    assert.equal(saneRequestId(bad), undefined, JSON.stringify(bad));
  }
  let n = 0;
  const newId = () => `gen-${++n}`;
  assert.equal(requestIdentity({ 'x-request-id': 'mine' }, newId).requestId, 'mine');
  assert.equal(requestIdentity({ 'x-request-id': 'not mine' }, newId).requestId, 'gen-1');
  assert.equal(requestIdentity({}, newId).requestId, 'gen-2');
  // the default generator: a UUID, a new one each time
  const a = requestIdentity({}).requestId;
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(requestIdentity({}).requestId, a);
});

test('traceparent: valid W3C values give their trace-id; invalid ones are ignored', () => {
  assert.equal(traceIdOf(VALID), TRACE);
  assert.equal(traceIdOf(`00-${TRACE}-${PARENT}-00`), TRACE);
  // a later version: read by its first 55 characters, followed by nothing or "-..."
  assert.equal(traceIdOf(`01-${TRACE}-${PARENT}-01`), TRACE);
  assert.equal(traceIdOf(`cc-${TRACE}-${PARENT}-01-future-field`), TRACE);
  for (const bad of [
    undefined,
    '',
    [VALID, VALID],
    `${VALID}, ${VALID}`, // repeated header
    `00-${TRACE}-${PARENT}-01-extra`, // version 00 has exactly 55 characters
    `cc-${TRACE}-${PARENT}-01x`, // a later version: the 56th character must be "-"
    `ff-${TRACE}-${PARENT}-01`, // version ff is invalid
    `00-${TRACE.toUpperCase()}-${PARENT}-01`, // uppercase hex
    `00-${'0'.repeat(32)}-${PARENT}-01`, // all-zero trace-id
    `00-${TRACE}-${'0'.repeat(16)}-01`, // all-zero parent-id
    `00-${TRACE}-${PARENT}-0g`,
    `0-${TRACE}-${PARENT}-01`,
    `00_${TRACE}-${PARENT}-01`,
    `00-${TRACE.slice(1)}-${PARENT}0-01`,
    `zz-${TRACE}-${PARENT}-01`,
    `01-${TRACE}-${PARENT}-01-${'x'.repeat(600)}`,
  ]) {
    assert.equal(traceIdOf(bad as string), undefined, String(bad).slice(0, 80));
  }
  const id = requestIdentity({ traceparent: VALID });
  assert.deepEqual([id.traceparent, id.traceId], [VALID, TRACE]);
  const ignored = requestIdentity({ traceparent: `00-${TRACE}-${PARENT}` });
  assert.deepEqual([ignored.traceparent, ignored.traceId], [undefined, undefined]);
});

test('any header value: requestIdentity never throws, and what it keeps is safe to echo in a header', () => {
  fc.assert(
    fc.property(
      fc.option(fc.string({ maxLength: 200 }), { nil: undefined }),
      fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
      (rid, tp) => {
        const headers: Record<string, string> = {};
        if (rid !== undefined) headers['x-request-id'] = rid;
        if (tp !== undefined) headers['traceparent'] = tp;
        const id = requestIdentity(headers);
        assert.match(id.requestId, /^[\x21-\x7e]{1,128}$/);
        if (id.traceparent !== undefined) assert.match(id.traceparent, /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}/);
      },
    ),
  );
});

test('MODELSHIP_ACCESS_LOG: off | on | 1/N; the default is off; anything else is a ConfigError naming the variable', () => {
  assert.deepEqual(parseAccessLog('off'), { mode: 'off' });
  assert.deepEqual(parseAccessLog(' on '), { mode: 'on' });
  assert.deepEqual(parseAccessLog('1/1'), { mode: 'on' });
  assert.deepEqual(parseAccessLog('1/100'), { mode: 'sampled', every: 100 });
  assert.deepEqual(parseAccessLog('1/1000000'), { mode: 'sampled', every: 1_000_000 });
  for (const bad of ['', 'true', 'ON', '1/0', '1/01', '1/1000001', '2/10', '1/-5', '100', '1/1.5', '1/ 5']) {
    assert.ok('error' in parseAccessLog(bad), bad);
  }
  const base = ['--model-path', '/m.onnx'];
  assert.deepEqual(parseServe(base, {}).accessLog, { mode: 'off' });
  assert.deepEqual(parseServe(base, { MODELSHIP_ACCESS_LOG: '1/10' }).accessLog, { mode: 'sampled', every: 10 });
  assert.deepEqual(parseServe([...base, '--access-log', 'on'], { MODELSHIP_ACCESS_LOG: 'off' }).accessLog, { mode: 'on' });
  assert.throws(
    () => parseServe(base, { MODELSHIP_ACCESS_LOG: 'sometimes' }),
    (err: unknown) => err instanceof ConfigError && /MODELSHIP_ACCESS_LOG.*"sometimes" is not off, on or 1\/N/.test(err.message),
  );
});
