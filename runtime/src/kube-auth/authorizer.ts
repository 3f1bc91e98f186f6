/**
 * kubernetes mode: a caller is who its bearer token says (TokenReview, bound to our audience) and
 * may call if RBAC lets that identity `create` (inference, POST) or `get` (metadata, GET)
 * modeldeployments/predict on this ModelDeployment (SubjectAccessReview). Decisions are cached
 * briefly (decision-cache.ts), identical reviews in flight are shared, the review calls are
 * bounded (limiter.ts), and any failure to ask the API server is a 503: it never lets a request
 * through. Tokens are never logged; a log line names a token by the first 12 hex digits of its
 * sha256 at most.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { KubeAuthConfig } from '../config.ts';
import { errorMessage, ReviewUnavailable } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { DecisionCache } from './decision-cache.ts';
import type { KubeApi, ResourceAttributes } from './kube-api.ts';
import { Limiter } from './limiter.ts';

/** what RBAC is asked about: `<verb> modeldeployments/predict <name>` in the group below */
export const PREDICT_RESOURCE = { group: 'modelship.dev', resource: 'modeldeployments', subresource: 'predict' } as const;
export const VERB = { inference: 'create', metadata: 'get' } as const;

/** a token longer than this is refused without asking the API server (ServiceAccount JWTs are ~1 KB) */
export const MAX_TOKEN_LENGTH = 16 * 1024;
/** RFC 6750 b64token */
const TOKEN_SYNTAX = /^[A-Za-z0-9\-._~+/]+=*$/;

/** The configured audience, ModelDeployment (namespace, name) and cache bounds, plus the review limits. */
export interface AuthorizerSettings extends Pick<
  KubeAuthConfig,
  'audience' | 'namespace' | 'name' | 'allowTtlMs' | 'denyTtlMs' | 'maxEntries'
> {
  maxConcurrentReviews: number;
  maxWaitingReviews: number;
}

export type Decision = { allowed: true } | { allowed: false; status: 401 | 403 | 503; message: string; retryAfterSeconds?: number };

const ALLOW: Decision = { allowed: true };
const unauthenticated = (message: string): Decision => ({ allowed: false, status: 401, message });

export const tokenDigest = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** The bearer token of the request, or the 401 to answer; nothing is sent anywhere for a malformed one. */
export function bearerToken(headers: IncomingHttpHeaders): { token: string } | { refusal: Decision } {
  const auth = headers['authorization'];
  if (typeof auth !== 'string' || auth.trim() === '')
    return { refusal: unauthenticated('missing bearer token: send "Authorization: Bearer <Kubernetes ServiceAccount token>"') };
  const m = /^Bearer\s+(\S+)$/i.exec(auth.trim());
  if (!m) return { refusal: unauthenticated('the Authorization header must be "Bearer <Kubernetes ServiceAccount token>"') };
  const token = m[1] as string;
  if (token.length > MAX_TOKEN_LENGTH)
    return { refusal: unauthenticated(`the bearer token is longer than ${MAX_TOKEN_LENGTH} characters`) };
  if (!TOKEN_SYNTAX.test(token)) return { refusal: unauthenticated('the bearer token contains characters no token can contain') };
  return { token };
}

/**
 * The token's own expiry (JWT `exp`, milliseconds), read without verifying the signature: used
 * only to end a cached decision no later than the token, after the API server has judged it.
 */
export function tokenExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export const verbFor = (method: string | undefined): string => (method === 'POST' ? VERB.inference : VERB.metadata);

export class KubeAuthorizer {
  private readonly cache: DecisionCache<Decision>;
  private readonly limiter: Limiter;
  private readonly settings: AuthorizerSettings;
  private readonly api: KubeApi;
  private readonly log: Logger;
  private readonly now: () => number;
  private failing = false;
  private lastFailureLog = 0;

  constructor(settings: AuthorizerSettings, api: KubeApi, log: Logger, now: () => number = Date.now) {
    this.settings = settings;
    this.api = api;
    this.log = log;
    this.now = now;
    this.cache = new DecisionCache(settings.maxEntries);
    this.limiter = new Limiter(settings.maxConcurrentReviews, settings.maxWaitingReviews);
  }

  /** cached decisions (bounded by settings.maxEntries) */
  get cachedDecisions(): number {
    return this.cache.size;
  }

  /** Never rejects: a failure to review is a 503 decision. */
  decide(headers: IncomingHttpHeaders, method: string | undefined): Decision | Promise<Decision> {
    const parsed = bearerToken(headers);
    if ('refusal' in parsed) return parsed.refusal;
    const verb = verbFor(method);
    const digest = tokenDigest(parsed.token);
    return this.cache.lookup(`${digest}:${verb}`, this.now(), () => this.review(parsed.token, digest, verb));
  }

  private async review(token: string, digest: string, verb: string): Promise<Decision> {
    const key = `${digest}:${verb}`;
    const tokenId = digest.slice(0, 12);
    let decision: Decision;
    try {
      decision = await this.limiter.run(() => this.ask(token, tokenId, verb));
    } catch (err) {
      this.noteFailure(err, tokenId);
      return {
        allowed: false,
        status: 503,
        message: 'cannot authorize the request: the Kubernetes API server is unavailable',
        retryAfterSeconds: 1,
      };
    }
    if (this.failing) {
      this.failing = false;
      this.log.info('kubernetes authorization: the API server answers again');
    }
    const now = this.now();
    const ttl = decision.allowed ? this.settings.allowTtlMs : this.settings.denyTtlMs;
    const expiry = tokenExpiry(token);
    this.cache.set(key, decision, Math.min(now + ttl, expiry ?? Infinity), now);
    this.log.debug('kubernetes authorization review', {
      tokenSha256: tokenId,
      verb,
      allowed: decision.allowed,
      status: decision.allowed ? 200 : decision.status,
    });
    return decision;
  }

  private async ask(token: string, tokenId: string, verb: string): Promise<Decision> {
    const { audience, namespace, name } = this.settings;
    const tr = await this.api.tokenReview(token, [audience]);
    const audienceOk = tr.audiences === undefined || tr.audiences.includes(audience);
    const username = tr.user?.username;
    if (tr.authenticated !== true || !audienceOk || !username) {
      this.log.debug('kubernetes authorization: token not accepted', { tokenSha256: tokenId, reason: tr.error ?? 'not authenticated' });
      return unauthenticated(
        `the bearer token is not valid for the audience "${audience}" (invalid, expired, or issued for another audience)`,
      );
    }
    const attributes: ResourceAttributes = { namespace, verb, ...PREDICT_RESOURCE, name };
    const sar = await this.api.subjectAccessReview({ ...tr.user, username }, attributes);
    if (sar.allowed === true) return ALLOW;
    if (sar.evaluationError)
      this.log.debug('kubernetes authorization: evaluation error', { tokenSha256: tokenId, error: sar.evaluationError });
    return {
      allowed: false,
      status: 403,
      message: `"${username}" may not ${verb} ${PREDICT_RESOURCE.resource}/${PREDICT_RESOURCE.subresource} "${name}" in the namespace "${namespace}" (API group ${PREDICT_RESOURCE.group})`,
    };
  }

  /** warn when reviews start failing and then at most every 30 s while they keep failing */
  private noteFailure(err: unknown, tokenId: string): void {
    const now = this.now();
    if (!this.failing || now - this.lastFailureLog >= 30_000) {
      this.log.warn('kubernetes authorization: cannot review, refusing requests with 503 (fail closed)', {
        error: err instanceof ReviewUnavailable ? err.message : errorMessage(err),
        tokenSha256: tokenId,
      });
      this.lastFailureLog = now;
    }
    this.failing = true;
  }
}
