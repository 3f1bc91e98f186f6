/** http:// and https:// model URIs: GET with a per-attempt timeout, redirects checked by hand. */
import type { FetchConfig } from '../config.ts';
import { FetchError } from '../errors.ts';
import { getFollowingRedirects, networkDetail } from './redirects.ts';
import { copyStream, redactUri, type Sink } from './sink.ts';

export const isHttpUri = (uri: string): boolean => uri.startsWith('http://') || uri.startsWith('https://');

/** Download cfg.modelUri into the sink; network failures, 5xx, 408 and 429 are retryable. */
export async function fetchHttp(cfg: FetchConfig, sink: Sink): Promise<void> {
  const shown = redactUri(cfg.modelUri);
  let res: Response;
  try {
    res = await getFollowingRedirects(
      new URL(cfg.modelUri),
      AbortSignal.timeout(cfg.timeoutSeconds * 1000),
      () => ({}),
      (what) => new FetchError(`cannot download ${shown}: ${what}`, false),
    );
  } catch (err) {
    if (err instanceof FetchError) throw err;
    const detail = networkDetail(err, cfg.timeoutSeconds);
    throw new FetchError(`cannot download ${shown}: ${detail}`, true);
  }
  if (!res.ok) {
    await res.body?.cancel();
    const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
    throw new FetchError(`cannot download ${shown}: HTTP ${res.status} ${res.statusText}`, retryable);
  }
  const declared = Number(res.headers.get('content-length'));
  if (declared > cfg.maxBytes) {
    await res.body?.cancel();
    throw new FetchError(`${shown} is ${declared} bytes, larger than the limit of ${cfg.maxBytes} bytes`, false);
  }
  if (!res.body) throw new FetchError(`cannot download ${shown}: empty response`, true);
  try {
    await copyStream(res.body, sink, cfg.maxBytes, shown);
  } catch (err) {
    if (err instanceof FetchError) throw err;
    const e = err as Error;
    throw new FetchError(
      `download of ${shown} failed: ${e.name === 'TimeoutError' ? `timed out after ${cfg.timeoutSeconds}s` : e.message}`,
      true,
    );
  }
}
