/** http:// and https:// model URIs: GET with a per-attempt timeout, redirects checked by hand. */
import type { FetchConfig } from '../config.ts';
import { FetchError } from '../errors.ts';
import { copyStream, redactUri, type Sink } from './sink.ts';

const MAX_REDIRECTS = 5;

/**
 * GET with redirects followed by hand, so that a redirect from https to http (which would send
 * the download in clear text and lose the server's authentication) or to another scheme is
 * refused. Errors other than FetchError are network failures (retryable, see fetchHttp()).
 */
async function download(uri: string, signal: AbortSignal): Promise<Response> {
  const shown = redactUri(uri);
  let url = new URL(uri);
  for (let hops = 0; ; hops++) {
    const res = await fetch(url, { signal, redirect: 'manual' });
    const location = res.headers.get('location');
    if (res.status < 300 || res.status > 399 || location === null) return res;
    await res.body?.cancel();
    if (hops === MAX_REDIRECTS) throw new FetchError(`cannot download ${shown}: more than ${MAX_REDIRECTS} redirects`, false);
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new FetchError(`cannot download ${shown}: HTTP ${res.status} redirect to an unparseable location`, false);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      throw new FetchError(`cannot download ${shown}: refusing a redirect to a ${next.protocol} URL`, false);
    if (url.protocol === 'https:' && next.protocol === 'http:')
      throw new FetchError(`cannot download ${shown}: refusing a redirect from https to http (${redactUri(next.href)})`, false);
    url = next;
  }
}

export const isHttpUri = (uri: string): boolean => uri.startsWith('http://') || uri.startsWith('https://');

/** Download cfg.modelUri into the sink; network failures, 5xx, 408 and 429 are retryable. */
export async function fetchHttp(cfg: FetchConfig, sink: Sink): Promise<void> {
  const shown = redactUri(cfg.modelUri);
  let res: Response;
  try {
    res = await download(cfg.modelUri, AbortSignal.timeout(cfg.timeoutSeconds * 1000));
  } catch (err) {
    if (err instanceof FetchError) throw err;
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const detail = e.name === 'TimeoutError' ? `timed out after ${cfg.timeoutSeconds}s` : (e.cause?.code ?? e.cause?.message ?? e.message);
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
