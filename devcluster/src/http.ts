// Minimal HTTP(S) client for health checks and the few API calls made before kubectl can be used.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface Tls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure?: boolean;
}

/** GET a URL; resolves to status and body, rejects on network errors; 5 s timeout. */
export function httpGet(url: string, tls: Tls = {}): Promise<{ status: number; body: string }> {
  return httpCall('GET', url, tls);
}

export function httpCall(method: string, url: string, tls: Tls, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const u = new URL(url);
    const opts = {
      method,
      timeout: 5_000,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(u.protocol === 'https:'
        ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !tls.insecure, servername: undefined }
        : {}),
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timeout`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
