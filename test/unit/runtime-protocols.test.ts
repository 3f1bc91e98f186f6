import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpError } from '../../runtime/src/errors.ts';
import { buildModelSpec, v2Metadata } from '../../runtime/src/model.ts';
import { matchInference } from '../../runtime/src/routes.ts';
import { encodeV1Response, parseV1Request } from '../../runtime/src/v1.ts';
import { encodeV2Response, parseV2Request, v2ResponsePrefix } from '../../runtime/src/v2.ts';

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
    /"outputs" must be an array/,
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
