/**
 * The benchmark ladder's larger models (bench/ladder.ts: mlp ~16 MB dense, resnet18 ~47 MB conv;
 * generated at test time into ~/.cache/modelship/ladder by examples/ladder/make-ladder.sh, cached by
 * a hash of the generator and its pins, not committed) served by the real runtime answer what
 * onnxruntime (Python, pinned) computed for them: every output within TOLERANCE relative to the
 * output's largest magnitude (float32 in both; the batch a row runs in changes the summation
 * order). Checked with batching off and on, as one multi-row request and as concurrent one-row
 * requests that the batcher joins into shared runs (asserted from the batch-size histogram).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { ensureLadder, type LadderModel } from '../../bench/ladder.ts';
import { post, request, startRuntime, type Expected, type ExpectedTensor, type Runtime } from '@modelship/devcluster/runtime-process';

const TOLERANCE = 1e-4;
let models: LadderModel[] = [];

before(
  async () => {
    models = await ensureLadder(['mlp', 'resnet18']);
  },
  { timeout: 900_000 },
);

/** Largest |got - want| over the output, divided by the output's largest |want|. */
function relativeError(got: readonly number[], want: readonly number[]): number {
  assert.equal(got.length, want.length);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i] as number));
    worst = Math.max(worst, Math.abs((got[i] as number) - (want[i] as number)));
  }
  return worst / Math.max(scale, 1e-30);
}

function rowsOf(t: ExpectedTensor): number[][] {
  const n = t.shape[0] as number;
  const per = t.data.length / n;
  return Array.from({ length: n }, (_, r) => t.data.slice(r * per, (r + 1) * per));
}

async function infer(rt: Runtime, name: string, input: ExpectedTensor): Promise<ExpectedTensor[]> {
  const r = await post(`${rt.url}/v2/models/${name}/infer`, { inputs: [input] });
  assert.equal(r.status, 200, r.text.slice(0, 500));
  return r.json()['outputs'] as ExpectedTensor[];
}

async function batchSizes(rt: Runtime): Promise<{ sum: number; count: number }> {
  const text = (await request(`${rt.url}/metrics`)).text;
  return {
    sum: Number(/modelship_batch_size_sum\{[^}]*\} (\S+)/.exec(text)?.[1]),
    count: Number(/modelship_batch_size_count\{[^}]*\} (\S+)/.exec(text)?.[1]),
  };
}

for (const name of ['mlp', 'resnet18']) {
  for (const batching of ['off', 'on'] as const) {
    test(`${name}, batching ${batching}: outputs equal onnxruntime's within ${TOLERANCE} (whole request and one row per request)`, async () => {
      const model = models.find((m) => m.name === name);
      assert.ok(model, `${name} is in the ladder`);
      const expected = JSON.parse(readFileSync(join(model.dir, 'expected.json'), 'utf8')) as Expected;
      const input = expected.inputs[0] as ExpectedTensor;
      const want = expected.outputs[0] as ExpectedTensor;
      assert.ok((input.shape[0] as number) >= 2, 'several rows');
      // batching on: a 200 ms window, so the one-row requests sent together share runs
      const args = batching === 'off' ? ['--max-batch-size', '1'] : ['--max-batch-size', '8', '--max-batch-delay-us', '200000'];
      const rt = await startRuntime({ modelPath: join(model.dir, 'model.onnx'), name, args, timeoutMs: 120_000 });
      try {
        const whole = await infer(rt, name, input);
        const got = whole.find((o) => o.name === want.name);
        assert.ok(got, `output ${want.name} in the reply`);
        assert.equal(got.datatype, 'FP32');
        assert.deepEqual(got.shape, want.shape);
        const wholeErr = relativeError(got.data, want.data);
        assert.ok(wholeErr <= TOLERANCE, `whole request: relative error ${wholeErr}`);

        const rows = rowsOf(input);
        const wantRows = rowsOf(want);
        const before = await batchSizes(rt);
        const replies = await Promise.all(
          rows.map((data) => infer(rt, name, { name: input.name, datatype: 'FP32', shape: [1, ...input.shape.slice(1)], data })),
        );
        let rowErr = 0;
        replies.forEach((outputs, r) => {
          const o = outputs.find((x) => x.name === want.name);
          assert.ok(o);
          assert.deepEqual(o.shape, [1, ...want.shape.slice(1)]);
          rowErr = Math.max(rowErr, relativeError(o.data, wantRows[r] as number[]));
        });
        assert.ok(rowErr <= TOLERANCE, `one row per request: relative error ${rowErr}`);
        const after = await batchSizes(rt);
        const runs = after.count - before.count;
        assert.equal(after.sum - before.sum, rows.length, 'every row computed once');
        if (batching === 'off') assert.equal(runs, rows.length, 'batching off: one run per request');
        else assert.ok(runs < rows.length, `batching on: ${rows.length} concurrent requests in ${runs} runs`);
        process.stderr.write(
          `${name} batching ${batching}: relative error whole ${wholeErr.toExponential(2)}, per row ${rowErr.toExponential(2)}\n`,
        );
      } finally {
        await rt.stop();
      }
    });
  }
}
