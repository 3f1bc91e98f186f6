/**
 * OpenAPI 3.1 description of the runtime's HTTP API, served at GET /openapi.json.
 * Once the model is loaded the inference request bodies are described from its metadata (input
 * names, datatypes, ranks and fixed dimensions, element ranges), so a generator driven by this
 * document (schemathesis in test/fuzz) builds requests that reach the deep validation paths
 * instead of stopping at "unknown input".
 */
import { ENV, HTTP_PATH, PIN_HEADER, VERSION_MAX_LENGTH, VERSION_PATTERN } from '../../../contract/runtime-contract.ts';
import { V2_DATATYPES } from '../tensor/datatypes.ts';
import { v2Metadata, type ModelSpec, type TensorSpec } from '../tensor/model.ts';
import { REQUEST_ID_HEADER, REQUEST_ID_MAX_LENGTH, TRACEPARENT_HEADER } from './request-id.ts';

type Schema = Record<string, unknown>;

/** Largest finite float32: an FP32 element beyond it cannot be represented. */
const FP32_MAX = 3.4028234663852886e38;

/** JSON schema of one element of a tensor of this datatype, as the JSON codecs accept it. */
export function elementSchema(spec: TensorSpec): Schema {
  const { info } = spec;
  switch (info.kind) {
    case 'bool':
      return { enum: [true, false, 0, 1] };
    case 'string':
      return { type: 'string' };
    case 'int':
    case 'bigint':
      return { type: 'integer', minimum: info.min, maximum: info.max };
    case 'fp16':
      return { type: 'number', minimum: info.min, maximum: info.max };
    case 'float':
      return spec.datatype === 'FP32' ? { type: 'number', minimum: -FP32_MAX, maximum: FP32_MAX } : { type: 'number' };
  }
}

/** Nested arrays following `dims` (-1: any length), elements at the leaves. */
function nestedSchema(dims: readonly number[], element: Schema): Schema {
  if (dims.length === 0) return element;
  const [d, ...rest] = dims as [number, ...number[]];
  const arr: Schema = { type: 'array', items: nestedSchema(rest, element) };
  if (d >= 0) Object.assign(arr, { minItems: d, maxItems: d });
  return arr;
}

/** A V2 `shape` for this input: its rank, with the model's fixed dimensions. */
function shapeSchema(spec: TensorSpec): Schema {
  return {
    type: 'array',
    minItems: spec.shape.length,
    maxItems: spec.shape.length,
    prefixItems: spec.shape.map((d) => (d >= 0 ? { type: 'integer', const: d } : { type: 'integer', minimum: 0 })),
    items: false,
  };
}

/** A shape as the model declares it: -1 for a dimension of any size. */
const shapeLabel = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** How one input or output is described to a reader: datatype and declared shape. */
const tensorSummary = (spec: TensorSpec): string =>
  `datatype ${spec.datatype}, shape ${shapeLabel(spec.shape)}${spec.shape.includes(-1) ? ' (-1: any size)' : ''}`;

/** A shape the model accepts, with 1 for every dynamic dimension. */
const exampleShape = (spec: TensorSpec): number[] => spec.shape.map((d) => (d >= 0 ? d : 1));

function exampleElement(spec: TensorSpec): unknown {
  switch (spec.info.kind) {
    case 'bool':
      return true;
    case 'string':
      return 'modelship';
    case 'int':
    case 'bigint':
      return 1;
    default:
      return 0.5;
  }
}

function exampleData(spec: TensorSpec): unknown[] {
  const n = exampleShape(spec).reduce((a, b) => a * b, 1);
  return new Array<unknown>(n).fill(exampleElement(spec));
}

function exampleNested(dims: readonly number[], spec: TensorSpec): unknown {
  if (dims.length === 0) return exampleElement(spec);
  const [d, ...rest] = dims as [number, ...number[]];
  return Array.from({ length: d }, () => exampleNested(rest, spec));
}

/** V2 `inputs[]` element for one of the model's inputs (JSON `data`, or binary_data_size). */
function v2InputSchema(spec: TensorSpec): Schema {
  const element = elementSchema(spec);
  return {
    type: 'object',
    title: `input ${spec.name}`,
    description: `model input "${spec.name}": ${tensorSummary(spec)}`,
    required: ['name', 'shape', 'datatype'],
    properties: {
      name: { type: 'string', const: spec.name },
      datatype: { type: 'string', const: spec.datatype },
      shape: shapeSchema(spec),
      parameters: { type: 'object', properties: { binary_data_size: { type: 'integer', minimum: 0 } } },
      data: {
        description: 'row-major, flat or nested; product(shape) elements; absent when binary_data_size is set',
        anyOf: [{ type: 'array', items: element }, nestedSchema(spec.shape, element)],
      },
    },
  };
}

/**
 * An `outputs[]` element of a V2 answer for one of the model's outputs. The shape is not
 * constrained: a model may leave an output's rank undeclared.
 */
function v2OutputSchema(spec: TensorSpec): Schema {
  return {
    type: 'object',
    title: `output ${spec.name}`,
    description: `model output "${spec.name}": ${tensorSummary(spec)}`,
    required: ['name', 'shape', 'datatype'],
    properties: {
      name: { type: 'string', const: spec.name },
      datatype: { type: 'string', const: spec.datatype },
      shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
      parameters: { type: 'object' },
      data: { type: 'array', items: {} },
    },
  };
}

/** The markdown table of the model's inputs and outputs at the top of the document (and of /docs). */
function tensorTable(model: ModelSpec): string {
  const row = (kind: string, t: TensorSpec) => `| ${kind} | \`${t.name}\` | ${t.datatype} | \`${shapeLabel(t.shape)}\` |`;
  return [
    `Model "${model.name}", version "${model.version}" (-1 in a shape: any size):`,
    '',
    '| | name | datatype | shape |',
    '| --- | --- | --- | --- |',
    ...model.inputs.map((t) => row('input', t)),
    ...model.outputs.map((t) => row('output', t)),
  ].join('\n');
}

function v2Schemas(model: ModelSpec | undefined): Record<string, Schema> {
  const genericInput: Schema = {
    type: 'object',
    required: ['name', 'shape', 'datatype'],
    properties: {
      name: { type: 'string' },
      shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
      datatype: { type: 'string', enum: V2_DATATYPES },
      parameters: { type: 'object', properties: { binary_data_size: { type: 'integer', minimum: 0 } } },
      data: { description: 'flat or nested array, row-major; absent when binary_data_size is set', type: 'array' },
    },
  };
  const outputName = model ? { type: 'string', enum: model.outputs.map((o) => o.name) } : { type: 'string' };
  return {
    RequestInput: model ? { oneOf: model.inputs.map(v2InputSchema) } : genericInput,
    RequestOutput: {
      type: 'object',
      required: ['name'],
      properties: { name: outputName, parameters: { type: 'object', properties: { binary_data: { type: 'boolean' } } } },
    },
    InferenceRequest: {
      type: 'object',
      required: ['inputs'],
      properties: {
        id: { type: 'string' },
        parameters: { type: 'object', properties: { binary_data_output: { type: 'boolean' } } },
        inputs: {
          type: 'array',
          minItems: 1,
          ...(model ? { maxItems: model.inputs.length } : {}),
          items: { $ref: '#/components/schemas/RequestInput' },
        },
        outputs: { type: 'array', items: { $ref: '#/components/schemas/RequestOutput' } },
      },
    },
  };
}

/** TF-Serving :predict body: row-format `instances` or columnar `inputs`, from the model's inputs. */
function predictSchema(model: ModelSpec | undefined): Schema {
  if (!model) {
    return { type: 'object', properties: { signature_name: { type: 'string' }, instances: { type: 'array', minItems: 1 }, inputs: {} } };
  }
  const single = model.inputs.length === 1 ? (model.inputs[0] as TensorSpec) : undefined;
  const row = (t: TensorSpec) => nestedSchema(t.shape.slice(1), elementSchema(t));
  const byName = (f: (t: TensorSpec) => Schema): Schema => ({
    type: 'object',
    required: model.inputs.map((t) => t.name),
    properties: Object.fromEntries(model.inputs.map((t) => [t.name, f(t)])),
  });
  const instances = { type: 'array', minItems: 1, items: single ? row(single) : byName(row) };
  const columns = single ? nestedSchema(single.shape, elementSchema(single)) : byName((t) => nestedSchema(t.shape, elementSchema(t)));
  return {
    oneOf: [
      { type: 'object', title: 'row format', required: ['instances'], properties: { signature_name: { type: 'string' }, instances } },
      {
        type: 'object',
        title: 'columnar format',
        required: ['inputs'],
        properties: { signature_name: { type: 'string' }, inputs: columns },
      },
    ],
  };
}

function inferExample(model: ModelSpec): Schema {
  return { inputs: model.inputs.map((t) => ({ name: t.name, shape: exampleShape(t), datatype: t.datatype, data: exampleData(t) })) };
}

/**
 * A :predict body the model accepts: as many rows as a fixed first dimension asks for (1 when it
 * is dynamic); columnar when the inputs disagree on that count or one has no rows (rank 0).
 */
function predictExample(model: ModelSpec): Schema {
  const single = model.inputs.length === 1 ? (model.inputs[0] as TensorSpec) : undefined;
  const rowCounts = new Set(model.inputs.map((t) => (t.shape.length === 0 ? undefined : exampleShape(t)[0])));
  const [rows] = rowCounts;
  if (rowCounts.size !== 1 || rows === undefined) {
    const column = (t: TensorSpec) => exampleNested(exampleShape(t), t);
    return { inputs: single ? column(single) : Object.fromEntries(model.inputs.map((t) => [t.name, column(t)])) };
  }
  const row = (t: TensorSpec) => exampleNested(exampleShape(t).slice(1), t);
  const instance = () => (single ? row(single) : Object.fromEntries(model.inputs.map((t) => [t.name, row(t)])));
  return { instances: Array.from({ length: rows }, instance) };
}

/**
 * @param model the loaded model (undefined while loading: the bodies are then described generically)
 */
export function openApiDocument(modelName: string, serverVersion: string, model?: ModelSpec): object {
  return withRequestIdentity(describe(modelName, serverVersion, model));
}

const REQUEST_ID_PARAM = {
  name: REQUEST_ID_HEADER,
  in: 'header',
  required: false,
  description:
    `the caller's request id, echoed back and written to the logs when it is 1-${REQUEST_ID_MAX_LENGTH} printable characters ` +
    'without spaces; otherwise (or when absent) the server makes a UUID',
  schema: { type: 'string', minLength: 1, maxLength: REQUEST_ID_MAX_LENGTH, pattern: '^[\\x21-\\x7e]+$' },
};
const TRACEPARENT_PARAM = {
  name: TRACEPARENT_HEADER,
  in: 'header',
  required: false,
  description: 'W3C Trace Context: a valid traceparent is echoed, logged and carried through forwards; an invalid one is ignored',
  schema: { type: 'string', maxLength: 512 },
};
const RESPONSE_HEADERS = {
  [REQUEST_ID_HEADER]: {
    description: "the request id of this answer (the caller's when sane, else one made by the server)",
    schema: { type: 'string', minLength: 1, maxLength: REQUEST_ID_MAX_LENGTH },
  },
  [TRACEPARENT_HEADER]: { description: "the caller's traceparent, when it was valid", schema: { type: 'string' } },
};

type Operation = { parameters?: object[]; responses?: Record<string, { description: string; headers?: Record<string, object> }> };

/** Every answer carries x-request-id (and echoes a valid traceparent): declared once, on every operation. */
function withRequestIdentity<D extends { components: object; paths: Record<string, Record<string, Operation>> }>(doc: D): D {
  const ref = (kind: string, name: string) => ({ $ref: `#/components/${kind}/${name}` });
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item)) {
      op.parameters = [...(op.parameters ?? []), ref('parameters', 'RequestId'), ref('parameters', 'Traceparent')];
      for (const response of Object.values(op.responses ?? {})) {
        response.headers = {
          ...response.headers,
          [REQUEST_ID_HEADER]: ref('headers', 'RequestId'),
          [TRACEPARENT_HEADER]: ref('headers', 'Traceparent'),
        };
      }
    }
  }
  Object.assign(doc.components, {
    parameters: { RequestId: REQUEST_ID_PARAM, Traceparent: TRACEPARENT_PARAM },
    headers: { RequestId: RESPONSE_HEADERS[REQUEST_ID_HEADER], Traceparent: RESPONSE_HEADERS[TRACEPARENT_HEADER] },
  });
  return doc;
}

function describe(modelName: string, serverVersion: string, model?: ModelSpec) {
  const error = { $ref: '#/components/schemas/Error' };
  const err = (description: string) => ({ description, content: { 'application/json': { schema: error } } });
  const json = (schema: object, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
  const modelParam = {
    name: 'model',
    in: 'path',
    required: true,
    description: `the served model's name ("${modelName}"); any other name answers 404`,
    schema: { type: 'string', example: modelName },
  };
  const versionParam = {
    name: 'version',
    in: 'path',
    required: true,
    description: model
      ? `the served version ("${model.version}"); on the inference routes also a version this server forwards to (A/B pinning, ${ENV.versionRoutes}); any other answers 404`
      : 'the served version',
    schema: model ? { type: 'string', example: model.version } : { type: 'string' },
  };
  const params = (withVersion: boolean) => (withVersion ? [modelParam, versionParam] : [modelParam]);
  const pinParam = {
    name: PIN_HEADER.version,
    in: 'header',
    required: false,
    description:
      'A/B pinning: answer with exactly this model version. The own version is served here; another one listed in ' +
      `${ENV.versionRoutes} is forwarded once to its pods; any other answers 404 listing the served versions`,
    schema: { type: 'string', minLength: 1, maxLength: VERSION_MAX_LENGTH, pattern: VERSION_PATTERN.source },
  };
  const secured = [{ bearer: [] }, { apiKey: [] }, {}];
  /** the error answers every route with a model in its path can give */
  const modelErrors = {
    400: err('Malformed path (e.g. a bad percent-escape)'),
    401: err('Missing or invalid API key'),
    404: err('Unknown model or version'),
    503: err('Model not loaded or server shutting down'),
  };
  const inferErrors = {
    ...modelErrors,
    400: err('Invalid request: JSON, names, datatype, shape, data, binary extension sizes'),
    413: err('Body over the size limit'),
    429: err('Inference queue full'),
    503: err('Model not ready, server shutting down, or over its memory budget (with Retry-After)'),
    504: err('Inference timed out'),
    421: err('Pinned to another version by a request that was already forwarded once'),
    502: err('Pinned to another version whose pods broke off the forwarded request'),
  };
  const binaryHeader = {
    'Inference-Header-Content-Length': {
      description: 'present when binary outputs follow the JSON header: the JSON header length in bytes',
      schema: { type: 'integer', minimum: 0 },
    },
  };
  const inferOp = (withVersion: boolean) => ({
    summary: 'Run inference (Open Inference Protocol V2; JSON or binary tensor data extension)',
    security: secured,
    parameters: [
      ...params(withVersion),
      pinParam,
      {
        name: 'Inference-Header-Content-Length',
        in: 'header',
        required: false,
        schema: { type: 'integer', minimum: 0 },
        description:
          'Binary tensor extension: length of the JSON header (an InferenceRequest); the raw tensor bytes of every input with ' +
          'parameters.binary_data_size follow it, in input order',
      },
    ],
    requestBody: {
      required: true,
      content: {
        'application/json': {
          schema: { $ref: '#/components/schemas/InferenceRequest' },
          ...(model ? { example: inferExample(model) } : {}),
        },
        'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
      },
    },
    responses: {
      200: {
        description: 'Inference result (binary outputs after the JSON header when requested)',
        headers: binaryHeader,
        content: {
          'application/json': { schema: { $ref: '#/components/schemas/InferenceResponse' } },
          'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
        },
      },
      ...inferErrors,
    },
  });
  const predictOp = (withVersion: boolean) => ({
    summary: 'TF-Serving style predict (row "instances" or columnar "inputs")',
    security: secured,
    parameters: [...params(withVersion), pinParam],
    requestBody: {
      required: true,
      content: {
        'application/json': {
          schema: { $ref: '#/components/schemas/PredictRequest' },
          ...(model ? { example: predictExample(model) } : {}),
        },
      },
    },
    responses: { 200: json({ $ref: '#/components/schemas/PredictResponse' }), ...inferErrors },
  });
  const metadataTensor = {
    type: 'object',
    required: ['name', 'datatype', 'shape'],
    properties: {
      name: { type: 'string' },
      datatype: { type: 'string', enum: V2_DATATYPES },
      shape: { type: 'array', items: { type: 'integer' } },
      parameters: {
        type: 'object',
        description: 'class_labels: the class of each column of a classifier probability output whose ZipMap the runtime removed',
        properties: { class_labels: { type: 'array', items: { type: ['string', 'integer'] } } },
      },
    },
  };
  const metadataExample = model ? { example: v2Metadata(model) } : {};
  const modelMetadata = {
    type: 'object',
    required: ['name', 'versions', 'platform', 'inputs', 'outputs'],
    ...metadataExample,
    properties: {
      name: { type: 'string' },
      versions: { type: 'array', items: { type: 'string' } },
      platform: { type: 'string' },
      inputs: { type: 'array', items: { $ref: '#/components/schemas/MetadataTensor' } },
      outputs: { type: 'array', items: { $ref: '#/components/schemas/MetadataTensor' } },
    },
  };
  const v1Status = { type: 'object', required: ['model_version_status'], properties: { model_version_status: { type: 'array' } } };
  const readyBody = { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Modelship inference runtime',
      version: serverVersion,
      description:
        `Serves one ONNX model ("${modelName}") over the Open Inference Protocol (V2) REST and TF-Serving style REST. ` +
        'Every 4xx and 503 answer is JSON `{"error": "<what was wrong>"}`.' +
        (model
          ? `\n\n${tensorTable(model)}`
          : '\n\nThe model is not loaded yet, or this server needs an API key to describe it (Authorize, or send the key with this request).'),
    },
    // relative to this document: requests go where it was loaded from, also behind a path prefix (a proxy)
    servers: [{ url: '.', description: 'this runtime (relative to /openapi.json)' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      schemas: {
        Error: { type: 'object', required: ['error'], properties: { error: { type: 'string', minLength: 1 } } },
        MetadataTensor: metadataTensor,
        ...v2Schemas(model),
        ResponseOutput: model
          ? { oneOf: model.outputs.map(v2OutputSchema) }
          : {
              type: 'object',
              required: ['name', 'shape', 'datatype'],
              properties: {
                name: { type: 'string' },
                shape: { type: 'array', items: { type: 'integer' } },
                datatype: { type: 'string' },
                parameters: { type: 'object' },
                data: { type: 'array', items: {} },
              },
            },
        InferenceResponse: {
          type: 'object',
          required: ['model_name', 'outputs'],
          properties: {
            model_name: { type: 'string' },
            model_version: { type: 'string' },
            id: { type: 'string' },
            outputs: { type: 'array', items: { $ref: '#/components/schemas/ResponseOutput' } },
          },
        },
        PredictRequest: predictSchema(model),
        PredictResponse: { type: 'object', properties: { predictions: { type: 'array', items: {} }, outputs: {} } },
      },
    },
    paths: {
      [HTTP_PATH.live]: {
        get: { summary: 'Server live', responses: { 200: json({ type: 'object', properties: { live: { type: 'boolean' } } }) } },
      },
      [HTTP_PATH.ready]: {
        get: {
          summary: 'Server ready (model loaded and warmed up, workers live, not shutting down)',
          responses: { 200: json({ type: 'object', properties: { ready: { type: 'boolean' } } }), 503: err('Not ready') },
        },
      },
      '/v2': {
        get: {
          summary: 'Server metadata',
          security: secured,
          responses: {
            200: json({
              type: 'object',
              properties: {
                name: { type: 'string' },
                version: { type: 'string' },
                extensions: { type: 'array', items: { type: 'string' } },
              },
            }),
            401: err('Missing or invalid API key'),
          },
        },
      },
      '/v2/models/{model}': {
        get: {
          summary: 'Model metadata',
          security: secured,
          parameters: params(false),
          responses: { 200: json(modelMetadata), ...modelErrors },
        },
      },
      '/v2/models/{model}/versions/{version}': {
        get: {
          summary: 'Model metadata (version)',
          security: secured,
          parameters: params(true),
          responses: { 200: json(modelMetadata), ...modelErrors },
        },
      },
      '/v2/models/{model}/ready': {
        get: { summary: 'Model ready', security: secured, parameters: params(false), responses: { 200: json(readyBody), ...modelErrors } },
      },
      '/v2/models/{model}/versions/{version}/ready': {
        get: {
          summary: 'Model version ready',
          security: secured,
          parameters: params(true),
          responses: { 200: json(readyBody), ...modelErrors },
        },
      },
      '/v2/models/{model}/infer': { post: inferOp(false) },
      '/v2/models/{model}/versions/{version}/infer': { post: inferOp(true) },
      '/v1/models/{model}': {
        get: {
          summary: 'TF-Serving model status',
          security: secured,
          parameters: params(false),
          responses: { 200: json(v1Status), ...modelErrors },
        },
      },
      '/v1/models/{model}/versions/{version}': {
        get: {
          summary: 'TF-Serving model status (version)',
          security: secured,
          parameters: params(true),
          responses: { 200: json(v1Status), ...modelErrors },
        },
      },
      '/v1/models/{model}/metadata': {
        get: {
          summary: 'TF-Serving style model metadata',
          security: secured,
          parameters: params(false),
          responses: { 200: json({ type: 'object' }), ...modelErrors },
        },
      },
      '/v1/models/{model}:predict': { post: predictOp(false) },
      '/v1/models/{model}/versions/{version}:predict': { post: predictOp(true) },
      [HTTP_PATH.metrics]: {
        get: {
          summary: 'Prometheus metrics',
          responses: { 200: { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
      '/openapi.json': {
        get: {
          summary: 'This document (with an API key on: the model is described only to a request carrying the key)',
          responses: { 200: json({ type: 'object' }), 401: err('Invalid API key') },
        },
      },
      '/docs': {
        get: {
          summary: 'Swagger UI of this document',
          responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
        },
      },
    },
  };
}
