// `predict`: the inference request for the runtime (pure). V2 (Open Inference Protocol) by default,
// TF-Serving-style V1 with --v1. --instances rows become a V2 tensor of the model's one input,
// whose name and datatype come from the model's metadata (GET /v2/models/<name>).
import { CliError } from './errors.ts';

export interface ModelMetadata {
  inputs?: Array<{ name: string; datatype: string; shape?: number[] }>;
}

export interface InferenceRequest {
  /** Path on the runtime, e.g. /v2/models/iris/infer. */
  path: string;
  body: string;
}

export const v2InferPath = (model: string) => `/v2/models/${encodeURIComponent(model)}/infer`;
export const v2MetadataPath = (model: string) => `/v2/models/${encodeURIComponent(model)}`;
export const v1PredictPath = (model: string) => `/v1/models/${encodeURIComponent(model)}:predict`;

/** The request file's text, checked to be a JSON object (what both protocols take). */
export function checkRequestBody(text: string, source: string, v1: boolean): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${source} is not JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new CliError(`${source} must hold a JSON object (a ${v1 ? 'V1 {"instances": [...]}' : 'V2 {"inputs": [...]}'} request)`);
  return text;
}

export function requestFromBody(body: string, model: string, v1: boolean): InferenceRequest {
  return { path: v1 ? v1PredictPath(model) : v2InferPath(model), body };
}

export function v1FromInstances(instances: readonly unknown[], model: string): InferenceRequest {
  return { path: v1PredictPath(model), body: JSON.stringify({ instances }) };
}

function shapeOf(value: unknown, where: string): number[] {
  if (!Array.isArray(value)) {
    if (typeof value !== 'number' && typeof value !== 'boolean' && typeof value !== 'string')
      throw new CliError(`--instances: ${where} must be a number, string, boolean or array`);
    return [];
  }
  if (value.length === 0) throw new CliError(`--instances: ${where} is an empty array`);
  const inner = shapeOf(value[0], `${where}[0]`);
  value.forEach((v, i) => {
    if (JSON.stringify(shapeOf(v, `${where}[${i}]`)) !== JSON.stringify(inner))
      throw new CliError(`--instances: ${where}[${i}] has another shape than ${where}[0]`);
  });
  return [value.length, ...inner];
}

/** V2 body for rows of the model's single input: shape [rows, ...row dims], data flattened. */
export function v2FromInstances(instances: readonly unknown[], model: string, metadata: ModelMetadata): InferenceRequest {
  const inputs = metadata.inputs ?? [];
  if (inputs.length !== 1)
    throw new CliError(
      `--instances fills one input, but model ${model} has ${inputs.length} (${inputs.map((i) => i.name).join(', ')}); send a full request with -f`,
    );
  const input = inputs[0] as { name: string; datatype: string };
  const shape = shapeOf(instances, 'instances');
  const data = (instances as unknown[]).flat(Infinity);
  return { path: v2InferPath(model), body: JSON.stringify({ inputs: [{ name: input.name, datatype: input.datatype, shape, data }] }) };
}

/** The runtime's answer for stdout: JSON pretty-printed, anything else as it came. */
export function formatResponse(body: string, contentType: string | undefined): string {
  if (contentType?.includes('json')) {
    try {
      return `${JSON.stringify(JSON.parse(body), null, 2)}\n`;
    } catch {
      // not JSON after all: print as is
    }
  }
  return body.endsWith('\n') ? body : `${body}\n`;
}

/** One line for a non-2xx answer: the runtime's {"error": ...}, else the start of the body. */
export function errorLine(status: number, body: string): string {
  try {
    const e = (JSON.parse(body) as { error?: unknown; message?: unknown }) ?? {};
    if (typeof e.error === 'string') return `HTTP ${status}: ${e.error}`;
    if (typeof e.message === 'string') return `HTTP ${status}: ${e.message}`;
  } catch {
    // not JSON
  }
  return `HTTP ${status}: ${body.replace(/\s+/g, ' ').trim().slice(0, 300)}`;
}
