/**
 * Optional API key: `Authorization: Bearer <key>` or `x-api-key: <key>`, compared in constant
 * time (both sides hashed to a fixed length first, so neither content nor length leaks). With a
 * key file (api-keys.ts) several keys are valid at once; the presented key is compared with every
 * one of them, so the time taken does not tell which (or whether one) matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ConfigError, HttpError } from '../errors.ts';

export type KeyCheck = (headers: IncomingHttpHeaders) => void;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
export const keyDigest = digest;

/** The digests of the keys valid now (a key file can change them while the server runs). */
export interface KeyDigests {
  digests(): readonly Buffer[];
}

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
export function makeKeyCheck(apiKey: string | KeyDigests | undefined): KeyCheck {
  if (apiKey === undefined) return () => {};
  let keys: KeyDigests;
  if (typeof apiKey === 'string') {
    if (apiKey.trim() === '') throw new ConfigError('the API key is empty');
    const expected = [digest(apiKey)];
    keys = { digests: () => expected };
  } else keys = apiKey;
  return (headers) => {
    const got = presentedKey(headers);
    if (got === undefined) throw new HttpError(401, 'missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"');
    const presented = digest(got);
    let match = false;
    for (const expected of keys.digests()) match = timingSafeEqual(presented, expected) || match;
    if (!match) throw new HttpError(401, 'invalid API key');
  };
}
