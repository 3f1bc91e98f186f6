/**
 * Every V2 datatype onnxruntime supports, through the `dtypes` example model (Identity per
 * type): JSON in/out (int64/uint64 as JSON numbers, FP16 as numbers, BYTES as strings) and the
 * binary extension in/out.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { binaryRequest, decodeBinaryResponse } from './binary.ts';
import { expected, post, request, startRuntime, type Runtime } from './helpers.ts';

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
