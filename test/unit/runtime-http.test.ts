/**
 * The shared pieces of the HTTP surface: the one error renderer (respond.ts) and the one gate
 * (guard.ts: API key + accounting) that the inference handler and the express routes both use.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { HttpError, unavailable } from '../../runtime/src/errors.ts';
import { makeKeyCheck } from '../../runtime/src/http/auth.ts';
import { admit, type GuardDeps } from '../../runtime/src/http/guard.ts';
import { Metrics } from '../../runtime/src/http/metrics.ts';
import { errorAnswer, sendError } from '../../runtime/src/http/respond.ts';
import { ServerState } from '../../runtime/src/http/state.ts';
import type { Logger } from '../../runtime/src/logger.ts';

/** The part of ServerResponse the renderer and the gate use, recorded. */
class RecordingResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  destroyed = false;
  headers: Record<string, string | number> = {};
  body: string | Buffer | undefined;
  writeHead(status: number, headers: Record<string, string | number>): this {
    this.statusCode = status;
    this.headers = headers;
    this.headersSent = true;
    return this;
  }
  end(body: string | Buffer): this {
    this.body = body;
    this.emit('finish');
    return this;
  }
}
const asRes = (r: RecordingResponse) => r as unknown as ServerResponse;

function recordingLog(): { log: Logger; errors: [string, unknown][] } {
  const errors: [string, unknown][] = [];
  return { log: { error: (m: string, meta: unknown) => errors.push([m, meta]) } as unknown as Logger, errors };
}

test('errorAnswer: HttpError as it is, a 4xx client error as it is, anything else logged and 500 "internal error"', () => {
  const { log, errors } = recordingLog();
  assert.deepEqual(errorAnswer(unavailable('busy', 2), log, 'ctx'), { status: 503, message: 'busy', retryAfterSeconds: 2 });
  assert.deepEqual(errorAnswer(Object.assign(new Error('bad param'), { status: 400 }), log, 'ctx'), {
    status: 400,
    message: 'bad param',
    retryAfterSeconds: undefined,
  });
  assert.equal(errors.length, 0);
  // a status outside 4xx on a foreign error is not trusted
  for (const err of [new TypeError('x is undefined'), Object.assign(new Error('boom'), { status: 502 }), 'a string']) {
    assert.deepEqual(errorAnswer(err, log, 'inference request failed'), {
      status: 500,
      message: 'internal error',
      retryAfterSeconds: undefined,
    });
  }
  assert.deepEqual(
    errors.map(([m]) => m),
    ['inference request failed', 'inference request failed', 'inference request failed'],
  );
});

test('sendError: {"error"} JSON with Content-Length, Retry-After when transient, Connection: close on 413 / closing / forced', () => {
  const { log } = recordingLog();
  const r = new RecordingResponse();
  assert.equal(sendError(asRes(r), unavailable('at budget', 1), { log, closing: false }), 503);
  assert.equal(r.body, '{"error":"at budget"}');
  assert.deepEqual(r.headers, { 'Content-Type': 'application/json', 'Content-Length': 21, 'Retry-After': 1 });
  for (const [err, ctx] of [
    [new HttpError(413, 'too large'), { closing: false }],
    [new HttpError(400, 'bad'), { closing: true }],
    [new HttpError(408, 'stalled'), { closing: false, forceClose: true }],
  ] as const) {
    const c = new RecordingResponse();
    sendError(asRes(c), err, { log, ...ctx });
    assert.equal(c.headers['Connection'], 'close', err.message);
  }
  const plain = new RecordingResponse();
  sendError(asRes(plain), new HttpError(400, 'bad'), { log, closing: false });
  assert.equal(plain.headers['Connection'], undefined);
  // an answer already under way is not written again, but its status is still reported
  const sent = new RecordingResponse();
  sent.headersSent = true;
  assert.equal(sendError(asRes(sent), new HttpError(404, 'gone'), { log, closing: false }), 404);
  assert.equal(sent.body, undefined);
});

function gate(apiKey: string | undefined): {
  deps: GuardDeps;
  counts: () => Promise<Map<string, number>>;
  inflight: () => Promise<number>;
} {
  const metrics = new Metrics('m', '1');
  const deps: GuardDeps = { state: new ServerState('m', '1'), metrics, checkKey: makeKeyCheck(apiKey), log: recordingLog().log };
  const counts = async () => {
    const byLabel = new Map<string, number>();
    for (const m of (await metrics.text()).matchAll(/^modelship_requests_total\{[^}]*protocol="(v\d)",code="(\d+)"\} (\d+)/gm)) {
      byLabel.set(`${m[1]} ${m[2]}`, Number(m[3]));
    }
    return byLabel;
  };
  const inflight = async () => Number(/^modelship_inflight_requests\{[^}]*\} (\d+)/m.exec(await metrics.text())?.[1]);
  return { deps, counts, inflight };
}

test('admit: without the key, 401 rendered and counted once, for metadata and inference alike', async () => {
  const { deps, counts, inflight } = gate('k');
  for (const inference of [undefined, { onClose: (gone: boolean) => assert.equal(gone, false, 'an answered request is not "gone"') }]) {
    const r = new RecordingResponse();
    assert.equal(admit(deps, 'v2', { headers: {} } as never, asRes(r), inference), undefined);
    assert.equal(r.statusCode, 401);
    assert.match(String(r.body), /missing API key/);
    r.emit('close');
  }
  assert.deepEqual([...(await counts())], [['v2 401', 2]]);
  assert.equal(await inflight(), 0);
});

test('admit: metadata counted when written; inference counted at its answer, or 499 (and its work dropped) when the client leaves', async () => {
  const { deps, counts, inflight } = gate('k');
  const headers = { 'x-api-key': 'k' };
  const meta = new RecordingResponse();
  assert.ok(admit(deps, 'v1', { headers } as never, asRes(meta)));
  meta.statusCode = 404;
  meta.emit('finish');

  const ok = new RecordingResponse();
  const okEx = admit(deps, 'v2', { headers } as never, asRes(ok), { onClose: (gone: boolean) => assert.equal(gone, false) });
  assert.ok(okEx);
  assert.equal(await inflight(), 1);
  okEx.answer(200);
  okEx.answer(500); // only the first answer counts
  ok.emit('close');

  let gone = 0;
  const left = new RecordingResponse();
  const leftEx = admit(deps, 'v2', { headers } as never, asRes(left), { onClose: (clientGone: boolean) => (gone += clientGone ? 1 : 0) });
  assert.ok(leftEx);
  left.emit('close');
  assert.equal(gone, 1);
  assert.equal(leftEx.answered, true);

  assert.deepEqual(
    new Map([...(await counts())].sort()),
    new Map([
      ['v1 404', 1],
      ['v2 200', 1],
      ['v2 499', 1],
    ]),
  );
  assert.equal(await inflight(), 0);
});
