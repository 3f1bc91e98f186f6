/** file:// model URIs, and the local copy pvc:// uses too: a regular file within the size limit. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { errorMessage, FetchError } from '../errors.ts';
import { copyStream, type Sink } from './sink.ts';

/** Copy the regular file at `path` into the sink; every failure is final (not retryable). */
export async function copyLocalFile(path: string, maxBytes: number, sink: Sink): Promise<void> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new FetchError(`${path} is not a regular file`, false);
    size = st.size;
  } catch (err) {
    if (err instanceof FetchError) throw err;
    throw new FetchError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, false);
  }
  if (size > maxBytes) throw new FetchError(`${path} is ${size} bytes, larger than the limit of ${maxBytes} bytes`, false);
  await copyStream(createReadStream(path), sink, maxBytes, path);
}

export async function fetchFile(uri: string, maxBytes: number, sink: Sink): Promise<void> {
  await copyLocalFile(fileURLToPath(uri), maxBytes, sink);
}
