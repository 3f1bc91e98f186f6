/**
 * Matching of the inference (hot path) routes, done by hand so those requests never go
 * through express: POST /v2/models/{m}[/versions/{v}]/infer and
 * POST /v1/models/{m}[/versions/{v}]:predict.
 */
export interface InferenceRoute {
  protocol: 'v2' | 'v1';
  model: string;
  version: string | undefined;
}

const V2 = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/;
const V1 = /^\/v1\/models\/([^/:]+)(?:\/versions\/([^/:]+))?:predict$/;

function decode(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function matchInference(url: string): InferenceRoute | undefined {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  let m = V2.exec(path);
  if (m) return { protocol: 'v2', model: decode(m[1]) as string, version: decode(m[2]) };
  m = V1.exec(path);
  if (m) return { protocol: 'v1', model: decode(m[1]) as string, version: decode(m[2]) };
  return undefined;
}
