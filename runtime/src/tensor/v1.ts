/**
 * TF-Serving style REST (KServe "V1"): `:predict` with row-format `instances` or columnar
 * `inputs`; responses `{"predictions": ...}` / `{"outputs": ...}`.
 */
import { decodeNested, jsonNested, product } from './codec.ts';
import type { Tensor } from './datatypes.ts';
import { badRequest, HttpError } from '../errors.ts';
import type { ModelSpec } from './model.ts';
import { allOutputs, checkShape, clip, finishInputs, inputSpec, type InferRequest } from './request.ts';
import { parseJsonBody } from './v2.ts';

export type V1Format = 'instances' | 'inputs';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseV1Request(model: ModelSpec, body: Buffer): { req: InferRequest; format: V1Format } {
  const doc = parseJsonBody(body);
  if (!isObject(doc)) throw badRequest('the request body must be a JSON object with "instances" or "inputs"');
  const hasInstances = doc['instances'] !== undefined;
  const hasInputs = doc['inputs'] !== undefined;
  if (hasInstances && hasInputs) throw badRequest('use either "instances" (row format) or "inputs" (columnar format), not both');
  if (!hasInstances && !hasInputs) throw badRequest('the request needs "instances" (row format) or "inputs" (columnar format)');
  const tensors = new Map<string, Tensor>();
  const add = (name: string, value: unknown) => {
    const spec = inputSpec(model, name);
    const { dims, data } = decodeNested(spec.name, spec.info, value);
    checkShape(spec, dims);
    tensors.set(spec.name, { type: spec.info.ort, dims, data });
  };
  let format: V1Format;
  if (hasInstances) {
    format = 'instances';
    const instances = doc['instances'];
    if (!Array.isArray(instances) || instances.length === 0) throw badRequest('"instances" must be a non-empty array (one entry per row)');
    if (instances.every(isObject)) {
      const names = new Set<string>();
      for (const inst of instances as Record<string, unknown>[]) for (const k of Object.keys(inst)) names.add(k);
      for (const name of names) {
        inputSpec(model, name);
        const column = (instances as Record<string, unknown>[]).map((inst, i) => {
          if (!Object.hasOwn(inst, name))
            throw badRequest(`instance ${i} has no input "${clip(name)}" (every instance needs the same named inputs)`);
          return inst[name];
        });
        add(name, column);
      }
    } else if (model.inputs.length === 1) {
      add((model.inputs[0] as { name: string }).name, instances);
    } else {
      throw badRequest(
        `model ${model.name} has ${model.inputs.length} inputs: each instance must be an object {${model.inputs.map((i) => `"${i.name}": ...`).join(', ')}}`,
      );
    }
  } else {
    format = 'inputs';
    const inputs = doc['inputs'];
    if (isObject(inputs)) {
      for (const [name, value] of Object.entries(inputs)) add(name, value);
    } else if (model.inputs.length === 1) {
      add((model.inputs[0] as { name: string }).name, inputs);
    } else {
      throw badRequest(`model ${model.name} has ${model.inputs.length} inputs: "inputs" must be an object {name: tensor}`);
    }
  }
  const rows = finishInputs(model, tensors);
  return { req: { id: undefined, inputs: tensors, outputs: allOutputs(model, false), rows }, format };
}

export function encodeV1Response(format: V1Format, model: ModelSpec, req: InferRequest, results: Map<string, Tensor>): string {
  const outs = req.outputs.map((o) => {
    const t = results.get(o.spec.name);
    if (!t) throw new Error(`output ${o.spec.name} missing from the inference result`);
    return { name: o.spec.name, t };
  });
  if (format === 'inputs') {
    if (outs.length === 1)
      return `{"outputs":${jsonNested((outs[0] as { t: Tensor }).t, model.outputs[0]?.name ?? '', (outs[0] as { t: Tensor }).t.dims, 0)}}`;
    return `{"outputs":{${outs.map((o) => `${JSON.stringify(o.name)}:${jsonNested(o.t, o.name, o.t.dims, 0)}`).join(',')}}}`;
  }
  const first = req.inputs.values().next().value as Tensor;
  const n = first.dims[0] ?? 1;
  for (const o of outs) {
    if (o.t.dims[0] !== n) {
      throw new HttpError(
        400,
        `output "${o.name}" has shape [${o.t.dims.join(',')}], not one row per instance (${n}): use "inputs" for this model`,
      );
    }
  }
  const rows = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    if (outs.length === 1) {
      const o = outs[0] as { name: string; t: Tensor };
      const rowDims = o.t.dims.slice(1);
      rows[i] = jsonNested(o.t, o.name, rowDims, i * product(rowDims));
    } else {
      rows[i] = `{${outs
        .map((o) => {
          const rowDims = o.t.dims.slice(1);
          return `${JSON.stringify(o.name)}:${jsonNested(o.t, o.name, rowDims, i * product(rowDims))}`;
        })
        .join(',')}}`;
    }
  }
  return `{"predictions":[${rows.join(',')}]}`;
}
