/**
 * The one gate of the API routes (/v1 and /v2, metadata and inference alike): the API key is
 * checked here and only here, and every answer is counted in modelship_requests_total here and
 * only here (an inference also in the in-flight gauge and the latency histogram). An inference
 * forwarded to another version (pin.ts) is counted in modelship_forwarded_requests_total instead:
 * the pod that answers it counts it in the series the analysis reads.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../logger.ts';
import type { KeyCheck } from './auth.ts';
import type { Metrics } from './metrics.ts';
import { sendError } from './respond.ts';
import type { ServerState } from './state.ts';

export type ApiProtocol = 'v1' | 'v2';

export interface GuardDeps {
  state: ServerState;
  metrics: Metrics;
  checkKey: KeyCheck;
  log: Logger;
}

export interface InferenceHooks {
  /** the connection closed; `clientGone`: before the answer (counted as 499; drop queued work) */
  onClose: (clientGone: boolean) => void;
  /** the request is forwarded to this version (pin.ts): counted as forwarded, not as served here */
  forwardedTo?: string;
}

/**
 * One API request's accounting, counted once with the status it was answered with. A metadata
 * request is counted when its answer is written. An inference is counted when its handler
 * decides the answer (answer()), or as 499 when the client leaves before that.
 */
export class Exchange {
  private counted = false;
  private readonly t0 = performance.now();
  private readonly metrics: Metrics;
  private readonly protocol: ApiProtocol;
  private readonly inference: boolean;
  private readonly forwardedTo: string | undefined;

  constructor(metrics: Metrics, protocol: ApiProtocol, res: ServerResponse, inference: InferenceHooks | undefined) {
    this.metrics = metrics;
    this.protocol = protocol;
    this.inference = inference !== undefined;
    this.forwardedTo = inference?.forwardedTo;
    if (inference === undefined) {
      res.once('finish', () => this.answer(res.statusCode));
      return;
    }
    if (this.forwardedTo === undefined) metrics.begin();
    res.once('close', () => {
      const gone = !this.counted;
      if (gone) this.answer(499);
      inference.onClose(gone);
    });
  }

  /** the answer is decided: nothing more is to be written */
  get answered(): boolean {
    return this.counted;
  }

  /** Count the answer (only the first call counts); a 200 inference also records its latency. */
  answer(status: number): void {
    if (this.counted) return;
    this.counted = true;
    if (this.forwardedTo !== undefined) this.metrics.forwarded(this.forwardedTo, status);
    else if (!this.inference) this.metrics.count(this.protocol, status);
    else this.metrics.end(this.protocol, status, status === 200 ? (performance.now() - this.t0) / 1000 : undefined);
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
  const exchange = new Exchange(deps.metrics, protocol, res, inference);
  try {
    deps.checkKey(req.headers);
  } catch (err) {
    exchange.answer(sendError(res, err, { log: deps.log, closing: deps.state.closing }));
    return undefined;
  }
  return exchange;
}
