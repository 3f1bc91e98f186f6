// Steady open-loop load for e2e tests: `rate` requests per second to one URL from this process
// (keep-alive connections, like a real client), each checked by `check`; counts every failure with
// its reason. Bounded: stops by itself after `maxSeconds` even if stop() is never called.
// The client closes connections idle for IDLE_MS (below the runtime's 5 s drain delay). A client that
// keeps idle keep-alive connections longer than the drain delay can lose a request at the moment a
// stopping pod closes its idle connections (the usual HTTP/1.1 keep-alive race: the request crosses
// the server's close). During the drain every response says `Connection: close`, so a connection in use
// is closed by the client before then.
// With `freshConnections` every request opens its own connection instead, so kube-proxy spreads the
// requests over the pods as a population of clients would (one keep-alive connection pins its
// requests to one pod and hides a replica split).
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';

const IDLE_MS = 2_000;

export interface LoadResult {
  sent: number;
  ok: number;
  failed: number;
  /** first few failure reasons with their time since start */
  failures: string[];
  /** requests per answering model version (from the response's model_version) */
  byVersion: Record<string, number>;
  /** When each version first answered, and each kind of expected failure first happened (ms since epoch). */
  firstAt: Record<string, number>;
  /** Failures `check` declared expected, by kind, with their times (ms since epoch); not in `failed`. */
  expected: Record<string, number[]>;
  seconds: number;
}

/**
 * What `check` says of one answer: undefined = right, a string = a failure (counted in `failed`),
 * `{ expected }` = a failure the test provoked on purpose (counted apart, by kind).
 */
export type CheckResult = string | undefined | { expected: string };

export interface Load {
  stop(): Promise<LoadResult>;
  snapshot(): LoadResult;
}

export function startLoad(opts: {
  url: string;
  /** The request body, or the body of the n-th request (from 1). */
  body: string | ((n: number) => string);
  rate: number;
  maxSeconds: number;
  /** `n` is the request's number, as given to `body`. */
  check: (status: number, body: string, n: number) => CheckResult;
  version?: (body: string) => string | undefined;
  timeoutMs?: number;
  /** Sent with every request besides content-type and content-length. */
  headers?: Record<string, string>;
  /**
   * A new connection for every request, so that kube-proxy spreads the requests over the pods as a
   * population of clients would (keep-alive connections pin each one's requests to one pod).
   */
  freshConnections?: boolean;
  /** For an https:// URL: the CA the server's chain must verify against, and a client certificate for mTLS. */
  tls?: { ca: string; cert?: string; key?: string; servername?: string };
  /** With `tls`: called with the SHA-256 fingerprint of the certificate each answer came over. */
  onCertificate?: (fingerprint256: string) => void;
}): Load {
  const https = opts.url.startsWith('https://');
  const tlsOptions = opts.tls
    ? {
        ca: opts.tls.ca,
        ...(opts.tls.cert ? { cert: opts.tls.cert, key: opts.tls.key } : {}),
        ...(opts.tls.servername ? { servername: opts.tls.servername } : {}),
      }
    : {};
  const pool = { keepAlive: true, maxSockets: 16, timeout: IDLE_MS };
  const agent = opts.freshConnections ? false : https ? new HttpsAgent({ ...pool, ...tlsOptions }) : new Agent(pool);
  const send = https ? httpsRequest : request;
  const started = Date.now();
  const result: LoadResult = { sent: 0, ok: 0, failed: 0, failures: [], byVersion: {}, firstAt: {}, expected: {}, seconds: 0 };
  const inFlight = new Set<Promise<void>>();
  const fail = (why: string) => {
    result.failed++;
    if (result.failures.length < 20) result.failures.push(`${((Date.now() - started) / 1000).toFixed(2)}s ${why}`);
  };
  const one = () =>
    new Promise<void>((resolve) => {
      const n = ++result.sent;
      const payload = typeof opts.body === 'string' ? opts.body : opts.body(n);
      const req = send(
        opts.url,
        {
          method: 'POST',
          agent,
          ...tlsOptions,
          headers: { ...opts.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
          timeout: opts.timeoutMs ?? 10_000,
        },
        (res) => {
          if (https) opts.onCertificate?.((res.socket as TLSSocket).getPeerCertificate().fingerprint256);
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => {
            const problem = opts.check(res.statusCode ?? 0, body, n);
            if (typeof problem === 'string') fail(problem);
            else if (problem) {
              (result.expected[problem.expected] ??= []).push(Date.now());
              result.firstAt[problem.expected] ??= Date.now();
            } else {
              result.ok++;
              const v = opts.version?.(body);
              if (v !== undefined) {
                result.byVersion[v] = (result.byVersion[v] ?? 0) + 1;
                result.firstAt[v] ??= Date.now();
              }
            }
            resolve();
          });
          res.on('error', (err) => {
            fail(`response error ${err.message}`);
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        fail(`request error ${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`);
        resolve();
      });
      req.end(payload);
    });
  const interval = 1000 / opts.rate;
  let next = Date.now();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (stopped) return;
    const now = Date.now();
    if (now - started > opts.maxSeconds * 1000) {
      stopped = true;
      return;
    }
    while (next <= now) {
      const p = one();
      inFlight.add(p);
      void p.then(() => inFlight.delete(p));
      next += interval;
    }
    timer = setTimeout(tick, Math.max(1, next - Date.now()));
  };
  tick();
  const snapshot = () => ({
    ...result,
    failures: [...result.failures],
    byVersion: { ...result.byVersion },
    firstAt: { ...result.firstAt },
    expected: Object.fromEntries(Object.entries(result.expected).map(([k, v]) => [k, [...v]])),
    seconds: (Date.now() - started) / 1000,
  });
  return {
    snapshot,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await Promise.all([...inFlight]);
      if (agent) agent.destroy();
      return snapshot();
    },
  };
}
