import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpError } from '../../runtime/src/errors.ts';
import { buildModelSpec, v2Metadata } from '../../runtime/src/tensor/model.ts';
import { malformedSegment, matchInference } from '../../runtime/src/http/routes.ts';
import { encodeV1Response, parseV1Request } from '../../runtime/src/tensor/v1.ts';
import { encodeV2Response, parseV2Request, v2ResponsePrefix } from '../../runtime/src/tensor/v2.ts';

const iris = buildModelSpec(
  'iris',
  '3',
  [{ name: 'input', isTensor: true, type: 'float32', shape: ['', 4] }],
  [
    { name: 'label', isTensor: true, type: 'int64', shape: ['batch'] },
    { name: 'probabilities', isTensor: true, type: 'float32', shape: ['', 3] },
  ],
);
const two = buildModelSpec(
  'two',
  '1',
  [
    { name: 'a', isTensor: true, type: 'float32', shape: ['', 2] },
    { name: 'b', isTensor: true, type: 'int64', shape: ['', 1] },
  ],
  [{ name: 'y', isTensor: true, type: 'float32', shape: ['', 1] }],
);

const j = (v: unknown) => Buffer.from(JSON.stringify(v));
function err(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof HttpError);
    assert.equal(e.status, 400);
    return e.message;
  }
  assert.fail('expected a 400');
}

test('model metadata: symbolic dims -> -1, batchable, ZipMap refused', () => {
  assert.deepEqual(v2Metadata(iris), {
    name: 'iris',
    versions: ['3'],
    platform: 'onnx_onnxv1',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [
      { name: 'label', datatype: 'INT64', shape: [-1] },
      { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
    ],
  });
  assert.equal(iris.batchable, true);
  const fixed = buildModelSpec(
    'f',
    '1',
    [{ name: 'm', isTensor: true, type: 'float32', shape: [3, 4] }],
    [{ name: 'o', isTensor: true, type: 'float32', shape: [3, 4] }],
  );
  assert.equal(fixed.batchable, false);
  assert.throws(
    () => buildModelSpec('z', '1', [{ name: 'x', isTensor: true, type: 'float32', shape: [1] }], [{ name: 'zip', isTensor: false }]),
    /output "zip" is not a tensor .*zipmap/,
  );
});

test('V2 request: flat data, outputs selection with binary flags', () => {
  const r = parseV2Request(
    iris,
    j({
      id: 'a',
      inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] }],
      outputs: [{ name: 'label', parameters: { binary_data: true } }],
    }),
    undefined,
  );
  assert.equal(r.id, 'a');
  assert.equal(r.rows, 2);
  assert.deepEqual(
    r.outputs.map((o) => [o.spec.name, o.binary]),
    [['label', true]],
  );
  const all = parseV2Request(
    iris,
    j({ parameters: { binary_data_output: true }, inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
    undefined,
  );
  assert.deepEqual(
    all.outputs.map((o) => [o.spec.name, o.binary]),
    [
      ['label', true],
      ['probabilities', true],
    ],
  );
});

test('V2 request: binary tensors after the JSON header', () => {
  const header = j({
    inputs: [
      { name: 'a', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
      { name: 'b', shape: [1, 1], datatype: 'INT64', parameters: { binary_data_size: 8 } },
    ],
  });
  const body = Buffer.concat([header, Buffer.from(Float32Array.from([1.5, 2.5]).buffer), Buffer.from(BigInt64Array.from([7n]).buffer)]);
  const r = parseV2Request(two, body, String(header.length));
  assert.deepEqual(Array.from(r.inputs.get('a')!.data as Float32Array), [1.5, 2.5]);
  assert.deepEqual(Array.from(r.inputs.get('b')!.data as BigInt64Array), [7n]);
});

test('V2 request errors', () => {
  const ok = { name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] };
  assert.match(
    err(() => parseV2Request(iris, Buffer.from('{'), undefined)),
    /malformed JSON/,
  );
  assert.match(
    err(() => parseV2Request(iris, Buffer.from('[1]'), undefined)),
    /must be a JSON object/,
  );
  assert.match(
    err(() => parseV2Request(iris, j({ id: 5, inputs: [ok] }), undefined)),
    /"id" must be a string/,
  );
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [ok, ok] }), undefined)),
    /input "input" is given more than once/,
  );
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [{ ...ok, data: undefined }] }), undefined)),
    /input "input" has no "data"/,
  );
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [ok], outputs: [{ name: 'label' }, { name: 'label' }] }), undefined)),
    /requested more than once/,
  );
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [ok], outputs: 'label' }), undefined)),
    /"outputs" must be a non-empty array/,
  );
  assert.match(
    err(() =>
      parseV2Request(
        two,
        j({
          inputs: [
            { name: 'a', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] },
            { name: 'b', shape: [1, 1], datatype: 'INT64', data: [1] },
          ],
        }),
        undefined,
      ),
    ),
    /inputs disagree on the batch dimension: "a" has 2 rows, "b" has 1/,
  );
});

test('V2 response: JSON, and binary outputs after the header', () => {
  const req = parseV2Request(
    iris,
    j({
      id: 'q',
      inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
      outputs: [{ name: 'label' }, { name: 'probabilities', parameters: { binary_data: true } }],
    }),
    undefined,
  );
  const results = new Map([
    ['label', { type: 'int64' as const, dims: [1], data: BigInt64Array.from([2n]) }],
    ['probabilities', { type: 'float32' as const, dims: [1, 3], data: Float32Array.from([0.25, 0.25, 0.5]) }],
  ]);
  const enc = encodeV2Response(iris, req, results, v2ResponsePrefix(iris));
  assert.ok(Buffer.isBuffer(enc.body));
  const header = JSON.parse((enc.body as Buffer).subarray(0, enc.headerLength).toString());
  assert.deepEqual(header, {
    model_name: 'iris',
    model_version: '3',
    id: 'q',
    outputs: [
      { name: 'label', datatype: 'INT64', shape: [1], data: [2] },
      { name: 'probabilities', datatype: 'FP32', shape: [1, 3], parameters: { binary_data_size: 12 } },
    ],
  });
  assert.deepEqual(Array.from(new Float32Array(new Uint8Array((enc.body as Buffer).subarray(enc.headerLength)).buffer)), [0.25, 0.25, 0.5]);
});

test('V1: instances (one input, many inputs), inputs, predictions/outputs', () => {
  const a = parseV1Request(
    iris,
    j({
      instances: [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ],
    }),
  );
  assert.equal(a.format, 'instances');
  assert.deepEqual(a.req.inputs.get('input')!.dims, [2, 4]);
  const results = new Map([
    ['label', { type: 'int64' as const, dims: [2], data: BigInt64Array.from([0n, 2n]) }],
    ['probabilities', { type: 'float32' as const, dims: [2, 3], data: Float32Array.from([1, 0, 0, 0, 0, 1]) }],
  ]);
  assert.deepEqual(JSON.parse(encodeV1Response('instances', iris, a.req, results)), {
    predictions: [
      { label: 0, probabilities: [1, 0, 0] },
      { label: 2, probabilities: [0, 0, 1] },
    ],
  });
  assert.deepEqual(JSON.parse(encodeV1Response('inputs', iris, a.req, results)), {
    outputs: {
      label: [0, 2],
      probabilities: [
        [1, 0, 0],
        [0, 0, 1],
      ],
    },
  });
  const b = parseV1Request(
    two,
    j({
      instances: [
        { a: [1, 2], b: [3] },
        { a: [4, 5], b: [6] },
      ],
    }),
  );
  assert.deepEqual(b.req.inputs.get('b')!.dims, [2, 1]);
  const yRes = new Map([['y', { type: 'float32' as const, dims: [2, 1], data: Float32Array.from([0.5, 1.5]) }]]);
  assert.deepEqual(JSON.parse(encodeV1Response('instances', two, b.req, yRes)), { predictions: [[0.5], [1.5]] });
  const c = parseV1Request(two, j({ inputs: { a: [[1, 2]], b: [[3]] } }));
  assert.equal(c.format, 'inputs');
  assert.deepEqual(
    JSON.parse(
      encodeV1Response('inputs', two, c.req, new Map([['y', { type: 'float32' as const, dims: [1, 1], data: Float32Array.from([2]) }]])),
    ),
    { outputs: [[2]] },
  );
});

test('V1 errors', () => {
  assert.match(
    err(() => parseV1Request(iris, j({ instances: [[1, 2, 3, 4]], inputs: [[1, 2, 3, 4]] }))),
    /not both/,
  );
  assert.match(
    err(() => parseV1Request(iris, j({ signature_name: 'x' }))),
    /needs "instances"/,
  );
  assert.match(
    err(() => parseV1Request(iris, j({ instances: [] }))),
    /non-empty array/,
  );
  assert.match(
    err(() => parseV1Request(two, j({ instances: [[1, 2]] }))),
    /has 2 inputs: each instance must be an object/,
  );
  assert.match(
    err(() => parseV1Request(two, j({ instances: [{ a: [1, 2], b: [1] }, { a: [1, 2] }] }))),
    /instance 1 has no input "b"/,
  );
  assert.match(
    err(() => parseV1Request(two, j({ inputs: [[1, 2]] }))),
    /"inputs" must be an object/,
  );
});

test('hot-path route matching', () => {
  assert.deepEqual(matchInference('/v2/models/iris/infer'), { protocol: 'v2', model: 'iris', version: undefined });
  assert.deepEqual(matchInference('/v2/models/iris/versions/3/infer?x=1'), { protocol: 'v2', model: 'iris', version: '3' });
  assert.deepEqual(matchInference('/v1/models/iris:predict'), { protocol: 'v1', model: 'iris', version: undefined });
  assert.deepEqual(matchInference('/v1/models/my%20m/versions/2:predict'), { protocol: 'v1', model: 'my m', version: '2' });
  assert.equal(matchInference('/v2/models/iris'), undefined);
  assert.equal(matchInference('/v2/models/iris/infer/x'), undefined);
  assert.equal(matchInference('/v1/models/iris:classify'), undefined);
});

test('hot-path route matching: a malformed percent-escape is not matched (express answers 400)', () => {
  for (const url of [
    '/v2/models/%E0%A4%A/infer',
    '/v2/models/iris/versions/%E0%A4%A/infer',
    '/v1/models/%E0%A4%A:predict',
    '/v1/models/iris/versions/%ZZ:predict',
    '/v2/models/%/infer',
  ]) {
    assert.equal(matchInference(url), undefined, url);
  }
  assert.equal(malformedSegment('/v2/models/%E0%A4%A/ready'), '%E0%A4%A');
  assert.equal(malformedSegment('/v1/models/ok/versions/%C0%80'), '%C0%80');
  assert.equal(malformedSegment('/v2/models/my%20m'), undefined);
  assert.equal(malformedSegment('/v2/health/ready'), undefined);
});

test('V2 request: hostile headers, parameters, outputs and bodies are 400s', () => {
  const ok = { name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] };
  const body = j({ inputs: [ok] });
  for (const hl of ['-1', '1e3', '0x10', '', 'abc', '12, 12', String(2 ** 64), String(body.length + 1)]) {
    assert.match(
      err(() => parseV2Request(iris, body, hl)),
      /Inference-Header-Content-Length/,
      hl,
    );
  }
  assert.match(
    err(() => parseV2Request(iris, body, '0')),
    /malformed JSON/,
  );
  // a header length that cuts the JSON, with the rest taken as unclaimed binary data
  assert.match(
    err(() => parseV2Request(iris, body, String(body.length - 1))),
    /malformed JSON/,
  );
  // invalid UTF-8 in the JSON is refused, not replaced
  const latin1 = Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xe9]), Buffer.from(`","inputs":${JSON.stringify([ok])}}`)]);
  assert.match(
    err(() => parseV2Request(iris, latin1, undefined)),
    /the body is not valid UTF-8/,
  );
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [ok], outputs: [] }), undefined)),
    /"outputs" must be a non-empty array/,
  );
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [ok], parameters: { binary_data_output: 'yes' } }), undefined)),
    /request: parameter "binary_data_output" must be true or false, got "yes"/,
  );
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [ok], outputs: [{ name: 'label', parameters: { binary_data: 1 } }] }), undefined)),
    /output "label": parameter "binary_data" must be true or false, got 1/,
  );
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [ok], outputs: [{ name: 'label', parameters: [] }] }), undefined)),
    /output "label": "parameters" must be an object/,
  );
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [{ ...ok, parameters: 'x' }] }), undefined)),
    /input "input": "parameters" must be an object/,
  );
  for (const size of [-1, 1e300, 1.5, '8']) {
    const h = j({ inputs: [{ ...ok, data: undefined, parameters: { binary_data_size: size } }] });
    assert.match(
      err(() => parseV2Request(iris, Buffer.concat([h, Buffer.alloc(16)]), String(h.length))),
      /input "input": binary_data_size must be a non-negative integer/,
    );
  }
  // more outputs than the model has: the first duplicate is named
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [ok], outputs: new Array(1000).fill({ name: 'label' }) }), undefined)),
    /output "label" is requested more than once/,
  );
  // a huge shape with JSON data and with binary data
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [{ ...ok, shape: [2 ** 53 - 1, 4] }] }), undefined)),
    /data has 4 elements but shape/,
  );
  const header = j({ inputs: [{ name: 'input', shape: [1e15, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } }] });
  assert.match(
    err(() => parseV2Request(iris, Buffer.concat([header, Buffer.alloc(16)]), String(header.length))),
    /binary_data_size is 16 bytes but shape \[1000000000000000,4\]/,
  );
});

test('V1 request: a ~300-byte first-element bomb, deep nesting and invalid UTF-8 are 400s', () => {
  const strings = buildModelSpec(
    's',
    '1',
    [{ name: 's', isTensor: true, type: 'string', shape: [2, 2] }],
    [{ name: 'y', isTensor: true, type: 'string', shape: [2, 2] }],
  );
  let bomb = '"x"';
  for (let d = 0; d < 9; d++) bomb = `[${bomb}${',"x"'.repeat(9)}]`;
  const body = Buffer.from(`{"inputs":{"s":${bomb}}}`);
  assert.ok(body.length < 500, `${body.length} bytes`);
  assert.match(
    err(() => parseV1Request(strings, body)),
    /input "s": ragged nesting at/,
  );
  assert.match(
    err(() => parseV1Request(strings, Buffer.from(`{"instances":${bomb}}`))),
    /input "s": ragged nesting at/,
  );
  const deep = `${'['.repeat(200_000)}1${']'.repeat(200_000)}`;
  assert.match(
    err(() => parseV1Request(iris, Buffer.from(`{"instances":${deep}}`))),
    /the JSON body is nested deeper than the limit of 72 levels/,
  );
  const deep66 = `${'['.repeat(66)}1${']'.repeat(66)}`;
  assert.match(
    err(() => parseV1Request(iris, Buffer.from(`{"instances":${deep66}}`))),
    /input "input": arrays are nested deeper than the limit of 64 levels/,
  );
  assert.match(
    err(() => parseV1Request(iris, Buffer.from([0x7b, 0xff, 0x7d]))),
    /the body is not valid UTF-8/,
  );
  // an input name that is a property of Object.prototype is not "present" in an instance that lacks it
  const proto = buildModelSpec(
    'p',
    '1',
    [
      { name: 'a', isTensor: true, type: 'float32', shape: ['', 1] },
      { name: 'constructor', isTensor: true, type: 'float32', shape: ['', 1] },
    ],
    [{ name: 'y', isTensor: true, type: 'float32', shape: ['', 1] }],
  );
  assert.match(
    err(() => parseV1Request(proto, j({ instances: [{ a: [1], constructor: [2] }, { a: [1] }] }))),
    /instance 1 has no input "constructor"/,
  );
});

test('error messages do not grow with the body: client names, datatypes and shapes are clipped, rank is capped', () => {
  const ok = { name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] };
  const long = 'n'.repeat(100_000);
  for (const doc of [
    { inputs: [{ ...ok, name: long }] },
    { inputs: [ok], outputs: [{ name: long }] },
    { inputs: [{ ...ok, datatype: long }] },
    { inputs: [{ ...ok, shape: [...new Array<number>(50_000).fill(1), -1] }] },
    { inputs: [{ ...ok, shape: [1, 'x'.repeat(100_000)] }] },
  ]) {
    const message = err(() => parseV2Request(iris, j(doc), undefined));
    assert.ok(message.length < 400, `${message.length} chars: ${message.slice(0, 120)}`);
  }
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [{ ...ok, shape: new Array<number>(65).fill(1) }] }), undefined)),
    /input "input": "shape" has 65 dimensions, more than the limit of 64/,
  );
  assert.match(
    err(() => parseV2Request(iris, j({ inputs: [{ ...ok, name: long }] }), undefined)),
    /unknown input "n{64}\.\.\."/,
  );
  assert.match(
    err(() => parseV1Request(two, j({ inputs: { [long]: [1] } }))),
    /unknown input "n{64}\.\.\."/,
  );
});
