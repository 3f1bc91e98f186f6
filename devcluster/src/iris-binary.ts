// iris requests for tests and benchmarks: its row and label, and big V2 binary requests
// (Open Inference Protocol binary tensor extension) on a fresh connection.
import { request, type IncomingHttpHeaders } from 'node:http';

export const IRIS_ROW = [6.3, 3.3, 6.0, 2.5];
/** iris predicts class 2 for IRIS_ROW */
export const IRIS_LABEL = 2;

/** A V2 binary request body for iris with `rows` copies of IRIS_ROW (16 bytes a row), binary outputs. */
export function irisBinaryBody(rows: number): { body: Buffer; headerLength: number } {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 4], parameters: { binary_data_size: rows * 16 } }],
      parameters: { binary_data_output: true },
    }),
  );
  const data = new Float32Array(rows * 4);
  for (let i = 0; i < rows; i++) data.set(IRIS_ROW, i * 4);
  return { body: Buffer.concat([header, Buffer.from(data.buffer)]), headerLength: header.length };
}

/** Checks a binary V2 iris answer for `rows` rows: every label IRIS_LABEL, probabilities summing to 1. */
export function checkIrisBinaryAnswer(body: Buffer, headerLength: number, rows: number): string | undefined {
  const header = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as {
    outputs: Array<{ name: string; datatype: string; shape: number[]; parameters?: { binary_data_size?: number } }>;
  };
  let offset = headerLength;
  for (const o of header.outputs) {
    const size = o.parameters?.binary_data_size ?? 0;
    const bytes = body.subarray(offset, offset + size);
    offset += size;
    if (o.name === 'label') {
      if (o.datatype !== 'INT64' || size !== rows * 8) return `label: ${o.datatype} ${size} bytes`;
      const labels = new BigInt64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + size));
      for (let i = 0; i < rows; i += 997) if (labels[i] !== BigInt(IRIS_LABEL)) return `label[${i}] = ${labels[i]}`;
      if (labels[rows - 1] !== BigInt(IRIS_LABEL)) return `last label ${labels[rows - 1]}`;
    } else if (o.name === 'probabilities') {
      if (size !== rows * 12) return `probabilities: ${size} bytes`;
      const p = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + size));
      for (let i = 0; i < rows; i += 997) {
        const sum = p[i * 3]! + p[i * 3 + 1]! + p[i * 3 + 2]!;
        if (Math.abs(sum - 1) > 1e-3) return `probabilities of row ${i} sum to ${sum}`;
      }
    }
  }
  if (offset !== body.length) return `${body.length - offset} bytes after the outputs`;
  return undefined;
}

export interface BinaryReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** POSTs a binary V2 body on a fresh connection; rejects on a network error (reset, refused). */
export function postBinary(url: string, body: Buffer, headerLength: number, timeoutMs = 60_000): Promise<BinaryReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent: false,
        timeout: timeoutMs,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': body.length,
          'inference-header-content-length': headerLength,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: timeout`)));
    req.on('error', reject);
    req.end(body);
  });
}
