/**
 * The real tritonclient (Python, default binary settings) against the runtime. Runs when a
 * Python with tritonclient[http] is found: MODELSHIP_TRITONCLIENT_PYTHON, or the benchmark venv
 * (~/.cache/modelship/bench-venv, `pip install tritonclient[http]`); skipped otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, startRuntime } from './helpers.ts';

function findPython(): string | undefined {
  const candidates = [process.env['MODELSHIP_TRITONCLIENT_PYTHON'], join(homedir(), '.cache', 'modelship', 'bench-venv', 'bin', 'python')];
  for (const py of candidates) {
    if (!py || !existsSync(py)) continue;
    if (spawnSync(py, ['-c', 'import tritonclient.http, numpy'], { stdio: 'ignore' }).status === 0) return py;
  }
  return undefined;
}

const python = findPython();

for (const model of ['iris', 'two-inputs', 'dtypes']) {
  test(
    `tritonclient (binary and JSON) gets ${model}'s expected outputs`,
    { skip: python ? false : 'no Python with tritonclient[http] found' },
    async () => {
      const rt = await startRuntime({ model });
      try {
        const out = execFileSync(
          python!,
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
    },
  );
}
