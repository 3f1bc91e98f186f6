/**
 * Tensor codecs: JSON data (flat or nested) and binary tensor bytes <-> TypedArrays, with the
 * element checks that turn bad input into a 400 naming the tensor, the element and the problem.
 * Pure.
 */
import { fromHalf, toHalf, type DatatypeInfo, type NumericArray, type Tensor, type TensorValues } from './datatypes.ts';
import { badRequest, HttpError } from '../errors.ts';

/**
 * Deepest array nesting accepted in tensor data. ONNX models in practice have rank <= 8; the cap
 * keeps the recursive walkers far from the stack limit whatever the body holds.
 */
export const MAX_NESTING_DEPTH = 64;

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
      return `a finite number for ${info.v2}`;
    case 'fp16':
      return `a finite number in [${info.min}, ${info.max}] for ${info.v2}`;
    case 'int':
    case 'bigint':
      return `an integer in [${info.min}, ${info.max}] for ${info.v2}`;
    case 'bool':
      return 'true or false for BOOL';
    case 'string':
      return 'a string for BYTES';
  }
}

function tooDeep(tensorName: string): HttpError {
  return badRequest(`input "${tensorName}": arrays are nested deeper than the limit of ${MAX_NESTING_DEPTH} levels`);
}

/** Count the leaves of (possibly nested) JSON array data; 400 past MAX_NESTING_DEPTH. */
function countLeaves(tensorName: string, data: unknown[], depth: number): number {
  if (depth > MAX_NESTING_DEPTH) throw tooDeep(tensorName);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    n += Array.isArray(v) ? countLeaves(tensorName, v, depth + 1) : 1;
  }
  return n;
}

// String.prototype.isWellFormed is ES2024 (Node >= 20); the project's lib is es2023
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Element writer for one datatype: stores v at out[i] or throws a 400. */
type Writer = (out: TensorValues, i: number, v: unknown) => void;

function writerFor(info: DatatypeInfo, tensorName: string): Writer {
  const fail = (i: number, v: unknown): never => {
    throw badRequest(`input "${tensorName}": element ${i} is ${describe(v)}, expected ${expectation(info)}`);
  };
  switch (info.kind) {
    case 'float':
      if (info.ort === 'float32') {
        // beyond the float32 range a Float32Array stores Infinity; Math.fround says exactly what rounds to a finite float
        return (out, i, v) => {
          if (typeof v !== 'number' || !Number.isFinite(v)) fail(i, v);
          if (!Number.isFinite(Math.fround(v as number))) {
            throw badRequest(`input "${tensorName}": element ${i} is ${describe(v)}, outside the FP32 range [${info.min}, ${info.max}]`);
          }
          (out as Float32Array)[i] = v as number;
        };
      }
      return (out, i, v) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) fail(i, v);
        (out as Float64Array)[i] = v as number;
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
      // a lone surrogate (JSON "\ud800") has no UTF-8 form: the model would see U+FFFD instead
      return (out, i, v) => {
        if (typeof v !== 'string') fail(i, v);
        if (!isWellFormed(v as string)) {
          throw badRequest(
            `input "${tensorName}": element ${i} is a string with a lone UTF-16 surrogate (an escape like "\\ud800" without its pair), which has no UTF-8 form for BYTES`,
          );
        }
        (out as string[])[i] = v as string;
      };
  }
}

/** Writes the leaves in row-major order; the caller has bounded the depth (countLeaves / nestedDims). */
function fillFlat(data: unknown[], out: TensorValues, write: Writer, start: number): number {
  let idx = start;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Array.isArray(v)) idx = fillFlat(v, out, write, idx);
    else write(out, idx++, v);
  }
  return idx;
}

/** Number of elements of a shape (Infinity-safe: a huge shape gives a huge number, never NaN for valid dims). */
export function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * V2 `data`: flat or nested arrays in row-major order; the element count must equal product(shape).
 * The leaves are counted before anything is allocated, so the allocation is bounded by the body.
 */
export function decodeJsonData(tensorName: string, info: DatatypeInfo, data: unknown, shape: readonly number[]): TensorValues {
  if (!Array.isArray(data)) throw badRequest(`input "${tensorName}": "data" must be an array, got ${describe(data)}`);
  const expected = product(shape);
  const count = countLeaves(tensorName, data, 1);
  if (count !== expected) {
    throw badRequest(`input "${tensorName}": data has ${count} elements but shape ${shapeText(shape)} needs ${expected}`);
  }
  const out = info.create(count);
  fillFlat(data, out, writerFor(info, tensorName), 0);
  return out;
}

/**
 * The dims of a TF-Serving nested value, read from the first element at each level, and checked
 * to be rectangular everywhere. Nothing is allocated: the returned element count is the number of
 * leaves actually present in the request.
 */
function nestedDims(tensorName: string, value: unknown): { dims: number[]; count: number } {
  const dims: number[] = [];
  let v: unknown = value;
  while (Array.isArray(v)) {
    if (dims.length === MAX_NESTING_DEPTH) throw tooDeep(tensorName);
    dims.push(v.length);
    v = v[0];
  }
  let count = 0;
  const check = (node: unknown, depth: number, path: string): void => {
    if (depth === dims.length) {
      if (Array.isArray(node))
        throw badRequest(`input "${tensorName}": ragged nesting at ${path || 'top level'}: expected a value, got an array`);
      count++;
      return;
    }
    if (!Array.isArray(node) || node.length !== dims[depth]) {
      throw badRequest(
        `input "${tensorName}": ragged nesting at ${path || 'top level'}: expected an array of ${dims[depth]}, got ${Array.isArray(node) ? `an array of ${node.length}` : describe(node)}`,
      );
    }
    for (let i = 0; i < node.length; i++) check(node[i], depth + 1, `${path}[${i}]`);
  };
  check(value, 0, '');
  return { dims, count };
}

/**
 * TF-Serving style nested value (no shape given): the shape is read from the nesting, which must
 * be rectangular. A scalar has shape []. The nesting is validated before the tensor is allocated.
 */
export function decodeNested(tensorName: string, info: DatatypeInfo, value: unknown): { dims: number[]; data: TensorValues } {
  const { dims, count } = nestedDims(tensorName, value);
  const out = info.create(count);
  const write = writerFor(info, tensorName);
  if (Array.isArray(value)) fillFlat(value, out, write, 0);
  else write(out, 0, value);
  return { dims, data: out };
}

/** BYTES in the binary extension: a 4-byte little-endian length, then that many UTF-8 bytes, per element. */
function decodeBinaryStrings(tensorName: string, bytes: Uint8Array, shape: readonly number[]): string[] {
  const count = product(shape);
  // every element takes at least its 4-byte length prefix: check before allocating count slots
  if (count * 4 > bytes.length) {
    throw badRequest(
      `input "${tensorName}": shape ${shapeText(shape)} has ${count} BYTES elements, which need at least ${count} x 4 bytes of length prefixes, but binary_data_size is ${bytes.length}`,
    );
  }
  const out: string[] = new Array<string>(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 4 > bytes.length)
      throw badRequest(`input "${tensorName}": binary BYTES data ends inside element ${i} (needs ${count} length-prefixed elements)`);
    const len = view.getUint32(off, true);
    off += 4;
    if (len > bytes.length - off)
      throw badRequest(`input "${tensorName}": binary BYTES element ${i} claims ${len} bytes but only ${bytes.length - off} remain`);
    try {
      out[i] = dec.decode(bytes.subarray(off, off + len));
    } catch {
      throw badRequest(`input "${tensorName}": binary BYTES element ${i} is not valid UTF-8`);
    }
    off += len;
  }
  if (off !== bytes.length)
    throw badRequest(`input "${tensorName}": binary BYTES data has ${bytes.length - off} bytes left over after ${count} elements`);
  return out;
}

/** Binary tensor extension: raw little-endian bytes (BYTES: 4-byte length + bytes per element). */
export function decodeBinaryData(tensorName: string, info: DatatypeInfo, bytes: Uint8Array, shape: readonly number[]): TensorValues {
  if (info.kind === 'string') return decodeBinaryStrings(tensorName, bytes, shape);
  const count = product(shape);
  const need = count * info.bytes;
  if (bytes.length !== need) {
    throw badRequest(
      `input "${tensorName}": binary_data_size is ${bytes.length} bytes but shape ${shapeText(shape)} of ${info.v2} needs ${count} x ${info.bytes} = ${need} bytes`,
    );
  }
  if (info.kind === 'bool') {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      if (b > 1) throw badRequest(`input "${tensorName}": binary BOOL element ${i} is byte ${b}, expected 0 or 1`);
    }
  }
  const out = info.create(count) as NumericArray;
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}

function outOfRange(name: string, v: bigint): HttpError {
  // the client chose JSON for this output and can fix it by asking for binary: a 400, not a server fault
  return badRequest(`output "${name}" value ${v} is outside the JSON safe integer range; request it with the binary data extension`);
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
