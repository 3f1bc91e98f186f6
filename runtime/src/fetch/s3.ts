/**
 * s3://<bucket>/<key> model URIs: one GetObject with the AWS SDK v3 S3 client, streamed to the
 * sink under the size limit (fetch-model.ts hashes it and checks the sha256 as for http(s)).
 * Endpoint, region and path-style addressing come from the configuration (an S3-compatible store
 * names its endpoint; path style is then the default). Credentials: the files of a mounted
 * Secret (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN) when a directory is
 * given, else the SDK's default chain (environment, IRSA web identity, EKS pod identity / ECS
 * container credentials, instance metadata). The SDK retries nothing itself: fetch-model.ts owns
 * the one bounded retry loop. Errors are one line that never contains a credential.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { formatS3Uri, parseS3Uri } from '../../../contract/s3-uri.ts';
import { S3_CREDENTIAL_KEYS } from '../../../contract/runtime-contract.ts';
import type { FetchConfig } from '../config.ts';
import { errorMessage, FetchError } from '../errors.ts';
import { copyStream, type Sink } from './sink.ts';

export const isS3Uri = (uri: string): boolean => uri.startsWith('s3://');

/** The region when neither the spec nor AWS_REGION names one (an S3-compatible store rarely cares). */
export const DEFAULT_S3_REGION = 'us-east-1';

export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const NOT_FOUND = new Set(['NoSuchKey', 'NoSuchBucket', 'NotFound', 'NoSuchVersion']);
const ACCESS_DENIED = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidSecurity',
]);
const THROTTLED = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'ServiceUnavailable', 'InternalError']);

/**
 * One line for a failed GetObject: the S3 error code (never its message, which can quote request
 * headers) mapped to what the user should check, and whether another attempt can help.
 */
export function describeS3Error(err: unknown, shown: string, secrets: readonly string[] = []): FetchError {
  const e = err as { name?: unknown; $metadata?: { httpStatusCode?: number }; $fault?: unknown };
  const code = typeof e?.name === 'string' ? e.name : '';
  const status = e?.$metadata?.httpStatusCode;
  if (err instanceof S3ServiceException || status !== undefined) {
    if (NOT_FOUND.has(code) || status === 404)
      return new FetchError(`${shown}: object not found (${code === 'NoSuchBucket' ? 'no such bucket' : code || 'HTTP 404'})`, false);
    if (ACCESS_DENIED.has(code) || status === 403 || status === 401)
      return new FetchError(`${shown}: access denied (check credentials): ${code || `HTTP ${status}`}`, false);
    if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || status === 301)
      return new FetchError(
        `${shown}: the bucket is in another region or at another endpoint (${code || `HTTP ${status}`}): set the region`,
        false,
      );
    const retryable = THROTTLED.has(code) || (status !== undefined && (status >= 500 || status === 408 || status === 429));
    return new FetchError(`${shown}: the S3 service answered ${code || 'an error'}${status ? ` (HTTP ${status})` : ''}`, retryable);
  }
  if (code === 'CredentialsProviderError')
    return new FetchError(
      `${shown}: no S3 credentials: set spec.model.credentialsSecretRef or give the pod an identity (IRSA, EKS pod identity, AWS_* environment)`,
      false,
    );
  const n = err as { code?: unknown; cause?: { code?: unknown }; message?: unknown };
  const detail = typeof n.code === 'string' ? n.code : typeof n.cause?.code === 'string' ? n.cause.code : errorMessage(err);
  return new FetchError(`${shown}: ${scrub(detail, secrets)}`, true);
}

/** `text` with every credential replaced: an unknown error's text may quote what it was given. */
function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('<redacted>');
  return out.length > 300 ? `${out.slice(0, 300)}...` : out;
}

/** The credentials in a mounted Secret's directory; a missing or empty key names the key and the Secret field. */
export async function readCredentialsDir(dir: string): Promise<StaticCredentials> {
  const read = async (key: string, required: boolean): Promise<string | undefined> => {
    let text: string;
    try {
      text = await readFile(join(dir, key), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !required) return undefined;
      const hint =
        code === 'ENOENT'
          ? ` (is spec.model.credentialsSecretRef a Secret with the keys ${S3_CREDENTIAL_KEYS.accessKeyId} and ${S3_CREDENTIAL_KEYS.secretAccessKey}?)`
          : '';
      throw new FetchError(`cannot read the S3 credential ${key} in ${dir}: ${code ?? errorMessage(err)}${hint}`, false);
    }
    const value = text.trim();
    if (value === '' && required) throw new FetchError(`the S3 credential ${key} in ${dir} is empty`, false);
    return value === '' ? undefined : value;
  };
  const accessKeyId = (await read(S3_CREDENTIAL_KEYS.accessKeyId, true)) as string;
  const secretAccessKey = (await read(S3_CREDENTIAL_KEYS.secretAccessKey, true)) as string;
  const sessionToken = await read(S3_CREDENTIAL_KEYS.sessionToken, false);
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** Download the object cfg.modelUri into the sink. */
export async function fetchS3(cfg: FetchConfig, sink: Sink): Promise<void> {
  const loc = parseS3Uri(cfg.modelUri);
  if ('error' in loc) throw new FetchError(loc.error, false);
  const shown = formatS3Uri(loc);
  const credentials = cfg.s3.credentialsDir !== undefined ? await readCredentialsDir(cfg.s3.credentialsDir) : undefined;
  const secrets = credentials ? [credentials.secretAccessKey, credentials.sessionToken ?? ''] : [];
  const client = new S3Client({
    region: cfg.s3.region ?? DEFAULT_S3_REGION,
    ...(cfg.s3.endpoint !== undefined ? { endpoint: cfg.s3.endpoint } : {}),
    // an S3-compatible store at its own endpoint rarely has virtual-host DNS for each bucket
    forcePathStyle: cfg.s3.forcePathStyle ?? cfg.s3.endpoint !== undefined,
    ...(credentials ? { credentials } : {}),
    maxAttempts: 1,
    requestHandler: { connectionTimeout: Math.min(cfg.timeoutSeconds * 1000, 30_000), requestTimeout: cfg.timeoutSeconds * 1000 },
  });
  const signal = AbortSignal.timeout(cfg.timeoutSeconds * 1000);
  try {
    const res = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key }), { abortSignal: signal });
    const declared = res.ContentLength;
    if (declared !== undefined && declared > cfg.maxBytes) {
      (res.Body as { destroy?: () => void } | undefined)?.destroy?.();
      throw new FetchError(`${shown} is ${declared} bytes, larger than the limit of ${cfg.maxBytes} bytes`, false);
    }
    if (!res.Body) throw new FetchError(`${shown}: empty response`, true);
    const start = sink.bytes;
    await copyStream(res.Body as AsyncIterable<Uint8Array>, sink, cfg.maxBytes, shown);
    if (declared !== undefined && sink.bytes - start !== declared)
      throw new FetchError(`${shown}: got ${sink.bytes - start} bytes, the object has ${declared}`, true);
  } catch (err) {
    if (err instanceof FetchError) throw err;
    if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError')
      throw new FetchError(`${shown}: timed out after ${cfg.timeoutSeconds}s`, true);
    throw describeS3Error(err, shown, secrets);
  } finally {
    client.destroy();
  }
}
