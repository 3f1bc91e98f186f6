/**
 * What the runtime writes about requests, in the real process: only JSON lines on stdout and stderr
 * (onnxruntime's own colored `[E:onnxruntime:...]` lines silenced, its failures logged as JSON by the
 * runtime), x-request-id and traceparent echoed and carried into the access log and on to another
 * version's pod, the access log's on / 1-in-N / off settings, and metadata calls kept out of what
 * the canary analysis reads.
 */
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ENV, formatVersionRoutes, PIN_HEADER } from '../../contract/runtime-contract.ts';
import { parsePrometheusText } from '../../operator/src/analysis/prometheus-text.ts';
import { expected, post, request, startRuntime, type LogLine, type Runtime } from '@modelship/devcluster/runtime-process';

interface FlakyExpected {
  failing_inputs: Array<{ name: string; datatype: string; shape: number[]; data: number[] }>;
}
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const GOOD_ROW = [5.1, 3.5, 1.4, 0.2];
const BAD_ROW = [7.7, 3.0, 6.1, 2.3];
const rows = (r: number[][]) => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [r.length, 4], data: r.flat() }] });

/** Everything a stream writes from now on, kept apart from the other stream. */
function collect(stream: Readable): () => string {
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  return () => text;
}

/** Each line that is not one JSON object. */
function nonJsonLines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .filter((l) => {
      try {
        const v: unknown = JSON.parse(l);
        return typeof v !== 'object' || v === null || Array.isArray(v);
      } catch {
        return true;
      }
    });
}

const accessLines = (rt: Runtime): LogLine[] => rt.logs.filter((l) => l['component'] === 'access' && l.message === 'access');

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('onnxruntime failures leave only JSON on the log streams', () => {
  let rt: Runtime;
  let stdout: () => string;
  let stderr: () => string;
  before(async () => {
    // two workers and a batch window: failing runs alone and inside batches (retried one by one)
    rt = await startRuntime({ model: 'iris-flaky', args: ['--workers', '2', '--max-batch-size', '16', '--max-batch-delay-us', '5000'] });
    stdout = collect(rt.proc.stdout!);
    stderr = collect(rt.proc.stderr!);
  });
  after(async () => rt.stop());

  test('failed runs, bad input and metadata: every line written is JSON; the run failure is logged as JSON with its request id', async () => {
    const failing = (expected('iris-flaky') as unknown as FlakyExpected).failing_inputs;
    const alone = await post(
      `${rt.url}/v2/models/iris-flaky/infer`,
      { inputs: failing },
      { 'x-request-id': 'flaky-1', traceparent: TRACEPARENT },
    );
    assert.equal(alone.status, 500);
    assert.match(alone.json()['error'] as string, /^inference failed: .*indices element out of data bounds/);
    assert.equal(alone.headers.get('x-request-id'), 'flaky-1');
    // failing and good requests together, so some failures happen inside a batch
    const plan = Array.from({ length: 40 }, (_, i) => (i % 4 === 1 ? [GOOD_ROW, BAD_ROW] : [GOOD_ROW]));
    const replies = await Promise.all(plan.map((r) => post(`${rt.url}/v2/models/iris-flaky/infer`, rows(r))));
    replies.forEach((r, i) => assert.equal(r.status, (plan[i] as number[][]).length === 2 ? 500 : 200));
    // requests refused before onnxruntime, and metadata
    assert.equal((await post(`${rt.url}/v2/models/iris-flaky/infer`, rows([[1, 2, 3]]))).status, 400);
    assert.equal((await post(`${rt.url}/v2/models/iris-flaky/infer`, '{not json')).status, 400);
    assert.equal((await request(`${rt.url}/v2/models/iris-flaky`)).status, 200);
    assert.equal((await request(`${rt.url}/v2/models/nope`)).status, 404);

    await until('the run failures in the log', () => rt.logs.filter((l) => l.message === 'inference run failed').length >= 11);
    const failures = rt.logs.filter((l) => l.message === 'inference run failed');
    assert.equal(failures.length, 11, 'one line per request that failed in onnxruntime, none per batch retried');
    const first = failures.find((l) => l['requestId'] === 'flaky-1');
    assert.ok(first, 'the failure carries the request id');
    assert.equal(first.level, 'warn');
    assert.equal(first['traceId'], TRACE_ID);
    assert.match(first['error'] as string, /indices element out of data bounds/);

    await rt.stop();
    assert.deepEqual(nonJsonLines(stderr()), [], 'stderr');
    assert.deepEqual(nonJsonLines(stdout()), [], 'stdout');
    assert.deepEqual(nonJsonLines(rt.output()), [], 'all output since start');
    assert.doesNotMatch(rt.output(), /onnxruntime:/);
    assert.ok(!rt.output().includes('\u001b['), 'no terminal color codes');
  });
});

describe('request ids, trace context and the access log', () => {
  let rt: Runtime;
  const KEY = 'k-3f9a1c-secret';
  before(async () => {
    rt = await startRuntime({ model: 'iris', args: ['--access-log', 'on'], env: { [ENV.apiKey]: KEY } });
  });
  after(async () => rt.stop());
  const auth = { authorization: `Bearer ${KEY}` };

  test("x-request-id: the client's sane id is echoed; none, or an unusable one, gets a new id; never a 4xx/5xx for it", async () => {
    const body = rows([GOOD_ROW]);
    const kept = await post(`${rt.url}/v2/models/iris/infer`, body, { ...auth, 'x-request-id': 'client-abc-123' });
    assert.equal(kept.status, 200);
    assert.equal(kept.headers.get('x-request-id'), 'client-abc-123');
    const seen = new Set<string>();
    for (const bad of [undefined, 'has spaces', 'x'.repeat(129), 'x'.repeat(8000), 'caf\u00e9']) {
      const headers: Record<string, string> = { ...auth };
      if (bad !== undefined) headers['x-request-id'] = bad;
      const r = await post(`${rt.url}/v2/models/iris/infer`, body, headers);
      assert.equal(r.status, 200, String(bad).slice(0, 20));
      const id = r.headers.get('x-request-id') ?? '';
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      seen.add(id);
    }
    assert.equal(seen.size, 5, 'a new id each time');
    // errors, metadata and a refused request carry it too
    const bad = await post(`${rt.url}/v2/models/iris/infer`, rows([[1, 2]]), { ...auth, 'x-request-id': 'r-400' });
    assert.deepEqual([bad.status, bad.headers.get('x-request-id')], [400, 'r-400']);
    const meta = await request(`${rt.url}/v2/models/iris`, { headers: { ...auth, 'x-request-id': 'r-meta' } });
    assert.deepEqual([meta.status, meta.headers.get('x-request-id')], [200, 'r-meta']);
    const refused = await post(`${rt.url}/v2/models/iris/infer`, body, { 'x-request-id': 'r-401' });
    assert.deepEqual([refused.status, refused.headers.get('x-request-id')], [401, 'r-401']);
    // answers express gives outside the API routes: the fallback 404, a malformed path, a 405, the docs page
    for (const [path, method, status] of [
      ['/no/such/route', 'GET', 404],
      ['/v2/models/%C0%AF', 'GET', 400],
      ['/v2/models/iris/infer', 'GET', 405],
      ['/docs', 'GET', 200],
    ] as const) {
      const r = await request(`${rt.url}${path}`, {
        method,
        headers: { ...auth, 'x-request-id': `r-${status}-outside`, traceparent: TRACEPARENT },
      });
      assert.deepEqual(
        [r.status, r.headers.get('x-request-id'), r.headers.get('traceparent')],
        [status, `r-${status}-outside`, TRACEPARENT],
        path,
      );
      const fresh = await request(`${rt.url}${path}`, { method, headers: auth });
      assert.match(fresh.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, `${path} without an id`);
    }
  });

  test('traceparent: a valid one is echoed and its trace-id logged; an invalid one is ignored, not an error', async () => {
    const body = rows([GOOD_ROW]);
    const traced = await post(`${rt.url}/v2/models/iris/infer`, body, { ...auth, traceparent: TRACEPARENT, 'x-request-id': 'traced-1' });
    assert.equal(traced.status, 200);
    assert.equal(traced.headers.get('traceparent'), TRACEPARENT);
    for (const invalid of [
      'garbage',
      `00-${TRACE_ID.toUpperCase()}-00f067aa0ba902b7-01`,
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      'x'.repeat(4000),
    ]) {
      const r = await post(`${rt.url}/v2/models/iris/infer`, body, { ...auth, traceparent: invalid, 'x-request-id': 'untraced' });
      assert.equal(r.status, 200, invalid.slice(0, 30));
      assert.equal(r.headers.get('traceparent'), null);
    }
    await until('the access lines', () => accessLines(rt).some((l) => l['requestId'] === 'traced-1'));
    const line = accessLines(rt).find((l) => l['requestId'] === 'traced-1') as LogLine;
    assert.equal(line['traceId'], TRACE_ID);
    await until('the untraced lines', () => accessLines(rt).filter((l) => l['requestId'] === 'untraced').length === 4);
    for (const l of accessLines(rt).filter((x) => x['requestId'] === 'untraced')) assert.equal(l['traceId'], undefined);
  });

  test('access log: one JSON line per inference with its fields; the V2 id; no key, no body; metadata not logged', async () => {
    const before = accessLines(rt).length;
    const v2Body = JSON.stringify({ id: 'inference-77', ...rows([GOOD_ROW, GOOD_ROW]) });
    const ok = await post(`${rt.url}/v2/models/iris/infer?debug=1`, v2Body, { ...auth, 'x-request-id': 'acc-1', traceparent: TRACEPARENT });
    assert.equal(ok.status, 200);
    assert.equal(ok.json()['id'], 'inference-77', 'the V2 id is echoed in the body');
    const v1 = await post(`${rt.url}/v1/models/iris:predict`, { instances: [GOOD_ROW] }, { ...auth, 'x-request-id': 'acc-2' });
    assert.equal(v1.status, 200);
    const missing = await post(`${rt.url}/v2/models/other/infer`, rows([GOOD_ROW]), { ...auth, 'x-request-id': 'acc-3' });
    assert.equal(missing.status, 404);
    for (let i = 0; i < 3; i++) assert.equal((await request(`${rt.url}/v2/models/iris`, { headers: auth })).status, 200);
    await until('three access lines', () => accessLines(rt).length >= before + 3);
    await new Promise((r) => setTimeout(r, 100));
    const lines = accessLines(rt).slice(before);
    assert.equal(lines.length, 3, 'inference only: the metadata calls are not in the access log');
    const [a, b, c] = lines as [LogLine, LogLine, LogLine];
    assert.equal(a.level, 'info');
    assert.equal(typeof a['timestamp'], 'string');
    assert.ok(typeof a['durationMs'] === 'number' && a['durationMs'] > 0 && a['durationMs'] < 5000);
    const { timestamp: _t, durationMs: _d, ...fields } = a;
    assert.deepEqual(fields, {
      level: 'info',
      message: 'access',
      component: 'access',
      method: 'POST',
      path: '/v2/models/iris/infer',
      protocol: 'v2',
      model: 'iris',
      version: '1',
      status: 200,
      bytesIn: Buffer.byteLength(v2Body),
      bytesOut: ok.body.length,
      requestId: 'acc-1',
      traceId: TRACE_ID,
      inferenceId: 'inference-77',
      clientIp: '127.0.0.1',
    });
    assert.deepEqual(
      [b['path'], b['protocol'], b['status'], b['requestId'], b['bytesOut']],
      ['/v1/models/iris:predict', 'v1', 200, 'acc-2', v1.body.length],
    );
    assert.deepEqual([c['model'], c['status'], c['requestId']], ['other', 404, 'acc-3']);
    assert.doesNotMatch(rt.output(), new RegExp(KEY), 'the API key is in no log line');
    // The measured fields are left out of this check: a duration such as 15.17 contains "5.1".
    const logged = JSON.stringify(lines.map(({ durationMs: _d, timestamp: _t, ...rest }) => rest));
    assert.doesNotMatch(logged, /Bearer|authorization|5\.1|3\.5|debug=1/i, 'no header values, bodies (the row 5.1, 3.5, …) or queries');
  });

  test('metadata and inference are counted apart; the analysis reads only inference', async () => {
    const before = parsePrometheusText((await request(`${rt.url}/metrics`)).text).sample;
    for (let i = 0; i < 5; i++) await request(`${rt.url}/v2/models/iris`, { headers: auth });
    await request(`${rt.url}/v2/models/iris/versions/9`, { headers: auth }); // 404, metadata
    await post(`${rt.url}/v2/models/iris/infer`, rows([GOOD_ROW]), auth);
    await post(`${rt.url}/v2/models/iris/infer`, rows([[1]]), auth);
    const text = (await request(`${rt.url}/metrics`)).text;
    assert.match(text, /^modelship_requests_total\{model="iris",version="1",kind="metadata",protocol="v2",code="200"\} [1-9]/m);
    assert.match(text, /^modelship_requests_total\{model="iris",version="1",kind="metadata",protocol="v2",code="404"\} 1$/m);
    assert.match(text, /^modelship_request_duration_seconds_count\{model="iris",version="1",kind="metadata",protocol="v2"\} [1-9]/m);
    const after = parsePrometheusText(text).sample;
    assert.deepEqual(
      { requests: after.requests - before.requests, clientErrors: after.clientErrors - before.clientErrors },
      { requests: 2, clientErrors: 1 },
      'only the two inference requests reach the analysis',
    );
  });
});

describe('access log settings', () => {
  test('"1/5" logs every fifth inference; the default logs none', async () => {
    const sampled = await startRuntime({ model: 'iris', env: { [ENV.accessLog]: '1/5' } });
    const plain = await startRuntime({ model: 'iris' });
    try {
      for (let i = 0; i < 20; i++) {
        assert.equal((await post(`${sampled.url}/v2/models/iris/infer`, rows([GOOD_ROW]), { 'x-request-id': `s-${i}` })).status, 200);
        assert.equal((await post(`${plain.url}/v2/models/iris/infer`, rows([GOOD_ROW]))).status, 200);
      }
      await until('four sampled lines', () => accessLines(sampled).length >= 4);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        accessLines(sampled).map((l) => l['requestId']),
        ['s-4', 's-9', 's-14', 's-19'],
      );
      assert.equal(accessLines(plain).length, 0);
      assert.equal(plain.logs.find((l) => l.message === 'listening')?.['accessLog'], 'off');
      assert.equal(sampled.logs.find((l) => l.message === 'listening')?.['accessLog'], '1/5');
    } finally {
      await Promise.all([sampled.stop(), plain.stop()]);
    }
  });

  test('a bad MODELSHIP_ACCESS_LOG is a configuration error (exit 2) naming the variable', async () => {
    await assert.rejects(
      startRuntime({ model: 'iris', env: { [ENV.accessLog]: 'verbose' } }),
      /exited with 2[\s\S]*MODELSHIP_ACCESS_LOG[\s\S]*\\"verbose\\" is not off, on or 1\/N/,
    );
  });
});

describe('a request pinned to another version', () => {
  test('carries its request id and trace to the other version, whose access log shows them', async () => {
    const v2 = await startRuntime({ model: 'iris', version: '2', args: ['--access-log', 'on'] });
    let v1: Runtime | undefined;
    try {
      v1 = await startRuntime({
        model: 'iris',
        version: '1',
        args: ['--access-log', 'on'],
        env: { [ENV.versionRoutes]: formatVersionRoutes([{ version: '2', baseUrl: v2.url }]) },
      });
      const pinned = await post(`${v1.url}/v2/models/iris/infer`, rows([GOOD_ROW]), {
        [PIN_HEADER.version]: '2',
        traceparent: TRACEPARENT,
        tracestate: 'vendor=abc',
      });
      assert.equal(pinned.status, 200);
      assert.equal(pinned.json()['model_version'], '2');
      const id = pinned.headers.get('x-request-id') as string;
      assert.ok(id, 'an id was made at the first pod');
      assert.equal(pinned.headers.get('traceparent'), TRACEPARENT);
      const pod1 = v1;
      await until('both access lines', () => accessLines(pod1).length === 1 && accessLines(v2).length === 1);
      const [here, there] = [accessLines(pod1)[0] as LogLine, accessLines(v2)[0] as LogLine];
      assert.deepEqual(
        [here['requestId'], here['traceId'], here['forwardedTo'], here['version'], here['status']],
        [id, TRACE_ID, '2', '2', 200],
      );
      assert.deepEqual([there['requestId'], there['traceId'], there['version'], there['status']], [id, TRACE_ID, '2', 200]);
    } finally {
      await Promise.all([v2.stop(), v1?.stop()]);
    }
  });
});
