/**
 * Only the API server's aggregation layer may call the custom metrics server: the caller must
 * present a client certificate signed by the requestheader client CA, with a common name in
 * requestheader-allowed-names (an empty list allows any name that CA signed), both read from the
 * ConfigMap kube-system/extension-apiserver-authentication that kube-apiserver publishes. The API
 * server has already authenticated and authorized the end user (RBAC on custom.metrics.k8s.io)
 * before it proxies the request; this check keeps everyone else from calling the listener directly.
 */
import type { TLSSocket } from 'node:tls';

export const AUTH_CONFIGMAP = { namespace: 'kube-system', name: 'extension-apiserver-authentication' } as const;
const CA_KEY = 'requestheader-client-ca-file';
const ALLOWED_NAMES_KEY = 'requestheader-allowed-names';

export interface FrontProxyTrust {
  /** PEM bundle of the requestheader client CA. */
  caPem: string;
  /** Allowed common names; empty: any certificate the CA signed. */
  allowedNames: readonly string[];
}

/** The trust settings from the ConfigMap's data, or an error naming what is missing. */
export function trustFromConfigMap(data: Readonly<Record<string, string>> | undefined): FrontProxyTrust | { error: string } {
  const caPem = data?.[CA_KEY];
  if (!caPem || !caPem.includes('BEGIN CERTIFICATE')) {
    return {
      error: `${AUTH_CONFIGMAP.namespace}/${AUTH_CONFIGMAP.name} has no ${CA_KEY}: the API server runs without --requestheader-client-ca-file, so no aggregation layer can call this server`,
    };
  }
  let allowedNames: string[] = [];
  const raw = data?.[ALLOWED_NAMES_KEY];
  if (raw) {
    try {
      const parsed = JSON.parse(raw) as unknown;
      if (!Array.isArray(parsed) || !parsed.every((n) => typeof n === 'string')) throw new Error('not a list of strings');
      allowedNames = parsed;
    } catch (err) {
      return { error: `${ALLOWED_NAMES_KEY} in ${AUTH_CONFIGMAP.name} is not a JSON list of names: ${(err as Error).message}` };
    }
  }
  return { caPem, allowedNames };
}

export type AuthResult = { ok: true; proxy: string } | { ok: false; status: 401 | 403; message: string };

/**
 * Judges the TLS peer of a request. The server asks for a client certificate and verifies it against
 * the requestheader CA (requestCert, rejectUnauthorized false so refusal is an HTTP answer, not a
 * dropped handshake): `socket.authorized` says whether the chain checked out.
 */
export function authenticate(
  socket: Pick<TLSSocket, 'authorized' | 'authorizationError' | 'getPeerCertificate'>,
  trust: FrontProxyTrust,
): AuthResult {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) {
    return { ok: false, status: 401, message: 'a client certificate from the API server aggregation layer is required' };
  }
  if (!socket.authorized) {
    return {
      ok: false,
      status: 401,
      message: `the client certificate is not signed by the requestheader client CA (${String(socket.authorizationError)})`,
    };
  }
  const cn = typeof cert.subject?.CN === 'string' ? cert.subject.CN : '';
  if (trust.allowedNames.length > 0 && !trust.allowedNames.includes(cn)) {
    return { ok: false, status: 403, message: `client certificate CN "${cn.slice(0, 64)}" is not in requestheader-allowed-names` };
  }
  return { ok: true, proxy: cn };
}
