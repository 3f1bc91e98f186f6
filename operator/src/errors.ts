/** Every error type the operator raises, and the classification of Kubernetes API errors. */

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A child object exists with our name but is not controlled by this ModelDeployment. */
export class ResourceConflictError extends Error {
  override name = 'ResourceConflictError';
  readonly kind: string;
  readonly objectName: string;
  constructor(kind: string, objectName: string, owner: string | undefined) {
    super(
      `${kind} ${objectName} already exists and is ${owner ? `controlled by ${owner}` : 'not managed by Modelship'}; ` +
        'rename the ModelDeployment or delete that object',
    );
    this.kind = kind;
    this.objectName = objectName;
  }
}

export interface ApiErrorInfo {
  /** HTTP status, or undefined for network-level failures. */
  status: number | undefined;
  /** Whether retrying later can succeed (conflicts, throttling, 5xx, network). */
  retryable: boolean;
  message: string;
}

/** Reads an error thrown by @kubernetes/client-node (ApiException has `code` and a string `body`). */
export function describeApiError(err: unknown): ApiErrorInfo {
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown };
  const status = typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  let message = typeof e?.message === 'string' ? e.message : String(err);
  if (typeof e?.body === 'string') {
    try {
      const parsed = JSON.parse(e.body) as { message?: string };
      if (parsed.message) message = parsed.message;
    } catch {
      /* body was not JSON; keep the exception message */
    }
  } else if (e?.body && typeof e.body === 'object' && typeof (e.body as { message?: unknown }).message === 'string') {
    message = (e.body as { message: string }).message;
  }
  const retryable = status === undefined || status === 409 || status === 429 || status >= 500;
  return { status, retryable, message };
}

export function isNotFound(err: unknown): boolean {
  return describeApiError(err).status === 404;
}

/** The object `read` returns, or undefined when the API server answers 404; other errors are thrown. */
export async function readIfExists<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function isConflict(err: unknown): boolean {
  return describeApiError(err).status === 409;
}

export function isForbidden(err: unknown): boolean {
  return describeApiError(err).status === 403;
}
