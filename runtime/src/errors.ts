/**
 * Typed errors, all in one place.
 * - HttpError: a request failed; carries the HTTP status and the message sent as {"error": message}.
 * - WorkerLostError: the inference worker running a request ended (crash or run timeout).
 * - ConfigError: bad flags/environment; the process exits 2 with the message.
 * - FetchError: `fetch` failed; the process exits 1 with the message.
 * - TlsError: a TLS key pair or CA bundle cannot be served (at start: exit 2; on reload: the old one stays).
 * - ModelLoadError: `serve` could not load/verify/warm up the model; the process exits
 *   EXIT_MODEL_LOAD_FAILED (3) with the message as its termination message.
 */

import { EXIT_CODE } from '../../contract/runtime-contract.ts';

/**
 * `serve` exit code when the model cannot be loaded, verified or warmed up (contract/runtime-contract.ts:
 * the operator rolls back on the first such exit).
 */
export const EXIT_MODEL_LOAD_FAILED = EXIT_CODE.modelLoadFailed;
export class HttpError extends Error {
  readonly status: number;
  /** sent as Retry-After: the failure is transient (overload, a worker being replaced) */
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** 503 with Retry-After: the server is overloaded or repairing itself; the same request may succeed later. */
export const unavailable = (message: string, retryAfterSeconds = 1): HttpError => new HttpError(503, message, retryAfterSeconds);

/** An inference worker thread ended while it held a run (crash, or replaced after the run timeout). */
export class WorkerLostError extends Error {
  /** true when the pool ended the worker because the run exceeded the run timeout */
  readonly timedOut: boolean;
  constructor(message: string, timedOut: boolean) {
    super(message);
    this.name = 'WorkerLostError';
    this.timedOut = timedOut;
  }
}

/** 400: the request is wrong (shape, datatype, names, JSON ...). */
export const badRequest = (message: string): HttpError => new HttpError(400, message);
/** 404: unknown model, version or route. */
export const notFound = (message: string): HttpError => new HttpError(404, message);

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export class FetchError extends Error {
  /** false for failures a retry cannot fix (404, checksum mismatch, too large). */
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean) {
    super(message);
    this.name = 'FetchError';
    this.retryable = retryable;
  }
}

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

/** A message safe to show to a client or in a log line: no stack, never undefined. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** kubernetes mode: the API server could not be asked or did not answer as expected (the request fails closed, 503). */
export class ReviewUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReviewUnavailable';
  }
}

/** A TLS key pair or CA bundle that cannot be served: unreadable, not PEM, mismatched, expired. */
export class TlsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsError';
  }
}
