/**
 * The inference handler: admission (API key, accounting: guard.ts), route/model check, body read
 * with a size limit (body.ts), parse + validate, schedule, encode, write; every error through
 * the one renderer (respond.ts).
 *
 * Memory: a request reserves its body size against the in-flight budget before reading it (as
 * bytes arrive when there is no Content-Length), then its decoded tensors' size; it holds both
 * until its answer is written and its run is over. Over the budget: 503 with Retry-After.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, unavailable } from '../errors.ts';
import { Reservation, type MemoryBudget } from '../execution/budget.ts';
import type { Tensor } from '../tensor/datatypes.ts';
import { encodeV1Response, parseV1Request } from '../tensor/v1.ts';
import { encodeV2Response, parseV2Request } from '../tensor/v2.ts';
import { overBudget, readBody } from './body.ts';
import { admit, type GuardDeps } from './guard.ts';
import type { InferenceRoute } from './routes.ts';
import { sendError, sendJson } from './respond.ts';

export interface HotPathDeps extends GuardDeps {
  maxBodyBytes: number;
  /** longest pause between two body chunks before 408 */
  bodyIdleTimeoutMs: number;
  budget: MemoryBudget;
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

/** `refusal`: the answer is already decided (a bad or unknown version pin, pin.ts); given after the API key check. */
export function handleInference(
  deps: HotPathDeps,
  route: InferenceRoute,
  req: IncomingMessage,
  res: ServerResponse,
  refusal?: HttpError,
): void {
  const { state } = deps;
  const reservation = new Reservation(deps.budget);
  const abort = new AbortController();
  // the reservation is released once the answer is written (or the client is gone) and the
  // scheduler no longer holds the request's tensors
  let closed = false;
  let scheduled = false;
  const releaseIfOver = () => {
    if (closed && !scheduled) reservation.release();
  };
  // a client that goes away before its answer (while sending the body or waiting for inference)
  // is counted as 499 (guard.ts); its queued job is dropped and the work left skipped
  const onClose = (clientGone: boolean) => {
    closed = true;
    if (clientGone) abort.abort();
    releaseIfOver();
  };
  const ex = admit(deps, route.protocol, req, res, { onClose, route });
  if (!ex) {
    req.resume();
    return;
  }
  const fail = (err: unknown, forceClose = false) => {
    if (ex.answered) return;
    const writable = !res.headersSent && !res.destroyed;
    const status = sendError(res, err, { log: deps.log, closing: state.closing, context: 'inference request failed', forceClose });
    // a run that failed inside onnxruntime: its message is logged here, as JSON (onnxruntime's own logger is off: ort-options.ts)
    if (status === 500 && err instanceof HttpError) {
      deps.log.warn('inference run failed', {
        error: err.message,
        model: route.model,
        requestId: ex.identity.requestId,
        ...(ex.identity.traceId !== undefined ? { traceId: ex.identity.traceId } : {}),
      });
    }
    // a client that stopped sending its body will not read a clean close either
    if (status === 408 && writable) res.once('finish', () => req.socket.destroy());
    ex.answer(status);
  };
  let model;
  try {
    if (refusal) throw refusal;
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
    if (ex.answered) return;
    if (bodyErr) {
      fail(bodyErr.err, bodyErr.close);
      return;
    }
    ex.bytesIn = body.length;
    try {
      if (route.protocol === 'v2') {
        const hl = req.headers['inference-header-content-length'];
        const header = typeof hl === 'string' ? hl : undefined;
        const ir = parseWithinBudget(deps.budget, jsonTextBytes(body, header), () => parseV2Request(model, body, header));
        ex.inferenceId = ir.id;
        const fetches = ir.outputs.length === model.outputs.length ? undefined : ir.outputs.map((o) => o.spec.name);
        submit(ir.inputs, ir.rows, fetches).then((r) => {
          if (ex.answered) return;
          try {
            const enc = encodeV2Response(model, ir, r.outputs, state.v2Prefix);
            sendJson(res, 200, enc.body, state.closing, enc.headerLength);
            ex.answer(200);
          } catch (err) {
            fail(err);
          }
        }, fail);
      } else {
        const { req: ir, format } = parseWithinBudget(deps.budget, body.length, () => parseV1Request(model, body));
        submit(ir.inputs, ir.rows, undefined).then((r) => {
          if (ex.answered) return;
          try {
            const out = encodeV1Response(format, model, ir, r.outputs);
            sendJson(res, 200, out, state.closing);
            ex.answer(200);
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
