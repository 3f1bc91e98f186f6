/** API key on (env MODELSHIP_API_KEY): inference and metadata need it; health and metrics stay open. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { modelPath, post, request, spawnRuntime, startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';

const KEY = 's3cret-key-value';
let rt: Runtime;
before(async () => {
  rt = await startRuntime({ model: 'iris', env: { MODELSHIP_API_KEY: KEY } });
});
after(async () => {
  await rt?.stop();
});

const body = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] };

test('inference without a key -> 401 naming the missing key', async () => {
  for (const path of ['/v2/models/iris/infer', '/v1/models/iris:predict']) {
    const r = await post(rt.url + path, path.includes('v1') ? { instances: [[5.1, 3.5, 1.4, 0.2]] } : body);
    assert.equal(r.status, 401, path);
    assert.match(r.json()['error'] as string, /missing API key/);
  }
});

test('wrong key -> 401 invalid API key (Bearer and x-api-key)', async () => {
  for (const headers of [
    { authorization: 'Bearer nope' },
    { 'x-api-key': 'nope' },
    { 'x-api-key': `${KEY}x` },
    { authorization: `Basic ${KEY}` },
  ] as Record<string, string>[]) {
    const r = await post(`${rt.url}/v2/models/iris/infer`, body, headers);
    assert.equal(r.status, 401, JSON.stringify(headers));
    assert.match(r.json()['error'] as string, /(invalid|missing) API key/);
  }
});

test('right key -> 200 with Authorization: Bearer or x-api-key', async () => {
  assert.equal((await post(`${rt.url}/v2/models/iris/infer`, body, { authorization: `Bearer ${KEY}` })).status, 200);
  assert.equal((await post(`${rt.url}/v2/models/iris/infer`, body, { 'x-api-key': KEY })).status, 200);
  assert.equal((await post(`${rt.url}/v1/models/iris:predict`, { instances: [[5.1, 3.5, 1.4, 0.2]] }, { 'x-api-key': KEY })).status, 200);
});

test('metadata routes need the key', async () => {
  for (const path of ['/v2', '/v2/models/iris', '/v2/models/iris/ready', '/v1/models/iris', '/v1/models/iris/metadata']) {
    const r = await request(rt.url + path);
    assert.equal(r.status, 401, path);
    assert.match(r.json()['error'] as string, /missing API key/);
    assert.equal((await request(rt.url + path, { headers: { authorization: `Bearer ${KEY}` } })).status, 200, path);
  }
});

test('a 401 is rendered and counted the same on the inference path and the express routes (one renderer, one gate)', async () => {
  const count = async () => {
    const text = (await request(`${rt.url}/metrics`)).text;
    let n = 0;
    for (const m of text.matchAll(
      /^modelship_requests_total\{model="iris",version="1",kind="(?:inference|metadata)",protocol="v2",code="401"\} (\d+)/gm,
    ))
      n += Number(m[1]);
    return n;
  };
  const before = await count();
  const infer = await post(`${rt.url}/v2/models/iris/infer`, body);
  const meta = await request(`${rt.url}/v2/models/iris`);
  for (const r of [infer, meta]) {
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.deepEqual(Object.keys(r.json()), ['error']);
  }
  assert.equal(infer.json()['error'], meta.json()['error']);
  assert.equal(await count(), before + 2);
});

test('health, metrics and OpenAPI stay open', async () => {
  for (const path of ['/v2/health/live', '/v2/health/ready', '/metrics', '/openapi.json']) {
    assert.equal((await request(rt.url + path)).status, 200, path);
  }
});

test('the key never appears in the logs', () => {
  assert.ok(rt.logs.length > 0);
  assert.equal(rt.output().includes(KEY), false);
  assert.equal(rt.logs.find((l) => l.message === 'listening')?.['apiKey'], 'required');
});

test('MODELSHIP_API_KEY set but empty or blank: exit 2 with a clear message, never "auth off"', async () => {
  for (const value of ['', '   ', '\n', ' \r\n']) {
    const { proc, exited, output } = spawnRuntime(['serve', '--model-path', modelPath('iris'), '--host', '127.0.0.1', '--port', '0'], {
      MODELSHIP_API_KEY: value,
    });
    // a runtime that wrongly starts (auth off) is stopped, so the test fails instead of hanging
    const guard = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(guard);
    assert.equal(code, 2, `${JSON.stringify(value)}: ${output()}`);
    assert.match(output(), /MODELSHIP_API_KEY\) is set but empty: give a key, or unset the variable/);
    assert.doesNotMatch(output(), /"listening"/);
  }
});

test('a key read from a file (kubectl create secret --from-file: trailing newline) matches the key without it', async () => {
  const fromFile = await startRuntime({ model: 'iris', env: { MODELSHIP_API_KEY: `${KEY}\r\n` } });
  try {
    assert.equal((await post(`${fromFile.url}/v2/models/iris/infer`, body, { authorization: `Bearer ${KEY}` })).status, 200);
    assert.equal((await post(`${fromFile.url}/v2/models/iris/infer`, body, { 'x-api-key': KEY })).status, 200);
    assert.equal((await post(`${fromFile.url}/v2/models/iris/infer`, body)).status, 401);
    assert.equal(fromFile.output().includes(KEY), false, 'the key is not logged');
  } finally {
    await fromFile.stop();
  }
});
