import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binaryBytes, decodeBinaryData, decodeJsonData, decodeNested, jsonArray, jsonNested } from '../../runtime/src/codec.ts';
import { fromHalf, fromV2, toHalf, type DatatypeInfo } from '../../runtime/src/datatypes.ts';
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
  assert.match(status(() => decodeBinaryData('s', dt('BYTES'), s.subarray(0, 5), [2])).message, /claims 3 bytes but only 1 remain/);
  assert.match(status(() => decodeBinaryData('s', dt('BYTES'), Buffer.concat([s, Buffer.from([0])]), [2])).message, /1 bytes left over/);
});

test('JSON output: NaN/Infinity -> null, int64 within the safe range or a 500', () => {
  assert.equal(jsonArray({ type: 'float32', dims: [3], data: Float32Array.from([0.5, NaN, -Infinity]) }, 'y'), '[0.5,null,null]');
  assert.equal(jsonArray({ type: 'int64', dims: [2], data: BigInt64Array.from([0n, -3n]) }, 'y'), '[0,-3]');
  const e = status(() => jsonArray({ type: 'int64', dims: [1], data: BigInt64Array.from([2n ** 60n]) }, 'label'));
  assert.equal(e.status, 500);
  assert.match(e.message, /output "label" value 1152921504606846976 is outside the JSON safe integer range/);
  assert.equal(jsonArray({ type: 'bool', dims: [2], data: Uint8Array.from([1, 0]) }, 'b'), '[true,false]');
  assert.equal(jsonArray({ type: 'string', dims: [1], data: ['a"b'] }, 's'), '["a\\"b"]');
  assert.equal(jsonArray({ type: 'float16', dims: [1], data: Uint16Array.from([toHalf(2.5)]) }, 'h'), '[2.5]');
  assert.equal(jsonNested({ type: 'int32', dims: [2, 2], data: Int32Array.from([1, 2, 3, 4]) }, 'y', [2], 2), '[3,4]');
  assert.equal(jsonNested({ type: 'int32', dims: [2, 2], data: Int32Array.from([1, 2, 3, 4]) }, 'y', [2, 2], 0), '[[1,2],[3,4]]');
  assert.equal(jsonNested({ type: 'int32', dims: [1], data: Int32Array.from([9]) }, 'y', [], 0), '9');
});
