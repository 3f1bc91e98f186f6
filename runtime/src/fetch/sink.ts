/**
 * Where every URI scheme writes the model: a sink that hashes and writes each chunk, and the
 * copy loop that enforces the size limit while the bytes arrive.
 */
import { FetchError } from '../errors.ts';

export interface Sink {
  write(chunk: Uint8Array): Promise<void>;
  bytes: number;
}

export async function copyStream(source: AsyncIterable<Uint8Array>, sink: Sink, maxBytes: number, what: string): Promise<void> {
  for await (const chunk of source) {
    if (sink.bytes + chunk.length > maxBytes) throw new FetchError(`${what} is larger than the limit of ${maxBytes} bytes`, false);
    await sink.write(chunk);
  }
}

/** A whole response body, read only up to maxBytes (Content-Length or not): past it, a FetchError. */
export async function readBody(res: Response, maxBytes: number, what: string): Promise<Buffer> {
  if (Number(res.headers.get('content-length')) > maxBytes) {
    await res.body?.cancel();
    throw new FetchError(`${what} is larger than the limit of ${maxBytes} bytes`, false);
  }
  const chunks: Uint8Array[] = [];
  const memory: Sink = {
    bytes: 0,
    async write(chunk) {
      chunks.push(chunk);
      this.bytes += chunk.length;
    },
  };
  if (res.body) await copyStream(res.body, memory, maxBytes, what);
  return Buffer.concat(chunks);
}

/** The URI without credentials or query string (signed URLs carry secrets there). */
export function redactUri(uri: string): string {
  try {
    const u = new URL(uri);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?<redacted>' : ''}`;
  } catch {
    return '<unparseable uri>';
  }
}
