/**
 * Dynamic batching, pure part: which queued requests go together, how their inputs are
 * concatenated on the first dimension and how the outputs are split back.
 */
import type { NumericArray, Tensor, TensorValues } from '../tensor/datatypes.ts';

export interface Batchable {
  /** rows on the first dimension */
  rows: number;
  /** requests with different keys (other dimensions differ) cannot share a run */
  key: string;
  /** must run alone (e.g. its batch failed once) */
  solo: boolean;
}

/** Key of a request: the non-batch dimensions of every input, in the given input order. */
export function batchKey(inputNames: readonly string[], inputs: Map<string, Tensor>): string {
  let key = '';
  for (const name of inputNames) {
    const t = inputs.get(name);
    if (t && t.dims.length > 2) key += `${t.dims.slice(1).join('x')};`;
    else if (t && t.dims.length === 2) key += `${t.dims[1]};`;
    else key += ';';
  }
  return key;
}

/**
 * Take the next batch from the head of the queue (FIFO): the head request, then later requests
 * with the same key while the rows fit in maxRows. Removes the taken requests from `queue`.
 */
export function takeBatch<T extends Batchable>(queue: T[], maxRows: number): T[] {
  const head = queue[0];
  if (!head) return [];
  if (head.solo || head.rows >= maxRows || maxRows <= 1) {
    queue.shift();
    return [head];
  }
  const batch: T[] = [head];
  let rows = head.rows;
  let i = 1;
  // fast path: a prefix of compatible requests
  while (i < queue.length) {
    const q = queue[i] as T;
    if (q.solo || q.key !== head.key || rows + q.rows > maxRows) break;
    batch.push(q);
    rows += q.rows;
    i++;
  }
  if (i === queue.length || rows >= maxRows) {
    queue.splice(0, i);
    return batch;
  }
  // slow path: skip incompatible requests, keep them queued in order
  const rest: T[] = [];
  for (let j = i; j < queue.length; j++) {
    const q = queue[j] as T;
    if (!q.solo && q.key === head.key && rows + q.rows <= maxRows) {
      batch.push(q);
      rows += q.rows;
    } else {
      rest.push(q);
    }
  }
  queue.length = 0;
  for (const q of rest) queue.push(q);
  return batch;
}

export function totalRows(batch: readonly Batchable[]): number {
  let n = 0;
  for (const b of batch) n += b.rows;
  return n;
}

/** Concatenate the inputs of several requests on dimension 0. */
export function concatInputs(inputNames: readonly string[], parts: readonly Map<string, Tensor>[]): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const name of inputNames) {
    const ts = parts.map((p) => p.get(name) as Tensor);
    const first = ts[0] as Tensor;
    let rows = 0;
    let len = 0;
    for (const t of ts) {
      rows += t.dims[0] as number;
      len += t.data.length;
    }
    let data: TensorValues;
    if (Array.isArray(first.data)) {
      const strings: string[] = [];
      for (const t of ts) for (const s of t.data as string[]) strings.push(s);
      data = strings;
    } else {
      const ctor = first.data.constructor as new (n: number) => NumericArray;
      const arr = new ctor(len);
      let off = 0;
      for (const t of ts) {
        (arr as Float32Array).set(t.data as Float32Array, off);
        off += t.data.length;
      }
      data = arr;
    }
    out.set(name, { type: first.type, dims: [rows, ...first.dims.slice(1)], data });
  }
  return out;
}

/**
 * Split batched outputs back into per-request outputs by rows. Returns undefined when an
 * output's first dimension is not the batch (the batch cannot be split; run requests alone).
 */
export function splitOutputs(outputs: Map<string, Tensor>, rows: readonly number[]): Map<string, Tensor>[] | undefined {
  const total = rows.reduce((a, b) => a + b, 0);
  const result = rows.map(() => new Map<string, Tensor>());
  for (const [name, t] of outputs) {
    if (t.dims[0] !== total) return undefined;
    const per = total === 0 ? 0 : t.data.length / total;
    let off = 0;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as number;
      const n = r * per;
      const data = Array.isArray(t.data) ? t.data.slice(off, off + n) : t.data.subarray(off, off + n);
      (result[i] as Map<string, Tensor>).set(name, { type: t.type, dims: [r, ...t.dims.slice(1)], data });
      off += n;
    }
  }
  return result;
}
