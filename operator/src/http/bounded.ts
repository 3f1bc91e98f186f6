/**
 * Bounds for reading many untrusted peers (runtime pods' /metrics): how many are asked at once, and
 * how much of one answer is read. Used by the canary analysis' scraper (analysis/scrape.ts) and the
 * custom metrics server's (custom-metrics/scrape.ts).
 */
import type { Dispatcher } from 'undici';

/** Runs `fn` over `items` with at most `concurrency` at once. */
export async function forEachBounded<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Reads a body up to `max` bytes; past that, stops reading, aborts the request and answers undefined. */
export async function readCapped(body: Dispatcher.ResponseData['body'], max: number, abort: AbortController): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      abort.abort();
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
