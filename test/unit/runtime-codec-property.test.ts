/**
 * Property-based tests (fast-check) of the tensor decoders, the V1/V2 request parsers and the
 * batcher: whatever the input, a decode either returns a tensor whose length is product(shape)
 * and that round-trips through the encoders, or throws an HttpError 400 -- never another error
 * (no RangeError, no stack overflow, no allocation sized by the client's claims).
 *
 * FUZZ_RUNS sets the number of runs per property (default 150, a few seconds in all);
 * `npm run fuzz` runs many more.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { concatInputs, splitOutputs, takeBatch } from '../../runtime/src/execution/batcher.ts';
import {
  binaryBytes,
  decodeBinaryData,
  decodeJsonData,
  decodeNested,
  jsonArray,
  jsonNested,
  MAX_NESTING_DEPTH,
  product,
} from '../../runtime/src/tensor/codec.ts';
import { fromHalf, fromV2, V2_DATATYPES, type DatatypeInfo, type Tensor, type TensorValues } from '../../runtime/src/tensor/datatypes.ts';
import { HttpError } from '../../runtime/src/errors.ts';
import { jsonDepth } from '../../runtime/src/tensor/json-depth.ts';
import { buildModelSpec, type ModelSpec } from '../../runtime/src/tensor/model.ts';
import { parseV1Request } from '../../runtime/src/tensor/v1.ts';
import { parseV2Request } from '../../runtime/src/tensor/v2.ts';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? '') || 150;
const params = { numRuns: RUNS };
const dt = (v: string): DatatypeInfo => fromV2(v)!;
const datatype = fc.constantFrom(...V2_DATATYPES);

/** Run fn: its result, or the HttpError 400 it threw; any other throw fails the property. */
function decodeOr400<T>(fn: () => T): T | HttpError {
  try {
    return fn();
  } catch (err) {
    if (err instanceof HttpError && err.status === 400) return err;
    throw new Error(`expected a result or an HttpError 400, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, {
      cause: err,
    });
  }
}

/** Elements as the JSON encoders would give them back (NaN -> null is out of scope: inputs are finite). */
function valuesOf(t: Tensor): unknown[] {
  const d = t.data;
  if (Array.isArray(d)) return [...d];
  if (t.type === 'bool') return Array.from(d as Uint8Array, (b) => b === 1);
  if (t.type === 'float16') return Array.from(d as Uint16Array, (h) => fromHalf(h));
  if (t.type === 'int64' || t.type === 'uint64') return Array.from(d as BigInt64Array, (b) => Number(b));
  return Array.from(d as Float32Array);
}

/** A JSON leaf of any kind a client could send, valid or not for any datatype. */
const anyLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -300, max: 300 }),
  fc.double({ noNaN: true }),
  fc.constantFrom(0, 1, -0, 65504, 65520, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 - 1, -(2 ** 63), 1e39, -1e39, 3.4028235e38, 1e-50),
  fc.boolean(),
  fc.constant(null),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('\ud800', 'a\udc00', '\ud83d\ude00'),
  fc.constant({}),
);

/** Nested arrays, ragged or not, a few levels deep. */
const anyNested: fc.Arbitrary<unknown> = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, anyLeaf, fc.array(tie('node'), { maxLength: 4 })),
})).node;

/** [[[...leaf...]]] from 1 to far past the nesting limit. */
const deepChain: fc.Arbitrary<unknown> = fc
  .tuple(fc.oneof(fc.integer({ min: 1, max: MAX_NESTING_DEPTH + 2 }), fc.integer({ min: 1, max: 50_000 })), anyLeaf)
  .map(([depth, leaf]) => {
    let v: unknown = leaf;
    for (let i = 0; i < depth; i++) v = [v];
    return v;
  });

/**
 * A placeholder for a deep chain inside a document that goes through JSON.stringify (which is
 * recursive and would overflow the test's own stack); withDeep() swaps in the text.
 */
const deepMarker = fc
  .oneof(fc.integer({ min: 1, max: MAX_NESTING_DEPTH + 2 }), fc.integer({ min: 1, max: 50_000 }))
  .map((n) => ({ __deep: n }));
function withDeep(json: string): string {
  return json.replace(/\{"__deep":(\d+)\}/g, (_m, n: string) => `${'['.repeat(Number(n))}1${']'.repeat(Number(n))}`);
}

/** A shape with small dims, or with a huge one (the client's claim, not the body's size). */
const anyShape: fc.Arbitrary<number[]> = fc.oneof(
  fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }),
  fc.array(fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom(2 ** 31, 1e12, 2 ** 53 - 1)), { minLength: 1, maxLength: 4 }),
);

/** A leaf that is valid for the datatype (and exactly representable in it). */
function validLeaf(v2: string): fc.Arbitrary<unknown> {
  const info = dt(v2);
  switch (info.kind) {
    case 'bool':
      return fc.boolean();
    case 'int':
    case 'bigint':
      return fc.integer({ min: Math.max(info.min, -(2 ** 31)), max: Math.min(info.max, 2 ** 31 - 1) });
    case 'fp16':
      return fc.integer({ min: -2048, max: 2048 });
    case 'float':
      return v2 === 'FP32'
        ? fc.float({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x))
        : fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x));
    case 'string':
      return fc.string({ maxLength: 8 });
  }
}

/** A datatype, a small shape, and row-major valid values for it. */
const validTensor = datatype.chain((v2) =>
  fc
    .array(fc.integer({ min: 0, max: 3 }), { minLength: 0, maxLength: 3 })
    .chain((shape) =>
      fc.array(validLeaf(v2), { minLength: product(shape), maxLength: product(shape) }).map((values) => ({ v2, shape, values })),
    ),
);

/** Nest a flat row-major list with dims (the inverse of flattening). */
function nest(values: readonly unknown[], dims: readonly number[]): unknown {
  if (dims.length === 0) return values[0];
  let idx = 0;
  const walk = (depth: number): unknown[] => {
    const n = dims[depth] as number;
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(depth === dims.length - 1 ? values[idx++] : walk(depth + 1));
    return out;
  };
  return walk(0);
}

test('decodeJsonData: product(shape) elements or a 400, for any data, shape and datatype', () => {
  fc.assert(
    fc.property(datatype, fc.oneof(anyNested, deepChain, anyLeaf), anyShape, (v2, data, shape) => {
      const r = decodeOr400(() => decodeJsonData('x', dt(v2), data, shape));
      if (!(r instanceof HttpError)) assert.equal(r.length, product(shape));
    }),
    params,
  );
});

test('decodeNested: a rectangular tensor (length = product(dims)) or a 400, for any nesting', () => {
  fc.assert(
    fc.property(datatype, fc.oneof(anyNested, deepChain, anyLeaf), (v2, value) => {
      const r = decodeOr400(() => decodeNested('x', dt(v2), value));
      if (!(r instanceof HttpError)) {
        assert.equal(r.data.length, product(r.dims));
        assert.ok(r.dims.length <= MAX_NESTING_DEPTH);
      }
    }),
    params,
  );
});

test('valid JSON data round-trips: decode -> jsonArray / jsonNested -> decode gives the same values', () => {
  fc.assert(
    fc.property(validTensor, ({ v2, shape, values }) => {
      const info = dt(v2);
      const data = decodeJsonData('x', info, values, shape);
      assert.equal(data.length, product(shape));
      const t: Tensor = { type: info.ort, dims: shape, data };
      const flat = JSON.parse(jsonArray(t, 'x')) as unknown[];
      assert.deepEqual(valuesOf({ ...t, data: decodeJsonData('x', info, flat, shape) }), valuesOf(t));
      // the same values nested (TF-Serving form) decode to the same tensor and re-encode identically
      if (shape.length > 0 && product(shape) > 0) {
        const nested = decodeNested('x', info, nest(values, shape));
        assert.deepEqual(nested.dims, shape);
        assert.deepEqual(valuesOf({ ...t, data: nested.data }), valuesOf(t));
        assert.deepEqual(JSON.parse(jsonNested(t, 'x', shape, 0)), nest(flat, shape));
      }
      // and through the binary extension
      assert.deepEqual(valuesOf({ ...t, data: decodeBinaryData('x', info, binaryBytes(t), shape) }), valuesOf(t));
    }),
    params,
  );
});

test('decodeBinaryData: product(shape) elements or a 400, for any bytes and shape (BYTES length prefixes included)', () => {
  const bytesLike = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    // well-formed-looking BYTES: length prefixes, some lying, some over invalid UTF-8
    fc
      .array(fc.tuple(fc.oneof(fc.nat({ max: 8 }), fc.constantFrom(2 ** 32 - 1, 2 ** 31)), fc.uint8Array({ maxLength: 8 })), {
        maxLength: 5,
      })
      .map((parts) => {
        const chunks: Buffer[] = [];
        for (const [len, body] of parts) {
          const p = Buffer.alloc(4);
          p.writeUInt32LE(len, 0);
          chunks.push(p, Buffer.from(body));
        }
        return new Uint8Array(Buffer.concat(chunks));
      }),
  );
  fc.assert(
    fc.property(datatype, bytesLike, anyShape, fc.nat({ max: 3 }), (v2, bytes, shape, shift) => {
      // an unaligned view, as a slice of a request body is
      const buf = new Uint8Array(bytes.length + shift);
      buf.set(bytes, shift);
      const r = decodeOr400(() => decodeBinaryData('x', dt(v2), buf.subarray(shift), shape));
      if (!(r instanceof HttpError)) assert.equal((r as TensorValues).length, product(shape));
    }),
    params,
  );
});

/** A model with one input of each of a few datatypes, the first dimension dynamic. */
const model: ModelSpec = buildModelSpec(
  'm',
  '1',
  [
    { name: 'f', isTensor: true, type: 'float32', shape: ['', 2] },
    { name: 's', isTensor: true, type: 'string', shape: ['', 2] },
    { name: 'l', isTensor: true, type: 'int64', shape: ['', 2] },
  ],
  [{ name: 'y', isTensor: true, type: 'float32', shape: ['', 1] }],
);

test('parseV2Request: any header length, binary_data_size, offsets and JSON shapes -> a request or a 400', () => {
  const input = fc.record(
    {
      name: fc.constantFrom('f', 's', 'l', 'nope', 5),
      datatype: fc.constantFrom('FP32', 'BYTES', 'INT64', 'FP64', null),
      shape: fc.oneof(anyShape, fc.constant('x')),
      data: fc.oneof(anyNested, deepMarker),
      parameters: fc.oneof(
        fc.record({ binary_data_size: fc.oneof(fc.nat({ max: 40 }), fc.constantFrom(-1, 1.5, 2 ** 53, '8', null)) }),
        fc.constant('p'),
      ),
    },
    { requiredKeys: ['name'] },
  );
  const doc = fc.record(
    {
      id: fc.oneof(fc.string({ maxLength: 4 }), fc.integer()),
      inputs: fc.array(input, { maxLength: 4 }),
      outputs: fc.oneof(
        fc.array(fc.record({ name: fc.constantFrom('y', 'z'), parameters: fc.anything({ maxDepth: 1 }) }), { maxLength: 3 }),
        fc.constant('y'),
      ),
      parameters: fc.oneof(fc.record({ binary_data_output: fc.oneof(fc.boolean(), fc.constant('yes')) }), fc.constant([])),
    },
    { requiredKeys: ['inputs'] },
  );
  fc.assert(
    fc.property(
      doc,
      fc.uint8Array({ maxLength: 48 }),
      fc.oneof(
        fc.constant('exact'),
        fc.constant(undefined),
        fc.integer({ min: -5, max: 400 }).map(String),
        fc.constantFrom('', ' 1', 'abc', '1e3', String(2 ** 64)),
      ),
      (d, binary, hl) => {
        const header = Buffer.from(withDeep(JSON.stringify(d)));
        const body = hl === undefined ? header : Buffer.concat([header, binary]);
        const r = decodeOr400(() => parseV2Request(model, body, hl === 'exact' ? String(header.length) : hl));
        if (!(r instanceof HttpError)) {
          for (const [name, t] of r.inputs) {
            assert.equal(t.data.length, product(t.dims), name);
            assert.equal(t.dims[0], r.rows);
          }
        }
      },
    ),
    params,
  );
});

/** One input of `model` as JSON data or binary bytes (shape [rows, 2]). */
function modelInput(
  name: 'f' | 's' | 'l',
  rows: number,
): fc.Arbitrary<{ json: Record<string, unknown>; bytes: Buffer; values: unknown[] }> {
  const v2 = { f: 'FP32', s: 'BYTES', l: 'INT64' }[name];
  return fc.tuple(fc.array(validLeaf(v2), { minLength: rows * 2, maxLength: rows * 2 }), fc.boolean()).map(([values, binary]) => {
    const json: Record<string, unknown> = { name, datatype: v2, shape: [rows, 2] };
    if (!binary) return { json: { ...json, data: values }, bytes: Buffer.alloc(0), values };
    const info = dt(v2);
    const bytes = binaryBytes({ type: info.ort, dims: [rows, 2], data: decodeJsonData(name, info, values, [rows, 2]) });
    return { json: { ...json, parameters: { binary_data_size: bytes.length } }, bytes, values };
  });
}

test('parseV2Request: a valid JSON/binary request parses to its values; any one corruption of it is a 400 or still consistent', () => {
  const mutation = fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.record({ kind: fc.constant('header' as const), delta: fc.integer({ min: -20, max: 20 }) }),
    fc.record({ kind: fc.constant('size' as const), input: fc.nat({ max: 2 }), delta: fc.integer({ min: -9, max: 9 }) }),
    fc.record({
      kind: fc.constant('shape' as const),
      input: fc.nat({ max: 2 }),
      dim: fc.constantFrom(0, 1, 3, 2 ** 31, 1e12, 2 ** 53 - 1),
    }),
    fc.record({ kind: fc.constant('element' as const), input: fc.nat({ max: 2 }), leaf: anyLeaf }),
    fc.record({ kind: fc.constant('trailing' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  );
  const request = fc
    .integer({ min: 0, max: 3 })
    .chain((rows) =>
      fc.tuple(modelInput('f', rows), modelInput('s', rows), modelInput('l', rows), fc.shuffledSubarray([0, 1, 2], { minLength: 3 })),
    );
  let parsed = 0;
  fc.assert(
    fc.property(request, mutation, ([f, s, l, order], m) => {
      const ins = order.map((i) => [f, s, l][i]!);
      const jsons = ins.map((x) => structuredClone(x.json));
      const blobs = ins.map((x) => x.bytes);
      if (m.kind === 'size' && 'parameters' in jsons[m.input]!) {
        const p = jsons[m.input]!['parameters'] as { binary_data_size: number };
        p.binary_data_size = Math.max(0, p.binary_data_size + m.delta);
      }
      if (m.kind === 'shape') (jsons[m.input]!['shape'] as number[])[0] = m.dim;
      if (m.kind === 'element' && Array.isArray(jsons[m.input]!['data']) && (jsons[m.input]!['data'] as unknown[]).length > 0)
        (jsons[m.input]!['data'] as unknown[])[0] = m.leaf;
      const header = Buffer.from(JSON.stringify({ inputs: jsons }));
      let body = Buffer.concat([header, ...blobs, m.kind === 'trailing' ? Buffer.from(m.extra) : Buffer.alloc(0)]);
      if (m.kind === 'flip' && body.length > 0) {
        body = Buffer.from(body);
        body[m.at % body.length] = m.byte;
      }
      const hl = m.kind === 'header' ? String(Math.max(0, header.length + m.delta)) : String(header.length);
      const r = decodeOr400(() => parseV2Request(model, body, hl));
      if (m.kind === 'none') {
        assert.ok(!(r instanceof HttpError), `a valid request parses: ${r instanceof HttpError ? r.message : ''}`);
        parsed++;
        for (const x of ins) {
          const name = x.json['name'] as string;
          const t: Tensor = r.inputs.get(name)!;
          assert.deepEqual(valuesOf(t), valuesOf({ ...t, data: decodeJsonData(name, dt(x.json['datatype'] as string), x.values, t.dims) }));
        }
      }
      if (!(r instanceof HttpError)) {
        for (const [name, t] of r.inputs) {
          assert.equal(t.data.length, product(t.dims), name);
          assert.equal(t.dims[0], r.rows);
        }
      }
    }),
    params,
  );
  assert.ok(parsed > 0, 'some requests were left valid and parsed');
});

test('parseV1Request: valid instances of a BYTES model parse to [rows, 2]', () => {
  const one = buildModelSpec(
    'one',
    '1',
    [{ name: 's', isTensor: true, type: 'string', shape: ['', 2] }],
    [{ name: 'y', isTensor: true, type: 'float32', shape: ['', 1] }],
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.string(), fc.string()), { minLength: 1, maxLength: 4 }), fc.boolean(), (rows, named) => {
      const doc = named ? { instances: rows.map((r) => ({ s: r })) } : { instances: rows };
      const r = parseV1Request(one, Buffer.from(JSON.stringify(doc)));
      const t = r.req.inputs.get('s')!;
      assert.deepEqual(t.dims, [rows.length, 2]);
      assert.deepEqual(t.data, rows.flat());
    }),
    params,
  );
});

test('parseV1Request: any instances / inputs document -> a request or a 400', () => {
  const one = buildModelSpec(
    'one',
    '1',
    [{ name: 's', isTensor: true, type: 'string', shape: ['', 2] }],
    [{ name: 'y', isTensor: true, type: 'float32', shape: ['', 1] }],
  );
  const value = fc.oneof(anyNested, deepMarker);
  const doc = fc.oneof(
    fc.record({
      instances: fc.oneof(
        value,
        fc.array(fc.dictionary(fc.constantFrom('f', 's', 'l', 'constructor', '__proto__'), value, { maxKeys: 3 }), { maxLength: 3 }),
      ),
    }),
    fc.record({ inputs: fc.oneof(value, fc.dictionary(fc.constantFrom('f', 's', 'l', 'x'), value, { maxKeys: 3 })) }),
    fc.anything({ maxDepth: 2 }),
  );
  fc.assert(
    fc.property(doc, fc.boolean(), (d, single) => {
      const r = decodeOr400(() => parseV1Request(single ? one : model, Buffer.from(withDeep(JSON.stringify(d) ?? 'null'))));
      if (!(r instanceof HttpError)) for (const t of r.req.inputs.values()) assert.equal(t.data.length, product(t.dims));
    }),
    params,
  );
});

test('batcher: splitOutputs(concatInputs(parts)) gives back every part, for any rows and datatype', () => {
  const parts = validTensor.chain(({ v2, shape }) => {
    const inner = shape.slice(1);
    const per = product(inner);
    return fc
      .array(
        fc
          .integer({ min: 0, max: 3 })
          .chain((rows) => fc.array(validLeaf(v2), { minLength: rows * per, maxLength: rows * per }).map((values) => ({ rows, values }))),
        { minLength: 1, maxLength: 5 },
      )
      .map((ps) => ({ v2, inner, ps }));
  });
  fc.assert(
    fc.property(parts, ({ v2, inner, ps }) => {
      const info = dt(v2);
      const maps = ps.map(({ rows, values }) => {
        const dims = [rows, ...inner];
        return new Map<string, Tensor>([['x', { type: info.ort, dims, data: decodeJsonData('x', info, values, dims) }]]);
      });
      const joined = concatInputs(['x'], maps);
      const total = ps.reduce((a, p) => a + p.rows, 0);
      assert.deepEqual(joined.get('x')!.dims, [total, ...inner]);
      const back = splitOutputs(
        joined,
        ps.map((p) => p.rows),
      );
      assert.ok(back, 'the batch splits');
      back.forEach((m, i) => {
        const want = maps[i]!.get('x')!;
        const got = m.get('x')!;
        assert.deepEqual(got.dims, want.dims);
        assert.deepEqual(valuesOf(got), valuesOf(want));
      });
    }),
    params,
  );
});

test('batcher: takeBatch keeps FIFO order, one key, the row limit, and loses no request', () => {
  const item = fc.record({ rows: fc.integer({ min: 0, max: 6 }), key: fc.constantFrom('a', 'b', 'c'), solo: fc.boolean() });
  fc.assert(
    fc.property(fc.array(item, { maxLength: 20 }), fc.integer({ min: 0, max: 10 }), (items, maxRows) => {
      const queue = items.map((it, id) => ({ ...it, id }));
      const seen: number[] = [];
      let guard = 0;
      while (queue.length > 0) {
        assert.ok(guard++ <= items.length, 'every call takes at least one request');
        const before = queue.map((q) => q.id);
        const batch = takeBatch(queue, maxRows);
        assert.ok(batch.length >= 1);
        assert.equal(batch[0]!.id, before[0], 'the head goes first');
        if (batch.length > 1) {
          assert.ok(batch.every((b) => b.key === batch[0]!.key && !b.solo));
          assert.ok(batch.reduce((a, b) => a + b.rows, 0) <= maxRows);
        }
        // taken and remaining keep their relative order
        const ids = batch.map((b) => b.id);
        assert.deepEqual(
          ids,
          [...ids].sort((a, b) => a - b),
        );
        assert.deepEqual(
          queue.map((q) => q.id),
          before.filter((id) => !ids.includes(id)),
        );
        seen.push(...ids);
      }
      assert.deepEqual(
        [...seen].sort((a, b) => a - b),
        items.map((_, i) => i),
      );
    }),
    params,
  );
});

/** Nesting depth of a parsed JSON value (a scalar is 0). */
function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + v.reduce((m: number, x) => Math.max(m, depthOf(x)), 0);
  if (typeof v === 'object' && v !== null) return 1 + Object.values(v).reduce((m: number, x) => Math.max(m, depthOf(x)), 0);
  return 0;
}

test('jsonDepth on the raw bytes equals the depth of the parsed value (byte loop and native-jump modes)', () => {
  // strings full of brackets, quotes and backslashes must not count
  const tricky = fc.constantFrom('[', ']', '{', '}', '"', '\\', '\\"', '[[[', '\\\\', 'a"b', '\u00e9[');
  const value = fc.letrec<{ v: unknown }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.integer(),
      fc.string({ maxLength: 6 }),
      fc.array(tricky, { maxLength: 3 }).map((a) => a.join('')),
      fc.array(tie('v'), { maxLength: 4 }),
      fc.dictionary(fc.oneof(fc.string({ maxLength: 3 }), tricky), tie('v'), { maxKeys: 3 }),
    ),
  })).v;
  // padding puts the body past 64 KiB (the native-jump mode), sparse or dense in structure
  const padding = fc.constantFrom('none', 'numbers', 'rows', 'strings');
  const pad = (kind: string): string => {
    switch (kind) {
      case 'numbers':
        return `[${'123.456,'.repeat(9000)}0]`;
      case 'rows':
        return `[${'[1,2],'.repeat(12000)}[0]]`;
      case 'strings':
        return `[${'"a[\\"{",'.repeat(9000)}""]`;
      default:
        return '';
    }
  };
  fc.assert(
    fc.property(value, padding, fc.integer({ min: 1, max: 80 }), fc.boolean(), (v, kind, limit, padFirst) => {
      const p = pad(kind);
      const body = p === '' ? JSON.stringify(v) : padFirst ? `[${p},${JSON.stringify(v)}]` : `[${JSON.stringify(v)},${p}]`;
      const want = depthOf(JSON.parse(body));
      const got = jsonDepth(Buffer.from(body), limit);
      if (want > limit) assert.equal(got, limit + 1, body.slice(0, 200));
      else assert.equal(got, want, body.slice(0, 200));
    }),
    params,
  );
});
