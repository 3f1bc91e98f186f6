/**
 * V2 datatypes <-> onnxruntime tensor types <-> TypedArrays, and element checks.
 * Pure; no onnxruntime import (workers and the main thread both use it).
 */

export type OrtType =
  'bool' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'uint64' | 'int64' | 'float16' | 'float32' | 'float64' | 'string';

export type V2Datatype =
  'BOOL' | 'UINT8' | 'INT8' | 'UINT16' | 'INT16' | 'UINT32' | 'INT32' | 'UINT64' | 'INT64' | 'FP16' | 'FP32' | 'FP64' | 'BYTES';

export type NumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

export type TensorValues = NumericArray | string[];

/** A tensor as it travels between the HTTP layer, the batcher and the workers. */
export interface Tensor {
  type: OrtType;
  dims: number[];
  data: TensorValues;
}

/** How a JSON element is checked and stored. */
export type ElementKind = 'float' | 'int' | 'bigint' | 'bool' | 'fp16' | 'string';

export interface DatatypeInfo {
  v2: V2Datatype;
  ort: OrtType;
  /** bytes per element in the binary extension; 0 = variable (BYTES) */
  bytes: number;
  kind: ElementKind;
  min: number;
  max: number;
  create(n: number): TensorValues;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Largest finite float32 (FLT_MAX): JSON numbers beyond it would become Infinity in a Float32Array. */
export const FLOAT32_MAX = 3.4028234663852886e38;

const table: DatatypeInfo[] = [
  { v2: 'BOOL', ort: 'bool', bytes: 1, kind: 'bool', min: 0, max: 1, create: (n) => new Uint8Array(n) },
  { v2: 'UINT8', ort: 'uint8', bytes: 1, kind: 'int', min: 0, max: 255, create: (n) => new Uint8Array(n) },
  { v2: 'INT8', ort: 'int8', bytes: 1, kind: 'int', min: -128, max: 127, create: (n) => new Int8Array(n) },
  { v2: 'UINT16', ort: 'uint16', bytes: 2, kind: 'int', min: 0, max: 65535, create: (n) => new Uint16Array(n) },
  { v2: 'INT16', ort: 'int16', bytes: 2, kind: 'int', min: -32768, max: 32767, create: (n) => new Int16Array(n) },
  { v2: 'UINT32', ort: 'uint32', bytes: 4, kind: 'int', min: 0, max: 4294967295, create: (n) => new Uint32Array(n) },
  { v2: 'INT32', ort: 'int32', bytes: 4, kind: 'int', min: -2147483648, max: 2147483647, create: (n) => new Int32Array(n) },
  { v2: 'UINT64', ort: 'uint64', bytes: 8, kind: 'bigint', min: 0, max: MAX_SAFE, create: (n) => new BigUint64Array(n) },
  { v2: 'INT64', ort: 'int64', bytes: 8, kind: 'bigint', min: -MAX_SAFE, max: MAX_SAFE, create: (n) => new BigInt64Array(n) },
  { v2: 'FP16', ort: 'float16', bytes: 2, kind: 'fp16', min: -65504, max: 65504, create: (n) => new Uint16Array(n) },
  { v2: 'FP32', ort: 'float32', bytes: 4, kind: 'float', min: -FLOAT32_MAX, max: FLOAT32_MAX, create: (n) => new Float32Array(n) },
  {
    v2: 'FP64',
    ort: 'float64',
    bytes: 8,
    kind: 'float',
    min: -Number.MAX_VALUE,
    max: Number.MAX_VALUE,
    create: (n) => new Float64Array(n),
  },
  { v2: 'BYTES', ort: 'string', bytes: 0, kind: 'string', min: 0, max: 0, create: (n) => new Array<string>(n).fill('') },
];

const byV2 = new Map<string, DatatypeInfo>(table.map((t) => [t.v2, t]));
const byOrt = new Map<string, DatatypeInfo>(table.map((t) => [t.ort, t]));

export const V2_DATATYPES: readonly V2Datatype[] = table.map((t) => t.v2);

export function fromV2(datatype: string): DatatypeInfo | undefined {
  return byV2.get(datatype);
}

export function fromOrt(type: string): DatatypeInfo | undefined {
  return byOrt.get(type);
}

/** IEEE 754 half-precision bits from a number (round to nearest even). */
export function toHalf(value: number): number {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  f32[0] = value;
  const x = u32[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Number from IEEE 754 half-precision bits. */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
