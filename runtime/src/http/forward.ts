/**
 * Forwarding a pinned inference request to the pods of another version (pin.ts decided where), once
 * and streamed both ways: the body goes upstream as it arrives and the answer comes back as it
 * arrives, so a forward holds no whole body in memory. The runtime's limits hold: the body size
 * (413, checked against Content-Length before connecting, and counted as the body streams), the
 * body idle timeout (408), the request deadline from the end of the body (504), a cap on
 * forwards in flight and the in-flight memory budget, which each forward draws its stream buffers
 * from (503).
 * With spec.service.tls the routes are https (ForwardTls says whom to trust).
 * Upstream connection failures are answered 503 (nothing is listening or accepting within the
 * connect timeout: the version's pods are not ready or not reachable) or 502 (it broke off), always as {"error": ...} through the one renderer (respond.ts).
 *
 * Only an allowlist of request headers is sent on (the body's framing, the API key, the pin), with
 * modelship-forwarded added so the receiving pod never forwards it again; no retry, so one client
 * request is at most one upstream request.
 */
import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Transform, pipeline, type TransformCallback } from 'node:stream';
import { PIN_HEADER } from '../../../contract/runtime-contract.ts';
import { errorMessage, HttpError, unavailable } from '../errors.ts';
import { Reservation } from '../execution/budget.ts';
import { overBudget } from './body.ts';
import { admit } from './guard.ts';
import { REQUEST_ID_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER } from './request-id.ts';
import type { HotPathDeps } from './inference.ts';
import { sendError } from './respond.ts';
import type { InferenceRoute } from './routes.ts';

/** Request headers sent on to the other version (lowercase); everything else stays here. */
const FORWARDED_REQUEST_HEADERS = [
  'content-type',
  'content-length',
  'inference-header-content-length',
  'authorization',
  'x-api-key',
  'accept',
  PIN_HEADER.version,
] as const;
/** W3C: a tracestate may be cut past 512 characters; a longer one is not sent on. */
const MAX_TRACESTATE_LENGTH = 512;
/** Response headers passed back to the client. */
const RETURNED_RESPONSE_HEADERS = ['content-type', 'content-length', 'inference-header-content-length', 'retry-after'] as const;

/** Connection errors that mean nothing is listening for that version (yet): 503, retry later. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);

/**
 * What one forward holds against the in-flight memory budget while it runs: not its body (streamed)
 * but the stream buffers on its way, both directions (16 KiB high-water marks: the request, the
 * limit transform, the upstream request, the answer, the response; with room to spare).
 */
export const FORWARD_RESERVED_BYTES = 128 * 1024;

/** Longest wait for a connection to another version's Service (in-cluster: a few ms when it works). */
export const CONNECT_TIMEOUT_MS = 3000;

/**
 * How this pod speaks to another version's pods over https (spec.service.tls): their certificate
 * must chain to `ca` (the CA next to the serving pair, e.g. cert-manager's ca.crt; the system roots
 * without one) and name the Service host; with mTLS the pod presents its own serving pair.
 */
export interface ForwardTls {
  ca: Buffer | undefined;
  clientCert: { cert: Buffer; key: Buffer } | undefined;
}

/** The upstream connections and the cap on forwards in flight; one per server. */
export class Forwarder {
  readonly agent: Agent;
  private httpsPool: HttpsAgent;
  /** from the end of the request body to the last byte of the answer (the request deadline) */
  readonly timeoutMs: number;
  readonly maxInFlight: number;
  /** longest wait for the TCP connection to the other version: half the deadline, at most CONNECT_TIMEOUT_MS */
  readonly connectTimeoutMs: number;
  private inFlight = 0;

  constructor(timeoutMs: number, maxInFlight: number, tls?: ForwardTls) {
    this.timeoutMs = timeoutMs;
    this.maxInFlight = maxInFlight;
    this.connectTimeoutMs = Math.max(1, Math.min(CONNECT_TIMEOUT_MS, Math.floor(timeoutMs / 2)));
    this.agent = new Agent(this.pool());
    this.httpsPool = this.newHttpsAgent(tls);
  }

  private pool() {
    return { keepAlive: true, maxSockets: this.maxInFlight, maxFreeSockets: 64 };
  }

  private newHttpsAgent(tls: ForwardTls | undefined): HttpsAgent {
    return new HttpsAgent({
      ...this.pool(),
      minVersion: 'TLSv1.2',
      ...(tls?.ca ? { ca: tls.ca } : {}),
      ...(tls?.clientCert ? { cert: tls.clientCert.cert, key: tls.clientCert.key } : {}),
    });
  }

  get httpsAgent(): HttpsAgent {
    return this.httpsPool;
  }

  /**
   * The serving pair (and the CA next to it) was reloaded: new connections to other versions trust
   * the new CA and, with mTLS, present the new pair (the old one expires). Forwards under way finish
   * on their connections; the old idle ones are closed now.
   */
  setTls(tls: ForwardTls | undefined): void {
    const old = this.httpsPool;
    this.httpsPool = this.newHttpsAgent(tls);
    for (const sockets of Object.values(old.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
  }

  get active(): number {
    return this.inFlight;
  }

  /** Take a slot, or false when maxInFlight forwards are under way. */
  tryAcquire(): boolean {
    if (this.inFlight >= this.maxInFlight) return false;
    this.inFlight++;
    return true;
  }

  release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }

  close(): void {
    this.agent.destroy();
    this.httpsPool.destroy();
  }
}

export interface ForwardDeps extends HotPathDeps {
  forwarder: Forwarder;
}

export interface ForwardTarget {
  version: string;
  /** http://host:port */
  baseUrl: string;
}

/** The path sent upstream: the route re-encoded, so nothing of the raw request line but the route goes on. */
export function forwardPath(route: InferenceRoute): string {
  const model = encodeURIComponent(route.model);
  const version = route.version === undefined ? '' : `/versions/${encodeURIComponent(route.version)}`;
  return route.protocol === 'v2' ? `/v2/models/${model}${version}/infer` : `/v1/models/${model}${version}:predict`;
}

/** Counts the body as it streams to the other version: 413 past `limit`, 408 after `idleMs` without a chunk. */
class BodyLimit extends Transform {
  private size = 0;
  private readonly limit: number;
  private readonly idle: NodeJS.Timeout;

  constructor(limit: number, idleMs: number) {
    super();
    this.limit = limit;
    this.idle = setTimeout(() => this.destroy(bodyStalled(idleMs)), idleMs);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.idle.refresh();
    this.size += chunk.length;
    if (this.size > this.limit) done(tooLarge(this.limit));
    else done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    clearTimeout(this.idle);
    done();
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    clearTimeout(this.idle);
    done(err);
  }
}

const tooLarge = (limit: number) => new HttpError(413, `request body is larger than the limit of ${limit} bytes`);
const bodyStalled = (idleMs: number) => new HttpError(408, `the request body stalled: no bytes for ${idleMs} ms`);

/** What the client is told when the exchange with the other version fails before its answer. */
export function upstreamError(err: unknown, version: string): HttpError {
  if (err instanceof HttpError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNREACHABLE.has(code)) {
    return unavailable(`version "${version}" of the model is not reachable (${code}): its pods may not be ready yet; retry later`);
  }
  return new HttpError(502, `version "${version}" of the model broke off the forwarded request: ${errorMessage(err)}`);
}

export function forwardInference(
  deps: ForwardDeps,
  route: InferenceRoute,
  target: ForwardTarget,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const { state, forwarder, log } = deps;
  /** the upstream request and the deadline timer, once they exist */
  const io: { upstream?: ClientRequest; deadline?: NodeJS.Timeout } = {};
  let acquired = false;
  const reservation = new Reservation(deps.budget);
  const releaseSlot = () => {
    if (acquired) forwarder.release();
    acquired = false;
    reservation.release();
  };
  /** set when this side ends the upstream request: the error that follows is its own doing */
  let abandoned = false;
  const abandon = () => {
    abandoned = true;
    clearTimeout(io.deadline);
    io.upstream?.destroy();
  };
  const ex = admit(deps, route.protocol, req, res, {
    forwardedTo: target.version,
    route,
    onClose: (clientGone) => {
      // a client that left takes its upstream request with it; a finished one leaves the connection for reuse
      if (clientGone) abandon();
      clearTimeout(io.deadline);
      releaseSlot();
    },
  });
  if (!ex) {
    req.resume();
    return;
  }
  const fail = (err: unknown, forceClose = false) => {
    if (ex.answered) {
      // the answer is being streamed: it can only be cut short
      res.destroy();
      return;
    }
    const status = sendError(res, err, { log, closing: state.closing, context: 'forwarding failed', forceClose });
    ex.answer(status);
    if (status === 408) res.once('finish', () => req.socket.destroy());
  };
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (declared !== undefined && declared > deps.maxBodyBytes) {
    // the answer closes the connection (respond.ts), so the body is not read
    fail(tooLarge(deps.maxBodyBytes));
    req.resume();
    return;
  }
  if (!forwarder.tryAcquire()) {
    fail(unavailable(`${forwarder.maxInFlight} requests are being forwarded to other versions already; retry later`), !req.complete);
    req.resume();
    return;
  }
  acquired = true;
  if (!reservation.add(FORWARD_RESERVED_BYTES)) {
    fail(overBudget(deps.budget, FORWARD_RESERVED_BYTES), !req.complete);
    req.resume();
    return;
  }

  const headers: Record<string, string | string[]> = { [PIN_HEADER.forwarded]: '1' };
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const v = req.headers[name];
    if (v !== undefined) headers[name] = v;
  }
  // the other version's pod logs the same request id and trace (a made-up id included)
  headers[REQUEST_ID_HEADER] = ex.identity.requestId;
  if (ex.identity.traceparent !== undefined) {
    headers[TRACEPARENT_HEADER] = ex.identity.traceparent;
    const tracestate = req.headers[TRACESTATE_HEADER];
    if (typeof tracestate === 'string' && tracestate.length <= MAX_TRACESTATE_LENGTH) headers[TRACESTATE_HEADER] = tracestate;
  }
  const base = new URL(target.baseUrl);
  const upstreamRequest = {
    host: base.hostname.replace(/^\[|\]$/g, ''),
    port: Number(base.port),
    method: 'POST',
    path: forwardPath(route),
    headers,
  };
  const sent =
    base.protocol === 'https:'
      ? httpsRequest({ ...upstreamRequest, agent: forwarder.httpsAgent })
      : httpRequest({ ...upstreamRequest, agent: forwarder.agent });
  io.upstream = sent;
  // a connection that is never accepted (a dropped SYN: a NetworkPolicy, a pod IP that is gone) is
  // a version not reachable now, told at once rather than at the deadline
  sent.on('socket', (socket) => {
    if (!socket.connecting) return;
    const connectTimer = setTimeout(() => {
      if (abandoned || ex.answered) return;
      abandon();
      fail(
        unavailable(
          `version "${target.version}" of the model did not accept a connection within ${forwarder.connectTimeoutMs} ms; retry later`,
        ),
        !req.complete,
      );
    }, forwarder.connectTimeoutMs);
    socket.once('connect', () => clearTimeout(connectTimer));
    socket.once('close', () => clearTimeout(connectTimer));
  });
  // the deadline runs from the end of the client's body, as a local request's runs from its read;
  // receiving the body is bounded by the receive and idle timeouts
  req.once('end', () => {
    if (abandoned || res.writableEnded) return;
    io.deadline = setTimeout(() => {
      abandon();
      fail(
        new HttpError(
          504,
          `version "${target.version}" of the model did not answer within the request timeout of ${forwarder.timeoutMs} ms`,
        ),
      );
    }, forwarder.timeoutMs);
  });

  sent.on('response', (answer: IncomingMessage) => {
    if (ex.answered || res.destroyed) {
      answer.resume();
      return;
    }
    const out: Record<string, string | string[]> = {};
    for (const name of RETURNED_RESPONSE_HEADERS) {
      const v = answer.headers[name];
      if (v !== undefined) out[name] = v;
    }
    if (state.closing) out['connection'] = 'close';
    const status = answer.statusCode ?? 502;
    res.writeHead(status, out);
    ex.answer(status);
    pipeline(answer, res, (err) => {
      clearTimeout(io.deadline);
      if (err) log.warn('forwarded answer cut short', { toVersion: target.version, error: errorMessage(err) });
    });
  });
  sent.on('error', (err) => {
    if (abandoned) return;
    clearTimeout(io.deadline);
    if (!ex.answered) log.warn('forwarding failed', { toVersion: target.version, upstream: target.baseUrl, error: errorMessage(err) });
    fail(upstreamError(err, target.version), !req.complete);
  });
  // pipe, not pipeline: a failed upstream must not destroy the client's request, whose connection carries the error answer
  const limit = new BodyLimit(deps.maxBodyBytes, deps.bodyIdleTimeoutMs);
  limit.on('error', (err) => {
    // the client's body is too large or stalled: the upstream request goes, the client gets the error
    req.unpipe(limit);
    req.resume();
    abandon();
    fail(err, true);
  });
  req.on('error', () => limit.destroy());
  req.pipe(limit).pipe(sent);
}
