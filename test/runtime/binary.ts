/** tritonclient-style binary tensor data extension, written independently of the runtime's codec. */

export function tensorBytes(datatype: string, data: readonly unknown[]): Buffer {
  const nums = data as number[];
  switch (datatype) {
    case 'BOOL':
      return Buffer.from(Uint8Array.from(data.map((v) => (v ? 1 : 0))).buffer);
    case 'UINT8':
      return Buffer.from(Uint8Array.from(nums).buffer);
    case 'INT8':
      return Buffer.from(Int8Array.from(nums).buffer);
    case 'UINT16':
      return Buffer.from(Uint16Array.from(nums).buffer);
    case 'INT16':
      return Buffer.from(Int16Array.from(nums).buffer);
    case 'UINT32':
      return Buffer.from(Uint32Array.from(nums).buffer);
    case 'UINT64':
      return Buffer.from(BigUint64Array.from(nums.map((v) => BigInt(v))).buffer);
    case 'FP16':
      return Buffer.from(Float16Array.from(nums).buffer);
    case 'BYTES':
      return Buffer.concat(
        (data as string[]).flatMap((str) => {
          const b = Buffer.from(str, 'utf8');
          const len = Buffer.alloc(4);
          len.writeUInt32LE(b.length);
          return [len, b];
        }),
      );
    case 'FP32':
      return Buffer.from(Float32Array.from(nums).buffer);
    case 'FP64':
      return Buffer.from(Float64Array.from(nums).buffer);
    case 'INT64':
      return Buffer.from(BigInt64Array.from(nums.map((v) => BigInt(v))).buffer);
    case 'INT32':
      return Buffer.from(Int32Array.from(nums).buffer);
    default:
      throw new Error(`test helper: no encoder for ${datatype}`);
  }
}

export function bytesToNumbers(datatype: string, b: Buffer): unknown[] {
  const copy = new Uint8Array(b).buffer;
  switch (datatype) {
    case 'BOOL':
      return Array.from(new Uint8Array(copy), (v) => v !== 0);
    case 'UINT8':
      return Array.from(new Uint8Array(copy));
    case 'INT8':
      return Array.from(new Int8Array(copy));
    case 'UINT16':
      return Array.from(new Uint16Array(copy));
    case 'INT16':
      return Array.from(new Int16Array(copy));
    case 'UINT32':
      return Array.from(new Uint32Array(copy));
    case 'INT32':
      return Array.from(new Int32Array(copy));
    case 'UINT64':
      return Array.from(new BigUint64Array(copy), Number);
    case 'FP16':
      return Array.from(new Float16Array(copy));
    case 'BYTES': {
      const out: string[] = [];
      for (let off = 0; off < b.length;) {
        const len = b.readUInt32LE(off);
        out.push(b.toString('utf8', off + 4, off + 4 + len));
        off += 4 + len;
      }
      return out;
    }
    case 'FP32':
      return Array.from(new Float32Array(copy));
    case 'FP64':
      return Array.from(new Float64Array(copy));
    case 'INT64':
      return Array.from(new BigInt64Array(copy), Number);
    default:
      throw new Error(`test helper: no decoder for ${datatype}`);
  }
}

export interface BinaryInput {
  name: string;
  datatype: string;
  shape: number[];
  data: readonly unknown[];
}

/** Body + headers as tritonclient sends them (binary inputs; outputs binary unless told). */
export function binaryRequest(
  inputs: BinaryInput[],
  extra: Record<string, unknown> = {},
): { body: Buffer; headers: Record<string, string> } {
  const blobs = inputs.map((i) => tensorBytes(i.datatype, i.data));
  const header = Buffer.from(
    JSON.stringify({
      inputs: inputs.map((i, k) => ({
        name: i.name,
        shape: i.shape,
        datatype: i.datatype,
        parameters: { binary_data_size: (blobs[k] as Buffer).length },
      })),
      ...extra,
    }),
  );
  return {
    body: Buffer.concat([header, ...blobs]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

export interface DecodedOutput {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
  binary: boolean;
}

/** Split a binary-extension response into its JSON header and the tensors after it. */
export function decodeBinaryResponse(
  body: Buffer,
  headerLength: string | null,
): { header: Record<string, unknown>; outputs: DecodedOutput[] } {
  const hl = headerLength === null ? body.length : Number(headerLength);
  const header = JSON.parse(body.subarray(0, hl).toString('utf8')) as {
    outputs: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[];
  };
  let off = hl;
  const outputs = header.outputs.map((o) => {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) return { name: o.name, datatype: o.datatype, shape: o.shape, data: o.data ?? [], binary: false };
    const bytes = body.subarray(off, off + size);
    off += size;
    return { name: o.name, datatype: o.datatype, shape: o.shape, data: bytesToNumbers(o.datatype, bytes), binary: true };
  });
  if (off !== body.length) throw new Error(`binary response has ${body.length - off} unexplained bytes`);
  return { header: header as unknown as Record<string, unknown>, outputs };
}
