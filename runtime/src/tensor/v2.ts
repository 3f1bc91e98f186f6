/**
 * Open Inference Protocol (V2) request parsing and response encoding, JSON and the binary
 * tensor data extension (Inference-Header-Content-Length).
 */
import { isUtf8 } from 'node:buffer';
import { binaryBytes, decodeBinaryData, decodeJsonData, jsonArray, MAX_NESTING_DEPTH } from './codec.ts';
import type { Tensor } from './datatypes.ts';
import { badRequest } from '../errors.ts';
import { jsonDepth } from './json-depth.ts';
import type { ModelSpec } from './model.ts';
import {
  allOutputs,
  checkShape,
  clip,
  finishInputs,
  inputSpec,
  outputSpec,
  parseShape,
  type InferRequest,
  type RequestedOutput,
} from './request.ts';

const NON_JSON_NUMBER = /(?:^|[[,:]\s*)-?(?:NaN|Infinity)\s*(?:[,\]}]|$)/;

/** JSON.parse with a 400 that says what was wrong. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (NON_JSON_NUMBER.test(text)) {
      throw badRequest('malformed JSON: NaN and Infinity are not JSON numbers, and numeric tensors accept finite numbers only');
    }
    throw badRequest(`malformed JSON: ${(err as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Deepest nesting of a whole request document, checked on the bytes before JSON.parse: a
 * tensor's limit plus the envelope around it.
 */
export const MAX_JSON_DEPTH = MAX_NESTING_DEPTH + 8;

/** JSON text of a request body (RFC 8259: UTF-8); invalid UTF-8 is a 400, not silently replaced. */
export function parseJsonBody(body: Buffer, end = body.length): unknown {
  const bytes = end === body.length ? body : body.subarray(0, end);
  if (!isUtf8(bytes)) throw badRequest('malformed JSON: the body is not valid UTF-8');
  if (jsonDepth(bytes, MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
    throw badRequest(`the JSON body is nested deeper than the limit of ${MAX_JSON_DEPTH} levels`);
  return parseJson(bytes.toString('utf8'));
}

/** An optional boolean parameter: absent -> undefined, anything but true/false -> 400. */
function boolParam(params: Record<string, unknown> | undefined, key: string, where: string): boolean | undefined {
  const v = params?.[key];
  if (v === undefined || typeof v === 'boolean') return v;
  throw badRequest(`${where}: parameter "${key}" must be true or false, got ${JSON.stringify(v)}`);
}

/**
 * Parse a V2 infer body. `headerLength` is the Inference-Header-Content-Length header (raw
 * string) when present: the JSON is body[0, headerLength) and the rest is binary tensor data.
 */
export function parseV2Request(model: ModelSpec, body: Buffer, headerLength: string | undefined): InferRequest {
  let jsonEnd = body.length;
  if (headerLength !== undefined) {
    if (!/^\d+$/.test(headerLength.trim()))
      throw badRequest(`Inference-Header-Content-Length must be a non-negative integer, got "${headerLength}"`);
    jsonEnd = Number(headerLength.trim());
    if (jsonEnd > body.length)
      throw badRequest(`Inference-Header-Content-Length ${headerLength.trim()} is larger than the request body (${body.length} bytes)`);
  }
  const doc = parseJsonBody(body, jsonEnd);
  if (!isObject(doc)) throw badRequest('the request body must be a JSON object with an "inputs" array');
  const { id, inputs, outputs, parameters } = doc;
  if (id !== undefined && typeof id !== 'string') throw badRequest('"id" must be a string');
  if (!Array.isArray(inputs) || inputs.length === 0) throw badRequest('"inputs" must be a non-empty array');
  if (parameters !== undefined && !isObject(parameters)) throw badRequest('"parameters" must be an object');
  const binaryDefault = boolParam(parameters, 'binary_data_output', 'request') ?? false;

  let offset = jsonEnd;
  const tensors = new Map<string, Tensor>();
  for (const input of inputs) {
    if (!isObject(input)) throw badRequest('every element of "inputs" must be an object');
    const spec = inputSpec(model, input['name']);
    if (tensors.has(spec.name)) throw badRequest(`input "${spec.name}" is given more than once`);
    if (typeof input['datatype'] !== 'string')
      throw badRequest(`input "${spec.name}": "datatype" must be a string such as "${spec.datatype}"`);
    if (input['datatype'] !== spec.datatype) {
      throw badRequest(`input "${spec.name}": datatype ${clip(input['datatype'])} does not match the model's ${spec.datatype}`);
    }
    const shape = parseShape(spec.name, input['shape']);
    checkShape(spec, shape);
    const params = input['parameters'];
    if (params !== undefined && !isObject(params)) throw badRequest(`input "${spec.name}": "parameters" must be an object`);
    const binarySize = params?.['binary_data_size'];
    let data;
    if (binarySize !== undefined) {
      if (typeof binarySize !== 'number' || !Number.isSafeInteger(binarySize) || binarySize < 0) {
        throw badRequest(`input "${spec.name}": binary_data_size must be a non-negative integer`);
      }
      if (headerLength === undefined)
        throw badRequest(`input "${spec.name}" has binary_data_size but the request has no Inference-Header-Content-Length header`);
      if (input['data'] !== undefined) throw badRequest(`input "${spec.name}" has both "data" and binary_data_size`);
      if (offset + binarySize > body.length) {
        throw badRequest(
          `input "${spec.name}": binary_data_size ${binarySize} runs past the end of the body (${body.length - offset} bytes of binary data left)`,
        );
      }
      data = decodeBinaryData(spec.name, spec.info, body.subarray(offset, offset + binarySize), shape);
      offset += binarySize;
    } else {
      if (input['data'] === undefined) throw badRequest(`input "${spec.name}" has no "data"`);
      data = decodeJsonData(spec.name, spec.info, input['data'], shape);
    }
    tensors.set(spec.name, { type: spec.info.ort, dims: shape, data });
  }
  if (offset !== body.length) {
    throw badRequest(
      `the body has ${body.length - offset} bytes of binary data that no input's binary_data_size accounts for (Inference-Header-Content-Length ${headerLength ?? 'absent'})`,
    );
  }
  const rows = finishInputs(model, tensors);

  let requested: RequestedOutput[];
  if (outputs === undefined) {
    requested = allOutputs(model, binaryDefault);
  } else {
    if (!Array.isArray(outputs) || outputs.length === 0)
      throw badRequest('"outputs" must be a non-empty array of {"name": ...} (leave it out to get every output)');
    requested = [];
    const seen = new Set<string>();
    for (const o of outputs) {
      if (!isObject(o)) throw badRequest('every element of "outputs" must be an object with a "name"');
      const spec = outputSpec(model, o['name']);
      if (seen.has(spec.name)) throw badRequest(`output "${spec.name}" is requested more than once`);
      seen.add(spec.name);
      const p = o['parameters'];
      if (p !== undefined && !isObject(p)) throw badRequest(`output "${spec.name}": "parameters" must be an object`);
      requested.push({ spec, binary: boolParam(p, 'binary_data', `output "${spec.name}"`) ?? binaryDefault });
    }
  }
  return { id, inputs: tensors, outputs: requested, rows };
}

export interface EncodedResponse {
  body: string | Buffer;
  /** set when binary tensor data follows the JSON header */
  headerLength?: number;
}

/** V2 infer response; outputs marked binary go after the JSON header. */
export function encodeV2Response(model: ModelSpec, req: InferRequest, results: Map<string, Tensor>, prefix: string): EncodedResponse {
  let json = prefix;
  if (req.id !== undefined) json += `,"id":${JSON.stringify(req.id)}`;
  json += ',"outputs":[';
  const binaries: Buffer[] = [];
  for (let i = 0; i < req.outputs.length; i++) {
    const o = req.outputs[i] as RequestedOutput;
    const t = results.get(o.spec.name);
    if (!t) throw new Error(`output ${o.spec.name} missing from the inference result`);
    if (i > 0) json += ',';
    json += `{"name":${JSON.stringify(o.spec.name)},"datatype":"${o.spec.datatype}","shape":[${t.dims.join(',')}]`;
    if (o.binary) {
      const bytes = binaryBytes(t);
      binaries.push(bytes);
      json += `,"parameters":{"binary_data_size":${bytes.length}}}`;
    } else {
      json += `,"data":${jsonArray(t, o.spec.name)}}`;
    }
  }
  json += ']}';
  if (binaries.length === 0) return { body: json };
  const header = Buffer.from(json, 'utf8');
  return { body: Buffer.concat([header, ...binaries]), headerLength: header.length };
}

/** The constant start of every response for this model: {"model_name":..,"model_version":.. */
export function v2ResponsePrefix(model: ModelSpec): string {
  return `{"model_name":${JSON.stringify(model.name)},"model_version":${JSON.stringify(model.version)}`;
}
