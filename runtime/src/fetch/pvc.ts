/**
 * pvc://<claim>/<path> model URIs: a file on a PersistentVolumeClaim mounted at
 * <pvcRoot>/<claim>, which the copy never leaves (no "..", no symlink out of the claim).
 */
import { realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { errorMessage, FetchError } from '../errors.ts';
import { copyLocalFile } from './file.ts';
import type { Sink } from './sink.ts';

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

export const isPvcUri = (uri: string): boolean => uri.startsWith('pvc://');

export async function fetchPvc(uri: string, pvcRoot: string, maxBytes: number, sink: Sink): Promise<void> {
  const path = pvcPath(uri, pvcRoot);
  await checkInsideClaim(path, uri, pvcRoot);
  await copyLocalFile(path, maxBytes, sink);
}
