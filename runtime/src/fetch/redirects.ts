/**
 * GET with redirects followed by hand (http:// models and OCI registries): a redirect from https
 * to http (which would send the download in clear text and lose the server's authentication) or
 * to another scheme is refused, and so is a chain longer than MAX_REDIRECTS. Errors other than
 * the FetchErrors made by `fail` are network failures (the callers make them retryable).
 */
import type { FetchError } from '../errors.ts';
import { redactUri } from './sink.ts';

export const MAX_REDIRECTS = 5;

/** `headersFor(url)`: the request headers for each hop (so credentials can stay on their own host). */
export async function getFollowingRedirects(
  start: URL,
  signal: AbortSignal,
  headersFor: (url: URL) => Record<string, string>,
  fail: (what: string) => FetchError,
): Promise<Response> {
  let url = start;
  for (let hops = 0; ; hops++) {
    const res = await fetch(url, { headers: headersFor(url), signal, redirect: 'manual' });
    const location = res.headers.get('location');
    if (res.status < 300 || res.status > 399 || location === null) return res;
    await res.body?.cancel();
    if (hops === MAX_REDIRECTS) throw fail(`more than ${MAX_REDIRECTS} redirects`);
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw fail(`HTTP ${res.status} redirect to an unparseable location`);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw fail(`refusing a redirect to a ${next.protocol} URL`);
    if (url.protocol === 'https:' && next.protocol === 'http:')
      throw fail(`refusing a redirect from https to http (${redactUri(next.href)})`);
    url = next;
  }
}

/** What a failed fetch() says in one line: the timeout, or the network error's code. */
export function networkDetail(err: unknown, timeoutSeconds: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.name === 'TimeoutError' ? `timed out after ${timeoutSeconds}s` : (e.cause?.code ?? e.cause?.message ?? e.message);
}
