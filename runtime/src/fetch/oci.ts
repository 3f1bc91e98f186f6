/**
 * oci://<registry>/<repository>(:<tag>|@sha256:<digest>) model URIs: the model is an OCI artifact
 * in the ORAS layout (an OCI image manifest whose layer is the ONNX file), pulled with the
 * registry API v2: GET the manifest, pick the ONNX layer, GET its blob (redirects followed; the
 * registry's Authorization is never sent to another host), stream it to the sink and verify the
 * layer digest. A digest-pinned reference also verifies the manifest's digest, so the pull is
 * content-addressed end to end. Auth: anonymous, Basic, or the Bearer token flow
 * (WWW-Authenticate realm/service/scope), with credentials from a docker config file.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { formatOciReference, manifestReference, parseOciReference, type OciReference } from '../../../contract/oci-reference.ts';
import type { FetchConfig } from '../config.ts';
import { errorMessage, FetchError } from '../errors.ts';
import { basicHeader, credentialsFor, type BasicCredentials } from './docker-config.ts';
import { getFollowingRedirects, networkDetail } from './redirects.ts';
import { copyStream, readBody, type Sink } from './sink.ts';
import { parseWwwAuthenticate, tokenUrl } from './www-authenticate.ts';

export const isOciUri = (uri: string): boolean => uri.startsWith('oci://');

const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;
/** The layer media types taken as the ONNX model (besides a title annotation ending in .onnx). */
export const ONNX_MEDIA_TYPES: readonly string[] = ['application/vnd.onnx', 'application/onnx', 'application/vnd.onnx.model'];
const TITLE = 'org.opencontainers.image.title';
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** a token is a JWT of a few KiB; the cap only stops a token service that never ends its answer */
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
/** of an error answer only its first `errors[0]` matters */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/**
 * The ONNX layer of a manifest: the one layer whose media type is an ONNX type, or whose title
 * annotation ends in ".onnx" with a media type that is not an archive. Anything else is refused
 * with the layers it saw, so a user who pushed the wrong file learns what is there.
 */
export function pickModelLayer(manifest: unknown): Descriptor | { error: string } {
  const m = manifest as { mediaType?: unknown; manifests?: unknown; layers?: unknown };
  if (typeof m !== 'object' || m === null) return { error: 'the manifest is not a JSON object' };
  if (m.mediaType === MEDIA.ociIndex || m.mediaType === MEDIA.dockerList || Array.isArray(m.manifests))
    return {
      error:
        'the reference is an image index (several manifests), not a model artifact: push the model with ' +
        '`oras push <ref> model.onnx:application/vnd.onnx` or reference one manifest by its digest',
    };
  if (!Array.isArray(m.layers) || m.layers.length === 0) return { error: 'the manifest has no layers' };
  const layers = m.layers as Descriptor[];
  for (const l of layers) {
    if (typeof l !== 'object' || l === null || typeof l.digest !== 'string' || !Number.isSafeInteger(l.size) || l.size < 0)
      return { error: 'the manifest has a layer without a digest or size' };
  }
  const archive = (t: string | undefined) => t !== undefined && /tar|gzip|zstd/.test(t);
  const isModel = (l: Descriptor) =>
    ONNX_MEDIA_TYPES.includes(l.mediaType ?? '') ||
    (!archive(l.mediaType) && (l.annotations?.[TITLE] ?? '').toLowerCase().endsWith('.onnx'));
  const models = layers.filter(isModel);
  const shown = layers.map((l) => `${l.annotations?.[TITLE] ?? l.digest} (${l.mediaType ?? 'no media type'})`).join(', ');
  if (models.length === 1) return models[0] as Descriptor;
  if (models.length === 0)
    return {
      error: `the artifact has no ONNX layer (media type ${ONNX_MEDIA_TYPES[0]} or a title ending in .onnx, not an archive); its layers: ${shown}`,
    };
  return { error: `the artifact has ${models.length} ONNX layers, expected one: ${shown}` };
}

export interface OciOptions {
  /** the docker config file (kubernetes.io/dockerconfigjson Secret) with the registry credentials */
  registryAuthFile: string | undefined;
  /** talk plain http to the registry (only for registries the user marks insecure) */
  plainHttp: boolean;
}

/** The registry session of one pull: base URL, credentials, and the Authorization header once known. */
class Registry {
  private authorization: string | undefined;
  private triedAuth = false;
  readonly ref: OciReference;
  private readonly base: URL;
  private readonly creds: BasicCredentials | undefined;
  private readonly signal: AbortSignal;
  constructor(ref: OciReference, base: URL, creds: BasicCredentials | undefined, signal: AbortSignal) {
    this.ref = ref;
    this.base = base;
    this.creds = creds;
    this.signal = signal;
  }

  private fail(what: string, retryable = false): FetchError {
    return new FetchError(`cannot pull ${formatOciReference(this.ref)}: ${what}`, retryable);
  }

  /** GET a registry path; on 401 authenticate once (Basic or Bearer) and repeat. */
  async get(path: string, accept: string | undefined): Promise<Response> {
    for (;;) {
      const res = await this.follow(new URL(path, this.base), accept);
      if (res.status !== 401 || this.triedAuth) return res;
      const header = res.headers.get('www-authenticate') ?? '';
      await res.body?.cancel();
      this.triedAuth = true;
      await this.authenticate(header);
    }
  }

  /** GET with redirects followed by hand: Authorization goes to the registry host only, https never drops to http. */
  private follow(start: URL, accept: string | undefined): Promise<Response> {
    const headersFor = (url: URL) => ({
      ...(accept ? { accept } : {}),
      ...(this.authorization && url.host === this.base.host ? { authorization: this.authorization } : {}),
    });
    return getFollowingRedirects(start, this.signal, headersFor, (what) => this.fail(what));
  }

  private async authenticate(header: string): Promise<void> {
    const challenges = parseWwwAuthenticate(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      const url = tokenUrl(bearer, this.ref.repository, this.base.protocol === 'https:');
      if ('error' in url) throw this.fail(url.error);
      const headers: Record<string, string> = {};
      if (this.creds) headers['authorization'] = basicHeader(this.creds);
      const res = await fetch(url, { headers, signal: this.signal });
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw this.fail(`the token service refused the ${this.creds ? 'credentials' : 'anonymous request'} (HTTP ${res.status})`);
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw this.fail(`the token service answered HTTP ${res.status}`, res.status >= 500 || res.status === 429);
      }
      const raw = await readBody(res, MAX_TOKEN_RESPONSE_BYTES, `the token response of ${url.origin}${url.pathname}`);
      let body: { token?: unknown; access_token?: unknown } = {};
      try {
        body = JSON.parse(raw.toString('utf8')) as typeof body;
      } catch {
        // not JSON: reported below as an answer without a token
      }
      const token = typeof body.token === 'string' ? body.token : body.access_token;
      if (typeof token !== 'string' || token === '') throw this.fail('the token service answered without a token');
      this.authorization = `Bearer ${token}`;
      return;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!this.creds) throw this.fail('the registry requires credentials (HTTP 401) and none were given for it');
      this.authorization = basicHeader(this.creds);
      return;
    }
    throw this.fail(`the registry answered HTTP 401 with an unsupported challenge "${header.split(' ')[0] ?? ''}"`);
  }

  /** A non-2xx answer as one line: 401/403 name the credentials, 404 the missing thing. */
  async refuse(res: Response, what: string): Promise<FetchError> {
    const text = await readBody(res, MAX_ERROR_BODY_BYTES, 'the error body').then(
      (b) => b.toString('utf8'),
      () => '', // too long or cut off: the status says enough
    );
    let code = '';
    try {
      const errs = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors;
      if (errs?.[0]) code = ` (${errs[0].code ?? ''}${errs[0].message ? `: ${errs[0].message}` : ''})`;
    } catch {
      // not the registry's JSON error body: the status says enough
    }
    if (res.status === 401 || res.status === 403)
      return this.fail(
        `${this.creds ? 'the registry refused the credentials' : 'the registry requires credentials and none were given for it'} (HTTP ${res.status})${code}`,
      );
    if (res.status === 404) return this.fail(`${what} not found (HTTP 404)${code}`);
    return this.fail(`${what}: HTTP ${res.status}${code}`, res.status >= 500 || res.status === 408 || res.status === 429);
  }
}

async function loadCredentials(file: string | undefined, registry: string): Promise<BasicCredentials | undefined> {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // in a pod the file is the .dockerconfigjson key of spec.model.credentialsSecretRef, mounted optional
    const hint =
      code === 'ENOENT'
        ? ' (is spec.model.credentialsSecretRef a kubernetes.io/dockerconfigjson Secret with a .dockerconfigjson key?)'
        : '';
    throw new FetchError(`cannot read the registry credentials file ${file}: ${code ?? errorMessage(err)}${hint}`, false);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new FetchError(`the registry credentials file ${file} is not JSON (expected a docker config.json)`, false);
  }
  const c = credentialsFor(json, registry);
  if (c !== undefined && 'error' in c) throw new FetchError(c.error, false);
  return c;
}

/** Pull the model layer of cfg.modelUri into the sink; network failures, 5xx, 408 and 429 are retryable. */
export async function fetchOci(cfg: FetchConfig, sink: Sink): Promise<void> {
  const ref = parseOciReference(cfg.modelUri);
  if ('error' in ref) throw new FetchError(ref.error, false);
  const shown = formatOciReference(ref);
  const creds = await loadCredentials(cfg.registryAuthFile, ref.registry);
  const base = new URL(`${cfg.ociPlainHttp ? 'http' : 'https'}://${ref.registry}/`);
  const registry = new Registry(ref, base, creds, AbortSignal.timeout(cfg.timeoutSeconds * 1000));
  try {
    const res = await registry.get(
      `/v2/${ref.repository}/manifests/${manifestReference(ref)}`,
      [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(', '),
    );
    if (!res.ok) throw await registry.refuse(res, ref.digest ? `manifest ${ref.digest}` : `tag "${ref.tag ?? ''}"`);
    const raw = await readBody(res, MAX_MANIFEST_BYTES, `the manifest of ${shown}`);
    if (ref.digest) {
      const got = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
      if (got !== ref.digest)
        throw new FetchError(`cannot pull ${shown}: the registry's manifest has digest ${got}, not ${ref.digest}`, false);
    }
    let manifest: unknown;
    try {
      manifest = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new FetchError(`cannot pull ${shown}: the manifest is not JSON`, false);
    }
    const layer = pickModelLayer(manifest);
    if ('error' in layer) throw new FetchError(`cannot pull ${shown}: ${layer.error}`, false);
    const layerHex = /^sha256:([a-f0-9]{64})$/.exec(layer.digest)?.[1];
    if (!layerHex) throw new FetchError(`cannot pull ${shown}: the model layer's digest ${layer.digest} is not sha256`, false);
    if (layer.size > cfg.maxBytes)
      throw new FetchError(`${shown} is ${layer.size} bytes, larger than the limit of ${cfg.maxBytes} bytes`, false);
    const blob = await registry.get(`/v2/${ref.repository}/blobs/${layer.digest}`, undefined);
    if (!blob.ok) throw await registry.refuse(blob, `blob ${layer.digest}`);
    if (!blob.body) throw new FetchError(`cannot pull ${shown}: empty blob response`, true);
    const hash = createHash('sha256');
    const start = sink.bytes;
    const hashing: Sink = {
      bytes: sink.bytes,
      async write(chunk) {
        hash.update(chunk);
        await sink.write(chunk);
        this.bytes = sink.bytes;
      },
    };
    await copyStream(blob.body, hashing, Math.min(cfg.maxBytes, layer.size), shown);
    if (sink.bytes - start !== layer.size)
      throw new FetchError(
        `cannot pull ${shown}: got ${sink.bytes - start} bytes of the model layer, the manifest says ${layer.size}`,
        true,
      );
    if (hash.digest('hex') !== layerHex)
      throw new FetchError(`cannot pull ${shown}: the model layer does not match its digest ${layer.digest}`, false);
  } catch (err) {
    if (err instanceof FetchError) throw err;
    const detail = networkDetail(err, cfg.timeoutSeconds);
    throw new FetchError(`cannot pull ${shown}: ${detail}`, true);
  }
}
