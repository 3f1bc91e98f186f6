// The runtime in kubernetes auth mode against the real kube-apiserver: the real runtime process
// reviews callers' ServiceAccount tokens (TokenRequest-minted, with audiences) with TokenReview and
// SubjectAccessReview, using its own ServiceAccount token bound to system:auth-delegator. The
// callers' permission is the chart's predictor ClusterRole, as `helm template` renders it.
// Proves: bound caller 200 (inference and metadata); unbound caller 403, answered before the body is sent; a token for another
// audience, an expired, a forged and a garbage token 401; no token is logged; the decision cache
// is bounded (a review per token after eviction); the API server unreachable = 503 fail closed.
import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dump } from 'js-yaml';
import { KubeConfig } from '@kubernetes/client-node';
import { getTestControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { renderChart } from '@modelship/devcluster/helm';
import { SERVICE_ACCOUNT_ISSUER } from '@modelship/devcluster/kube-apiserver';
import { expected, post, request, startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts';

const AUDIENCE = 'modelship.dev';
const MD = 'iris';
const REVIEW_LOG = 'kubernetes authorization review';

describe('runtime kubernetes auth mode against a real API server', () => {
  let cp: ControlPlane;
  let ns = '';
  let dir = '';
  let predictorRole = '';
  const runtimes: Runtime[] = [];
  const proxies: FaultProxy[] = [];
  const tokens: Record<string, string> = {};

  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await cp.kubectl(args, input === undefined ? {} : { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const mint = (sa: string, audience?: string) =>
    kubectl(['create', 'token', sa, '-n', ns, '--duration', '1h', ...(audience ? ['--audience', audience] : [])]);

  /** A token signed with the cluster's real ServiceAccount key, exactly like TokenRequest's but expired. */
  const expiredToken = async (sa: string): Promise<string> => {
    const uid = await kubectl(['get', 'serviceaccount', sa, '-n', ns, '-o', 'jsonpath={.metadata.uid}']);
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const header = b64({ alg: 'ES256', typ: 'JWT' }); // the devcluster's ServiceAccount key is EC P-256
    const claims = b64({
      iss: SERVICE_ACCOUNT_ISSUER,
      sub: `system:serviceaccount:${ns}:${sa}`,
      aud: [AUDIENCE],
      iat: now - 7200,
      nbf: now - 7200,
      exp: now - 3600,
      'kubernetes.io': { namespace: ns, serviceaccount: { name: sa, uid } },
    });
    const key = await readFile(join(cp.dir, 'pki', 'sa.key'), 'utf8');
    const sig = createSign('SHA256').update(`${header}.${claims}`).sign({ key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return `${header}.${claims}.${sig}`;
  };

  const start = async (apiUrl: string, extra: string[] = []): Promise<Runtime> => {
    const rt = await startRuntime({
      model: 'iris',
      name: MD,
      args: [
        '--auth-mode',
        'kubernetes',
        '--auth-namespace',
        ns,
        '--auth-resource-name',
        MD,
        '--kube-api-url',
        apiUrl,
        '--kube-token-file',
        join(dir, 'runtime-token'),
        '--kube-ca-file',
        cp.caCertPath,
        '--log-level',
        'debug',
        ...extra,
      ],
    });
    runtimes.push(rt);
    return rt;
  };
  const infer = (rt: Runtime, token: string | undefined) =>
    post(
      `${rt.url}/v2/models/${MD}/infer`,
      { inputs: expected('iris').inputs },
      token === undefined ? {} : { authorization: `Bearer ${token}` },
    );
  const reviews = (rt: Runtime) => rt.logs.filter((l) => l.message === REVIEW_LOG).length;

  before(async () => {
    cp = await getTestControlPlane();
    ns = `kauth-${Math.random().toString(36).slice(2, 7)}`;
    dir = await mkdtemp(join(tmpdir(), 'modelship-kauth-'));
    await kubectl(['create', 'namespace', ns]);
    for (const sa of ['runtime', 'caller', 'caller2', 'stranger']) await kubectl(['create', 'serviceaccount', sa, '-n', ns]);
    // the runtime's own permissions: what the operator binds in kubernetes mode
    await kubectl([
      'create',
      'clusterrolebinding',
      `${ns}-runtime-auth-delegator`,
      '--clusterrole=system:auth-delegator',
      `--serviceaccount=${ns}:runtime`,
    ]);
    // the callers' permission: the chart's ClusterRole, bound in the ModelDeployment's namespace
    const role = (await renderChart({ release: `kauth-${ns.slice(6)}` })).find(
      (m) => m.kind === 'ClusterRole' && m.metadata.name.endsWith('-predictor'),
    );
    assert.ok(role, 'the chart renders a predictor ClusterRole');
    predictorRole = role.metadata.name;
    await kubectl(['apply', '--server-side', '--field-manager=kauth-test', '-f', '-'], dump(role));
    for (const sa of ['caller', 'caller2'])
      await kubectl([
        'create',
        'rolebinding',
        `${sa}-predicts`,
        '-n',
        ns,
        `--clusterrole=${predictorRole}`,
        `--serviceaccount=${ns}:${sa}`,
      ]);
    await writeFile(join(dir, 'runtime-token'), await mint('runtime'), { mode: 0o600 });
    tokens.caller = await mint('caller', AUDIENCE);
    tokens.caller2 = await mint('caller2', AUDIENCE);
    tokens.stranger = await mint('stranger', AUDIENCE);
    tokens.apiAudience = await mint('caller');
    tokens.otherAudience = await mint('caller', 'some-other-service');
    tokens.expired = await expiredToken('caller');
  });

  after(async () => {
    await Promise.all(runtimes.map((r) => r.stop()));
    await Promise.all(proxies.map((p) => p.close()));
    if (cp) {
      await cp.kubectl(['delete', 'namespace', ns, '--wait=false']);
      await cp.kubectl(['delete', 'clusterrolebinding', `${ns}-runtime-auth-delegator`, '--ignore-not-found']);
      if (predictorRole) await cp.kubectl(['delete', 'clusterrole', predictorRole, '--ignore-not-found']);
      await cp.stop();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('bound caller 200 (inference and metadata); unbound 403; other audience, expired, forged, garbage, missing 401; probes open', async () => {
    const rt = await start(cp.server);
    const ok = await infer(rt, tokens.caller);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(
      (ok.json().outputs as Array<{ name: string; data: number[] }>).find((o) => o.name === 'label')?.data,
      expected('iris').outputs.find((o) => o.name === 'label')?.data,
    );
    const meta = await request(`${rt.url}/v2/models/${MD}`, { headers: { authorization: `Bearer ${tokens.caller}` } });
    assert.equal(meta.status, 200, meta.text);

    const denied = await infer(rt, tokens.stranger);
    assert.equal(denied.status, 403, denied.text);
    assert.match(
      denied.json().error as string,
      new RegExp(`"system:serviceaccount:${ns}:stranger" may not create modeldeployments/predict "${MD}" in the namespace "${ns}"`),
    );
    // refused before dispatch: the answer comes while the declared 1 MB body is still unsent
    const early = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${rt.url}/v2/models/${MD}/infer`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.stranger}`, 'content-type': 'application/json', 'content-length': 1_000_000 },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error('no answer before the body was sent')));
      req.flushHeaders();
    });
    assert.equal(early, 403);
    const forged = `${(tokens.caller as string).slice(0, -4)}AAAA`;
    for (const [what, token] of [
      ['API server audience', tokens.apiAudience],
      ['other audience', tokens.otherAudience],
      ['expired', tokens.expired],
      ['forged signature', forged],
      ['garbage', 'not-a-token'],
    ] as const) {
      const r = await infer(rt, token);
      assert.equal(r.status, 401, `${what}: ${r.text}`);
      assert.match(r.json().error as string, /not valid for the audience "modelship.dev"/, what);
    }
    const missing = await infer(rt, undefined);
    assert.equal(missing.status, 401);
    assert.match(missing.json().error as string, /missing bearer token/);
    const expiredReason = rt.logs.find(
      (l) => l.message === 'kubernetes authorization: token not accepted' && /expired/i.test(String(l['reason'])),
    );
    assert.ok(
      expiredReason,
      `the API server called the expired token expired: ${JSON.stringify(rt.logs.filter((l) => l.message.includes('not accepted')))}`,
    );
    assert.equal((await request(`${rt.url}/v2/health/ready`)).status, 200, 'kubelet probes carry no token');

    const out = rt.output();
    for (const [name, token] of Object.entries(tokens)) assert.ok(!out.includes(token as string), `the ${name} token is not in the log`);
    assert.ok(!out.includes(await readFile(join(dir, 'runtime-token'), 'utf8')), "the runtime's own token is not in the log");
  });

  test('the decision cache is bounded: with room for 2, a third caller evicts the first, which is reviewed again', async () => {
    const rt = await start(cp.server, [
      '--auth-cache-max-entries',
      '2',
      '--auth-cache-allow-seconds',
      '300',
      '--auth-cache-deny-seconds',
      '300',
    ]);
    const call = async (t: string, status: number) => assert.equal((await infer(rt, tokens[t])).status, status, t);
    await call('caller', 200);
    await call('caller', 200);
    assert.equal(reviews(rt), 1, 'the second call is answered from the cache');
    await call('caller2', 200);
    await call('stranger', 403);
    assert.equal(reviews(rt), 3);
    await call('stranger', 403);
    await call('caller2', 200);
    assert.equal(reviews(rt), 3, 'the two most recent stay cached');
    await call('caller', 200);
    assert.equal(reviews(rt), 4, 'caller was evicted (least recently used) and reviewed again');
  });

  test('the API server unreachable: 503 with Retry-After for an uncached caller (fail closed), never 200', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const proxy = await startFaultProxy(kc, 'kauth');
    proxies.push(proxy);
    const proxied = new KubeConfig();
    proxied.loadFromFile(proxy.kubeconfig);
    const rt = await start(proxied.getCurrentCluster()?.server as string, ['--auth-review-timeout-ms', '1000']);
    assert.equal((await infer(rt, tokens.caller)).status, 200, 'through the proxy while it forwards');
    proxy.blackhole();
    const t0 = Date.now();
    for (const t of ['caller2', 'stranger', 'expired']) {
      const r = await infer(rt, tokens[t]);
      assert.equal(r.status, 503, `${t}: ${r.text}`);
      assert.equal(r.headers.get('retry-after'), '1');
      assert.match(r.json().error as string, /Kubernetes API server is unavailable/);
    }
    assert.ok(Date.now() - t0 < 10_000, 'each refused within the review timeout');
    assert.ok(rt.logs.some((l) => l.level === 'warn' && /fail closed/.test(l.message)));
    await proxy.close();
    const refused = await infer(rt, tokens.otherAudience);
    assert.equal(refused.status, 503, `connection refused: ${refused.text}`);
    assert.equal((await infer(rt, undefined)).status, 401, 'a request without a token needs no API server');
  });

  test("the runtime's own token is re-read for every review: an invalid one fails closed (503), a fresh one works without a restart", async () => {
    const own = join(dir, 'runtime-token-rotating');
    await writeFile(own, await mint('runtime'), { mode: 0o600 });
    const rt = await start(cp.server, ['--kube-token-file', own]);
    assert.equal((await infer(rt, tokens.caller)).status, 200);
    await writeFile(own, 'not-a-valid-token');
    const refused = await infer(rt, tokens.caller2);
    assert.equal(refused.status, 503, refused.text);
    assert.ok(
      rt.logs.some((l) => l.level === 'warn' && /refused .* to the runtime itself \(HTTP 401\)/.test(String(l['error']))),
      JSON.stringify(rt.logs.filter((l) => l.level === 'warn')),
    );
    await writeFile(own, await mint('runtime'));
    assert.equal((await infer(rt, tokens.caller2)).status, 200, 'the rotated token is picked up');
    assert.ok(rt.logs.some((l) => /answers again/.test(l.message)));
  });
});
