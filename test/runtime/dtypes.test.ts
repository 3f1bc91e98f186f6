/**
 * Every V2 datatype onnxruntime supports, through the `dtypes` example model (Identity per
 * type): JSON in/out (int64/uint64 as JSON numbers, FP16 as numbers, BYTES as strings) and the
 * binary extension in/out.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { binaryRequest, decodeBinaryResponse } from './binary.ts';
import { expected, post, request, startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';

interface T {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}
const exp = expected('dtypes') as unknown as { inputs: T[]; outputs: T[] };
let rt: Runtime;
before(async () => {
  rt = await startRuntime({ model: 'dtypes' });
});
after(async () => {
  await rt?.stop();
});

function same(got: unknown[], want: unknown[], datatype: string, what: string): void {
  if (datatype === 'FP32') {
    // float32 rounding of the JSON values
    want.forEach((w, i) =>
      assert.ok(
        Math.abs((got[i] as number) - Math.fround(w as number)) <= Math.abs(Math.fround(w as number)) * 1e-7,
        `${what}[${i}]: ${got[i]} vs ${w}`,
      ),
    );
  } else {
    assert.deepEqual(got, want, what);
  }
}

test('metadata lists every datatype', async () => {
  const meta = (await request(`${rt.url}/v2/models/dtypes`)).json() as { inputs: { datatype: string }[] };
  assert.deepEqual(
    meta.inputs.map((i) => i.datatype),
    ['BOOL', 'UINT8', 'INT8', 'UINT16', 'INT16', 'UINT32', 'INT32', 'UINT64', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'],
  );
});

test('JSON in, JSON out, for every datatype', async () => {
  const r = await post(`${rt.url}/v2/models/dtypes/infer`, { inputs: exp.inputs });
  assert.equal(r.status, 200, r.text);
  const outs = r.json()['outputs'] as T[];
  for (const w of exp.outputs) {
    const g = outs.find((o) => o.name === w.name)!;
    assert.equal(g.datatype, w.datatype);
    assert.deepEqual(g.shape, w.shape);
    same(g.data, w.data, w.datatype, w.name);
  }
});

test('binary in, binary out, for every datatype', async () => {
  const { body, headers } = binaryRequest(exp.inputs, { parameters: { binary_data_output: true } });
  const r = await request(`${rt.url}/v2/models/dtypes/infer`, { body, headers });
  assert.equal(r.status, 200, r.text);
  const dec = decodeBinaryResponse(r.body, r.headers.get('inference-header-content-length'));
  for (const w of exp.outputs) {
    const g = dec.outputs.find((o) => o.name === w.name)!;
    assert.ok(g.binary, w.name);
    assert.equal(g.datatype, w.datatype);
    same(g.data, w.data, w.datatype, `${w.name} (binary)`);
  }
});

test('V1 instances with mixed types', async () => {
  const instances = [0, 1].map((row) => Object.fromEntries(exp.inputs.map((t) => [t.name, t.data.slice(row * 2, row * 2 + 2)])));
  const r = await post(`${rt.url}/v1/models/dtypes:predict`, { instances });
  assert.equal(r.status, 200, r.text);
  const preds = r.json()['predictions'] as Record<string, unknown[]>[];
  assert.deepEqual(preds[1]!['out_s'], ['wörld', 'a"b']);
  assert.deepEqual(preds[0]!['out_b'], [true, false]);
  assert.deepEqual(preds[0]!['out_u64'], [0, 9007199254740991]);
});

/** Every input from expected.json, JSON data, with some replaced. */
function withInputs(over: Record<string, unknown>): { inputs: T[] } {
  return { inputs: exp.inputs.map((t) => (t.name in over ? { ...t, data: over[t.name] } : t)) as T[] };
}

function assertError(r: { status: number; text: string; json: () => Record<string, unknown> }, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.json()), ['error']);
  assert.match(r.json()['error'] as string, pattern);
}

test('issue 9: a ~300-byte V1 body whose first elements claim 10^9 BYTES elements is a 400, and the process keeps serving', async () => {
  let bomb = '"x"';
  for (let d = 0; d < 9; d++) bomb = `[${bomb}${',"x"'.repeat(9)}]`;
  for (const body of [`{"inputs":{"s":${bomb}}}`, `{"instances":[{"s":${bomb}}]}`]) {
    assert.ok(body.length < 400, `${body.length} bytes`);
    assertError(await post(`${rt.url}/v1/models/dtypes:predict`, body), 400, /input "s": ragged nesting at/);
  }
  assert.equal(rt.proc.exitCode, null);
  assert.equal((await post(`${rt.url}/v2/models/dtypes/infer`, { inputs: exp.inputs })).status, 200);
});

test('issue 9: out-of-range FP32, lone surrogates, invalid UTF-8 and non-0/1 BOOL bytes are 400s naming the element', async () => {
  const infer = `${rt.url}/v2/models/dtypes/infer`;
  assertError(await post(infer, withInputs({ f32: [1, 2, 1e39, 4] })), 400, /input "f32": element 2 is 1e\+39, outside the FP32 range/);
  assertError(
    await post(`${rt.url}/v1/models/dtypes:predict`, {
      inputs: {
        ...Object.fromEntries(exp.inputs.map((t) => [t.name, [t.data.slice(0, 2), t.data.slice(2)]])),
        f32: [
          [0, -1e39],
          [0, 0],
        ],
      },
    }),
    400,
    /input "f32": element 1 is -1e\+39, outside the FP32 range/,
  );
  assertError(
    await post(infer, JSON.stringify(withInputs({})).replace('"wörld"', '"\\ud800"')),
    400,
    /input "s": element \d is a string with a lone UTF-16 surrogate/,
  );
  const binary = (name: string, bytes: Buffer) => {
    const rest = exp.inputs.filter((t) => t.name !== name);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          ...rest,
          {
            name,
            datatype: exp.inputs.find((t) => t.name === name)!.datatype,
            shape: [2, 2],
            parameters: { binary_data_size: bytes.length },
          },
        ],
      }),
    );
    return request(infer, {
      body: Buffer.concat([header, bytes]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    });
  };
  const strings = Buffer.concat(
    [Buffer.from('a'), Buffer.from([0xff, 0xfe]), Buffer.from('c'), Buffer.from('d')].flatMap((b) => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length, 0);
      return [len, b];
    }),
  );
  assertError(await binary('s', strings), 400, /input "s": binary BYTES element 1 is not valid UTF-8/);
  assertError(await binary('b', Buffer.from([1, 0, 7, 1])), 400, /input "b": binary BOOL element 2 is byte 7, expected 0 or 1/);
  // a uint64 beyond 2^53 cannot be sent back as a JSON number: 400 telling the client to ask for binary
  const u64 = Buffer.from(BigUint64Array.from([1n, 2n ** 60n, 3n, 4n]).buffer);
  assertError(
    await binary('u64', u64),
    400,
    /output "out_u64" value 1152921504606846976 is outside the JSON safe integer range; request it with the binary/,
  );
  assert.equal(rt.proc.exitCode, null);
  assert.equal(rt.logs.filter((l) => l.level === 'error').length, 0, 'client mistakes log no error');
});
