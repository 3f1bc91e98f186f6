/**
 * The pod-proxy metrics scraper's protections, against a local HTTP server that stands in for the API
 * server's pod proxy relaying misbehaving pods (huge, endless, silent, wrong answers). The scraper
 * against the real API server, kubelet and runtime is covered by test/e2e/canary.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { PodProxyScraper } from '../../operator/src/analysis/scrape.ts';
import { shareConnections } from '../../operator/src/kube/clients.ts';
import { Metrics } from '../../runtime/src/http/metrics.ts';

let server: Server;
let kc: KubeConfig;
const seen: Array<{ url: string; auth: string | undefined }> = [];
let inFlight = 0;
let maxInFlight = 0;
let runtimeText = '';
const open = new Set<ServerResponse>();

const routes: Record<string, (res: ServerResponse) => void> = {
  good: (res) => {
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(runtimeText);
  },
  held: (res) => {
    setTimeout(() => res.end(runtimeText), 150);
  },
  huge: (res) => {
    res.end(`modelship_requests_total{code="200"} 1\n${'# padding\n'.repeat(300_000)}`);
  },
  endless: (res) => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const push = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', push);
    };
    push();
  },
  trickle: (res) => {
    res.write('# TYPE modelship_requests_total counter\n');
    const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write('#\n')), 100);
  },
  silent: () => {
    /* never answers */
  },
  unavailable: (res) => {
    res.statusCode = 503;
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        kind: 'Status',
        status: 'Failure',
        message: 'error trying to reach service: dial tcp 10.0.0.7:9090: connect: connection refused',
        code: 503,
      }),
    );
  },
  html: (res) => {
    res.end('<html><body>404 page not found</body></html>');
  },
};

before(async () => {
  const m = new Metrics('iris', 'v2');
  for (let i = 0; i < 40; i++) m.end('v2', 200, 0.004);
  m.end('v2', 500, undefined);
  runtimeText = await m.text();
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push({ url: req.url ?? '', auth: req.headers.authorization });
    open.add(res);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on('close', () => {
      inFlight--;
      open.delete(res);
    });
    const m = /^\/api\/v1\/namespaces\/[^/]+\/pods\/([a-z]+)-?[0-9]*:9090\/proxy\/metrics$/.exec(req.url ?? '');
    const route = m ? routes[m[1] as string] : undefined;
    if (!route) {
      res.statusCode = 404;
      res.end('{"kind":"Status","message":"no such route"}');
      return;
    }
    route(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}/`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  shareConnections(kc);
});

after(async () => {
  for (const res of open) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('a good pod is read through the pod proxy path with the kubeconfig credentials, keyed by uid', async () => {
  const scraper = new PodProxyScraper(kc, { now: () => 1234 });
  const { snapshot, failures } = await scraper.scrape('team-a', [{ name: 'good-1', uid: 'uid-1' }]);
  assert.deepEqual(failures, []);
  assert.equal(snapshot.takenAtMs, 1234);
  assert.deepEqual(Object.keys(snapshot.pods), ['uid-1']);
  assert.equal(snapshot.pods['uid-1']?.requests, 41);
  assert.equal(snapshot.pods['uid-1']?.serverErrors, 1);
  const last = seen.at(-1);
  assert.equal(last?.url, '/api/v1/namespaces/team-a/pods/good-1:9090/proxy/metrics');
  assert.equal(last?.auth, 'Bearer test-token');
});

test('misbehaving pods are reported one by one, within the deadline, and the good ones still read', async () => {
  const scraper = new PodProxyScraper(kc, { timeoutMs: 800, maxBodyBytes: 256 * 1024 });
  const names = ['good-1', 'huge-1', 'endless-1', 'trickle-1', 'silent-1', 'unavailable-1', 'html-1', 'good-2'];
  const t0 = performance.now();
  const { snapshot, failures } = await scraper.scrape(
    'ns',
    names.map((name) => ({ name, uid: `uid-${name}` })),
  );
  const elapsed = performance.now() - t0;
  assert.deepEqual(Object.keys(snapshot.pods).sort(), ['uid-good-1', 'uid-good-2']);
  const byPod = Object.fromEntries(failures.map((f) => [f.slice(4, f.indexOf(':')), f]));
  assert.deepEqual(Object.keys(byPod).sort(), ['endless-1', 'html-1', 'huge-1', 'silent-1', 'trickle-1', 'unavailable-1']);
  assert.equal(byPod['huge-1'], 'pod huge-1: the metrics answer is larger than 262144 bytes');
  assert.equal(byPod['endless-1'], 'pod endless-1: the metrics answer is larger than 262144 bytes');
  assert.equal(byPod['trickle-1'], 'pod trickle-1: no complete answer within 800 ms');
  assert.equal(byPod['silent-1'], 'pod silent-1: no complete answer within 800 ms');
  assert.equal(
    byPod['unavailable-1'],
    'pod unavailable-1: HTTP 503 from the pod proxy: error trying to reach service: dial tcp 10.0.0.7:9090: connect: connection refused',
  );
  assert.equal(byPod['html-1'], "pod html-1: the answer on port 9090 is not the runtime's metrics");
  // all pods in parallel (default concurrency 8): the slow ones cost one deadline, not one each
  assert.ok(elapsed < 2500, `scrape took ${Math.round(elapsed)} ms`);
});

test('no more pods are asked at once than the concurrency cap', async () => {
  maxInFlight = 0;
  const scraper = new PodProxyScraper(kc, { concurrency: 3 });
  const pods = Array.from({ length: 10 }, (_, i) => ({ name: `held-${i}`, uid: `u${i}` }));
  const { snapshot, failures } = await scraper.scrape('ns', pods);
  assert.deepEqual(failures, []);
  assert.equal(Object.keys(snapshot.pods).length, 10);
  assert.equal(maxInFlight, 3);
});

test('no pods: an empty snapshot and no request', async () => {
  const before = seen.length;
  const { snapshot, failures } = await new PodProxyScraper(kc).scrape('ns', []);
  assert.deepEqual(snapshot.pods, {});
  assert.deepEqual(failures, []);
  assert.equal(seen.length, before);
});
