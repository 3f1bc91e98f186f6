/**
 * docs/converting-models.md's scripts (docs/convert/*.py, packages pinned in
 * docs/convert/requirements.txt, venv cached per machine) train a model, convert it, and record the
 * framework's own predictions; the real runtime then serves each converted file and must answer
 * the same: labels exactly, probabilities within 1e-5 absolute (float32 in both; measured worst
 * differences are printed). pytorch_mlp.py runs in a venv of its own (docs/convert/requirements-pytorch.txt,
 * made by test/runtime/torch-venv.ts, in the background from test/run.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { post, request, ROOT, startRuntime, type Expected } from '@modelship/devcluster/runtime-process';
import { provisionVenv, requirements } from './python-clients.ts';
import { resolveTorchPython } from './torch-venv.ts';

const DIR = join(ROOT, 'docs', 'convert');
const PINS = requirements(join(DIR, 'requirements.txt'));
const TOLERANCE = 1e-5;
let python = '';
let work = '';

before(
  () => {
    // the venv's name follows its pins, so a changed requirements file makes a new one
    const tag = createHash('sha256').update(PINS.join('\n')).digest('hex').slice(0, 8);
    python = provisionVenv(`convert-venv-${tag}`, PINS, 'import sklearn, skl2onnx, onnxmltools, xgboost, pandas');
    work = mkdtempSync(join(tmpdir(), 'modelship-convert-'));
  },
  { timeout: 900_000 },
);
after(() => rmSync(work, { recursive: true, force: true }));

type Tensor = { name: string; datatype: string; shape: number[]; data: unknown[] };

/** The runtime's answer to the expected inputs: datatypes and shapes equal, FP32 within TOLERANCE, others equal. */
async function answersMatch(url: string, name: string, expected: Expected, script: string): Promise<void> {
  const r = await post(`${url}/v2/models/${name}/infer`, { inputs: expected.inputs });
  assert.equal(r.status, 200, r.text);
  const outputs = r.json()['outputs'] as Tensor[];
  for (const want of expected.outputs) {
    const got = outputs.find((o) => o.name === want.name);
    assert.ok(got, `${want.name} in ${outputs.map((o) => o.name).join()}`);
    assert.deepEqual([got.datatype, got.shape], [want.datatype, want.shape], want.name);
    if (want.datatype !== 'FP32') {
      assert.deepEqual(got.data, want.data, want.name);
      continue;
    }
    const worst = Math.max(...(got.data as number[]).map((v, i) => Math.abs(v - (want.data as number[])[i]!)));
    process.stderr.write(`${script}: ${want.name} worst |runtime - framework| = ${worst.toExponential(2)}\n`);
    assert.ok(worst <= TOLERANCE, `${want.name}: ${worst} > ${TOLERANCE}`);
  }
}

/** Runs a guide script with `python`; its model.onnx and expected.json land in work/<name>. */
function convert(python: string, script: string, name: string): { out: string; expected: Expected } {
  const out = join(work, name);
  execFileSync(python, [join(DIR, script), out], { cwd: DIR, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  return { out, expected: JSON.parse(readFileSync(join(out, 'expected.json'), 'utf8')) as Expected };
}

for (const [script, name] of [
  ['sklearn_pipeline.py', 'pipeline'],
  ['xgboost_classifier.py', 'xgboost'],
] as const) {
  test(`${script}: converted, served by the runtime, answers equal to the framework's predictions`, async () => {
    const { out, expected } = convert(python, script, name);
    const rt = await startRuntime({ modelPath: join(out, 'model.onnx'), name });
    try {
      if (name === 'pipeline') {
        // the warm-up's empty string is a category the one-hot encoder never saw: refused, served anyway
        assert.ok(rt.logs.some((l) => l.level === 'warn' && /warm-up run was refused by the model/.test(l.message)));
        // the guide's words for a category the encoder never saw (handle_unknown="error")
        const one = (name: string, datatype: string, data: unknown[]) => ({ name, datatype, shape: [1, 1], data });
        const unseen = await post(`${rt.url}/v2/models/${name}/infer`, {
          inputs: [one('n0', 'FP32', [0]), one('n1', 'FP32', [0]), one('n2', 'FP32', [0]), one('city', 'BYTES', ['atlantis'])],
        });
        assert.equal(unseen.status, 500, unseen.text);
        assert.match(String(unseen.json()['error']), /^inference failed: .*Unknown Category/);
      }
      await answersMatch(rt.url, name, expected, script);
    } finally {
      await rt.stop();
    }
  });
}

test(
  "pytorch_mlp.py: exported with a dynamic batch axis, served by the runtime, answers equal to torch's",
  { timeout: 900_000 },
  async () => {
    // made in the background since test/run.ts started; on a cold machine this waits for the rest
    const torchPython = await resolveTorchPython((line) => process.stderr.write(`torch venv: ${line}\n`));
    const name = 'torch-mlp';
    const { out, expected } = convert(torchPython, 'pytorch_mlp.py', name);
    const rt = await startRuntime({ modelPath: join(out, 'model.onnx'), name });
    try {
      const meta = await request(`${rt.url}/v2/models/${name}`);
      assert.equal(meta.status, 200, meta.text);
      const inputs = meta.json()['inputs'] as Tensor[];
      assert.deepEqual(
        inputs.map((i) => [i.name, i.shape]),
        [['input', [-1, 4]]],
        'the batch axis is dynamic (-1), the features fixed',
      );
      await answersMatch(rt.url, name, expected, 'pytorch_mlp.py');
      // the dynamic axis at work: exported with an example batch of 1 row, the model answered 7 rows
      // above, and 3 rows get the first 3 answers
      const three = structuredClone(expected);
      three.inputs[0]!.shape = [3, 4];
      three.inputs[0]!.data = three.inputs[0]!.data.slice(0, 12);
      for (const o of three.outputs) {
        const width = o.shape.length === 2 ? o.shape[1]! : 1;
        o.shape = [3, ...o.shape.slice(1)];
        o.data = o.data.slice(0, 3 * width);
      }
      await answersMatch(rt.url, name, three, 'pytorch_mlp.py (3 rows)');
    } finally {
      await rt.stop();
    }
  },
);
