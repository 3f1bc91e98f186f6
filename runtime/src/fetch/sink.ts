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

/** The URI without credentials or query string (signed URLs carry secrets there). */
export function redactUri(uri: string): string {
  try {
    const u = new URL(uri);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?<redacted>' : ''}`;
  } catch {
    return '<unparseable uri>';
  }
}
