/**
 * The protobuf wire format, as far as editing an ONNX file needs it: split a message into its
 * fields (keeping every field, known or not, as the bytes it came as) and join fields back. A
 * schema-driven library (protobufjs) would drop the fields its schema does not name when it
 * re-encodes, and an ONNX model must come out byte-identical except for what is edited.
 * https://protobuf.dev/programming-guides/encoding/
 */

export const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

export interface Field {
  num: number;
  wire: number;
  /** varint: its value; bytes: the payload; fixed32/64: the raw little-endian bytes */
  value: bigint | Uint8Array;
}

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new WireError('truncated varint');
    const b = buf[pos++] as number;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
  throw new WireError('varint longer than 10 bytes');
}

/** The fields of one message, in order; payloads are views into `buf` (no copy). */
export function decodeFields(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = readVarint(buf, pos);
    pos = afterKey;
    const num = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (num === 0) throw new WireError('field number 0');
    if (wire === WIRE.varint) {
      const [v, next] = readVarint(buf, pos);
      fields.push({ num, wire, value: v });
      pos = next;
    } else if (wire === WIRE.bytes) {
      const [len, start] = readVarint(buf, pos);
      const end = start + Number(len);
      if (len > BigInt(buf.length) || end > buf.length) throw new WireError(`field ${num}: length ${len} runs past the message`);
      fields.push({ num, wire, value: buf.subarray(start, end) });
      pos = end;
    } else if (wire === WIRE.fixed64 || wire === WIRE.fixed32) {
      const end = pos + (wire === WIRE.fixed64 ? 8 : 4);
      if (end > buf.length) throw new WireError(`field ${num}: truncated fixed-width value`);
      fields.push({ num, wire, value: buf.subarray(pos, end) });
      pos = end;
    } else {
      throw new WireError(`field ${num}: unsupported wire type ${wire}`);
    }
  }
  return fields;
}

function varintBytes(v: bigint): Uint8Array {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return Uint8Array.from(out);
}

/** One message from its fields (the inverse of decodeFields). */
export function encodeFields(fields: readonly Field[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    parts.push(varintBytes((BigInt(f.num) << 3n) | BigInt(f.wire)));
    if (f.wire === WIRE.varint) parts.push(varintBytes(f.value as bigint));
    else if (f.wire === WIRE.bytes) {
      const payload = f.value as Uint8Array;
      parts.push(varintBytes(BigInt(payload.length)), payload);
    } else parts.push(f.value as Uint8Array);
  }
  return Buffer.concat(parts);
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
export const text = (f: Field | undefined): string | undefined =>
  f && f.wire === WIRE.bytes ? utf8.decode(f.value as Uint8Array) : undefined;
export const bytesField = (num: number, value: Uint8Array | string): Field => ({
  num,
  wire: WIRE.bytes,
  value: typeof value === 'string' ? Buffer.from(value, 'utf8') : value,
});
export const varintField = (num: number, value: number | bigint): Field => ({ num, wire: WIRE.varint, value: BigInt(value) });

/** Repeated int64 values of field `num`, packed or not. */
export function int64s(fields: readonly Field[], num: number): bigint[] {
  const out: bigint[] = [];
  for (const f of fields) {
    if (f.num !== num) continue;
    if (f.wire === WIRE.varint) out.push(BigInt.asIntN(64, f.value as bigint));
    else if (f.wire === WIRE.bytes) {
      const packed = f.value as Uint8Array;
      let pos = 0;
      while (pos < packed.length) {
        const [v, next] = readVarint(packed, pos);
        out.push(BigInt.asIntN(64, v));
        pos = next;
      }
    }
  }
  return out;
}
