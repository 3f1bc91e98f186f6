/**
 * A/B version pinning between two real runtime processes: iris version 1 and iris version 2 on
 * loopback, each with MODELSHIP_VERSION_ROUTES naming both (as the operator renders it into both
 * tracks' pods), plus routes that cannot work: version 3 routed back to runtime 1 itself (a loop),
 * 4 to a closed port, 5 to a socket that never answers, 6 to one that breaks off, 7 to a listener
 * whose accept queue is full (the kernel drops the SYN: a connection that never completes).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { createServer, Socket, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { ENV, formatVersionRoutes, PIN_HEADER } from '../../contract/runtime-contract.ts';
import { parsePrometheusText } from '../../operator/src/analysis/prometheus-text.ts';
import { metric, post, request, spawnRuntime, startRuntime, type Reply, type Runtime } from '@modelship/devcluster/runtime-process';

const MAX_BODY = 4096;
const TIMEOUT_MS = 1500;
/** runtime 1's --max-queue-size, which also caps its forwards in flight */
const MAX_FORWARDS = 2;

async function listenLoopback(onSocket: (s: Socket) => void): Promise<Server> {
  const server = createServer(onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}
const portOf = (s: Server) => (s.address() as { port: number }).port;
async function freePort(): Promise<number> {
  const s = await listenLoopback(() => {});
  const port = portOf(s);
  await new Promise((r) => s.close(r));
  return port;
}

let v1: Runtime;
let v2: Runtime;
const faults: Server[] = [];
const held: Socket[] = [];
let synDropper: ChildProcess | undefined;

/**
 * A loopback listener that never accepts (python: Node's servers always accept), with a backlog of 0
 * filled by a few connections: further SYNs are dropped, so a connect to it never completes.
 */
async function listenerThatDropsSyns(): Promise<number> {
  const proc = spawn(
    'python3',
    [
      '-c',
      "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  synDropper = proc;
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('error', reject);
    proc.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  for (let i = 0; i < 3; i++) {
    const s = new Socket();
    s.on('error', () => {});
    s.connect(port, '127.0.0.1');
    held.push(s);
    await new Promise((r) => setTimeout(r, 50));
  }
  return port;
}

before(async () => {
  const [p1, p2, closed, dropping] = await Promise.all([freePort(), freePort(), freePort(), listenerThatDropsSyns()]);
  // accepts and never answers: the request deadline must end it
  const silent = await listenLoopback((s) => {
    held.push(s);
    s.on('error', () => {});
  });
  // reads the request, then resets the connection
  const breaking = await listenLoopback((s) => {
    s.on('error', () => {});
    s.once('data', () => s.resetAndDestroy());
  });
  faults.push(silent, breaking);
  const routes = formatVersionRoutes([
    { version: '1', baseUrl: `http://127.0.0.1:${p1}` },
    { version: '2', baseUrl: `http://127.0.0.1:${p2}` },
    { version: '3', baseUrl: `http://127.0.0.1:${p1}` },
    { version: '4', baseUrl: `http://127.0.0.1:${closed}` },
    { version: '5', baseUrl: `http://127.0.0.1:${portOf(silent)}` },
    { version: '6', baseUrl: `http://127.0.0.1:${portOf(breaking)}` },
    { version: '7', baseUrl: `http://127.0.0.1:${dropping}` },
  ]);
  const common = ['--max-body-bytes', String(MAX_BODY), '--request-timeout-ms', String(TIMEOUT_MS)];
  [v1, v2] = await Promise.all([
    startRuntime({
      version: '1',
      args: [...common, '--port', String(p1), '--max-queue-size', String(MAX_FORWARDS)],
      env: { [ENV.versionRoutes]: routes },
    }),
    startRuntime({ version: '2', args: [...common, '--port', String(p2)], env: { [ENV.versionRoutes]: routes } }),
  ]);
});

after(async () => {
  await Promise.all([v1?.stop(), v2?.stop()]);
  for (const s of held) s.destroy();
  synDropper?.kill();
  await Promise.all(faults.map((s) => new Promise((r) => s.close(r))));
});

const row = [5.1, 3.5, 1.4, 0.2];
const v2Body = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row }] };
const v1Body = { instances: [row] };
const pin = (version: string, extra: Record<string, string> = {}) => ({ [PIN_HEADER.version]: version, ...extra });

/** The value of one series of the runtime's /metrics (0 when it has not appeared yet). */
async function series(rt: Runtime, name: string, labels: Record<string, string>): Promise<number> {
  const text = (await request(`${rt.url}/metrics`)).text;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}
const served = (rt: Runtime, protocol: string, code = '200') => series(rt, 'modelship_requests_total', { protocol, code });
const forwarded = (rt: Runtime, to: string, code = '200') => series(rt, 'modelship_forwarded_requests_total', { to_version: to, code });

/** One POST with node:http, which never retries by itself. */
function rawPost(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function assertError(r: Reply, status: number, message: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  assert.match(r.json()['error'] as string, message);
}

test('V2 with the header: pinned to the other version -> answered by it; to the own version -> answered here', async () => {
  for (const [rt, other] of [
    [v1, '2'],
    [v2, '1'],
  ] as const) {
    const there = await post(`${rt.url}/v2/models/iris/infer`, v2Body, pin(other));
    assert.equal(there.status, 200, there.text);
    assert.equal(there.json()['model_version'], other);
    const here = await post(`${rt.url}/v2/models/iris/infer`, v2Body, pin(other === '2' ? '1' : '2'));
    assert.equal(here.json()['model_version'], other === '2' ? '1' : '2');
  }
  // unpinned: the own version, as always
  assert.equal((await post(`${v1.url}/v2/models/iris/infer`, v2Body)).json()['model_version'], '1');
});

test('V2 versioned path /v2/models/iris/versions/2/infer on version 1 -> answered by version 2', async () => {
  const r = await post(`${v1.url}/v2/models/iris/versions/2/infer`, v2Body);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json()['model_version'], '2');
  assert.equal((await post(`${v1.url}/v2/models/iris/versions/1/infer`, v2Body)).json()['model_version'], '1');
});

test('V2 binary tensor extension: forwarded with its header length, answered with its own', async () => {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } }],
      outputs: [{ name: 'label', parameters: { binary_data: true } }],
    }),
  );
  const body = Buffer.concat([header, Buffer.from(new Float32Array(row).buffer)]);
  const r = await request(`${v1.url}/v2/models/iris/infer`, {
    body,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length), ...pin('2') },
  });
  assert.equal(r.status, 200, r.text);
  const n = Number(r.headers.get('inference-header-content-length'));
  assert.ok(n > 0 && n <= r.body.length, 'the answer keeps its Inference-Header-Content-Length');
  assert.equal((JSON.parse(r.body.subarray(0, n).toString('utf8')) as { model_version: string }).model_version, '2');
});

test('V1 :predict with the header -> answered by version 2 (its counters move, not those of version 1)', async () => {
  const [here0, there0, fwd0] = await Promise.all([served(v1, 'v1'), served(v2, 'v1'), forwarded(v1, '2')]);
  const r = await post(`${v1.url}/v1/models/iris:predict`, v1Body, pin('2'));
  assert.equal(r.status, 200, r.text);
  assert.ok(Array.isArray(r.json()['predictions']));
  assert.equal(await served(v2, 'v1'), there0 + 1, 'version 2 served it');
  assert.equal(await served(v1, 'v1'), here0, 'version 1 did not count it as served');
  assert.equal(await forwarded(v1, '2'), fwd0 + 1, 'version 1 counted it as forwarded');
});

test('forwarded requests: out of the series the analysis reads on the forwarding pod, in them on the answering pod', async () => {
  // read as the operator's canary/experiment analysis reads a pod (operator/src/analysis/prometheus-text.ts)
  const analysed = async (rt: Runtime) => {
    const { sample } = parsePrometheusText((await request(`${rt.url}/metrics`)).text);
    return { requests: sample.requests, observed: sample.buckets.at(-1)?.[1] ?? 0 };
  };
  const before = await Promise.all([analysed(v1), analysed(v2), forwarded(v1, '2')]);
  const n = 5;
  for (let i = 0; i < n; i++) assert.equal((await post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('2'))).status, 200);
  const [here, there, fwd] = await Promise.all([analysed(v1), analysed(v2), forwarded(v1, '2')]);
  assert.deepEqual(here, before[0], 'version 1 (forwarding) shows the analysis nothing of them');
  assert.deepEqual(there, { requests: before[1].requests + n, observed: before[1].observed + n }, 'version 2 (answering) counts them');
  assert.equal(fwd, before[2] + n, 'version 1 counts them as forwarded');
  // and its own requests still count there
  assert.equal((await post(`${v1.url}/v2/models/iris/infer`, v2Body)).status, 200);
  assert.equal((await analysed(v1)).requests, before[0].requests + 1);
});

test('unknown version -> 404 listing the served versions, by header and by path', async () => {
  assertError(
    await post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('9')),
    404,
    /^model iris has no version "9" here; served: 1, 2, 3, 4, 5, 6, 7$/,
  );
  assertError(await post(`${v2.url}/v2/models/iris/versions/9/infer`, v2Body), 404, /no version "9" here; served: 2, 1, 3/);
  assertError(await post(`${v1.url}/v1/models/iris:predict`, v1Body, pin('9')), 404, /no version "9" here/);
});

test('a bad header value -> 400, never forwarded or looked up', async () => {
  const fwd0 = await forwarded(v1, '2');
  assertError(
    await post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('2, 1')),
    400,
    /the modelship-version header must be one model version/,
  );
  assertError(await post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('x'.repeat(200))), 400, /must be one model version/);
  assertError(await post(`${v1.url}/v2/models/iris/versions/1/infer`, v2Body, pin('2')), 400, /the path asks for version "1"/);
  assert.equal(await forwarded(v1, '2'), fwd0);
});

test('loop guard: an already forwarded request for another version -> 421; a route back to itself ends in 421 too', async () => {
  assertError(
    await post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('2', { [PIN_HEADER.forwarded]: '1' })),
    421,
    /already forwarded once.*not forwarded again/,
  );
  // version 3 is (mis)routed to runtime 1 itself: forwarded once, refused there, no second hop
  // (sent with node:http: fetch retries a 421 once on a new connection by itself)
  const before = await Promise.all([forwarded(v1, '3', '421'), served(v1, 'v2', '421')]);
  const r = await rawPost(`${v1.url}/v2/models/iris/infer`, JSON.stringify(v2Body), pin('3'));
  assert.equal(r.status, 421);
  assert.match((JSON.parse(r.text) as { error: string }).error, /version "3" was asked of this pod/);
  assert.deepEqual(
    await Promise.all([forwarded(v1, '3', '421'), served(v1, 'v2', '421')]),
    [before[0] + 1, before[1] + 1],
    'exactly one hop',
  );
});

test('upstream down -> 503 {"error"} with Retry-After; upstream breaks off -> 502; upstream silent -> 504 at the deadline', async () => {
  const down = await post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('4'));
  assertError(down, 503, /version "4" of the model is not reachable \(ECONNREFUSED\)/);
  assert.equal(down.headers.get('retry-after'), '1');
  assertError(await post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('6')), 502, /version "6" of the model broke off/);
  const t0 = Date.now();
  assertError(await post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('5')), 504, /did not answer within the request timeout of 1500 ms/);
  const took = Date.now() - t0;
  assert.ok(took >= TIMEOUT_MS - 50 && took < TIMEOUT_MS + 2000, `504 after ${took} ms`);
  // a connection never accepted: 503 at the connect timeout (half the deadline here), not a 504 at the deadline
  const t1 = Date.now();
  const unaccepted = await post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('7'));
  assertError(unaccepted, 503, /version "7" of the model did not accept a connection within 750 ms/);
  assert.equal(unaccepted.headers.get('retry-after'), '1');
  const waited = Date.now() - t1;
  assert.ok(waited >= 700 && waited < TIMEOUT_MS, `503 after ${waited} ms`);
  // the runtime is unharmed
  assert.equal((await post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('2'))).status, 200);
});

test('a body over the limit is refused before forwarding (declared length), and while streaming (chunked)', async () => {
  const big = JSON.stringify({ inputs: [{ name: 'input', shape: [500, 4], datatype: 'FP32', data: new Array(2000).fill(1.5) }] });
  assert.ok(big.length > MAX_BODY);
  const before = await Promise.all([served(v2, 'v2'), served(v2, 'v2', '400'), served(v2, 'v2', '413'), served(v2, 'v2', '499')]);
  assertError(await post(`${v1.url}/v2/models/iris/infer`, big, pin('2')), 413, /larger than the limit of 4096 bytes/);
  assert.deepEqual(
    await Promise.all([served(v2, 'v2'), served(v2, 'v2', '400'), served(v2, 'v2', '413'), served(v2, 'v2', '499')]),
    before,
    'version 2 never saw the request',
  );
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(big));
      c.close();
    },
  });
  const res = await fetch(`${v1.url}/v2/models/iris/infer`, {
    method: 'POST',
    body: stream,
    duplex: 'half',
    headers: { 'content-type': 'application/json', ...pin('2') },
  } as RequestInit);
  assert.equal(res.status, 413);
  assert.match(((await res.json()) as { error: string }).error, /larger than the limit of 4096 bytes/);
  assert.equal(await served(v2, 'v2'), before[0], 'version 2 answered nothing for it');
});

test('forwards in flight are capped (max-queue-size): one more -> 503; a client that leaves frees its slot (499)', async () => {
  const gone0 = await forwarded(v1, '5', '499');
  // two forwards held by the silent upstream fill runtime 1's cap of 2
  const held = [0, 1].map(() => post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('5')));
  const leaving = new AbortController();
  await new Promise((r) => setTimeout(r, 200));
  const third = await post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('2'));
  assertError(third, 503, /2 requests are being forwarded to other versions already/);
  for (const r of await Promise.all(held)) assertError(r, 504, /did not answer within/);
  // slots free again; a client that gives up on a forward is counted 499 and frees its slot at once
  const abandoned = fetch(`${v1.url}/v2/models/iris/infer`, {
    method: 'POST',
    body: JSON.stringify(v2Body),
    headers: { 'content-type': 'application/json', ...pin('5') },
    signal: leaving.signal,
  }).catch((err: unknown) => err);
  await new Promise((r) => setTimeout(r, 200));
  leaving.abort();
  assert.ok((await abandoned) instanceof Error);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(await forwarded(v1, '5', '499'), gone0 + 1);
  const ok = await Promise.all([0, 1].map(() => post(`${v1.url}/v2/models/iris/infer`, v2Body, pin('2'))));
  assert.deepEqual(
    ok.map((r) => r.status),
    [200, 200],
  );
});

test('each forward draws on the in-flight memory budget: over it -> 503 naming the budget, released after', async () => {
  // a budget for one forward's buffers (128 KiB) and a half: the second held forward does not fit
  const port = await freePort();
  const rt = await startRuntime({
    version: '1',
    args: ['--port', String(port), '--max-inflight-bytes', String(196_608), '--request-timeout-ms', String(TIMEOUT_MS)],
    env: { [ENV.versionRoutes]: `5=http://127.0.0.1:${portOf(faults[0] as Server)}` },
  });
  const inUse = async () => metric((await request(`${rt.url}/metrics`)).text, 'modelship_memory_budget_in_use_bytes');
  try {
    const held = post(`${rt.url}/v2/models/iris/infer`, v2Body, pin('5'));
    await new Promise((r) => setTimeout(r, 200));
    const refused = await post(`${rt.url}/v2/models/iris/infer`, v2Body, pin('5'));
    assertError(refused, 503, /in-flight memory budget \(131072 of 196608 bytes in use; this request needs 131072 more\)/);
    assert.equal(await inUse(), 131_072, 'the held forward holds its buffers against the budget');
    assertError(await held, 504, /did not answer within/);
    assert.equal(await inUse(), 0, 'released once the forward ended');
    assert.equal((await post(`${rt.url}/v2/models/iris/infer`, v2Body)).status, 200, 'local inference unaffected');
  } finally {
    await rt.stop();
  }
});

test('API key: checked before forwarding (401, never forwarded), carried to the other version', async () => {
  const KEY = 'pinning-test-key';
  const [p1, p2] = await Promise.all([freePort(), freePort()]);
  const routes = `1=http://127.0.0.1:${p1},2=http://127.0.0.1:${p2}`;
  const env = { [ENV.versionRoutes]: routes, MODELSHIP_API_KEY: KEY };
  const started = await Promise.allSettled([
    startRuntime({ version: '1', args: ['--port', String(p1)], env }),
    startRuntime({ version: '2', args: ['--port', String(p2)], env }),
  ]);
  try {
    const [a, b] = started.map((s) => {
      if (s.status === 'rejected') throw s.reason;
      return s.value;
    }) as [Runtime, Runtime];
    assertError(await post(`${a.url}/v2/models/iris/infer`, v2Body, pin('2')), 401, /missing API key/);
    assertError(await post(`${a.url}/v2/models/iris/infer`, v2Body, pin('9')), 401, /missing API key/);
    assert.equal(await served(b, 'v2', '401'), 0, 'version 2 never saw the unauthenticated request');
    const r = await post(`${a.url}/v2/models/iris/infer`, v2Body, pin('2', { authorization: `Bearer ${KEY}` }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json()['model_version'], '2');
    const viaHeader = await post(`${a.url}/v1/models/iris:predict`, v1Body, pin('2', { 'x-api-key': KEY }));
    assert.equal(viaHeader.status, 200, viaHeader.text);
  } finally {
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
  }
});

test('bad routes: the runtime refuses to start, exit code 2, the message names the variable and the entry', async () => {
  const { exited, output } = spawnRuntime(['serve', '--model-path', '/nonexistent.onnx'], {
    [ENV.versionRoutes]: '1=http://127.0.0.1:1,2=http://evil.example.com/steal',
  });
  assert.equal(await exited, 2);
  assert.match(output(), /MODELSHIP_VERSION_ROUTES\): entry 2 \(version \\"2\\"\).*without a path, query or fragment/);
});
