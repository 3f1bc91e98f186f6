/**
 * `fetch`: download (http/https) or copy (file://, pvc://) the model to --model-path with a
 * per-attempt timeout, retries with exponential backoff, a size limit and sha256 verification.
 * Written to a temporary file beside the destination, fsynced, then renamed (atomic).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
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

/** A PersistentVolumeClaim name: a DNS-1123 subdomain (so never "." or ".."). */
const CLAIM_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * The file of pvc://<claim>/<path> under pvcRoot. Path segments are percent-decoded (as a file://
 * URL's are) and a ".." segment, decoded or not, is refused: the result never leaves the claim.
 */
export function pvcPath(uri: string, pvcRoot: string): string {
  const rest = uri.slice('pvc://'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) throw new FetchError(`pvc URI must be pvc://<claim>/<path>, got ${uri}`, false);
  const claim = rest.slice(0, slash);
  if (!CLAIM_NAME.test(claim))
    throw new FetchError(`pvc URI claim must be a PersistentVolumeClaim name (lowercase DNS subdomain), got "${claim}" in ${uri}`, false);
  const segments: string[] = [];
  for (const raw of rest.slice(slash + 1).split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw new FetchError(`pvc URI path has a malformed percent-escape in "${raw}": ${uri}`, false);
    }
    if (seg === '..' || seg.includes('/') || seg.includes('\0'))
      throw new FetchError(`pvc URI path must stay inside the claim (no "..", encoded "/" or NUL): ${uri}`, false);
    if (seg !== '' && seg !== '.') segments.push(seg);
  }
  if (segments.length === 0) throw new FetchError(`pvc URI must be pvc://<claim>/<path>, got ${uri}`, false);
  return join(pvcRoot, claim, ...segments);
}

/** Refuse a pvc:// file that resolves (through symlinks) outside its claim's directory. */
async function checkInsideClaim(path: string, uri: string, pvcRoot: string): Promise<void> {
  const claimDir = join(pvcRoot, uri.slice('pvc://'.length).split('/')[0] as string);
  let real: string;
  let realClaim: string;
  try {
    [real, realClaim] = await Promise.all([realpath(path), realpath(claimDir)]);
  } catch (err) {
    throw new FetchError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, false);
  }
  if (!real.startsWith(realClaim + sep))
    throw new FetchError(`pvc URI must stay inside the claim: ${path} resolves to ${real}, outside ${realClaim}`, false);
}

const MAX_REDIRECTS = 5;

/**
 * GET with redirects followed by hand, so that a redirect from https to http (which would send
 * the download in clear text and lose the server's authentication) or to another scheme is
 * refused. Errors other than FetchError are network failures (retryable, see once()).
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
        res = await download(cfg.modelUri, AbortSignal.timeout(cfg.timeoutSeconds * 1000));
      } catch (err) {
        if (err instanceof FetchError) throw err;
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
      const isPvc = cfg.modelUri.startsWith('pvc://');
      const path = isPvc ? pvcPath(cfg.modelUri, cfg.pvcRoot) : fileURLToPath(cfg.modelUri);
      if (isPvc) await checkInsideClaim(path, cfg.modelUri, cfg.pvcRoot);
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
