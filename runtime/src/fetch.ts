/**
 * `fetch`: download (http/https) or copy (file://, pvc://) the model to --model-path with a
 * per-attempt timeout, retries with exponential backoff, a size limit and sha256 verification.
 * Written to a temporary file beside the destination, fsynced, then renamed (atomic).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FetchConfig } from './config.ts';
import { errorMessage, FetchError } from './errors.ts';
import type { Logger } from './logger.ts';

/** The URI without credentials or query string (signed URLs carry secrets there). */
export function redactUri(uri: string): string {
  try {
    const u = new URL(uri);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?<redacted>' : ''}`;
  } catch {
    return '<unparseable uri>';
  }
}

export function pvcPath(uri: string, pvcRoot: string): string {
  const rest = uri.slice('pvc://'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) throw new FetchError(`pvc URI must be pvc://<claim>/<path>, got ${uri}`, false);
  const claim = rest.slice(0, slash);
  const path = normalize(rest.slice(slash + 1));
  if (path.startsWith('..')) throw new FetchError(`pvc URI path must stay inside the claim: ${uri}`, false);
  return join(pvcRoot, claim, path);
}

interface Sink {
  write(chunk: Uint8Array): Promise<void>;
  bytes: number;
}

async function copyStream(source: AsyncIterable<Uint8Array>, sink: Sink, maxBytes: number, what: string): Promise<void> {
  for await (const chunk of source) {
    if (sink.bytes + chunk.length > maxBytes) throw new FetchError(`${what} is larger than the limit of ${maxBytes} bytes`, false);
    await sink.write(chunk);
  }
}

async function once(cfg: FetchConfig, tmp: string): Promise<string> {
  const hash = createHash('sha256');
  const fh = await open(tmp, 'w', 0o644);
  const sink: Sink = {
    bytes: 0,
    async write(chunk) {
      hash.update(chunk);
      await fh.write(chunk);
      this.bytes += chunk.length;
    },
  };
  const shown = redactUri(cfg.modelUri);
  try {
    if (cfg.modelUri.startsWith('http://') || cfg.modelUri.startsWith('https://')) {
      let res: Response;
      try {
        res = await fetch(cfg.modelUri, { signal: AbortSignal.timeout(cfg.timeoutSeconds * 1000), redirect: 'follow' });
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; message?: string } };
        const detail =
          e.name === 'TimeoutError' ? `timed out after ${cfg.timeoutSeconds}s` : (e.cause?.code ?? e.cause?.message ?? e.message);
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
    } else {
      const path = cfg.modelUri.startsWith('pvc://') ? pvcPath(cfg.modelUri, cfg.pvcRoot) : fileURLToPath(cfg.modelUri);
      let size: number;
      try {
        const st = await stat(path);
        if (!st.isFile()) throw new FetchError(`${path} is not a regular file`, false);
        size = st.size;
      } catch (err) {
        if (err instanceof FetchError) throw err;
        throw new FetchError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, false);
      }
      if (size > cfg.maxBytes) throw new FetchError(`${path} is ${size} bytes, larger than the limit of ${cfg.maxBytes} bytes`, false);
      await copyStream(createReadStream(path), sink, cfg.maxBytes, path);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (sink.bytes === 0) throw new FetchError(`${shown} is empty`, false);
  return hash.digest('hex');
}

export async function fetchModel(
  cfg: FetchConfig,
  log: Logger,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<{ sha256: string }> {
  await mkdir(dirname(cfg.modelPath), { recursive: true });
  const tmp = `${cfg.modelPath}.part-${process.pid}`;
  const shown = redactUri(cfg.modelUri);
  for (let attempt = 0; ; attempt++) {
    try {
      const sha256 = await once(cfg, tmp);
      if (cfg.modelSha256 && sha256 !== cfg.modelSha256) {
        throw new FetchError(`sha256 mismatch for ${shown}: got ${sha256}, expected ${cfg.modelSha256}`, false);
      }
      await rename(tmp, cfg.modelPath);
      log.info('model fetched', {
        uri: shown,
        path: cfg.modelPath,
        sha256,
        verified: cfg.modelSha256 !== undefined,
        attempts: attempt + 1,
      });
      return { sha256 };
    } catch (err) {
      await rm(tmp, { force: true });
      const fe = err instanceof FetchError ? err : new FetchError(`fetch of ${shown} failed: ${errorMessage(err)}`, false);
      if (!fe.retryable || attempt >= cfg.retries) throw fe;
      const delay = cfg.backoffMs * 2 ** attempt;
      log.warn('fetch attempt failed; retrying', { error: fe.message, attempt: attempt + 1, retryInMs: delay });
      await sleep(delay);
    }
  }
}
