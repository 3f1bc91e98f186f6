/**
 * Every endpoint of the real runtime process, and each example model's expected outputs
 * (computed by scikit-learn) via V2 JSON (flat and nested), V2 binary, V1 instances and inputs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { binaryRequest, decodeBinaryResponse } from './binary.ts';
import {
  assertClose,
  expected,
  post,
  request,
  startRuntime,
  type ExpectedTensor,
  type Runtime,
} from '@modelship/devcluster/runtime-process';

const MODELS = ['iris', 'regressor', 'two-inputs', 'fixed-shape'];

function nest(data: readonly number[], shape: readonly number[]): unknown {
  if (shape.length <= 1) return [...data];
  const [n, ...rest] = shape as [number, ...number[]];
  const size = data.length / n;
  return Array.from({ length: n }, (_, i) => nest(data.slice(i * size, (i + 1) * size), rest));
}

function flatten(v: unknown): number[] {
  return Array.isArray(v) ? v.flatMap(flatten) : [v as number];
}

function checkOutputs(
  got: { name: string; datatype: string; shape: number[]; data: unknown[] }[],
  want: ExpectedTensor[],
  how: string,
): void {
  assert.deepEqual(got.map((o) => o.name).sort(), want.map((o) => o.name).sort(), `${how}: output names`);
  for (const w of want) {
    const g = got.find((o) => o.name === w.name)!;
    assert.equal(g.datatype, w.datatype, `${how}: ${w.name} datatype`);
    assert.deepEqual(g.shape, w.shape, `${how}: ${w.name} shape`);
    if (w.datatype === 'INT64') assert.deepEqual(g.data, w.data, `${how}: ${w.name} data`);
    else assertClose(g.data as number[], w.data, 1e-4, `${how}: ${w.name}`);
  }
}

const servers = new Map<string, Runtime>();
before(async () => {
  await Promise.all(MODELS.map(async (m) => servers.set(m, await startRuntime({ model: m, version: '3' }))));
});
after(async () => {
  await Promise.all([...servers.values()].map((s) => s.stop()));
});
const url = (m: string) => servers.get(m)!.url;

describe('health, metadata, metrics, OpenAPI', () => {
  test('GET /v2/health/live and /v2/health/ready', async () => {
    const live = await request(`${url('iris')}/v2/health/live`);
    assert.equal(live.status, 200);
    assert.deepEqual(live.json(), { live: true });
    const ready = await request(`${url('iris')}/v2/health/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json(), { ready: true });
  });

  test('GET /v2 server metadata advertises the binary extension', async () => {
    const r = await request(`${url('iris')}/v2`);
    assert.equal(r.status, 200);
    const body = r.json();
    assert.equal(body['name'], 'modelship');
    assert.equal(typeof body['version'], 'string');
    assert.deepEqual(body['extensions'], ['binary_tensor_data']);
  });

  test('GET /v2/models/{m} and /versions/{v}: V2 model metadata (symbolic dims = -1)', async () => {
    const want = {
      name: 'iris',
      versions: ['3'],
      platform: 'onnx_onnxv1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
      ],
    };
    for (const path of ['/v2/models/iris', '/v2/models/iris/versions/3']) {
      const r = await request(url('iris') + path);
      assert.equal(r.status, 200, path);
      assert.deepEqual(r.json(), want, path);
    }
    const fixed = await request(`${url('fixed-shape')}/v2/models/fixed-shape`);
    assert.deepEqual((fixed.json()['inputs'] as unknown[])[0], { name: 'matrix', datatype: 'FP32', shape: [3, 4] });
  });

  test('GET /v2/models/{m}[/versions/{v}]/ready', async () => {
    for (const path of ['/v2/models/iris/ready', '/v2/models/iris/versions/3/ready']) {
      const r = await request(url('iris') + path);
      assert.equal(r.status, 200, path);
      assert.deepEqual(r.json(), { name: 'iris', ready: true });
    }
    const nope = await request(`${url('iris')}/v2/models/nope/ready`);
    assert.equal(nope.status, 404);
    assert.match(nope.json()['error'] as string, /model "nope" does not exist/);
  });

  test('GET /v1/models/{m} (TF-Serving status) and /metadata', async () => {
    const r = await request(`${url('iris')}/v1/models/iris`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), {
      model_version_status: [{ version: '3', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }],
    });
    const v = await request(`${url('iris')}/v1/models/iris/versions/3`);
    assert.equal(v.status, 200);
    const m = await request(`${url('iris')}/v1/models/iris/metadata`);
    assert.equal(m.status, 200);
    const sig = (m.json()['metadata'] as { signature_def: { serving_default: { inputs: unknown[] } } }).signature_def.serving_default;
    assert.deepEqual(sig.inputs, [{ name: 'input', dtype: 'FP32', shape: [-1, 4] }]);
  });

  test('GET /metrics: request counts, sub-millisecond latency buckets, batch size, in-flight, event-loop lag', async () => {
    await post(`${url('iris')}/v2/models/iris/infer`, {
      inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
    });
    const r = await request(`${url('iris')}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
    const text = r.text;
    assert.match(text, /modelship_requests_total\{model="iris",version="3",kind="inference",protocol="v2",code="200"\} [1-9]/);
    for (const h of ['modelship_request_duration_seconds', 'modelship_queue_duration_seconds', 'modelship_compute_duration_seconds']) {
      assert.match(text, new RegExp(`${h}_bucket\\{le="0.0005",model="iris",version="3"`), h);
    }
    assert.match(text, /modelship_batch_size_count\{model="iris",version="3"\} [1-9]/);
    assert.match(text, /modelship_inflight_requests\{model="iris",version="3"\} 0/);
    assert.match(text, /nodejs_eventloop_lag_seconds /);
    assert.match(text, /modelship_ready 1/);
  });

  test('GET /openapi.json documents every route', async () => {
    const r = await request(`${url('iris')}/openapi.json`);
    assert.equal(r.status, 200);
    const doc = r.json() as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    for (const p of [
      '/v2/health/live',
      '/v2/health/ready',
      '/v2',
      '/v2/models/{model}',
      '/v2/models/{model}/ready',
      '/v2/models/{model}/infer',
      '/v2/models/{model}/versions/{version}/infer',
      '/v1/models/{model}',
      '/v1/models/{model}:predict',
      '/v1/models/{model}/versions/{version}:predict',
      '/metrics',
    ]) {
      assert.ok(doc.paths[p], `missing ${p}`);
    }
  });

  test('unknown route -> 404 JSON, GET on /infer -> 405', async () => {
    const r = await request(`${url('iris')}/nope`);
    assert.equal(r.status, 404);
    assert.match(r.json()['error'] as string, /no route GET \/nope/);
    const g = await request(`${url('iris')}/v2/models/iris/infer`);
    assert.equal(g.status, 405);
    assert.match(g.json()['error'] as string, /use POST/);
  });
});

describe('expected outputs of every example model', () => {
  for (const m of MODELS) {
    const exp = expected(m);
    const v2Inputs = (nested: boolean) =>
      exp.inputs.map((i) => ({ name: i.name, shape: i.shape, datatype: i.datatype, data: nested ? nest(i.data, i.shape) : i.data }));

    test(`${m}: V2 JSON flat`, async () => {
      const r = await post(`${url(m)}/v2/models/${m}/infer`, { inputs: v2Inputs(false) });
      assert.equal(r.status, 200, r.text);
      const body = r.json();
      assert.equal(body['model_name'], m);
      assert.equal(body['model_version'], '3');
      assert.equal('id' in body, false, 'no id in the reply when none was sent');
      checkOutputs(body['outputs'] as never, exp.outputs, 'V2 flat');
    });

    test(`${m}: V2 JSON nested, versioned URL, id echoed`, async () => {
      const r = await post(`${url(m)}/v2/models/${m}/versions/3/infer`, { id: `req-${m}`, inputs: v2Inputs(true) });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json()['id'], `req-${m}`);
      checkOutputs(r.json()['outputs'] as never, exp.outputs, 'V2 nested');
    });

    test(`${m}: V2 binary tensors in and out (tritonclient defaults)`, async () => {
      const { body, headers } = binaryRequest(exp.inputs, { parameters: { binary_data_output: true } });
      const r = await request(`${url(m)}/v2/models/${m}/infer`, { body, headers });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('content-type'), 'application/octet-stream');
      const hl = r.headers.get('inference-header-content-length');
      assert.ok(hl, 'Inference-Header-Content-Length on a binary response');
      const dec = decodeBinaryResponse(r.body, hl);
      assert.ok(dec.outputs.every((o) => o.binary));
      checkOutputs(dec.outputs, exp.outputs, 'V2 binary');
    });

    test(`${m}: V1 instances (row format)`, async () => {
      const rows = (exp.inputs[0] as ExpectedTensor).shape[0] as number;
      const perInput = exp.inputs.map((i) => nest(i.data, i.shape) as unknown[]);
      const instances =
        exp.inputs.length === 1
          ? perInput[0]
          : Array.from({ length: rows }, (_, r) =>
              Object.fromEntries(exp.inputs.map((inp, k) => [inp.name, (perInput[k] as unknown[])[r]])),
            );
      const r = await post(`${url(m)}/v1/models/${m}:predict`, { instances });
      assert.equal(r.status, 200, r.text);
      const preds = r.json()['predictions'] as unknown[];
      assert.equal(preds.length, rows);
      for (const o of exp.outputs) {
        const col = exp.outputs.length === 1 ? preds : preds.map((p) => (p as Record<string, unknown>)[o.name]);
        const flat = flatten(col);
        if (o.datatype === 'INT64') assert.deepEqual(flat, o.data);
        else assertClose(flat, o.data, 1e-4, `V1 instances ${o.name}`);
      }
    });

    test(`${m}: V1 inputs (columnar format), versioned URL`, async () => {
      const inputs =
        exp.inputs.length === 1
          ? nest((exp.inputs[0] as ExpectedTensor).data, (exp.inputs[0] as ExpectedTensor).shape)
          : Object.fromEntries(exp.inputs.map((i) => [i.name, nest(i.data, i.shape)]));
      const r = await post(`${url(m)}/v1/models/${m}/versions/3:predict`, { inputs });
      assert.equal(r.status, 200, r.text);
      const outs = r.json()['outputs'];
      for (const o of exp.outputs) {
        const v = exp.outputs.length === 1 ? outs : (outs as Record<string, unknown>)[o.name];
        const flat = flatten(v);
        if (o.datatype === 'INT64') assert.deepEqual(flat, o.data);
        else assertClose(flat, o.data, 1e-4, `V1 inputs ${o.name}`);
      }
    });
  }

  test('iris: the reference example: id echoed, only the requested output', async () => {
    const r = await post(`${url('iris')}/v2/models/iris/infer`, {
      id: 'req-42',
      inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3] }],
      outputs: [{ name: 'label' }],
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), {
      model_name: 'iris',
      model_version: '3',
      id: 'req-42',
      outputs: [{ name: 'label', datatype: 'INT64', shape: [2], data: [0, 2] }],
    });
  });

  test('iris: mixed binary input, one JSON output and one binary output', async () => {
    const exp = expected('iris');
    const { body, headers } = binaryRequest(exp.inputs, {
      outputs: [{ name: 'label' }, { name: 'probabilities', parameters: { binary_data: true } }],
    });
    const r = await request(`${url('iris')}/v2/models/iris/infer`, { body, headers });
    assert.equal(r.status, 200, r.text);
    const dec = decodeBinaryResponse(r.body, r.headers.get('inference-header-content-length'));
    assert.deepEqual(
      dec.outputs.map((o) => [o.name, o.binary]),
      [
        ['label', false],
        ['probabilities', true],
      ],
    );
    checkOutputs(dec.outputs, exp.outputs, 'mixed');
  });

  test('iris: binary input with JSON outputs returns plain JSON', async () => {
    const exp = expected('iris');
    const { body, headers } = binaryRequest(exp.inputs, { outputs: [{ name: 'label', parameters: { binary_data: false } }] });
    const r = await request(`${url('iris')}/v2/models/iris/infer`, { body, headers });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('inference-header-content-length'), null);
    assert.deepEqual((r.json()['outputs'] as { data: number[] }[])[0]!.data, exp.outputs.find((o) => o.name === 'label')!.data);
  });

  test('the classic TF Serving curl example works', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(
      'curl',
      ['-s', '-d', '{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}', '-X', 'POST', `${url('iris')}/v1/models/iris:predict`],
      { encoding: 'utf8' },
    );
    const preds = (JSON.parse(out) as { predictions: { label: number; probabilities: number[] }[] }).predictions;
    assert.deepEqual(
      preds.map((p) => p.label),
      [0, 2],
    );
    assert.equal(preds[0]!.probabilities.length, 3);
  });
});
