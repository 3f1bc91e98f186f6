/**
 * mTLS at the request: the handshake asks for a client certificate and verifies it against the
 * client CA but does not refuse a connection without one (Kubernetes' HTTPS probes have none), so
 * every route but the health probes refuses here: 401 without a certificate, 403 with one that
 * does not chain to the CA. The log line names the reason, never the certificate.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { HTTP_PATH } from '../../../contract/runtime-contract.ts';
import { HttpError } from '../errors.ts';
import { trimTrailingSlashes } from './routes.ts';

const OPEN_PATHS: ReadonlySet<string> = new Set([HTTP_PATH.live, HTTP_PATH.ready]);

export interface ClientCertRefusal {
  error: HttpError;
  /** for the log line: "no certificate" or OpenSSL's verification code */
  reason: string;
}

export function clientCertRefusal(req: IncomingMessage, path: string): ClientCertRefusal | undefined {
  const socket = req.socket as TLSSocket;
  if (socket.authorized || OPEN_PATHS.has(trimTrailingSlashes(path))) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) {
    return {
      reason: 'no certificate',
      error: new HttpError(401, 'a client certificate is required: this endpoint uses mTLS and the connection presented none'),
    };
  }
  const reason = String(socket.authorizationError ?? 'not verified');
  return { reason, error: new HttpError(403, `the client certificate is not accepted: ${reason}`) };
}
