/**
 * docs/converting-models.md's scripts (docs/convert/*.py, packages pinned in
 * docs/convert/requirements.txt, venv cached per machine) train a model, convert it, and record the
 * framework's own predictions; the real runtime then serves each converted file and must answer
 * the same: labels exactly, probabilities within 1e-5 absolute (float32 in both; measured worst
 * differences are printed).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { post, ROOT, startRuntime, type Expected } from './helpers.ts';
import { provisionVenv, requirements } from './python-clients.ts';

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

for (const [script, name] of [
  ['sklearn_pipeline.py', 'pipeline'],
  ['xgboost_classifier.py', 'xgboost'],
] as const) {
  test(`${script}: converted, served by the runtime, answers equal to the framework's predictions`, async () => {
    const out = join(work, name);
    execFileSync(python, [join(DIR, script), out], { cwd: DIR, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    const expected = JSON.parse(readFileSync(join(out, 'expected.json'), 'utf8')) as Expected;
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
      const r = await post(`${rt.url}/v2/models/${name}/infer`, { inputs: expected.inputs });
      assert.equal(r.status, 200, r.text);
      const outputs = r.json()['outputs'] as Array<{ name: string; datatype: string; shape: number[]; data: unknown[] }>;
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
    } finally {
      await rt.stop();
    }
  });
}
