/**
 * Tensor codecs: JSON data (flat or nested) and binary tensor bytes <-> TypedArrays, with the
 * element checks that turn bad input into a 400 naming the tensor, the element and the problem.
 * Pure.
 */
import { fromHalf, toHalf, type DatatypeInfo, type NumericArray, type Tensor, type TensorValues } from './datatypes.ts';
import { badRequest, HttpError } from './errors.ts';

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 24 ? `${v.slice(0, 24)}...` : v)})`;
  if (typeof v === 'boolean') return `a boolean (${v})`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

function expectation(info: DatatypeInfo): string {
  switch (info.kind) {
    case 'float':
    case 'fp16':
      return `a finite number for ${info.v2}`;
    case 'int':
    case 'bigint':
      return `an integer in [${info.min}, ${info.max}] for ${info.v2}`;
    case 'bool':
      return 'true or false for BOOL';
    case 'string':
      return 'a string for BYTES';
  }
}

/** Count the leaves of (possibly nested) JSON array data. */
function countLeaves(data: unknown[]): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    n += Array.isArray(v) ? countLeaves(v) : 1;
  }
  return n;
}

/** Element writer for one datatype: stores v at out[i] or throws a 400. */
type Writer = (out: TensorValues, i: number, v: unknown) => void;

function writerFor(info: DatatypeInfo, tensorName: string): Writer {
  const fail = (i: number, v: unknown): never => {
    throw badRequest(`input "${tensorName}": element ${i} is ${describe(v)}, expected ${expectation(info)}`);
  };
  switch (info.kind) {
    case 'float':
      return (out, i, v) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) fail(i, v);
        (out as Float32Array)[i] = v as number;
      };
    case 'fp16':
      return (out, i, v) => {
        if (typeof v !== 'number' || !Number.isFinite(v) || v < info.min || v > info.max) fail(i, v);
        (out as Uint16Array)[i] = toHalf(v as number);
      };
    case 'int':
      return (out, i, v) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < info.min || v > info.max) fail(i, v);
        (out as Int32Array)[i] = v as number;
      };
    case 'bigint':
      return (out, i, v) => {
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < info.min || v > info.max) fail(i, v);
        (out as BigInt64Array)[i] = BigInt(v as number);
      };
    case 'bool':
      return (out, i, v) => {
        if (v === true || v === 1) (out as Uint8Array)[i] = 1;
        else if (v === false || v === 0) (out as Uint8Array)[i] = 0;
        else fail(i, v);
      };
    case 'string':
      return (out, i, v) => {
        if (typeof v !== 'string') fail(i, v);
        (out as string[])[i] = v as string;
      };
  }
}

function fillFlat(data: unknown[], out: TensorValues, write: Writer, start: number): number {
  let idx = start;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Array.isArray(v)) idx = fillFlat(v, out, write, idx);
    else write(out, idx++, v);
  }
  return idx;
}

export function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * V2 `data`: flat or nested arrays in row-major order; the element count must equal product(shape).
 */
export function decodeJsonData(tensorName: string, info: DatatypeInfo, data: unknown, shape: readonly number[]): TensorValues {
  if (!Array.isArray(data)) throw badRequest(`input "${tensorName}": "data" must be an array, got ${describe(data)}`);
  const expected = product(shape);
  const count = countLeaves(data);
  if (count !== expected) {
    throw badRequest(`input "${tensorName}": data has ${count} elements but shape [${shape.join(',')}] needs ${expected}`);
  }
  const out = info.create(count);
  fillFlat(data, out, writerFor(info, tensorName), 0);
  return out;
}

/**
 * TF-Serving style nested value (no shape given): the shape is read from the nesting, which must
 * be rectangular. A scalar has shape [].
 */
export function decodeNested(tensorName: string, info: DatatypeInfo, value: unknown): { dims: number[]; data: TensorValues } {
  const dims: number[] = [];
  let v: unknown = value;
  while (Array.isArray(v)) {
    dims.push(v.length);
    v = v[0];
  }
  const count = product(dims);
  const out = info.create(count);
  const write = writerFor(info, tensorName);
  let idx = 0;
  const walk = (node: unknown, depth: number, path: string): void => {
    if (depth === dims.length) {
      if (Array.isArray(node))
        throw badRequest(`input "${tensorName}": ragged nesting at ${path || 'top level'}: expected a value, got an array`);
      write(out, idx++, node);
      return;
    }
    if (!Array.isArray(node) || node.length !== dims[depth]) {
      throw badRequest(
        `input "${tensorName}": ragged nesting at ${path || 'top level'}: expected an array of ${dims[depth]}, got ${Array.isArray(node) ? `an array of ${node.length}` : describe(node)}`,
      );
    }
    for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, `${path}[${i}]`);
  };
  walk(value, 0, '');
  return { dims, data: out };
}

/** Binary tensor extension: raw little-endian bytes (BYTES: 4-byte length + bytes per element). */
export function decodeBinaryData(tensorName: string, info: DatatypeInfo, bytes: Uint8Array, shape: readonly number[]): TensorValues {
  const count = product(shape);
  if (info.kind === 'string') {
    const out: string[] = new Array<string>(count);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let off = 0;
    const dec = new TextDecoder('utf-8', { fatal: false });
    for (let i = 0; i < count; i++) {
      if (off + 4 > bytes.length)
        throw badRequest(`input "${tensorName}": binary BYTES data ends inside element ${i} (needs ${count} length-prefixed elements)`);
      const len = view.getUint32(off, true);
      off += 4;
      if (off + len > bytes.length)
        throw badRequest(`input "${tensorName}": binary BYTES element ${i} claims ${len} bytes but only ${bytes.length - off} remain`);
      out[i] = dec.decode(bytes.subarray(off, off + len));
      off += len;
    }
    if (off !== bytes.length)
      throw badRequest(`input "${tensorName}": binary BYTES data has ${bytes.length - off} bytes left over after ${count} elements`);
    return out;
  }
  const need = count * info.bytes;
  if (bytes.length !== need) {
    throw badRequest(
      `input "${tensorName}": binary_data_size is ${bytes.length} bytes but shape [${shape.join(',')}] of ${info.v2} needs ${count} x ${info.bytes} = ${need} bytes`,
    );
  }
  const out = info.create(count) as NumericArray;
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}

function outOfRange(name: string, v: bigint): HttpError {
  return new HttpError(
    500,
    `output "${name}" value ${v} is outside the JSON safe integer range; request it with the binary data extension`,
  );
}

/** One element as JSON text. */
function token(t: Tensor, name: string, i: number): string {
  const d = t.data;
  switch (t.type) {
    case 'string':
      return JSON.stringify((d as string[])[i]);
    case 'bool':
      return (d as Uint8Array)[i] ? 'true' : 'false';
    case 'float16': {
      const x = fromHalf((d as Uint16Array)[i] ?? 0);
      return Number.isFinite(x) ? String(x) : 'null';
    }
    case 'int64':
    case 'uint64': {
      const v = (d as BigInt64Array)[i] ?? 0n;
      if (v > 9007199254740991n || v < -9007199254740991n) throw outOfRange(name, v);
      return String(v);
    }
    default: {
      const x = (d as Float64Array)[i] ?? 0;
      return Number.isFinite(x) ? String(x) : 'null';
    }
  }
}

/** Flat JSON array text of a tensor's data (NaN/Infinity -> null, int64 range-checked). */
export function jsonArray(t: Tensor, name: string): string {
  const d = t.data;
  const n = d.length;
  switch (t.type) {
    case 'float32':
    case 'float64': {
      const a = d as Float32Array;
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(a[i] as number)) return slowArray(t, name);
      }
      return `[${a.join(',')}]`;
    }
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
      return `[${(d as Int32Array).join(',')}]`;
    case 'int64':
    case 'uint64': {
      const a = d as BigInt64Array;
      for (let i = 0; i < n; i++) {
        const v = a[i] as bigint;
        if (v > 9007199254740991n || v < -9007199254740991n) throw outOfRange(name, v);
      }
      return `[${a.join(',')}]`;
    }
    case 'string':
      return JSON.stringify(d);
    default:
      return slowArray(t, name);
  }
}

function slowArray(t: Tensor, name: string): string {
  const parts = new Array<string>(t.data.length);
  for (let i = 0; i < parts.length; i++) parts[i] = token(t, name, i);
  return `[${parts.join(',')}]`;
}

/**
 * Nested JSON text of the elements [start, start + product(dims)) laid out with `dims`
 * (TF-Serving responses). dims [] = a scalar.
 */
export function jsonNested(t: Tensor, name: string, dims: readonly number[], start: number): string {
  let idx = start;
  const walk = (depth: number): string => {
    if (depth === dims.length) return token(t, name, idx++);
    const n = dims[depth] ?? 0;
    const parts = new Array<string>(n);
    for (let i = 0; i < n; i++) parts[i] = walk(depth + 1);
    return `[${parts.join(',')}]`;
  };
  return walk(0);
}

/** Raw bytes of a tensor for the binary data extension. */
export function binaryBytes(t: Tensor): Buffer {
  if (t.type === 'string') {
    const parts: Buffer[] = [];
    for (const s of t.data as string[]) {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32LE(b.length, 0);
      parts.push(len, b);
    }
    return Buffer.concat(parts);
  }
  const a = t.data as NumericArray;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}
