// kubernetes mode of the runtime, its pure parts: the decision cache (TTL, bound, coalescing), the
// review limiter, header parsing, and how review answers map to 200/401/403/503 (with a plain
// in-memory KubeApi; the real API server is exercised in test/integration/runtime-kube-auth.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Logger } from '../../runtime/src/logger.ts';
import { kubeAuthConfig, parseServe } from '../../runtime/src/config.ts';
import { ConfigError, HttpError, ReviewUnavailable } from '../../runtime/src/errors.ts';
import { DecisionCache } from '../../runtime/src/kube-auth/decision-cache.ts';
import { Limiter } from '../../runtime/src/kube-auth/limiter.ts';
import {
  bearerToken,
  KubeAuthorizer,
  MAX_TOKEN_LENGTH,
  tokenDigest,
  tokenExpiry,
  verbFor,
  type AuthorizerSettings,
  type Decision,
} from '../../runtime/src/kube-auth/authorizer.ts';
import type { KubeApi, ResourceAttributes, TokenReviewStatus } from '../../runtime/src/kube-auth/kube-api.ts';
import { requestGate } from '../../runtime/src/kube-auth/request-gate.ts';
import { needsReview } from '../../runtime/src/http/routes.ts';

const quietLog = (): { log: Logger; lines: Array<[string, string, unknown]> } => {
  const lines: Array<[string, string, unknown]> = [];
  const at = (level: string) => (m: string, meta: unknown) => lines.push([level, m, meta]);
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger, lines };
};

test('DecisionCache: an entry lives until its own deadline, then is gone', () => {
  const c = new DecisionCache<string>(10);
  c.set('a', 'allow', 1_000, 0);
  assert.equal(c.get('a', 999), 'allow');
  assert.equal(c.get('a', 1_000), undefined);
  assert.equal(c.size, 0, 'an expired entry is dropped when met');
  c.set('b', 'x', 5, 10);
  assert.equal(c.size, 0, 'a deadline already past is not stored');
});

test('DecisionCache: never more than maxEntries; the least recently used goes first', () => {
  const c = new DecisionCache<number>(3);
  for (let i = 0; i < 1000; i++) {
    c.set(`k${i}`, i, 1e9, 0);
    assert.ok(c.size <= 3);
  }
  assert.equal(c.size, 3);
  assert.deepEqual(
    ['k997', 'k998', 'k999'].map((k) => c.get(k, 1)),
    [997, 998, 999],
  );
  // k997 was read last but one... touch k997 again, then insert: k998 is the least recently used
  c.get('k997', 1);
  c.set('new', -1, 1e9, 0);
  assert.equal(c.get('k998', 1), undefined);
  assert.equal(c.get('k997', 1), 997);
  assert.throws(() => new DecisionCache(0), RangeError);
});

test('DecisionCache: identical misses share one review while it runs', async () => {
  const c = new DecisionCache<string>(10);
  let calls = 0;
  let release: (v: string) => void = () => {};
  const review = () => {
    calls++;
    return new Promise<string>((r) => (release = r));
  };
  const a = c.lookup('k', 0, review);
  const b = c.lookup('k', 0, review);
  assert.equal(calls, 1);
  assert.equal(c.pending, 1);
  release('done');
  assert.deepEqual(await Promise.all([a, b]), ['done', 'done']);
  assert.equal(c.pending, 0);
  // nothing was stored (the review decides what to store): the next lookup reviews again
  void c.lookup('k', 0, review);
  assert.equal(calls, 2);
});

test('Limiter: at most max at once, waiting bounded, refused beyond', async () => {
  const l = new Limiter(2, 1);
  const gates: Array<() => void> = [];
  const task = () => new Promise<void>((r) => gates.push(r));
  const p1 = l.run(task);
  const p2 = l.run(task);
  const p3 = l.run(task);
  await assert.rejects(l.run(task), ReviewUnavailable);
  assert.equal(l.active, 2);
  assert.equal(l.queued, 1);
  assert.equal(gates.length, 2, 'the third task has not started');
  gates[0]?.();
  await p1;
  await new Promise((r) => setImmediate(r));
  assert.equal(gates.length, 3, 'the waiter got the freed slot');
  gates[1]?.();
  gates[2]?.();
  await Promise.all([p2, p3]);
  assert.equal(l.active, 0);
});

test('bearerToken: missing, wrong scheme, too long, bad characters are 401 without a review', () => {
  assert.deepEqual(bearerToken({ authorization: 'Bearer abc.def-_~+/==' }), { token: 'abc.def-_~+/==' });
  assert.deepEqual(bearerToken({ authorization: '  bearer   abc ' }), { token: 'abc' });
  const refused = (h: Record<string, string>) => {
    const r = bearerToken(h);
    assert.ok('refusal' in r, JSON.stringify(h).slice(0, 80));
    assert.equal((r.refusal as { status: number }).status, 401);
    return (r.refusal as { message: string }).message;
  };
  assert.match(refused({}), /missing bearer token/);
  assert.match(refused({ 'x-api-key': 'abc' }), /missing bearer token/);
  assert.match(refused({ authorization: 'Basic abc' }), /must be "Bearer/);
  assert.match(refused({ authorization: 'Bearer a b' }), /must be "Bearer/);
  assert.match(refused({ authorization: `Bearer ${'a'.repeat(MAX_TOKEN_LENGTH + 1)}` }), /longer than/);
  assert.match(refused({ authorization: 'Bearer a"b' }), /characters/);
});

test('tokenExpiry reads a JWT exp; anything else has none', () => {
  const jwt = (claims: unknown) => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.s`;
  assert.equal(tokenExpiry(jwt({ exp: 1700000000 })), 1700000000_000);
  assert.equal(tokenExpiry(jwt({ sub: 'x' })), undefined);
  assert.equal(tokenExpiry('not-a-jwt'), undefined);
  assert.equal(tokenExpiry('a.%%%.c'), undefined);
  assert.equal(verbFor('POST'), 'create');
  assert.equal(verbFor('GET'), 'get');
});

test('needsReview: probes and /metrics are never reviewed; the API and the OpenAPI document are', () => {
  for (const p of ['/v2/health/live', '/v2/health/ready/', '/metrics', '/METRICS?x=1']) assert.equal(needsReview(p), false, p);
  for (const p of ['/v2', '/v2/models/iris/infer', '/v1/models/iris:predict', '/openapi.json', '/']) assert.equal(needsReview(p), true, p);
});

test('needsReview: a 16 KB run of slashes before the end is judged in linear time (it runs before the review, for anyone)', () => {
  const hostile = '/' + '/'.repeat(16 * 1024) + 'x';
  assert.equal(needsReview('/metrics' + '/'.repeat(16 * 1024)), false);
  const t0 = performance.now();
  assert.equal(needsReview(hostile), true);
  // the regex /\/+$/ took ~200 ms here (quadratic); the loop takes well under 1 ms
  assert.ok(performance.now() - t0 < 20, `took ${(performance.now() - t0).toFixed(1)} ms`);
});

interface FakeApiOptions {
  tokens: Record<string, TokenReviewStatus>;
  allowed: Set<string>;
  fail?: () => boolean;
}
function fakeApi(o: FakeApiOptions): KubeApi & { tokenReviews: number; sars: ResourceAttributes[] } {
  const api = {
    tokenReviews: 0,
    sars: [] as ResourceAttributes[],
    async tokenReview(token: string, audiences: string[]) {
      api.tokenReviews++;
      await Promise.resolve();
      if (o.fail?.()) throw new ReviewUnavailable('connect ECONNREFUSED');
      const st = o.tokens[token];
      if (!st) return { authenticated: false, error: 'invalid bearer token' };
      return { ...st, audiences: st.audiences ?? audiences };
    },
    async subjectAccessReview(user: { username?: string }, attributes: ResourceAttributes) {
      api.sars.push(attributes);
      return { allowed: o.allowed.has(`${user.username}:${attributes.verb}`) };
    },
  };
  return api;
}

const settings: AuthorizerSettings = {
  audience: 'modelship.dev',
  namespace: 'ml',
  name: 'iris',
  allowTtlMs: 10_000,
  denyTtlMs: 5_000,
  maxEntries: 100,
  maxConcurrentReviews: 4,
  maxWaitingReviews: 100,
};
const user = (name: string): TokenReviewStatus => ({ authenticated: true, user: { username: name, groups: ['g'] } });

test('KubeAuthorizer: 200 for an allowed subject, 403 without the permission, 401 for a bad or foreign-audience token', async () => {
  const api = fakeApi({
    tokens: { good: user('alice'), nobody: user('bob'), foreign: { ...user('alice'), audiences: ['https://kubernetes.default.svc'] } },
    allowed: new Set(['alice:create']),
  });
  const { log, lines } = quietLog();
  const a = new KubeAuthorizer(settings, api, log, () => 0);
  const decide = (token: string, method = 'POST') => a.decide({ authorization: `Bearer ${token}` }, method);
  assert.deepEqual(await decide('good'), { allowed: true });
  assert.deepEqual(api.sars[0], {
    namespace: 'ml',
    verb: 'create',
    group: 'modelship.dev',
    resource: 'modeldeployments',
    subresource: 'predict',
    name: 'iris',
  });
  const get = (await decide('good', 'GET')) as Extract<Decision, { allowed: false }>;
  assert.equal(get.status, 403, 'get is a separate permission from create');
  assert.match(get.message, /"alice" may not get modeldeployments\/predict "iris" in the namespace "ml"/);
  assert.equal(((await decide('nobody')) as { status: number }).status, 403);
  for (const t of ['garbage', 'foreign']) {
    const d = (await decide(t)) as Extract<Decision, { allowed: false }>;
    assert.equal(d.status, 401, t);
    assert.match(d.message, /not valid for the audience "modelship.dev"/);
  }
  assert.equal(api.sars.filter((s) => s.verb === 'create').length, 2, 'no SubjectAccessReview for an unauthenticated token');
  const logged = JSON.stringify(lines);
  for (const t of ['good', 'nobody', 'garbage', 'foreign']) assert.ok(!logged.includes(`"${t}"`), `token ${t} not logged`);
  assert.ok(logged.includes(tokenDigest('good').slice(0, 12)));
});

test('KubeAuthorizer: decisions are cached for their TTL, never past the token expiry, and within the bound', async () => {
  let now = 1_000_000;
  const exp = (s: number) => `h.${Buffer.from(JSON.stringify({ exp: s })).toString('base64url')}.s`;
  const soon = exp((now + 3_000) / 1000);
  const api = fakeApi({ tokens: { good: user('alice'), [soon]: user('alice') }, allowed: new Set(['alice:create']) });
  const a = new KubeAuthorizer({ ...settings, maxEntries: 2 }, api, quietLog().log, () => now);
  const decide = (token: string) => a.decide({ authorization: `Bearer ${token}` }, 'POST');
  await decide('good');
  await decide('good');
  assert.equal(api.tokenReviews, 1, 'the second call is served from the cache');
  now += 9_999;
  assert.deepEqual(decide('good'), { allowed: true }, 'a cache hit answers synchronously');
  now += 1;
  await decide('good');
  assert.equal(api.tokenReviews, 2, 'allow TTL 10 s');
  await decide('nope');
  now += 4_999;
  await decide('nope');
  assert.equal(api.tokenReviews, 3, 'a 401 is remembered');
  now += 1;
  await decide('nope');
  assert.equal(api.tokenReviews, 4, 'deny TTL 5 s');
  await decide(soon);
  now += 3_000;
  await decide(soon);
  assert.equal(api.tokenReviews, 6, 'kept no longer than the token lives (3 s < 10 s)');
  assert.ok(a.cachedDecisions <= 2);
  for (let i = 0; i < 50; i++) await decide(`t${i}`);
  assert.equal(a.cachedDecisions, 2, 'bounded');
});

test('KubeAuthorizer: identical concurrent requests make one review', async () => {
  const api = fakeApi({ tokens: { good: user('alice') }, allowed: new Set(['alice:create']) });
  const a = new KubeAuthorizer(settings, api, quietLog().log, () => 0);
  const all = await Promise.all(Array.from({ length: 20 }, () => a.decide({ authorization: 'Bearer good' }, 'POST')));
  assert.ok(all.every((d) => d.allowed));
  assert.equal(api.tokenReviews, 1);
});

test('KubeAuthorizer: the API server failing is a 503 with Retry-After, never cached, warned once per 30 s', async () => {
  let down = true;
  let now = 0;
  const api = fakeApi({ tokens: { good: user('alice') }, allowed: new Set(['alice:create']), fail: () => down });
  const { log, lines } = quietLog();
  const a = new KubeAuthorizer(settings, api, log, () => now);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await a.decide({ authorization: 'Bearer good' }, 'POST'), {
      allowed: false,
      status: 503,
      message: 'cannot authorize the request: the Kubernetes API server is unavailable',
      retryAfterSeconds: 1,
    });
  }
  assert.equal(api.tokenReviews, 3, 'a failure is not cached');
  assert.equal(lines.filter(([l]) => l === 'warn').length, 1);
  now += 30_000;
  await a.decide({ authorization: 'Bearer good' }, 'POST');
  assert.equal(lines.filter(([l]) => l === 'warn').length, 2);
  down = false;
  assert.deepEqual(await a.decide({ authorization: 'Bearer good' }, 'POST'), { allowed: true });
  assert.ok(lines.some(([l, m]) => l === 'info' && /answers again/.test(m)));
});

test('requestGate: check() answers the prepared decision; an unprepared request is refused', async () => {
  const api = fakeApi({ tokens: { good: user('alice') }, allowed: new Set(['alice:create']) });
  const gate = requestGate(new KubeAuthorizer(settings, api, quietLog().log, () => 0));
  const req = (h: Record<string, string>) => ({ headers: h, method: 'POST' }) as never;
  const ok = req({ authorization: 'Bearer good' });
  await gate.prepare(ok);
  assert.doesNotThrow(() => gate.check((ok as { headers: Record<string, string> }).headers));
  const bad = req({});
  await gate.prepare(bad);
  assert.throws(
    () => gate.check((bad as { headers: Record<string, string> }).headers),
    (e: unknown) => e instanceof HttpError && e.status === 401,
  );
  assert.throws(
    () => gate.check({ authorization: 'Bearer good' }),
    (e: unknown) => e instanceof HttpError && e.status === 401,
  );
});

test('config: kubernetes mode needs the ModelDeployment, refuses a key, and finds the API server in a pod', () => {
  const base = { MODELSHIP_MODEL_PATH: '/m.onnx' };
  const k = { ...base, MODELSHIP_AUTH_MODE: 'kubernetes', MODELSHIP_AUTH_NAMESPACE: 'ml', MODELSHIP_AUTH_RESOURCE_NAME: 'iris' };
  assert.equal(parseServe([], base).kubeAuth, undefined);
  const inPod = parseServe([], { ...k, KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }).kubeAuth;
  assert.deepEqual(inPod, {
    audience: 'modelship.dev',
    namespace: 'ml',
    name: 'iris',
    allowTtlMs: 10_000,
    denyTtlMs: 5_000,
    maxEntries: 10_000,
    reviewTimeoutMs: 5_000,
    apiUrl: 'https://10.96.0.1',
    tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
    caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
  });
  assert.equal(
    parseServe([], { ...k, KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }).kubeAuth?.apiUrl,
    'https://[fd00::1]:6443',
  );
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ ...k }, /--kube-api-url .* outside a pod/],
    [{ ...k, MODELSHIP_KUBE_API_URL: 'http://x:1' }, /must be https/],
    [{ ...k, MODELSHIP_KUBE_API_URL: 'https://x', MODELSHIP_API_KEY: 's' }, /contradicts --api-key/],
    [{ ...k, MODELSHIP_KUBE_API_URL: 'https://x', MODELSHIP_AUTH_RESOURCE_NAME: '' }, /needs --auth-resource-name/],
    [{ ...base, MODELSHIP_AUTH_MODE: 'apikey' }, /must be one of none, apiKey, kubernetes/],
    [{ ...base, MODELSHIP_AUTH_MODE: 'apiKey' }, /needs --api-key/],
    [{ ...base, MODELSHIP_AUTH_MODE: 'none', MODELSHIP_API_KEY: 's' }, /contradicts/],
    [{ ...k, MODELSHIP_KUBE_API_URL: 'https://x', MODELSHIP_AUTH_CACHE_ALLOW_SECONDS: '301' }, /<= 300/],
  ];
  for (const [env, re] of bad)
    assert.throws(
      () => parseServe([], env),
      (e: unknown) => e instanceof ConfigError && re.test(e.message),
      JSON.stringify(env),
    );
  assert.equal(typeof kubeAuthConfig, 'function');
});
