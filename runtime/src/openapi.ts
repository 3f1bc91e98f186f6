/** OpenAPI 3.0 description of the runtime's HTTP API, served at GET /openapi.json. */
import { V2_DATATYPES } from './datatypes.ts';

export function openApiDocument(modelName: string, serverVersion: string): object {
  const error = { $ref: '#/components/schemas/Error' };
  const err = (description: string) => ({ description, content: { 'application/json': { schema: error } } });
  const json = (schema: object, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
  const model = { name: 'model', in: 'path', required: true, schema: { type: 'string', example: modelName } };
  const version = { name: 'version', in: 'path', required: true, schema: { type: 'string' } };
  const secured = [{ bearer: [] }, { apiKey: [] }, {}];
  const inferOp = (withVersion: boolean) => ({
    summary: 'Run inference (Open Inference Protocol V2; JSON or binary tensor data extension)',
    security: secured,
    parameters: [
      model,
      ...(withVersion ? [version] : []),
      {
        name: 'Inference-Header-Content-Length',
        in: 'header',
        required: false,
        schema: { type: 'integer' },
        description: 'Binary tensor extension: length of the JSON header; raw tensor bytes follow it',
      },
    ],
    requestBody: {
      required: true,
      content: {
        'application/json': { schema: { $ref: '#/components/schemas/InferenceRequest' } },
        'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
      },
    },
    responses: {
      200: {
        description: 'Inference result',
        content: {
          'application/json': { schema: { $ref: '#/components/schemas/InferenceResponse' } },
          'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
        },
      },
      400: err('Invalid request (JSON, names, datatype, shape, data)'),
      401: err('Missing or invalid API key'),
      404: err('Unknown model or version'),
      413: err('Body over the size limit'),
      429: err('Inference queue full'),
      503: err('Model not ready'),
      504: err('Request timed out'),
    },
  });
  const predictOp = (withVersion: boolean) => ({
    summary: 'TF-Serving style predict (row "instances" or columnar "inputs")',
    security: secured,
    parameters: [model, ...(withVersion ? [version] : [])],
    requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/PredictRequest' } } } },
    responses: {
      200: json({ $ref: '#/components/schemas/PredictResponse' }),
      400: err('Invalid request'),
      401: err('API key'),
      404: err('Unknown model or version'),
      413: err('Too large'),
      429: err('Queue full'),
      503: err('Not ready'),
      504: err('Timed out'),
    },
  });
  const metadataTensor = {
    type: 'object',
    required: ['name', 'datatype', 'shape'],
    properties: {
      name: { type: 'string' },
      datatype: { type: 'string', enum: V2_DATATYPES },
      shape: { type: 'array', items: { type: 'integer' } },
    },
  };
  return {
    openapi: '3.0.3',
    info: {
      title: 'Modelship inference runtime',
      version: serverVersion,
      description: `Serves one ONNX model ("${modelName}") over the Open Inference Protocol (V2) REST and TF-Serving style REST.`,
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      schemas: {
        Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
        MetadataTensor: metadataTensor,
        RequestInput: {
          type: 'object',
          required: ['name', 'shape', 'datatype'],
          properties: {
            name: { type: 'string' },
            shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
            datatype: { type: 'string', enum: V2_DATATYPES },
            parameters: { type: 'object', properties: { binary_data_size: { type: 'integer' } } },
            data: { description: 'flat or nested array, row-major; absent when binary_data_size is set' },
          },
        },
        RequestOutput: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, parameters: { type: 'object', properties: { binary_data: { type: 'boolean' } } } },
        },
        InferenceRequest: {
          type: 'object',
          required: ['inputs'],
          properties: {
            id: { type: 'string' },
            parameters: { type: 'object', properties: { binary_data_output: { type: 'boolean' } } },
            inputs: { type: 'array', items: { $ref: '#/components/schemas/RequestInput' } },
            outputs: { type: 'array', items: { $ref: '#/components/schemas/RequestOutput' } },
          },
        },
        ResponseOutput: {
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
        PredictRequest: {
          type: 'object',
          properties: { signature_name: { type: 'string' }, instances: { type: 'array', items: {} }, inputs: {} },
        },
        PredictResponse: { type: 'object', properties: { predictions: { type: 'array', items: {} }, outputs: {} } },
      },
    },
    paths: {
      '/v2/health/live': {
        get: { summary: 'Server live', responses: { 200: json({ type: 'object', properties: { live: { type: 'boolean' } } }) } },
      },
      '/v2/health/ready': {
        get: {
          summary: 'Server ready (model loaded and warmed up, not shutting down)',
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
            401: err('API key'),
          },
        },
      },
      '/v2/models/{model}': {
        get: {
          summary: 'Model metadata',
          security: secured,
          parameters: [model],
          responses: { 200: json({ type: 'object' }), 401: err('API key'), 404: err('Unknown model'), 503: err('Not loaded') },
        },
      },
      '/v2/models/{model}/versions/{version}': {
        get: {
          summary: 'Model metadata (version)',
          security: secured,
          parameters: [model, version],
          responses: { 200: json({ type: 'object' }), 401: err('API key'), 404: err('Unknown model or version'), 503: err('Not loaded') },
        },
      },
      '/v2/models/{model}/ready': {
        get: {
          summary: 'Model ready',
          security: secured,
          parameters: [model],
          responses: {
            200: json({ type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } }),
            401: err('API key'),
            404: err('Unknown model'),
            503: err('Not ready'),
          },
        },
      },
      '/v2/models/{model}/versions/{version}/ready': {
        get: {
          summary: 'Model version ready',
          security: secured,
          parameters: [model, version],
          responses: { 200: json({ type: 'object' }), 401: err('API key'), 404: err('Unknown'), 503: err('Not ready') },
        },
      },
      '/v2/models/{model}/infer': { post: inferOp(false) },
      '/v2/models/{model}/versions/{version}/infer': { post: inferOp(true) },
      '/v1/models/{model}': {
        get: {
          summary: 'TF-Serving model status',
          security: secured,
          parameters: [model],
          responses: { 200: json({ type: 'object' }), 401: err('API key'), 404: err('Unknown model') },
        },
      },
      '/v1/models/{model}/versions/{version}': {
        get: {
          summary: 'TF-Serving model status (version)',
          security: secured,
          parameters: [model, version],
          responses: { 200: json({ type: 'object' }), 401: err('API key'), 404: err('Unknown') },
        },
      },
      '/v1/models/{model}/metadata': {
        get: {
          summary: 'TF-Serving style model metadata',
          security: secured,
          parameters: [model],
          responses: { 200: json({ type: 'object' }), 401: err('API key'), 404: err('Unknown'), 503: err('Not loaded') },
        },
      },
      '/v1/models/{model}:predict': { post: predictOp(false) },
      '/v1/models/{model}/versions/{version}:predict': { post: predictOp(true) },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          responses: { 200: { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
      '/openapi.json': { get: { summary: 'This document', responses: { 200: json({ type: 'object' }) } } },
    },
  };
}
