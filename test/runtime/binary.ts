/** tritonclient-style binary tensor data extension, written independently of the runtime's codec. */

export function tensorBytes(datatype: string, data: readonly number[]): Buffer {
  switch (datatype) {
    case 'FP32':
      return Buffer.from(Float32Array.from(data).buffer);
    case 'FP64':
      return Buffer.from(Float64Array.from(data).buffer);
    case 'INT64':
      return Buffer.from(BigInt64Array.from(data.map((v) => BigInt(v))).buffer);
    case 'INT32':
      return Buffer.from(Int32Array.from(data).buffer);
    default:
      throw new Error(`test helper: no encoder for ${datatype}`);
  }
}

export function bytesToNumbers(datatype: string, b: Buffer): number[] {
  const copy = new Uint8Array(b).buffer;
  switch (datatype) {
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
  data: readonly number[];
}

/** Body + headers as tritonclient sends them (binary inputs; outputs binary unless told). */
export function binaryRequest(inputs: BinaryInput[], extra: Record<string, unknown> = {}): { body: Buffer; headers: Record<string, string> } {
  const blobs = inputs.map((i) => tensorBytes(i.datatype, i.data));
  const header = Buffer.from(
    JSON.stringify({
      inputs: inputs.map((i, k) => ({ name: i.name, shape: i.shape, datatype: i.datatype, parameters: { binary_data_size: (blobs[k] as Buffer).length } })),
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
  data: number[];
  binary: boolean;
}

/** Split a binary-extension response into its JSON header and the tensors after it. */
export function decodeBinaryResponse(body: Buffer, headerLength: string | null): { header: Record<string, unknown>; outputs: DecodedOutput[] } {
  const hl = headerLength === null ? body.length : Number(headerLength);
  const header = JSON.parse(body.subarray(0, hl).toString('utf8')) as { outputs: { name: string; datatype: string; shape: number[]; data?: number[]; parameters?: { binary_data_size?: number } }[] };
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
