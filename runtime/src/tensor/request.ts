/**
 * The protocol-independent inference request, and the checks every protocol shares:
 * known names, rank, fixed dimensions, no missing inputs, one batch size across inputs.
 */
import type { Tensor } from './datatypes.ts';
import { badRequest } from '../errors.ts';
import { shapeText, type ModelSpec, type TensorSpec } from './model.ts';

export interface RequestedOutput {
  spec: TensorSpec;
  /** send as binary tensor data (V2 binary extension) */
  binary: boolean;
}

export interface InferRequest {
  id: string | undefined;
  inputs: Map<string, Tensor>;
  outputs: RequestedOutput[];
  /** size of the first (batch) dimension when the model is batchable, else 0 */
  rows: number;
}

/** Most dimensions a request's shape may have (ONNX models in practice have rank <= 8). */
export const MAX_RANK = 64;

/** Client text in an error message, cut short: the message must not grow with the body. */
export function clip(text: string, max = 64): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

export function inputSpec(model: ModelSpec, name: unknown): TensorSpec {
  if (typeof name !== 'string') throw badRequest(`every input needs a "name" string`);
  const spec = model.inputByName.get(name);
  if (!spec)
    throw badRequest(`unknown input "${clip(name)}": model ${model.name} has inputs ${model.inputs.map((i) => `"${i.name}"`).join(', ')}`);
  return spec;
}

export function outputSpec(model: ModelSpec, name: unknown): TensorSpec {
  if (typeof name !== 'string') throw badRequest(`every requested output needs a "name" string`);
  const spec = model.outputByName.get(name);
  if (!spec)
    throw badRequest(
      `unknown output "${clip(name)}": model ${model.name} has outputs ${model.outputs.map((o) => `"${o.name}"`).join(', ')}`,
    );
  return spec;
}

/** Rank and fixed dimensions against the model's metadata. */
export function checkShape(spec: TensorSpec, shape: readonly number[]): void {
  if (shape.length !== spec.shape.length) {
    throw badRequest(
      `input "${spec.name}": shape ${shapeText(shape)} has rank ${shape.length}, the model expects rank ${spec.shape.length} (shape ${shapeText(spec.shape)})`,
    );
  }
  for (let i = 0; i < shape.length; i++) {
    const want = spec.shape[i] as number;
    if (want >= 0 && shape[i] !== want) {
      throw badRequest(`input "${spec.name}": dimension ${i} is ${shape[i]}, the model expects ${want} (shape ${shapeText(spec.shape)})`);
    }
  }
}

/** A V2 `shape`: an array of non-negative integers. */
export function parseShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw badRequest(`input "${name}": "shape" must be an array of non-negative integers`);
  if (shape.length > MAX_RANK)
    throw badRequest(`input "${name}": "shape" has ${shape.length} dimensions, more than the limit of ${MAX_RANK}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw badRequest(`input "${name}": "shape" must be an array of non-negative integers, got ${clip(JSON.stringify(shape), 200)}`);
    }
  }
  return shape as number[];
}

/** All inputs present; for batchable models, the batch size every input agrees on. */
export function finishInputs(model: ModelSpec, inputs: Map<string, Tensor>): number {
  for (const spec of model.inputs) {
    if (!inputs.has(spec.name)) {
      throw badRequest(
        `missing input "${spec.name}": model ${model.name} expects inputs ${model.inputs.map((i) => `"${i.name}"`).join(', ')}`,
      );
    }
  }
  if (!model.batchable) return 0;
  let rows = -1;
  let first = '';
  for (const [name, t] of inputs) {
    const r = t.dims[0] as number;
    if (rows === -1) {
      rows = r;
      first = name;
    } else if (r !== rows) {
      throw badRequest(`inputs disagree on the batch dimension: "${first}" has ${rows} rows, "${name}" has ${r}`);
    }
  }
  return rows;
}

export function allOutputs(model: ModelSpec, binary: boolean): RequestedOutput[] {
  return model.outputs.map((spec) => ({ spec, binary }));
}
