/**
 * The two review calls of kubernetes mode, over plain https to the API server with the pod's own
 * ServiceAccount token (re-read from its file for every call: projected tokens rotate) and the
 * cluster CA. No Kubernetes client library: two POSTs do not need one.
 */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { ReviewUnavailable } from '../errors.ts';

export interface KubeApiConfig {
  /** https://host:port of the API server */
  url: string;
  tokenFile: string;
  /** PEM of the CA that signed the API server's certificate */
  caPem: string;
  timeoutMs: number;
}

export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

export interface ResourceAttributes {
  namespace: string;
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  name: string;
}

export interface SubjectAccessReviewStatus {
  allowed?: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

export interface KubeApi {
  tokenReview(token: string, audiences: string[]): Promise<TokenReviewStatus>;
  subjectAccessReview(user: NonNullable<TokenReviewStatus['user']>, attributes: ResourceAttributes): Promise<SubjectAccessReviewStatus>;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

export function kubeApi(config: KubeApiConfig): KubeApi {
  const agent = new Agent({ keepAlive: true, ca: config.caPem, maxSockets: 16 });
  const base = new URL(config.url);

  const post = async (path: string, body: unknown): Promise<unknown> => {
    let own: string;
    try {
      own = (await readFile(config.tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new ReviewUnavailable(
        `cannot read the runtime's ServiceAccount token ${config.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    const payload = JSON.stringify(body);
    return new Promise<unknown>((resolve, reject) => {
      const req = request(
        {
          agent,
          protocol: base.protocol,
          hostname: base.hostname.replace(/^\[|\]$/g, ''),
          port: base.port === '' ? 443 : Number(base.port),
          path,
          method: 'POST',
          timeout: config.timeoutMs,
          headers: {
            Authorization: `Bearer ${own}`,
            'Content-Type': 'application/json',
            Accept: 'application/json',
            'Content-Length': Buffer.byteLength(payload),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES)
              req.destroy(new ReviewUnavailable(`the API server's answer to ${path} is larger than ${MAX_RESPONSE_BYTES} bytes`));
            else chunks.push(c);
          });
          res.on('error', (err) => reject(asUnavailable(err, path)));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status === 401 || status === 403) {
              reject(
                new ReviewUnavailable(
                  `the API server refused ${path} to the runtime itself (HTTP ${status}): its ServiceAccount token is missing or invalid, or it lacks the system:auth-delegator permissions`,
                ),
              );
              return;
            }
            if (status < 200 || status > 299) {
              reject(new ReviewUnavailable(`the API server answered ${path} with HTTP ${status}`));
              return;
            }
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
            } catch {
              reject(new ReviewUnavailable(`the API server's answer to ${path} is not JSON`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new ReviewUnavailable(`the API server did not answer ${path} within ${config.timeoutMs} ms`)));
      req.on('error', (err) => reject(asUnavailable(err, path)));
      req.end(payload);
    });
  };

  const statusOf = <T>(doc: unknown): T => ((doc as { status?: T } | null)?.status ?? {}) as T;

  return {
    async tokenReview(token, audiences) {
      const doc = await post('/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences },
      });
      return statusOf<TokenReviewStatus>(doc);
    },
    async subjectAccessReview(user, attributes) {
      const doc = await post('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          uid: user.uid,
          groups: user.groups ?? [],
          extra: user.extra ?? {},
          resourceAttributes: attributes,
        },
      });
      return statusOf<SubjectAccessReviewStatus>(doc);
    },
  };
}

function asUnavailable(err: unknown, path: string): ReviewUnavailable {
  if (err instanceof ReviewUnavailable) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new ReviewUnavailable(`cannot reach the API server for ${path}: ${code ?? (err as Error).message}`);
}
