/**
 * The shared pieces of the HTTP surface: the one error renderer (respond.ts) and the one gate
 * (guard.ts: API key + accounting) that the inference handler and the express routes both use.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import type { AccessLogSetting } from '../../contract/runtime-contract.ts';
import { HttpError, unavailable } from '../../runtime/src/errors.ts';
import { AccessLog } from '../../runtime/src/http/access-log.ts';
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
  /** set with setHeader before writeHead (Node merges both) */
  preset: Record<string, string | number> = {};
  body: string | Buffer | undefined;
  setHeader(name: string, value: string | number): this {
    this.preset[name.toLowerCase()] = value;
    return this;
  }
  getHeader(name: string): string | number | undefined {
    const written = Object.entries(this.headers).find(([k]) => k.toLowerCase() === name.toLowerCase());
    return this.preset[name.toLowerCase()] ?? written?.[1];
  }
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
    for (const m of (await metrics.text()).matchAll(
      /^modelship_requests_total\{[^}]*kind="(\w+)",protocol="(v\d)",code="(\d+)"\} (\d+)/gm,
    )) {
      byLabel.set(`${m[1]} ${m[2]} ${m[3]}`, Number(m[4]));
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
  assert.deepEqual(
    new Map([...(await counts())].sort()),
    new Map([
      ['inference v2 401', 1],
      ['metadata v2 401', 1],
    ]),
  );
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
      ['inference v2 200', 1],
      ['inference v2 499', 1],
      ['metadata v1 404', 1],
    ]),
  );
  assert.equal(await inflight(), 0);
});

function accessRecorder(setting: AccessLogSetting): { log: AccessLog; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const out = { info: (message: string, meta: Record<string, unknown>) => lines.push({ message, ...meta }) } as unknown as Logger;
  return { log: new AccessLog(setting, out), lines };
}

test("admit: every API answer carries x-request-id (the client's when sane, else a new one) and a valid traceparent back", () => {
  const { deps } = gate(undefined);
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const mine = new RecordingResponse();
  admit(deps, 'v2', { headers: { 'x-request-id': 'client-7', traceparent } } as never, asRes(mine));
  assert.deepEqual(mine.preset, { 'x-request-id': 'client-7', traceparent });
  const made = new RecordingResponse();
  admit(deps, 'v2', { headers: { 'x-request-id': 'two words', traceparent: 'garbage' } } as never, asRes(made), { onClose: () => {} });
  assert.match(String(made.preset['x-request-id']), /^[0-9a-f-]{36}$/);
  assert.equal(made.preset['traceparent'], undefined);
  // a refused request (401) carries its id too
  const refused = new RecordingResponse();
  admit(gate('k').deps, 'v2', { headers: { 'x-request-id': 'r-1' } } as never, asRes(refused));
  assert.equal(refused.statusCode, 401);
  assert.equal(refused.preset['x-request-id'], 'r-1');
});

test('access log: one line per sampled inference, at close, with ids, sizes and status; never a key or a body; metadata not logged', () => {
  const { deps } = gate('secret-key');
  const { log, lines } = accessRecorder({ mode: 'on' });
  deps.accessLog = log;
  const route = { protocol: 'v2' as const, model: 'm', version: undefined };
  const req = {
    method: 'POST',
    url: '/v2/models/m/infer?api_key=leak',
    headers: {
      'x-api-key': 'secret-key',
      authorization: 'Bearer secret-key',
      'content-length': '57',
      'x-request-id': 'abc',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    },
    socket: { remoteAddress: '10.1.2.3' },
  };
  const ok = new RecordingResponse();
  const ex = admit(deps, 'v2', req as never, asRes(ok), { onClose: () => {}, route });
  assert.ok(ex);
  ex.inferenceId = 'my-inference';
  sendError(asRes(ok), new HttpError(400, 'bad shape'), { log: deps.log, closing: false });
  ex.answer(400);
  assert.equal(lines.length, 0, 'written when the connection closes');
  ok.emit('close');
  assert.equal(lines.length, 1);
  const line = lines[0] as Record<string, unknown>;
  assert.equal(typeof line['durationMs'], 'number');
  delete line['durationMs'];
  assert.deepEqual(line, {
    message: 'access',
    method: 'POST',
    path: '/v2/models/m/infer',
    protocol: 'v2',
    model: 'm',
    version: '1',
    status: 400,
    bytesIn: 57,
    bytesOut: Buffer.byteLength('{"error":"bad shape"}'),
    requestId: 'abc',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    inferenceId: 'my-inference',
    clientIp: '10.1.2.3',
  });
  assert.doesNotMatch(JSON.stringify(lines), /secret-key|leak|bad shape/);
  // a client that leaves is logged as 499 with nothing sent
  const left = new RecordingResponse();
  admit(deps, 'v2', { ...req, headers: { 'x-api-key': 'secret-key' } } as never, asRes(left), { onClose: () => {}, route });
  left.emit('close');
  assert.deepEqual([lines[1]?.['status'], lines[1]?.['bytesOut'], lines[1]?.['bytesIn']], [499, undefined, undefined]);
  // metadata requests are not in the access log
  const meta = new RecordingResponse();
  admit(deps, 'v2', req as never, asRes(meta));
  meta.emit('finish');
  meta.emit('close');
  assert.equal(lines.length, 2);
});

test('access log: "1/N" writes exactly every N-th inference; "off" none', () => {
  const { deps } = gate(undefined);
  const route = { protocol: 'v2' as const, model: 'm', version: undefined };
  for (const [setting, want] of [
    [{ mode: 'sampled', every: 10 }, 5],
    [{ mode: 'off' }, 0],
  ] as const) {
    const { log, lines } = accessRecorder(setting);
    deps.accessLog = log;
    for (let i = 0; i < 50; i++) {
      const r = new RecordingResponse();
      const ex = admit(deps, 'v2', { headers: {}, url: '/v2/models/m/infer', socket: {} } as never, asRes(r), { onClose: () => {}, route });
      ex?.answer(200);
      r.emit('close');
    }
    assert.equal(lines.length, want, setting.mode);
  }
});
