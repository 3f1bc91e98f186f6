/**
 * API keys from a mounted file (ENV.apiKeyFile): one key per line, surrounding whitespace and
 * blank lines ignored, so a rotation is two Secret updates (old + new key, then the new key alone)
 * and both keys are valid in between. Re-read when the file changes (mounted-file.ts); a file that
 * becomes empty or unreadable keeps the keys in use (never "authentication off") and logs why.
 * Only digests are kept; no key reaches a log line.
 */
import { ConfigError } from '../errors.ts';
import { keyDigest, type KeyDigests } from './auth.ts';

/**
 * Every request is compared with every key (auth.ts), so their number is bounded: a rotation
 * needs two, a few clients each with its own key a handful more.
 */
export const MAX_API_KEYS = 64;

/** The keys in a key file, or a ConfigError naming the problem (never the key). */
export function parseKeyFile(text: string, path: string): string[] {
  const keys = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (keys.length === 0) throw new ConfigError(`the API key file ${path} holds no key: an empty key is never "authentication off"`);
  if (keys.length > MAX_API_KEYS)
    throw new ConfigError(
      `the API key file ${path} holds ${keys.length} keys, more than ${MAX_API_KEYS}: each request is compared with every key`,
    );
  // eslint-disable-next-line no-control-regex
  if (keys.some((k) => /[\x00-\x1f\x7f]/.test(k)))
    throw new ConfigError(`a key in the API key file ${path} contains control characters, which no HTTP header can carry`);
  return keys;
}

/** The valid keys' digests, replaced as a whole on each accepted change of the file. */
export class KeyFileDigests implements KeyDigests {
  private current: readonly Buffer[];
  readonly path: string;
  constructor(path: string, text: string) {
    this.path = path;
    this.current = parseKeyFile(text, path).map(keyDigest);
  }

  digests(): readonly Buffer[] {
    return this.current;
  }

  get count(): number {
    return this.current.length;
  }

  /** Take the file's new text; throws ConfigError (and keeps the old keys) when it is unusable. */
  update(text: string): void {
    this.current = parseKeyFile(text, this.path).map(keyDigest);
  }
}
