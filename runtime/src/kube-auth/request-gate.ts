/**
 * Joins the asynchronous review to the synchronous admission of guard.ts: the server awaits
 * prepare(req) before it dispatches a request, and the request's admission then reads the
 * decision back through `check` (the KeyCheck guard.ts and app.ts already call). A request that
 * was not prepared is refused: the gate fails closed.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { HttpError } from '../errors.ts';
import type { Decision, KubeAuthorizer } from './authorizer.ts';

export interface RequestGate {
  prepare(req: IncomingMessage): Promise<void>;
  /** the shape of http/auth.ts's KeyCheck: throws the HttpError to answer */
  check: (headers: IncomingHttpHeaders) => void;
}

export function requestGate(authorizer: KubeAuthorizer): RequestGate {
  const decided = new WeakMap<IncomingHttpHeaders, Decision>();
  return {
    async prepare(req) {
      decided.set(req.headers, await authorizer.decide(req.headers, req.method));
    },
    check(headers) {
      const d = decided.get(headers);
      if (d === undefined) throw new HttpError(401, 'the request was not authorized');
      if (!d.allowed) throw new HttpError(d.status, d.message, d.retryAfterSeconds);
    },
  };
}
