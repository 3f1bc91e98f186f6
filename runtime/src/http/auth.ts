/**
 * Optional API key: `Authorization: Bearer <key>` or `x-api-key: <key>`, compared in constant
 * time (both sides hashed to a fixed length first, so neither content nor length leaks).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ConfigError, HttpError } from '../errors.ts';

export type KeyCheck = (headers: IncomingHttpHeaders) => void;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers['authorization'];
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1];
  }
  const x = headers['x-api-key'];
  if (typeof x === 'string') return x.trim();
  return undefined;
}

/**
 * Returns a check that throws 401 unless the request carries the key; a no-op only when no key
 * is configured (undefined). An empty key is refused: it must never mean "authentication off".
 */
export function makeKeyCheck(apiKey: string | undefined): KeyCheck {
  if (apiKey === undefined) return () => {};
  if (apiKey.trim() === '') throw new ConfigError('the API key is empty');
  const expected = digest(apiKey);
  return (headers) => {
    const got = presentedKey(headers);
    if (got === undefined) throw new HttpError(401, 'missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"');
    if (!timingSafeEqual(digest(got), expected)) throw new HttpError(401, 'invalid API key');
  };
}
