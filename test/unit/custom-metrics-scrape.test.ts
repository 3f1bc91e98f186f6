/**
 * The operator reads every runtime pod's /metrics for custom.metrics.k8s.io. A pod is not trusted
 * to answer well: one that stalls (before its headers or in its body) or answers without end must
 * cost at most the deadline and the byte cap, and is left out. The peers here are deliberately
 * hostile servers on loopback (the real runtime never behaves like this); the good case serves the
 * runtime's own exposition.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { readPod, SCRAPE_LIMITS, type ScrapeLimits } from '../../operator/src/custom-metrics/scrape.ts';
import { forEachBounded } from '../../operator/src/http/bounded.ts';
import { Metrics } from '../../runtime/src/http/metrics.ts';

const limits: ScrapeLimits = { timeoutMs: 400, maxBodyBytes: 64 * 1024, concurrency: 4 };
const runtimeText = await new Metrics('iris', '1').text();
let server: Server;
let base: string;
let endlessBytesSent = 0;

const routes: Record<string, (res: ServerResponse) => void> = {
  '/ok': (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(runtimeText),
  '/no-headers': () => {},
  '/stalled-body': (res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write(runtimeText.slice(0, 100));
  },
  '/endless': (res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const chunk = Buffer.alloc(16 * 1024, 'a');
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) endlessBytesSent += chunk.length;
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  },
  '/error': (res) => res.writeHead(503).end(runtimeText),
  '/not-runtime': (res) => res.writeHead(200).end('# TYPE other counter\nother 1\n'),
};

before(async () => {
  server = createServer((req, res) => {
    const route = routes[req.url ?? ''];
    if (route) route(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

async function timed(path: string) {
  const start = performance.now();
  const reading = await readPod(`${base}${path}`, limits);
  return { reading, ms: performance.now() - start };
}

test('the defaults the README states: 2 s per pod, 1 MiB, 16 pods at once', () => {
  assert.deepEqual(SCRAPE_LIMITS, { timeoutMs: 2_000, maxBodyBytes: 1024 * 1024, concurrency: 16 });
});

test('a runtime answer is read; an error status or another exposition is left out with the reason', async () => {
  assert.deepEqual((await timed('/ok')).reading, { ok: true, counters: { inferenceRequests: 0, inflightSeconds: 0 } });
  assert.deepEqual((await timed('/error')).reading, { ok: false, reason: 'HTTP 503' });
  assert.deepEqual((await timed('/not-runtime')).reading, { ok: false, reason: 'not the runtime metrics' });
});

test('a pod that never answers, or stops in the middle of its body, costs the deadline and no more', async () => {
  for (const path of ['/no-headers', '/stalled-body']) {
    const { reading, ms } = await timed(path);
    assert.deepEqual(reading, { ok: false, reason: `no complete answer within ${limits.timeoutMs} ms` }, path);
    assert.ok(ms >= limits.timeoutMs - 20 && ms < limits.timeoutMs + 1_500, `${path}: ${ms.toFixed(0)} ms`);
  }
});

test('a pod answering without end is cut at the byte cap, well before the deadline', async () => {
  const { reading, ms } = await timed('/endless');
  assert.deepEqual(reading, { ok: false, reason: `metrics answer larger than ${limits.maxBodyBytes} bytes` });
  assert.ok(ms < limits.timeoutMs, `${ms.toFixed(0)} ms`);
  await sleep(100);
  // the connection is dropped: the peer cannot keep pushing (socket buffers aside)
  const sent = endlessBytesSent;
  await sleep(200);
  assert.ok(endlessBytesSent - sent <= 16 * 1024, `still sending: ${endlessBytesSent - sent} bytes after the cut`);
});

test('forEachBounded: never more than the bound at once, every item once', async () => {
  let running = 0;
  let peak = 0;
  const seen: number[] = [];
  await forEachBounded([...Array(20).keys()], 4, async (i) => {
    running++;
    peak = Math.max(peak, running);
    await sleep(5);
    seen.push(i);
    running--;
  });
  assert.equal(peak, 4);
  assert.deepEqual(
    seen.sort((a, b) => a - b),
    [...Array(20).keys()],
  );
});
