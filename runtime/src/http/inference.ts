/**
 * The inference hot path on plain node:http (no express): auth, route/model check, body read
 * with a size limit, parse + validate, schedule, encode, write. Everything else goes to express.
 *
 * Memory: a request reserves its body size against the in-flight budget before reading it (as
 * bytes arrive when there is no Content-Length), then its decoded tensors' size; it holds both
 * until its answer is written and its run is over. Over the budget: 503 with Retry-After.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { KeyCheck } from './auth.ts';
import { Reservation, type MemoryBudget } from '../execution/budget.ts';
import type { Tensor } from '../tensor/datatypes.ts';
import { errorMessage, HttpError, unavailable } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from './metrics.ts';
import type { InferenceRoute } from './routes.ts';
import type { ServerState } from './state.ts';
import { encodeV1Response, parseV1Request } from '../tensor/v1.ts';
import { encodeV2Response, parseV2Request } from '../tensor/v2.ts';

export interface HotPathDeps {
  state: ServerState;
  metrics: Metrics;
  checkKey: KeyCheck;
  maxBodyBytes: number;
  /** longest pause between two body chunks before 408 */
  bodyIdleTimeoutMs: number;
  budget: MemoryBudget;
  log: Logger;
}

/** Bodies this much over the limit are not drained: the connection is closed instead. */
const DRAIN_CAP = 64 * 1024 * 1024;

export function sendJson(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  closing: boolean,
  headerLength?: number,
  retryAfterSeconds?: number,
): void {
  const headers: Record<string, string | number> = {
    'Content-Type': headerLength === undefined ? 'application/json' : 'application/octet-stream',
    'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.length,
  };
  if (headerLength !== undefined) headers['Inference-Header-Content-Length'] = headerLength;
  if (retryAfterSeconds !== undefined) headers['Retry-After'] = retryAfterSeconds;
  if (closing) headers['Connection'] = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

export function errorBody(message: string): string {
  return JSON.stringify({ error: message });
}

/** Bytes a decoded tensor holds (strings: two bytes a character plus a small per-string cost). */
export function tensorBytes(inputs: Map<string, Tensor>): number {
  let n = 0;
  for (const t of inputs.values()) {
    if (Array.isArray(t.data)) for (const v of t.data) n += 2 * v.length + 16;
    else n += t.data.byteLength;
  }
  return n;
}

const overBudget = (budget: MemoryBudget, need: number) =>
  unavailable(
    `the server is at its in-flight memory budget (${budget.inUse} of ${budget.limit} bytes in use; this request needs ${need} more); retry later`,
  );

/**
 * JSON.parse builds a JS value per token: measured up to 22x the text's size in heap for
 * `[{},{},...]`, 3-12x for real tensors. The parse is synchronous, so reserving its cost for the
 * duration of the call makes the budget cover the one parse that can be under way at a time.
 */
export const JSON_PARSE_FACTOR = 24;

/** Bytes of JSON text in a body: all of it, or the header part of a binary-extension request. */
export function jsonTextBytes(body: Buffer, headerLength: string | undefined): number {
  if (headerLength === undefined) return body.length;
  const n = Number(headerLength);
  return Number.isSafeInteger(n) && n >= 0 && n <= body.length ? n : body.length;
}

/** Run `parse` with its transient memory reserved: 413 if it can never fit, 503 if not now. */
function parseWithinBudget<T>(budget: MemoryBudget, jsonBytes: number, parse: () => T): T {
  const cost = jsonBytes * JSON_PARSE_FACTOR;
  if (cost > budget.limit) {
    throw new HttpError(
      413,
      `a JSON body of ${jsonBytes} bytes can take up to ${JSON_PARSE_FACTOR}x its size in memory while it is parsed (${cost} bytes), more than the in-flight memory budget of ${budget.limit} bytes: send large tensors with the binary tensor extension (Inference-Header-Content-Length), or give the pod more memory`,
    );
  }
  if (!budget.tryReserve(cost)) throw overBudget(budget, cost);
  try {
    return parse();
  } finally {
    budget.release(cost);
  }
}

interface BodyError {
  err: HttpError;
  /** the connection cannot be reused (the body was not read to its end) */
  close: boolean;
}

/**
 * Read the whole body, reserving its bytes against the budget first (the declared length, or
 * chunk by chunk). Fails with 413 past `limit`, 503 when the budget is full (the rest of the
 * body is read and dropped so the client gets the answer, unless it is huge), 408 when the
 * client stops sending for `idleMs`.
 */
function readBody(
  req: IncomingMessage,
  limit: number,
  idleMs: number,
  reservation: Reservation,
  budget: MemoryBudget,
  onBody: (err: BodyError | undefined, body: Buffer) => void,
): void {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  const tooLarge = () => new HttpError(413, `request body is larger than the limit of ${limit} bytes`);
  let settled = false;
  const settle = (err: BodyError | undefined, body: Buffer) => {
    if (settled) return;
    settled = true;
    clearTimeout(idle);
    onBody(err, body);
  };
  const idle = setTimeout(() => {
    settle({ err: new HttpError(408, `the request body stalled: no bytes for ${idleMs} ms`), close: true }, Buffer.alloc(0));
  }, idleMs);
  req.on('error', () => {});
  req.on('close', () => clearTimeout(idle));
  /** the answer once the rest of the body has been read and dropped */
  let dropping: HttpError | undefined;
  const discard = (err: HttpError, pending: number | undefined) => {
    if (pending !== undefined && pending > DRAIN_CAP) {
      settle({ err, close: true }, Buffer.alloc(0));
      return;
    }
    dropping = err;
  };
  if (declared !== undefined && declared > limit) discard(tooLarge(), declared - limit);
  else if (declared !== undefined && declared > budget.limit) {
    discard(
      new HttpError(413, `request body of ${declared} bytes is larger than the in-flight memory budget of ${budget.limit} bytes`),
      declared,
    );
  } else if (declared !== undefined && !reservation.add(declared)) discard(overBudget(budget, declared), declared);
  if (settled) return;
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    idle.refresh();
    if (dropping) return;
    size += chunk.length;
    if (size > limit) {
      chunks.length = 0;
      discard(tooLarge(), undefined);
      return;
    }
    // without a Content-Length, reserve as the bytes arrive
    if (declared === undefined && !reservation.add(chunk.length)) {
      chunks.length = 0;
      discard(overBudget(budget, chunk.length), undefined);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (dropping) settle({ err: dropping, close: false }, Buffer.alloc(0));
    else settle(undefined, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  });
}

export function handleInference(deps: HotPathDeps, route: InferenceRoute, req: IncomingMessage, res: ServerResponse): void {
  const { state, metrics } = deps;
  const t0 = performance.now();
  metrics.begin();
  let done = false;
  const reservation = new Reservation(deps.budget);
  // the reservation is released once the answer is written (or the client is gone) and the
  // scheduler no longer holds the request's tensors
  let closed = false;
  let scheduled = false;
  const releaseIfOver = () => {
    if (closed && !scheduled) reservation.release();
  };
  const fail = (err: unknown, forceClose = false) => {
    if (done) return;
    done = true;
    let status = 500;
    let message = 'internal error';
    let retryAfter: number | undefined;
    if (err instanceof HttpError) {
      status = err.status;
      message = err.message;
      retryAfter = err.retryAfterSeconds;
    } else {
      deps.log.error('inference request failed', { error: errorMessage(err) });
    }
    if (!res.headersSent && !res.destroyed) {
      const close = state.closing || status === 413 || forceClose;
      sendJson(res, status, errorBody(message), close, undefined, retryAfter);
      // a client that stopped sending its body will not read a clean close either
      if (status === 408) res.once('finish', () => req.socket.destroy());
    }
    metrics.end(route.protocol, status, undefined);
  };
  const abort = new AbortController();
  // the client went away before its answer (while sending the body or waiting for inference):
  // count it as 499, drop its queued job, skip the work that is left
  res.once('close', () => {
    closed = true;
    if (!done) {
      done = true;
      metrics.end(route.protocol, 499, undefined);
      abort.abort();
    }
    releaseIfOver();
  });
  let model;
  try {
    deps.checkKey(req.headers);
    model = state.resolve(route.model, route.version);
  } catch (err) {
    req.resume();
    fail(err);
    return;
  }
  const scheduler = state.scheduler;
  if (!scheduler) {
    req.resume();
    fail(unavailable(`model "${route.model}" is not ready: ${state.notReadyReason()}`));
    return;
  }
  const submit = (inputs: Map<string, Tensor>, rows: number, fetches: string[] | undefined) => {
    const need = tensorBytes(inputs);
    if (!reservation.add(need)) throw overBudget(deps.budget, need);
    scheduled = true;
    const job = scheduler.submit(inputs, rows, fetches, abort.signal);
    const settled = () => {
      scheduled = false;
      releaseIfOver();
    };
    job.then(settled, settled);
    return job;
  };
  readBody(req, deps.maxBodyBytes, deps.bodyIdleTimeoutMs, reservation, deps.budget, (bodyErr, body) => {
    if (done) return;
    if (bodyErr) {
      fail(bodyErr.err, bodyErr.close);
      return;
    }
    try {
      if (route.protocol === 'v2') {
        const hl = req.headers['inference-header-content-length'];
        const header = typeof hl === 'string' ? hl : undefined;
        const ir = parseWithinBudget(deps.budget, jsonTextBytes(body, header), () => parseV2Request(model, body, header));
        const fetches = ir.outputs.length === model.outputs.length ? undefined : ir.outputs.map((o) => o.spec.name);
        submit(ir.inputs, ir.rows, fetches).then((r) => {
          if (done) return;
          try {
            const enc = encodeV2Response(model, ir, r.outputs, state.v2Prefix);
            done = true;
            sendJson(res, 200, enc.body, state.closing, enc.headerLength);
            metrics.end('v2', 200, (performance.now() - t0) / 1000);
          } catch (err) {
            fail(err);
          }
        }, fail);
      } else {
        const { req: ir, format } = parseWithinBudget(deps.budget, body.length, () => parseV1Request(model, body));
        submit(ir.inputs, ir.rows, undefined).then((r) => {
          if (done) return;
          try {
            const out = encodeV1Response(format, model, ir, r.outputs);
            done = true;
            sendJson(res, 200, out, state.closing);
            metrics.end('v1', 200, (performance.now() - t0) / 1000);
          } catch (err) {
            fail(err);
          }
        }, fail);
      }
    } catch (err) {
      fail(err);
    }
  });
}
