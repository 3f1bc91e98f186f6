/**
 * The one renderer of hand-written answers: every `{"error": "..."}` the runtime sends, from
 * express's routes, the inference handler or the metrics port, is decided by errorAnswer and
 * written by sendError, and every inference result by sendJson.
 */
import type { ServerResponse } from 'node:http';
import { errorMessage, HttpError } from '../errors.ts';
import type { Logger } from '../logger.ts';

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

export interface ErrorAnswer {
  status: number;
  message: string;
  retryAfterSeconds: number | undefined;
}

/**
 * What a client is told about `err`: an HttpError's status and message; an express/router client
 * error (a 4xx `status`, e.g. a parameter that fails to decode) as it is; anything else is a bug
 * or an internal failure: logged here, and answered 500 "internal error" (no detail, no stack).
 */
export function errorAnswer(err: unknown, log: Logger, context: string): ErrorAnswer {
  if (err instanceof HttpError) return { status: err.status, message: err.message, retryAfterSeconds: err.retryAfterSeconds };
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, message: errorMessage(err), retryAfterSeconds: undefined };
  }
  log.error(context, { error: errorMessage(err) });
  return { status: 500, message: 'internal error', retryAfterSeconds: undefined };
}

export interface ErrorContext {
  log: Logger;
  /** the server is shutting down: answer with Connection: close */
  closing: boolean;
  /** the log line of an unexpected error */
  context?: string;
  /** the connection cannot be reused (e.g. a request body left unread) */
  forceClose?: boolean;
}

/**
 * Answer `err` as `{"error": message}` (with Retry-After when the failure is transient), unless
 * an answer is already under way or the client is gone. A 413 closes the connection: the body
 * it refused may still be arriving. Returns the status.
 */
export function sendError(res: ServerResponse, err: unknown, ctx: ErrorContext): number {
  const answer = errorAnswer(err, ctx.log, ctx.context ?? 'request failed');
  if (!res.headersSent && !res.destroyed) {
    const close = ctx.closing || answer.status === 413 || ctx.forceClose === true;
    sendJson(res, answer.status, errorBody(answer.message), close, undefined, answer.retryAfterSeconds);
  }
  return answer.status;
}
