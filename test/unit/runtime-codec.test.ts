import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  binaryBytes,
  decodeBinaryData,
  decodeJsonData,
  decodeNested,
  jsonArray,
  jsonNested,
  MAX_NESTING_DEPTH,
} from '../../runtime/src/tensor/codec.ts';
import { fromHalf, fromV2, toHalf, type DatatypeInfo } from '../../runtime/src/tensor/datatypes.ts';
import { HttpError } from '../../runtime/src/errors.ts';

const dt = (v: string): DatatypeInfo => fromV2(v)!;

function status(fn: () => unknown): { status: number; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof HttpError, `expected an HttpError, got ${String(err)}`);
    return { status: err.status, message: err.message };
  }
  assert.fail('expected a throw');
}

test('flat and nested JSON data decode to the same typed array', () => {
  const flat = decodeJsonData('x', dt('FP32'), [1, 2, 3, 4, 5, 6], [2, 3]);
  const nested = decodeJsonData(
    'x',
    dt('FP32'),
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    [2, 3],
  );
  assert.ok(flat instanceof Float32Array);
  assert.deepEqual(Array.from(flat as Float32Array), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(nested as Float32Array), [1, 2, 3, 4, 5, 6]);
});

test('element count must equal product(shape)', () => {
  const e = status(() => decodeJsonData('x', dt('FP32'), [1, 2, 3], [2, 2]));
  assert.equal(e.status, 400);
  assert.match(e.message, /input "x": data has 3 elements but shape \[2,2\] needs 4/);
  assert.match(status(() => decodeJsonData('x', dt('FP32'), 'abc', [1])).message, /"data" must be an array, got a string/);
});

test('every datatype: accepted values and the range check', () => {
  assert.deepEqual(Array.from(decodeJsonData('b', dt('BOOL'), [true, false, 1, 0], [4]) as Uint8Array), [1, 0, 1, 0]);
  assert.match(status(() => decodeJsonData('b', dt('BOOL'), ['yes'], [1])).message, /expected true or false for BOOL/);
  assert.deepEqual(Array.from(decodeJsonData('u', dt('UINT8'), [0, 255], [2]) as Uint8Array), [0, 255]);
  assert.match(
    status(() => decodeJsonData('u', dt('UINT8'), [256], [1])).message,
    /element 0 is 256, expected an integer in \[0, 255\] for UINT8/,
  );
  assert.match(status(() => decodeJsonData('i', dt('INT8'), [-129], [1])).message, /INT8/);
  assert.match(status(() => decodeJsonData('i', dt('INT16'), [1.5], [1])).message, /element 0 is 1.5, expected an integer/);
  assert.deepEqual(Array.from(decodeJsonData('i', dt('INT32'), [-5, 7], [2]) as Int32Array), [-5, 7]);
  assert.deepEqual(Array.from(decodeJsonData('i', dt('UINT32'), [4294967295], [1]) as Uint32Array), [4294967295]);
  const i64 = decodeJsonData('l', dt('INT64'), [-(2 ** 53) + 1, 2 ** 53 - 1], [2]);
  assert.ok(i64 instanceof BigInt64Array);
  assert.deepEqual(Array.from(i64 as BigInt64Array), [-(2n ** 53n) + 1n, 2n ** 53n - 1n]);
  assert.match(status(() => decodeJsonData('l', dt('INT64'), [2 ** 53], [1])).message, /INT64/);
  assert.match(status(() => decodeJsonData('l', dt('UINT64'), [-1], [1])).message, /UINT64/);
  assert.deepEqual(Array.from(decodeJsonData('d', dt('FP64'), [0.1], [1]) as Float64Array), [0.1]);
  assert.deepEqual(decodeJsonData('s', dt('BYTES'), ['a', 'b'], [2]), ['a', 'b']);
  assert.match(status(() => decodeJsonData('s', dt('BYTES'), [1], [1])).message, /expected a string for BYTES/);
  const h = decodeJsonData('h', dt('FP16'), [1.5, -2], [2]) as Uint16Array;
  assert.deepEqual(Array.from(h, fromHalf), [1.5, -2]);
});

test('strings, null, booleans and NaN in numeric tensors are named', () => {
  assert.match(
    status(() => decodeJsonData('x', dt('FP32'), [1, 'a'], [2])).message,
    /input "x": element 1 is a string \("a"\), expected a finite number for FP32/,
  );
  assert.match(status(() => decodeJsonData('x', dt('FP32'), [null], [1])).message, /element 0 is null/);
  assert.match(status(() => decodeJsonData('x', dt('FP32'), [true], [1])).message, /element 0 is a boolean \(true\)/);
  assert.match(status(() => decodeJsonData('x', dt('FP32'), [NaN], [1])).message, /element 0 is NaN/);
  assert.match(status(() => decodeJsonData('x', dt('FP32'), [Infinity], [1])).message, /element 0 is Infinity/);
  assert.match(status(() => decodeJsonData('x', dt('FP32'), [{}], [1])).message, /element 0 is an object/);
});

test('half precision conversion round-trips and rounds', () => {
  for (const v of [0, 1, -1, 0.5, 65504, -65504, 6.103515625e-5, 5.960464477539063e-8]) assert.equal(fromHalf(toHalf(v)), v);
  assert.equal(toHalf(Infinity), 0x7c00);
  assert.ok(Number.isNaN(fromHalf(toHalf(NaN))));
  assert.equal(fromHalf(toHalf(1.0009765625 / 2 + 0.5)), 1); // rounds to nearest even
});

test('nested TF-Serving values: shape from the nesting, ragged rejected', () => {
  const r = decodeNested('x', dt('FP32'), [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  assert.deepEqual(r.dims, [3, 2]);
  assert.deepEqual(Array.from(r.data as Float32Array), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(decodeNested('x', dt('FP32'), 7).dims, []);
  assert.match(
    status(() => decodeNested('x', dt('FP32'), [[1, 2], [3]])).message,
    /ragged nesting at \[1\]: expected an array of 2, got an array of 1/,
  );
  assert.match(status(() => decodeNested('x', dt('FP32'), [[1, 2], 3])).message, /ragged nesting at \[1\]/);
  assert.match(status(() => decodeNested('x', dt('FP32'), [1, [2]])).message, /ragged nesting at \[1\]: expected a value/);
});

test('binary data: exact size, little-endian copy, BYTES length prefixes', () => {
  const f = Float32Array.from([1.5, -2, 3, 4]);
  const bytes = new Uint8Array(f.buffer);
  // unaligned view: the decoder must copy
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  assert.deepEqual(Array.from(decodeBinaryData('x', dt('FP32'), shifted.subarray(1), [2, 2]) as Float32Array), [1.5, -2, 3, 4]);
  assert.match(
    status(() => decodeBinaryData('x', dt('FP32'), bytes.subarray(0, 12), [2, 2])).message,
    /binary_data_size is 12 bytes but shape \[2,2\] of FP32 needs 4 x 4 = 16 bytes/,
  );
  const s = binaryBytes({ type: 'string', dims: [2], data: ['hé', ''] });
  assert.deepEqual(decodeBinaryData('s', dt('BYTES'), s, [2]), ['hé', '']);
  assert.match(status(() => decodeBinaryData('s', dt('BYTES'), s.subarray(0, 5), [1])).message, /claims 3 bytes but only 1 remain/);
  assert.match(status(() => decodeBinaryData('s', dt('BYTES'), Buffer.concat([s, Buffer.from([0])]), [2])).message, /1 bytes left over/);
});

test('JSON output: NaN/Infinity -> null, int64 within the safe range or a 400 (ask for binary)', () => {
  assert.equal(jsonArray({ type: 'float32', dims: [3], data: Float32Array.from([0.5, NaN, -Infinity]) }, 'y'), '[0.5,null,null]');
  assert.equal(jsonArray({ type: 'int64', dims: [2], data: BigInt64Array.from([0n, -3n]) }, 'y'), '[0,-3]');
  const e = status(() => jsonArray({ type: 'int64', dims: [1], data: BigInt64Array.from([2n ** 60n]) }, 'label'));
  assert.equal(e.status, 400);
  assert.match(e.message, /output "label" value 1152921504606846976 is outside the JSON safe integer range/);
  assert.equal(jsonArray({ type: 'bool', dims: [2], data: Uint8Array.from([1, 0]) }, 'b'), '[true,false]');
  assert.equal(jsonArray({ type: 'string', dims: [1], data: ['a"b'] }, 's'), '["a\\"b"]');
  assert.equal(jsonArray({ type: 'float16', dims: [1], data: Uint16Array.from([toHalf(2.5)]) }, 'h'), '[2.5]');
  assert.equal(jsonNested({ type: 'int32', dims: [2, 2], data: Int32Array.from([1, 2, 3, 4]) }, 'y', [2], 2), '[3,4]');
  assert.equal(jsonNested({ type: 'int32', dims: [2, 2], data: Int32Array.from([1, 2, 3, 4]) }, 'y', [2, 2], 0), '[[1,2],[3,4]]');
  assert.equal(jsonNested({ type: 'int32', dims: [1], data: Int32Array.from([9]) }, 'y', [], 0), '9');
});

/** A datatype whose create() records the sizes asked for: what the decoder allocates. */
function spied(v: string): { info: DatatypeInfo; created: number[] } {
  const real = dt(v);
  const created: number[] = [];
  return {
    created,
    info: {
      ...real,
      create: (n: number) => {
        created.push(n);
        return real.create(n);
      },
    },
  };
}

/** [first, 0, 0, ...] `width` wide, `depth` deep: dims read from the first elements multiply to width^depth. */
function firstElementBomb(width: number, depth: number, leaf: unknown): unknown {
  let v: unknown = leaf;
  for (let d = 0; d < depth; d++) v = [v, ...new Array<unknown>(width - 1).fill(leaf)];
  return v;
}

/** [[[...[leaf]...]]] `depth` levels deep. */
function deepArray(depth: number, leaf: unknown = 1): unknown {
  let v: unknown = leaf;
  for (let d = 0; d < depth; d++) v = [v];
  return v;
}

test('nested V1 value: a ragged body is refused before anything the size of its first elements is allocated', () => {
  // issue 9: ten wide, nine deep is ~300 bytes of JSON whose first elements claim 10^9 elements
  const bomb = firstElementBomb(10, 9, 'x');
  assert.ok(JSON.stringify(bomb).length < 400);
  for (const datatype of ['BYTES', 'FP32', 'INT64']) {
    const { info, created } = spied(datatype);
    const leaf = datatype === 'BYTES' ? 'x' : 1;
    const e = status(() => decodeNested('s', info, firstElementBomb(10, 9, leaf)));
    assert.equal(e.status, 400);
    assert.match(e.message, /input "s": ragged nesting at (\[0\]){7}\[1\]: expected an array of 10, got /);
    assert.deepEqual(created, [], `${datatype}: nothing allocated for a ragged value`);
  }
  // a rectangular value allocates exactly its leaf count
  const { info, created } = spied('BYTES');
  const ok = decodeNested('s', info, [
    ['a', 'b'],
    ['c', 'd'],
  ]);
  assert.deepEqual(ok, { dims: [2, 2], data: ['a', 'b', 'c', 'd'] });
  assert.deepEqual(created, [4]);
});

test(`nesting deeper than ${MAX_NESTING_DEPTH} is a 400 naming the limit, never a stack overflow`, () => {
  const deep = deepArray(100_000);
  for (const fn of [
    () => decodeNested('x', dt('FP32'), deep),
    () => decodeJsonData('x', dt('FP32'), deep, [1]),
    () => decodeNested('x', dt('FP32'), deepArray(MAX_NESTING_DEPTH + 1)),
    () => decodeJsonData('x', dt('FP32'), deepArray(MAX_NESTING_DEPTH + 1), [1]),
    // deep in a later element (the first is shallow)
    () => decodeJsonData('x', dt('FP32'), [1, deepArray(100_000)], [2]),
  ]) {
    const e = status(fn);
    assert.equal(e.status, 400);
    assert.match(e.message, new RegExp(`input "x": arrays are nested deeper than the limit of ${MAX_NESTING_DEPTH} levels`));
  }
  // the limit itself is accepted
  assert.deepEqual(decodeNested('x', dt('FP32'), deepArray(MAX_NESTING_DEPTH, 2)).dims.length, MAX_NESTING_DEPTH);
  assert.deepEqual(Array.from(decodeJsonData('x', dt('FP32'), deepArray(MAX_NESTING_DEPTH, 2), [1]) as Float32Array), [2]);
});

test('V2 JSON data with a huge shape is a 400 without allocating', () => {
  const { info, created } = spied('FP32');
  for (const shape of [[1e15], [2 ** 53 - 1, 2 ** 53 - 1], [1e9, 1e9, 1e9]]) {
    const e = status(() => decodeJsonData('x', info, [1, 2], shape));
    assert.equal(e.status, 400);
    assert.match(e.message, /data has 2 elements but shape/);
  }
  assert.deepEqual(created, []);
});

test('FP32 values beyond the float range are a 400 naming the element, not Infinity', () => {
  for (const v of [1e39, -1e39, 3.5e38, Number.MAX_VALUE]) {
    const e = status(() => decodeJsonData('x', dt('FP32'), [1, v], [2]));
    assert.equal(e.status, 400);
    assert.match(
      e.message,
      /input "x": element 1 is -?[\d.e+]+, outside the FP32 range \[-3\.4028234663852886e\+38, 3\.4028234663852886e\+38\]/,
    );
    assert.match(status(() => decodeNested('x', dt('FP32'), [[v]])).message, /element 0 is .*outside the FP32 range/);
  }
  // the largest float, and a value that rounds to it, are accepted
  const max = decodeJsonData('x', dt('FP32'), [3.4028234663852886e38, 3.40282356e38, -3.4028234663852886e38], [3]) as Float32Array;
  assert.ok(Array.from(max).every((x) => Number.isFinite(x)));
  assert.equal(max[0], 3.4028234663852886e38);
  // tiny values underflow to (signed) zero, as IEEE rounding does: accepted
  assert.deepEqual(Array.from(decodeJsonData('x', dt('FP32'), [1e-50], [1]) as Float32Array), [0]);
  // FP64: JSON.parse turns 1e400 into Infinity
  assert.match(
    status(() => decodeJsonData('d', dt('FP64'), JSON.parse('[1e400]'), [1])).message,
    /element 0 is Infinity, expected a finite number for FP64/,
  );
  assert.deepEqual(Array.from(decodeJsonData('d', dt('FP64'), [Number.MAX_VALUE], [1]) as Float64Array), [Number.MAX_VALUE]);
  // integer edges
  assert.match(status(() => decodeJsonData('i', dt('INT32'), [2147483648], [1])).message, /INT32/);
  assert.match(status(() => decodeJsonData('i', dt('UINT32'), [4294967296], [1])).message, /UINT32/);
  assert.match(status(() => decodeJsonData('i', dt('INT64'), [1e300], [1])).message, /INT64/);
  assert.match(status(() => decodeJsonData('i', dt('UINT8'), [-0.5], [1])).message, /UINT8/);
  assert.deepEqual(Array.from(decodeJsonData('i', dt('INT32'), [-0], [1]) as Int32Array), [0]);
});

test('BYTES: invalid UTF-8 (binary) and lone surrogates (JSON) are a 400 naming the element', () => {
  const prefixed = (...parts: Buffer[]) =>
    Buffer.concat(
      parts.flatMap((p) => {
        const len = Buffer.alloc(4);
        len.writeUInt32LE(p.length, 0);
        return [len, p];
      }),
    );
  for (const bad of [Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe0, 0x80, 0x80])]) {
    const e = status(() => decodeBinaryData('s', dt('BYTES'), prefixed(Buffer.from('ok'), bad), [2]));
    assert.equal(e.status, 400);
    assert.match(e.message, /input "s": binary BYTES element 1 is not valid UTF-8/);
  }
  // a byte-order mark is data, kept as is
  assert.deepEqual(decodeBinaryData('s', dt('BYTES'), prefixed(Buffer.from('\ufeffa')), [1]), ['\ufeffa']);
  const lone = status(() => decodeJsonData('s', dt('BYTES'), JSON.parse('["a", "\\ud800"]'), [2]));
  assert.match(lone.message, /input "s": element 1 is a string with a lone UTF-16 surrogate/);
  assert.match(status(() => decodeNested('s', dt('BYTES'), JSON.parse('["\\udc00x"]'))).message, /element 0 .*lone UTF-16 surrogate/);
  // a surrogate pair is a well-formed character
  assert.deepEqual(decodeJsonData('s', dt('BYTES'), JSON.parse('["\\ud83d\\ude00"]'), [1]), ['😀']);
});

test('binary data: a huge shape is a 400 before allocation (BYTES and numeric), BOOL bytes are 0 or 1', () => {
  const { info, created } = spied('BYTES');
  for (const shape of [[1e12], [2 ** 53 - 1], [1e9, 1e9], [3]]) {
    const e = status(() => decodeBinaryData('s', info, Buffer.alloc(8), shape));
    assert.equal(e.status, 400);
    assert.match(e.message, /BYTES elements, which need at least .* x 4 bytes of length prefixes, but binary_data_size is 8/);
  }
  assert.deepEqual(created, []);
  for (const shape of [[1e12], [2 ** 53 - 1, 8]]) {
    assert.match(status(() => decodeBinaryData('x', dt('FP32'), Buffer.alloc(8), shape)).message, /binary_data_size is 8 bytes but shape/);
  }
  assert.match(
    status(() => decodeBinaryData('b', dt('BOOL'), Buffer.from([1, 0, 2]), [3])).message,
    /binary BOOL element 2 is byte 2, expected 0 or 1/,
  );
  assert.deepEqual(Array.from(decodeBinaryData('b', dt('BOOL'), Buffer.from([1, 0]), [2]) as Uint8Array), [1, 0]);
  // a length prefix of 2^32-1 must not overflow the bounds check
  const huge = Buffer.alloc(8);
  huge.writeUInt32LE(0xffffffff, 0);
  assert.match(status(() => decodeBinaryData('s', dt('BYTES'), huge, [1])).message, /claims 4294967295 bytes but only 4 remain/);
});
