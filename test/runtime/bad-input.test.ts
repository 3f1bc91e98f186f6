/**
 * Every bad input from issue 3 gets a 4xx {"error"} naming the problem, and the process keeps
 * serving afterwards.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { binaryRequest, tensorBytes } from './binary.ts';
import { post, request, startRuntime, type Reply, type Runtime } from '@modelship/devcluster/runtime-process';

let iris: Runtime;
let two: Runtime;
let fixed: Runtime;
before(async () => {
  [iris, two, fixed] = await Promise.all([
    startRuntime({ model: 'iris', args: ['--max-body-bytes', '4096'] }),
    startRuntime({ model: 'two-inputs' }),
    startRuntime({ model: 'fixed-shape' }),
  ]);
});
after(async () => {
  await Promise.all([iris, two, fixed].map((s) => s?.stop()));
});

const infer = (r: Runtime, model = 'iris') => `${r.url}/v2/models/${model}/infer`;
const irisInput = (over: Record<string, unknown> = {}) => ({
  inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2], ...over }],
});

function assertError(r: Reply, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, `status (body: ${r.text})`);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  const body = r.json();
  assert.deepEqual(Object.keys(body), ['error']);
  assert.match(body['error'] as string, pattern);
}

test('malformed JSON -> 400', async () => {
  assertError(await post(infer(iris), '{"inputs": [ {"name": '), 400, /malformed JSON/);
  assertError(await post(`${iris.url}/v1/models/iris:predict`, '{"instances": [1,2,'), 400, /malformed JSON/);
});

test('body over the limit -> 413 (declared length and chunked)', async () => {
  const big = JSON.stringify(irisInput({ data: new Array(2000).fill(1.5), shape: [500, 4] }));
  assert.ok(big.length > 4096);
  assertError(await post(infer(iris), big), 413, /larger than the limit of 4096 bytes/);
  // chunked: no Content-Length, the limit is enforced while reading
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(big));
      c.close();
    },
  });
  const res = await fetch(infer(iris), {
    method: 'POST',
    body: stream,
    duplex: 'half',
    headers: { 'content-type': 'application/json' },
  } as RequestInit);
  assert.equal(res.status, 413);
  assert.match(((await res.json()) as { error: string }).error, /larger than the limit/);
});

test('unknown model or version -> 404', async () => {
  assertError(await post(`${iris.url}/v2/models/nope/infer`, irisInput()), 404, /model "nope" does not exist/);
  assertError(await post(`${iris.url}/v2/models/iris/versions/9/infer`, irisInput()), 404, /no version "9"/);
  assertError(await post(`${iris.url}/v1/models/nope:predict`, { instances: [[1, 2, 3, 4]] }), 404, /model "nope" does not exist/);
  assertError(await request(`${iris.url}/v2/models/nope`), 404, /model "nope" does not exist/);
  assertError(await request(`${iris.url}/v2/models/iris/versions/9`), 404, /no version "9"/);
});

test('unknown input name -> 400', async () => {
  assertError(await post(infer(iris), irisInput({ name: 'foo' })), 400, /unknown input "foo".*"input"/);
  assertError(
    await post(`${two.url}/v1/models/two-inputs:predict`, { instances: [{ features: [1, 2], cat: [1], extra: 1 }] }),
    400,
    /unknown input "extra"/,
  );
});

test('unknown output name -> 400', async () => {
  assertError(
    await post(infer(iris), { ...irisInput(), outputs: [{ name: 'bar' }] }),
    400,
    /unknown output "bar".*"label", "probabilities"/,
  );
});

test('wrong datatype -> 400', async () => {
  assertError(
    await post(infer(iris), irisInput({ datatype: 'FP64' })),
    400,
    /input "input": datatype FP64 does not match the model's FP32/,
  );
  assertError(await post(infer(iris), irisInput({ datatype: 'NOPE' })), 400, /datatype NOPE does not match/);
});

test('wrong rank or fixed dimension -> 400', async () => {
  assertError(
    await post(infer(iris), irisInput({ shape: [4] })),
    400,
    /shape \[4\] has rank 1, the model expects rank 2 \(shape \[-1,4\]\)/,
  );
  assertError(await post(infer(iris), irisInput({ shape: [1, 3], data: [1, 2, 3] })), 400, /dimension 1 is 3, the model expects 4/);
  assertError(
    await post(infer(fixed, 'fixed-shape'), { inputs: [{ name: 'matrix', shape: [2, 4], datatype: 'FP32', data: new Array(8).fill(1) }] }),
    400,
    /dimension 0 is 2, the model expects 3 \(shape \[3,4\]\)/,
  );
  assertError(await post(`${iris.url}/v1/models/iris:predict`, { instances: [[1, 2, 3]] }), 400, /dimension 1 is 3, the model expects 4/);
  assertError(await post(infer(iris), irisInput({ shape: [1, -4] })), 400, /"shape" must be an array of non-negative integers/);
});

test('data length != product(shape) -> 400', async () => {
  assertError(await post(infer(iris), irisInput({ shape: [2, 4] })), 400, /data has 4 elements but shape \[2,4\] needs 8/);
  assertError(await post(infer(iris), irisInput({ data: [[1, 2], [3]] })), 400, /data has 3 elements but shape \[1,4\] needs 4/);
  assertError(
    await post(`${iris.url}/v1/models/iris:predict`, {
      instances: [
        [1, 2, 3, 4],
        [1, 2, 3],
      ],
    }),
    400,
    /ragged nesting/,
  );
});

test('missing inputs -> 400', async () => {
  assertError(
    await post(infer(two, 'two-inputs'), { inputs: [{ name: 'features', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }),
    400,
    /missing input "cat"/,
  );
  assertError(await post(infer(iris), { inputs: [] }), 400, /"inputs" must be a non-empty array/);
  assertError(await post(infer(iris), { id: 'x' }), 400, /"inputs" must be a non-empty array/);
  assertError(await post(`${two.url}/v1/models/two-inputs:predict`, { instances: [{ features: [1, 2] }] }), 400, /missing input "cat"/);
});

test('strings, null, NaN and out-of-range integers in numeric tensors -> 400', async () => {
  assertError(
    await post(infer(iris), irisInput({ data: [5.1, 'abc', 1.4, 0.2] })),
    400,
    /input "input": element 1 is a string \("abc"\), expected a finite number for FP32/,
  );
  assertError(await post(infer(iris), irisInput({ data: [null, 3.5, 1.4, 0.2] })), 400, /element 0 is null, expected a finite number/);
  assertError(
    await post(infer(iris), '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[NaN,3.5,1.4,0.2]}]}'),
    400,
    /NaN and Infinity are not JSON numbers/,
  );
  assertError(await post(`${iris.url}/v1/models/iris:predict`, '{"instances":[[1,2,3,Infinity]]}'), 400, /NaN and Infinity/);
  assertError(await post(`${iris.url}/v1/models/iris:predict`, { instances: [[1, 2, 3, 'x']] }), 400, /element 3 is a string/);
  const cat = (v: unknown) => ({
    inputs: [
      { name: 'features', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
      { name: 'cat', shape: [1, 1], datatype: 'INT64', data: [v] },
    ],
  });
  assertError(await post(infer(two, 'two-inputs'), cat(1.5)), 400, /input "cat": element 0 is 1.5, expected an integer .* for INT64/);
  assertError(
    await post(infer(two, 'two-inputs'), cat(2 ** 60)),
    400,
    /input "cat": element 0 is 1152921504606847000, expected an integer/,
  );
});

test('binary header length inconsistent with the body -> 400', async () => {
  const good = binaryRequest([{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }]);
  // header length larger than the body
  assertError(
    await request(infer(iris), { body: good.body, headers: { ...good.headers, 'inference-header-content-length': '99999' } }),
    400,
    /Inference-Header-Content-Length 99999 is larger than the request body/,
  );
  // header length not a number
  assertError(
    await request(infer(iris), { body: good.body, headers: { ...good.headers, 'inference-header-content-length': 'abc' } }),
    400,
    /Inference-Header-Content-Length must be a non-negative integer/,
  );
  // header length cutting the JSON short
  const hl = Number(good.headers['inference-header-content-length']);
  assertError(
    await request(infer(iris), { body: good.body, headers: { ...good.headers, 'inference-header-content-length': String(hl - 5) } }),
    400,
    /malformed JSON/,
  );
  // binary_data_size disagreeing with shape x datatype
  const header = Buffer.from(
    JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 12 } }] }),
  );
  const short = Buffer.concat([header, tensorBytes('FP32', [1, 2, 3])]);
  assertError(
    await request(infer(iris), {
      body: short,
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    }),
    400,
    /binary_data_size is 12 bytes but shape \[1,4\] of FP32 needs 4 x 4 = 16 bytes/,
  );
  // more binary bytes than the inputs declare
  const extra = Buffer.concat([good.body, Buffer.from([1, 2, 3])]);
  assertError(
    await request(infer(iris), { body: extra, headers: good.headers }),
    400,
    /3 bytes of binary data that no input's binary_data_size accounts for/,
  );
  // binary_data_size running past the end of the body
  const header2 = Buffer.from(
    JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } }] }),
  );
  const cut = Buffer.concat([header2, tensorBytes('FP32', [1, 2])]);
  assertError(
    await request(infer(iris), {
      body: cut,
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header2.length) },
    }),
    400,
    /binary_data_size 16 runs past the end of the body/,
  );
  // binary_data_size without the header
  assertError(
    await post(infer(iris), { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } }] }),
    400,
    /no Inference-Header-Content-Length header/,
  );
});

test('model not ready -> 503 (server live, model still loading)', async () => {
  // a FIFO as the model file: with --model-sha256 the runtime blocks hashing it, so it is
  // listening and live but the model never finishes loading while nobody writes to it
  const dir = mkdtempSync(join(tmpdir(), 'modelship-fifo-'));
  const fifo = join(dir, 'model.onnx');
  execFileSync('mkfifo', [fifo]);
  const slow = await startRuntime({ model: 'iris', modelPath: fifo, args: ['--model-sha256', 'a'.repeat(64)], waitFor: 'listening' });
  try {
    assert.equal((await request(`${slow.url}/v2/health/live`)).status, 200);
    assertError(await request(`${slow.url}/v2/health/ready`), 503, /not ready: the model is loading/);
    assertError(await request(`${slow.url}/v2/models/iris/ready`), 503, /not ready/);
    assertError(await post(infer(slow), irisInput()), 503, /model "iris" is not ready: the model is loading/);
    assertError(await post(`${slow.url}/v1/models/iris:predict`, { instances: [[1, 2, 3, 4]] }), 503, /not ready/);
    assertError(await request(`${slow.url}/v2/models/iris`), 503, /not ready/);
  } finally {
    slow.proc.kill('SIGKILL');
    await slow.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a client that disconnects mid-body is counted as 499 and leaves nothing in flight', async () => {
  const { connect } = await import('node:net');
  const sock = connect(iris.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write('POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"inputs": [');
  await new Promise((r) => setTimeout(r, 100));
  sock.destroy();
  // the server notices the closed socket asynchronously: poll (up to 5 s on a loaded machine)
  let text = '';
  for (let i = 0; i < 50 && !/code="499"/.test(text); i++) {
    await new Promise((r) => setTimeout(r, 100));
    text = (await request(`${iris.url}/metrics`)).text;
  }
  assert.match(text, /modelship_requests_total\{model="iris",version="1",kind="inference",protocol="v2",code="499"\} 1/);
  assert.match(text, /modelship_inflight_requests\{model="iris",version="1"\} 0/);
});

test('malformed percent-escapes in the path -> 400, on every route (issue 9)', async () => {
  for (const [method, path] of [
    ['GET', '/v2/models/%E0%A4%A'],
    ['GET', '/v2/models/%E0%A4%A/ready'],
    ['GET', '/v2/models/iris/versions/%E0%A4%A'],
    ['GET', '/v2/models/iris/versions/%E0%A4%A/ready'],
    ['GET', '/v1/models/%E0%A4%A'],
    ['GET', '/v1/models/%E0%A4%A/metadata'],
    ['GET', '/v1/models/iris/versions/%C0%80'],
    ['POST', '/v2/models/%E0%A4%A/infer'],
    ['POST', '/v2/models/iris/versions/%ZZ/infer'],
    ['POST', '/v1/models/%E0%A4%A:predict'],
    ['POST', '/v1/models/iris/versions/%:predict'],
    ['GET', '/v2/models/%E0%A4%A/infer'],
    ['GET', '/nowhere/%FF'],
  ] as const) {
    const r = await request(`${iris.url}${path}`, method === 'POST' ? { body: JSON.stringify(irisInput()) } : {});
    assertError(r, 400, /malformed percent-escape in the path segment "%/);
  }
  // a well-formed escape still resolves, and a malformed one in the query is ignored
  assertError(await request(`${iris.url}/v2/models/ir%69s%2Fx`), 404, /model "iris\/x" does not exist/);
  assert.equal((await request(`${iris.url}/v2/models/ir%69s?x=%E0%A4%A`)).status, 200);
  assert.equal((await post(`${infer(iris)}?x=%E0%A4%A`, irisInput())).status, 200);
});

test('nesting 100k deep (V1 and V2) -> 400 naming the limit before parsing; 66 deep -> 400 from the tensor check (issue 9)', async () => {
  const nest = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;
  const deep = nest(100_000);
  const body = /the JSON body is nested deeper than the limit of 72 levels/;
  assertError(await post(`${fixed.url}/v1/models/fixed-shape:predict`, `{"instances":${deep}}`), 400, body);
  assertError(await post(`${fixed.url}/v1/models/fixed-shape:predict`, `{"inputs":{"matrix":${deep}}}`), 400, body);
  assertError(
    await post(infer(fixed, 'fixed-shape'), `{"inputs":[{"name":"matrix","shape":[3,4],"datatype":"FP32","data":${deep}}]}`),
    400,
    body,
  );
  // outside any tensor too, and in the JSON header of a binary request
  assertError(await post(infer(fixed, 'fixed-shape'), `{"id":"x","parameters":{"p":${deep}},"inputs":[]}`), 400, body);
  const header = `{"parameters":{"p":${nest(80)}},"inputs":[]}`;
  assertError(
    await request(infer(fixed, 'fixed-shape'), {
      body: Buffer.concat([Buffer.from(header), Buffer.alloc(8)]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    }),
    400,
    body,
  );
  // brackets inside strings do not count
  assertError(
    await post(infer(fixed, 'fixed-shape'), `{"id":"${'['.repeat(1000)}","inputs":[]}`),
    400,
    /"inputs" must be a non-empty array/,
  );
  // within the body limit but past the tensor limit
  const tensor = /input "matrix": arrays are nested deeper than the limit of 64 levels/;
  assertError(await post(`${fixed.url}/v1/models/fixed-shape:predict`, `{"instances":${nest(66)}}`), 400, tensor);
  assertError(
    await post(infer(fixed, 'fixed-shape'), `{"inputs":[{"name":"matrix","shape":[3,4],"datatype":"FP32","data":${nest(66)}}]}`),
    400,
    tensor,
  );
});

test('invalid UTF-8 in a JSON body -> 400, not silently replaced (issue 9)', async () => {
  const body = Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xc3, 0x28]), Buffer.from(`",${JSON.stringify(irisInput()).slice(1)}`)]);
  assertError(await request(infer(iris), { body }), 400, /malformed JSON: the body is not valid UTF-8/);
  assertError(await request(`${iris.url}/v1/models/iris:predict`, { body: Buffer.from([0x7b, 0xff, 0x7d]) }), 400, /not valid UTF-8/);
});

test('V2 hostile parameters, header lengths and outputs -> 400 (issue 9)', async () => {
  const good = binaryRequest([{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }]);
  for (const hl of ['-1', '1e2', ' ', String(2 ** 64)]) {
    assertError(
      await request(infer(iris), { body: good.body, headers: { ...good.headers, 'inference-header-content-length': hl } }),
      400,
      /Inference-Header-Content-Length/,
    );
  }
  assertError(await post(infer(iris), { ...irisInput(), outputs: [] }), 400, /"outputs" must be a non-empty array/);
  assertError(
    await post(infer(iris), { ...irisInput(), parameters: { binary_data_output: 'true' } }),
    400,
    /parameter "binary_data_output" must be true or false/,
  );
  assertError(
    await post(infer(iris), irisInput({ shape: [2 ** 53 - 1, 4] })),
    400,
    /data has 4 elements but shape \[9007199254740991,4\] needs/,
  );
});

test('the process keeps serving after all of the above', async () => {
  for (const s of [iris, two, fixed]) {
    assert.equal(s.proc.exitCode, null);
    assert.equal((await request(`${s.url}/v2/health/ready`)).status, 200);
  }
  const r = await post(infer(iris), irisInput());
  assert.equal(r.status, 200);
  assert.equal(iris.logs.filter((l) => l.level === 'error').length, 0, 'no error logged for client mistakes');
});
