/** An HTTPS client for tests: verifies the server with a given CA, optionally presents a client certificate. */
import { Agent, request } from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface TlsClientOptions {
  ca: string;
  cert?: string;
  key?: string;
  /** default: a new connection for this request (no keep-alive, no TLS session reuse) */
  agent?: Agent;
  servername?: string;
  maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
}

export interface HttpsReply {
  status: number;
  text: string;
  json: () => Record<string, unknown>;
  /** SHA-256 fingerprint of the certificate the server presented */
  fingerprint256: string;
}

export function httpsCall(
  url: string,
  tls: TlsClientOptions,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
        headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
        ca: tls.ca,
        ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
        agent: tls.agent ?? false,
        ...(tls.servername ? { servername: tls.servername } : {}),
        ...(tls.maxVersion ? { maxVersion: tls.maxVersion } : {}),
      },
      (res) => {
        const fingerprint256 = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, text, json: () => JSON.parse(text) as Record<string, unknown>, fingerprint256 });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
