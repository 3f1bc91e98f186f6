/**
 * Models as users bring them, in the real runtime: a scikit-learn classifier converted with
 * skl2onnx's defaults (ZipMap included) serves its probabilities as an FP32 tensor equal to
 * scikit-learn's, with the class of each column in the V2 metadata; a pickle (what joblib.dump
 * writes) is refused at load with exit 3 and a message that points to the conversion guide.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EXIT_MODEL_LOAD_FAILED } from '../../runtime/src/errors.ts';
import {
  assertClose,
  expected,
  post,
  request,
  ROOT,
  spawnRuntime,
  startRuntime,
  type Runtime,
} from '@modelship/devcluster/runtime-process';

const ZIPMAP = expected('iris-zipmap');
const CLASSES = ['setosa', 'versicolor', 'virginica'];

describe('a skl2onnx default classifier (ZipMap)', () => {
  let rt: Runtime;
  before(async () => {
    rt = await startRuntime({ model: 'iris-zipmap', args: ['--workers', '2'] });
  });
  after(async () => rt.stop());

  test("V2: output_probability is FP32 [N,3] equal to scikit-learn's predict_proba; output_label the class names", async () => {
    const r = await post(`${rt.url}/v2/models/iris-zipmap/infer`, { inputs: ZIPMAP.inputs });
    assert.equal(r.status, 200, r.text);
    const outputs = r.json()['outputs'] as Array<{ name: string; datatype: string; shape: number[]; data: unknown[] }>;
    const probs = outputs.find((o) => o.name === 'output_probability');
    const labels = outputs.find((o) => o.name === 'output_label');
    assert.ok(probs && labels, JSON.stringify(outputs).slice(0, 300));
    assert.deepEqual([probs.datatype, probs.shape], ['FP32', [4, 3]]);
    assertClose(
      probs.data as number[],
      ZIPMAP.outputs.find((o) => o.name === 'output_probability')!.data as number[],
      1e-4,
      'probabilities',
    );
    assert.deepEqual([labels.datatype, labels.data], ['BYTES', ['setosa', 'versicolor', 'virginica', 'virginica']]);
    assert.deepEqual(labels.data, ZIPMAP.outputs.find((o) => o.name === 'output_label')!.data);
  });

  test('V1 :predict answers the same, batched over two workers', async () => {
    const rows = ZIPMAP.inputs[0]!.data as number[];
    const instances = [0, 1, 2, 3].map((i) => rows.slice(i * 4, i * 4 + 4));
    const answers = await Promise.all(instances.map((row) => post(`${rt.url}/v1/models/iris-zipmap:predict`, { instances: [row] })));
    const want = ZIPMAP.outputs.find((o) => o.name === 'output_probability')!.data as number[];
    answers.forEach((a, i) => {
      assert.equal(a.status, 200, a.text);
      const p = (a.json()['predictions'] as Array<{ output_probability: number[] }>)[0]!;
      assertClose(p.output_probability, want.slice(i * 3, i * 3 + 3), 1e-4, `row ${i}`);
    });
  });

  test('the V2 metadata names the class of each probability column; the log says the ZipMap was removed', async () => {
    const meta = (await request(`${rt.url}/v2/models/iris-zipmap`)).json();
    const out = (meta['outputs'] as Array<{ name: string; shape: number[]; parameters?: { class_labels: string[] } }>).find(
      (o) => o.name === 'output_probability',
    );
    assert.deepEqual(out, { name: 'output_probability', datatype: 'FP32', shape: [-1, 3], parameters: { class_labels: CLASSES } });
    assert.ok(rt.logs.some((l) => /removed the ZipMap/.test(l.message) && JSON.stringify(l['outputs']) === '["output_probability"]'));
  });
});

test('a pickle (joblib.dump of the iris classifier) is refused at load: exit 3, the format named, the guide pointed to', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-formats-'));
  try {
    const terminationLog = join(dir, 'termination.log');
    const p = spawnRuntime([
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--model-name',
      'iris',
      '--termination-log',
      terminationLog,
      '--model-path',
      join(ROOT, 'examples', 'models', 'iris', 'model.joblib'),
    ]);
    assert.equal(await p.exited, EXIT_MODEL_LOAD_FAILED);
    const message = readFileSync(terminationLog, 'utf8');
    assert.match(
      message,
      /model\.joblib is a Python pickle .* not an ONNX model: .*never loads code-executing formats; convert .*docs\/converting-models\.md/,
    );
    assert.equal(
      p.logs.some((l) => l.message === 'ready'),
      false,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
