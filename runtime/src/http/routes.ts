/**
 * Matching of the inference (hot path) routes, done by hand so those requests never go
 * through express: POST /v2/models/{m}[/versions/{v}]/infer and
 * POST /v1/models/{m}[/versions/{v}]:predict. Also the normalized path other per-request checks
 * compare with fixed paths (routePath, needsReview).
 */
import { HTTP_PATH } from '../../../contract/runtime-contract.ts';

export interface InferenceRoute {
  protocol: 'v2' | 'v1';
  model: string;
  version: string | undefined;
}

const V2 = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/;
const V1 = /^\/v1\/models\/([^/:]+)(?:\/versions\/([^/:]+))?:predict$/;

/** Decoded path segment, or null when its percent-escapes are not valid UTF-8 percent-encoding. */
function decode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/**
 * The first path segment whose percent-escapes do not decode (e.g. "%E0%A4%A"), or undefined.
 * Such a path is a 400 (app.ts), never a 500 or a lookup of the raw text.
 */
export function malformedSegment(path: string): string | undefined {
  if (!path.includes('%')) return undefined;
  for (const seg of path.split('/')) if (decode(seg) === null) return seg;
  return undefined;
}

/**
 * The hot-path route of a POST URL. A path with a malformed percent-escape is not matched: it
 * goes to express, whose first middleware answers 400.
 */
export function matchInference(url: string): InferenceRoute | undefined {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const m = V2.exec(path) ?? V1.exec(path);
  if (!m) return undefined;
  const model = decode(m[1] as string);
  const version = m[2] === undefined ? undefined : decode(m[2]);
  if (model === null || version === null) return undefined;
  return { protocol: path.startsWith('/v2/') ? 'v2' : 'v1', model, version };
}

/**
 * `path` without its trailing slashes, in linear time: the regex /\/+$/ backtracks on a run of
 * slashes that is not at the end, quadratic in its length (~0.2 s for a 16 KB request line).
 */
export function trimTrailingSlashes(path: string): string {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(0, end);
}

/** The path of a request URL as express matches a fixed route: no query, no trailing slashes, lowercase. */
export function routePath(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return trimTrailingSlashes(q === -1 ? u : u.slice(0, q)).toLowerCase();
}

/** kubelet's probes and the scraper carry no caller identity: never reviewed in kubernetes mode (and never guarded) */
const UNREVIEWED_PATHS: ReadonlySet<string> = new Set([HTTP_PATH.live, HTTP_PATH.ready, HTTP_PATH.metrics]);

/** kubernetes mode: whether the request's caller is reviewed (kube-auth/request-gate.ts) before dispatch */
export function needsReview(url: string | undefined): boolean {
  return !UNREVIEWED_PATHS.has(routePath(url));
}
