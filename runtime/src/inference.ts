/**
 * The inference hot path on plain node:http (no express): auth, route/model check, body read
 * with a size limit, parse + validate, schedule, encode, write. Everything else goes to express.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { KeyCheck } from './auth.ts';
import { errorMessage, HttpError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import type { InferenceRoute } from './routes.ts';
import type { ServerState } from './state.ts';
import { encodeV1Response, parseV1Request } from './v1.ts';
import { encodeV2Response, parseV2Request } from './v2.ts';

export interface HotPathDeps {
  state: ServerState;
  metrics: Metrics;
  checkKey: KeyCheck;
  maxBodyBytes: number;
  log: Logger;
}

/** Bodies this much over the limit are not drained: the connection is closed instead. */
const DRAIN_CAP = 64 * 1024 * 1024;

export function sendJson(res: ServerResponse, status: number, body: string | Buffer, closing: boolean, headerLength?: number): void {
  const headers: Record<string, string | number> = {
    'Content-Type': headerLength === undefined ? 'application/json' : 'application/octet-stream',
    'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.length,
  };
  if (headerLength !== undefined) headers['Inference-Header-Content-Length'] = headerLength;
  if (closing) headers['Connection'] = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

export function errorBody(message: string): string {
  return JSON.stringify({ error: message });
}

/**
 * Read the whole body, or fail with 413 once it passes `limit` (the rest is read and dropped so
 * the client gets the answer, unless it is huge).
 */
function readBody(req: IncomingMessage, limit: number, onBody: (err: HttpError | undefined, body: Buffer) => void): void {
  const declared = Number(req.headers['content-length']);
  const tooLarge = () => new HttpError(413, `request body is larger than the limit of ${limit} bytes`);
  if (declared > limit) {
    if (declared > limit + DRAIN_CAP) {
      onBody(tooLarge(), Buffer.alloc(0));
      return;
    }
    req.on('data', () => {});
    req.on('end', () => onBody(tooLarge(), Buffer.alloc(0)));
    req.on('error', () => {});
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > limit) {
      over = true;
      chunks.length = 0;
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (over) onBody(tooLarge(), Buffer.alloc(0));
    else onBody(undefined, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  });
  req.on('error', () => {});
}

export function handleInference(deps: HotPathDeps, route: InferenceRoute, req: IncomingMessage, res: ServerResponse): void {
  const { state, metrics } = deps;
  const t0 = performance.now();
  metrics.begin();
  let done = false;
  const fail = (err: unknown) => {
    if (done) return;
    done = true;
    let status = 500;
    let message = 'internal error';
    if (err instanceof HttpError) {
      status = err.status;
      message = err.message;
    } else {
      deps.log.error('inference request failed', { error: errorMessage(err) });
    }
    if (!res.headersSent && !res.destroyed) {
      const close = state.closing || status === 413;
      sendJson(res, status, errorBody(message), close);
    }
    metrics.end(route.protocol, status, undefined);
  };
  // the client went away before its answer (while sending the body or waiting for inference):
  // count it as 499 and skip the work that is left
  res.once('close', () => {
    if (done) return;
    done = true;
    metrics.end(route.protocol, 499, undefined);
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
    fail(new HttpError(503, `model "${route.model}" is not ready: ${state.notReadyReason()}`));
    return;
  }
  readBody(req, deps.maxBodyBytes, (bodyErr, body) => {
    if (done) return;
    if (bodyErr) {
      fail(bodyErr);
      return;
    }
    try {
      if (route.protocol === 'v2') {
        const hl = req.headers['inference-header-content-length'];
        const ir = parseV2Request(model, body, typeof hl === 'string' ? hl : undefined);
        const fetches = ir.outputs.length === model.outputs.length ? undefined : ir.outputs.map((o) => o.spec.name);
        scheduler.submit(ir.inputs, ir.rows, fetches).then((r) => {
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
        const { req: ir, format } = parseV1Request(model, body);
        scheduler.submit(ir.inputs, ir.rows, undefined).then((r) => {
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
