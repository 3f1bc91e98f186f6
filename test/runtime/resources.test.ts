/**
 * Resource limits of the real runtime process (issue 9): the in-flight memory budget (503 +
 * Retry-After), abandoned queued requests dropped before they run, metrics on their own port.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { irisBinary, metric, request, startRuntime, type Reply, type Runtime } from '@modelship/devcluster/runtime-process';

async function metricsOf(rt: Runtime, url = `${rt.url}/metrics`): Promise<string> {
  const r = await request(url);
  assert.equal(r.status, 200);
  return r.text;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('memory budget: requests over --max-inflight-bytes get 503 + Retry-After, the admitted ones are answered, the budget drains to 0', async () => {
  // 10,000 rows = 160,000 bytes of tensor data: each request holds its body (~160 kB) and its
  // decoded tensor (160 kB); a 1,000,000-byte budget admits 3 at a time. A 1 s batching window
  // with room for all of them keeps the admitted ones queued while the others arrive.
  const rt = await startRuntime({
    model: 'iris',
    args: ['--max-inflight-bytes', '1000000', '--max-batch-size', '65536', '--max-batch-delay-us', '1000000'],
  });
  try {
    const { body, headers } = irisBinary(10_000);
    const replies = await Promise.all(Array.from({ length: 8 }, () => request(`${rt.url}/v2/models/iris/infer`, { body, headers })));
    const ok = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status === 503);
    assert.equal(ok.length + refused.length, 8, replies.map((r) => `${r.status} ${r.text.slice(0, 200)}`).join('\n'));
    assert.equal(ok.length, 3, 'three requests fit the budget');
    for (const r of refused) {
      assert.equal(r.headers.get('retry-after'), '1');
      assert.match(r.json()['error'] as string, /in-flight memory budget \(\d+ of 1000000 bytes in use; this request needs \d+ more\)/);
    }
    for (const r of ok) assert.equal(Number(r.headers.get('inference-header-content-length')) > 0, true);
    const text = await metricsOf(rt);
    assert.equal(metric(text, 'modelship_memory_budget_rejections_total'), 5);
    assert.equal(metric(text, 'modelship_memory_budget_limit_bytes'), 1_000_000);
    await until('the budget to drain', async () => metric(await metricsOf(rt), 'modelship_memory_budget_in_use_bytes') === 0);

    // a body that could never fit: 413 at once, naming the budget
    const huge = irisBinary(70_000); // 1.12 MB
    const r413 = await request(`${rt.url}/v2/models/iris/infer`, huge);
    assert.equal(r413.status, 413);
    assert.match(r413.json()['error'] as string, /larger than the in-flight memory budget of 1000000 bytes/);

    // the process kept serving
    const after = await request(`${rt.url}/v2/models/iris/infer`, irisBinary(10));
    assert.equal(after.status, 200);
  } finally {
    await rt.stop();
  }
});

test('memory budget: a body without Content-Length is counted as it arrives', async () => {
  const rt = await startRuntime({ model: 'iris', args: ['--max-inflight-bytes', '200000'] });
  try {
    const { body, headers } = irisBinary(20_000); // 320 kB, sent chunked
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        `${rt.url}/v2/models/iris/infer`,
        { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const buf = Buffer.concat(chunks);
            resolve({
              status: res.statusCode ?? 0,
              headers: new Headers(res.headers as Record<string, string>),
              text: buf.toString(),
              body: buf,
              json: () => JSON.parse(buf.toString()) as Record<string, unknown>,
            });
          });
        },
      );
      req.on('error', reject);
      for (let off = 0; off < body.length; off += 16_384) req.write(body.subarray(off, off + 16_384));
      req.end();
    });
    assert.equal(reply.status, 503, reply.text);
    assert.equal(reply.headers.get('retry-after'), '1');
    assert.match(reply.json()['error'] as string, /in-flight memory budget/);
    assert.equal(metric(await metricsOf(rt), 'modelship_memory_budget_in_use_bytes'), 0);
    assert.equal((await request(`${rt.url}/v2/models/iris/infer`, irisBinary(10))).status, 200);
  } finally {
    await rt.stop();
  }
});

test('memory budget: a JSON body is charged its parse cost (24x its size) while parsed; one that can never fit gets 413 pointing at the binary extension', async () => {
  const rt = await startRuntime({ model: 'iris', args: ['--max-inflight-bytes', '2400000'] });
  try {
    const rows = (n: number) => JSON.stringify({ instances: Array.from({ length: n }, () => [5.1, 3.5, 1.4, 0.2]) });
    const small = rows(1_000); // ~20 kB: parse cost ~0.5 MB fits
    const ok = await request(`${rt.url}/v1/models/iris:predict`, { body: small });
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
    assert.equal((ok.json()['predictions'] as unknown[]).length, 1_000);

    const large = rows(6_000); // ~120 kB: 24x is ~2.9 MB, over the 2.4 MB budget
    for (const url of [`${rt.url}/v1/models/iris:predict`, `${rt.url}/v2/models/iris/infer`]) {
      const body = url.includes('/v2/')
        ? JSON.stringify({ inputs: [{ name: 'input', shape: [6_000, 4], datatype: 'FP32', data: JSON.parse(large).instances }] })
        : large;
      const r = await request(url, { body });
      assert.equal(r.status, 413, r.text.slice(0, 300));
      assert.match(
        r.json()['error'] as string,
        /^a JSON body of \d+ bytes can take up to 24x its size in memory while it is parsed \(\d+ bytes\), more than the in-flight memory budget of 2400000 bytes: send large tensors with the binary tensor extension/,
      );
    }
    // the same rows as binary tensor data are fine: only the small JSON header is parsed
    const bin = await request(`${rt.url}/v2/models/iris/infer`, irisBinary(6_000));
    assert.equal(bin.status, 200, bin.text.slice(0, 300));
    await until('the budget to drain', async () => metric(await metricsOf(rt), 'modelship_memory_budget_in_use_bytes') === 0);
  } finally {
    await rt.stop();
  }
});

test('a client that disconnects while its request is queued: the request is dropped before it runs', async () => {
  // one request alone waits out the 1 s batching window before it runs
  const rt = await startRuntime({ model: 'iris', args: ['--max-batch-size', '64', '--max-batch-delay-us', '1000000'] });
  try {
    const { body, headers } = irisBinary(3);
    const req = http.request(`${rt.url}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(body.length) },
    });
    req.on('error', () => {});
    req.end(body);
    await until('the request to be queued', async () => metric(await metricsOf(rt), 'modelship_memory_budget_in_use_bytes') > 0);
    req.destroy();
    // past the batching window: had it not been dropped, it would have run by now
    await new Promise((r) => setTimeout(r, 1500));
    const text = await metricsOf(rt);
    assert.equal(metric(text, 'modelship_abandoned_requests_total'), 1);
    assert.ok(!(metric(text, 'modelship_batch_size_count') > 0), 'nothing ran');
    assert.equal(metric(text, 'modelship_memory_budget_in_use_bytes'), 0, 'its budget was released');
    assert.match(text, /modelship_requests_total\{[^}]*code="499"[^}]*\} 1/);

    const ok = await request(`${rt.url}/v2/models/iris/infer`, irisBinary(3));
    assert.equal(ok.status, 200);
    assert.equal(metric(await metricsOf(rt), 'modelship_batch_size_count'), 1);
  } finally {
    await rt.stop();
  }
});

test('--metrics-port: /metrics only there (open even with an API key), 404 JSON on the main port', async () => {
  const rt = await startRuntime({ model: 'iris', args: ['--metrics-port', '0'], env: { MODELSHIP_API_KEY: 'k' } });
  try {
    const listening = rt.logs.find((l) => l.message === 'listening');
    const metricsPort = listening?.['metricsPort'] as number;
    assert.ok(metricsPort > 0 && metricsPort !== rt.port, JSON.stringify(listening));
    const apart = `http://127.0.0.1:${metricsPort}`;
    const m = await request(`${apart}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.text, /modelship_ready 1/);
    assert.match(m.text, /modelship_workers_live 1/);
    for (const path of ['/metrics', '/metrics/', '/METRICS', '/metrics?x=1']) {
      const main = await request(`${rt.url}${path}`);
      assert.equal(main.status, 404, path);
      assert.match(main.json()['error'] as string, /metrics are served on port \d+/);
    }
    const other = await request(`${apart}/v2/health/ready`);
    assert.equal(other.status, 404);
    assert.match(other.json()['error'] as string, /only GET \/metrics/);
    // the main port still serves everything else
    assert.equal((await request(`${rt.url}/v2/health/ready`)).status, 200);
  } finally {
    assert.equal(await rt.stop(), 0);
  }
});
