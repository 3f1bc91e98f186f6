/**
 * `fetch`: download (http/https, oci://, s3://) or copy (file://, pvc://) the model to --model-path with a
 * per-attempt timeout, retries with exponential backoff, a size limit and sha256 verification.
 * Written to a temporary file beside the destination, fsynced, then renamed (atomic).
 * Each URI scheme lives in its own module (http.ts, file.ts, pvc.ts, oci.ts, s3.ts).
 */
import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FetchConfig } from '../config.ts';
import { errorMessage, FetchError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { fetchFile } from './file.ts';
import { fetchHttp, isHttpUri } from './http.ts';
import { fetchOci, isOciUri } from './oci.ts';
import { fetchPvc, isPvcUri } from './pvc.ts';
import { fetchS3, isS3Uri } from './s3.ts';
import { redactUri, type Sink } from './sink.ts';

/** One attempt: the model into `tmp` (fsynced); its sha256. */
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
  try {
    if (isHttpUri(cfg.modelUri)) await fetchHttp(cfg, sink);
    else if (isOciUri(cfg.modelUri)) await fetchOci(cfg, sink);
    else if (isS3Uri(cfg.modelUri)) await fetchS3(cfg, sink);
    else if (isPvcUri(cfg.modelUri)) await fetchPvc(cfg.modelUri, cfg.pvcRoot, cfg.maxBytes, sink);
    else await fetchFile(cfg.modelUri, cfg.maxBytes, sink);
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (sink.bytes === 0) throw new FetchError(`${redactUri(cfg.modelUri)} is empty`, false);
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
