/**
 * The one gate of the API routes (/v1 and /v2, metadata and inference alike): the API key is
 * checked here and only here, and every answer is counted in modelship_requests_total here and
 * only here, labelled kind="inference" or kind="metadata" (an inference also in the in-flight
 * gauge). An inference forwarded to another version (pin.ts) is counted in
 * modelship_forwarded_requests_total instead: the pod that answers it counts it in the series the
 * analysis reads. Every API answer carries the request's id (x-request-id) and, when the client
 * sent a valid one, its traceparent back (request-id.ts); an inference is written to the access
 * log when sampled (access-log.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { REQUEST_KIND } from '../../../contract/runtime-contract.ts';
import type { Logger } from '../logger.ts';
import type { AccessLog } from './access-log.ts';
import type { KeyCheck } from './auth.ts';
import type { Metrics } from './metrics.ts';
import { REQUEST_ID_HEADER, requestIdentity, TRACEPARENT_HEADER, type RequestIdentity } from './request-id.ts';
import { sendError } from './respond.ts';
import type { InferenceRoute } from './routes.ts';
import type { ServerState } from './state.ts';

export type ApiProtocol = 'v1' | 'v2';

export interface GuardDeps {
  state: ServerState;
  metrics: Metrics;
  checkKey: KeyCheck;
  log: Logger;
  /** absent: no access log */
  accessLog?: AccessLog;
}

export interface InferenceHooks {
  /** the connection closed; `clientGone`: before the answer (counted as 499; drop queued work) */
  onClose: (clientGone: boolean) => void;
  /** the request is forwarded to this version (pin.ts): counted as forwarded, not as served here */
  forwardedTo?: string;
  /** the matched route, for the access log */
  route?: InferenceRoute;
}

/**
 * One API request's accounting, counted once with the status it was answered with. A metadata
 * request is counted when its answer is written. An inference is counted when its handler
 * decides the answer (answer()), or as 499 when the client leaves before that.
 */
export class Exchange {
  private counted = false;
  private status = 0;
  private readonly t0 = performance.now();
  private readonly metrics: Metrics;
  private readonly protocol: ApiProtocol;
  private readonly inference: boolean;
  private readonly forwardedTo: string | undefined;
  readonly identity: RequestIdentity;
  /** request body bytes, once read (the access log falls back to Content-Length) */
  bytesIn: number | undefined;
  /** the V2 request's "id", once parsed */
  inferenceId: string | undefined;

  constructor(
    metrics: Metrics,
    protocol: ApiProtocol,
    req: IncomingMessage,
    res: ServerResponse,
    inference: InferenceHooks | undefined,
    access?: { log: AccessLog; servedVersion: string },
  ) {
    this.metrics = metrics;
    this.protocol = protocol;
    this.inference = inference !== undefined;
    this.forwardedTo = inference?.forwardedTo;
    this.identity = requestIdentity(req.headers);
    res.setHeader(REQUEST_ID_HEADER, this.identity.requestId);
    if (this.identity.traceparent !== undefined) res.setHeader(TRACEPARENT_HEADER, this.identity.traceparent);
    if (inference === undefined) {
      res.once('finish', () => this.answer(res.statusCode));
      return;
    }
    if (this.forwardedTo === undefined) metrics.begin();
    const logged = access !== undefined && access.log.sample();
    res.once('close', () => {
      const gone = !this.counted;
      if (gone) this.answer(499);
      inference.onClose(gone);
      if (logged) this.writeAccess(access.log, req, res, inference.route, access.servedVersion);
    });
  }

  private writeAccess(
    log: AccessLog,
    req: IncomingMessage,
    res: ServerResponse,
    route: InferenceRoute | undefined,
    servedVersion: string,
  ): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const declared = Number(req.headers['content-length']);
    const sent = Number(res.getHeader('content-length'));
    log.write({
      method: req.method ?? 'POST',
      path: q === -1 ? url : url.slice(0, q),
      protocol: this.protocol,
      model: route?.model ?? '',
      version: this.forwardedTo ?? route?.version ?? servedVersion,
      ...(this.forwardedTo !== undefined ? { forwardedTo: this.forwardedTo } : {}),
      status: this.status,
      durationMs: performance.now() - this.t0,
      bytesIn: this.bytesIn ?? (Number.isSafeInteger(declared) ? declared : undefined),
      bytesOut: Number.isSafeInteger(sent) && this.status !== 499 ? sent : undefined,
      requestId: this.identity.requestId,
      ...(this.identity.traceId !== undefined ? { traceId: this.identity.traceId } : {}),
      ...(this.inferenceId !== undefined ? { inferenceId: this.inferenceId } : {}),
      clientIp: req.socket?.remoteAddress,
    });
  }

  /** the answer is decided: nothing more is to be written */
  get answered(): boolean {
    return this.counted;
  }

  /** Count the answer (only the first call counts); a 200 also records its latency (by kind). */
  answer(status: number): void {
    if (this.counted) return;
    this.counted = true;
    this.status = status;
    const seconds = status === 200 ? (performance.now() - this.t0) / 1000 : undefined;
    if (this.forwardedTo !== undefined) this.metrics.forwarded(this.forwardedTo, status);
    else if (!this.inference) this.metrics.count(REQUEST_KIND.metadata, this.protocol, status, seconds);
    else this.metrics.end(this.protocol, status, seconds);
  }
}

/**
 * Admit an API request: start its accounting and check the API key. Without a valid key the
 * request is answered 401 here and undefined is returned. `inference`: the request is an
 * inference, and its hooks.
 */
export function admit(
  deps: GuardDeps,
  protocol: ApiProtocol,
  req: IncomingMessage,
  res: ServerResponse,
  inference?: InferenceHooks,
): Exchange | undefined {
  const access = inference && deps.accessLog?.enabled ? { log: deps.accessLog, servedVersion: deps.state.modelVersion } : undefined;
  const exchange = new Exchange(deps.metrics, protocol, req, res, inference, access);
  try {
    deps.checkKey(req.headers);
  } catch (err) {
    exchange.answer(sendError(res, err, { log: deps.log, closing: deps.state.closing }));
    return undefined;
  }
  return exchange;
}
