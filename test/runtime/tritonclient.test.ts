/**
 * The real tritonclient (Python, default binary settings) against the runtime; its Python:
 * python-clients.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { ROOT, startRuntime } from '@modelship/devcluster/runtime-process';
import { provisionPython } from './python-clients.ts';

let python = '';
before(
  () => {
    python = provisionPython();
  },
  { timeout: 900_000 },
);

for (const model of ['iris', 'two-inputs', 'dtypes']) {
  test(`tritonclient (binary and JSON) gets ${model}'s expected outputs`, async () => {
    const rt = await startRuntime({ model });
    try {
      const out = execFileSync(
        python,
        [
          join(ROOT, 'test', 'runtime', 'tritonclient_check.py'),
          `127.0.0.1:${rt.port}`,
          join(ROOT, 'examples', 'models', model, 'expected.json'),
          model,
        ],
        { encoding: 'utf8' },
      );
      assert.match(out, /tritonclient ok/);
    } finally {
      await rt.stop();
    }
  });
}
