/**
 * The real tritonclient (Python, default binary settings) against the runtime. Its Python comes
 * from MODELSHIP_TRITONCLIENT_PYTHON, or from a venv this test creates once per machine under
 * ${MODELSHIP_CACHE_DIR:-~/.cache/modelship}/tritonclient-venv (pip, pinned versions).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { ROOT, startRuntime } from './helpers.ts';

const PINNED = ['tritonclient[http]==2.73.0', 'numpy==2.4.6', 'geventhttpclient==2.6.1'];

function hasTritonclient(py: string): boolean {
  return existsSync(py) && spawnSync(py, ['-c', 'import tritonclient.http, numpy'], { stdio: 'ignore' }).status === 0;
}

/** A Python with tritonclient[http]: the one named in the environment, else a cached venv made here. */
function provisionPython(): string {
  const given = process.env['MODELSHIP_TRITONCLIENT_PYTHON'];
  if (given) {
    if (!hasTritonclient(given)) throw new Error(`MODELSHIP_TRITONCLIENT_PYTHON=${given} cannot import tritonclient.http and numpy`);
    return given;
  }
  const cache = process.env['MODELSHIP_CACHE_DIR'] ?? join(homedir(), '.cache', 'modelship');
  const venv = join(cache, 'tritonclient-venv');
  const py = join(venv, 'bin', 'python');
  if (hasTritonclient(py)) return py;
  mkdirSync(cache, { recursive: true });
  const tmp = `${venv}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`tritonclient test: creating ${venv} (pip install ${PINNED.join(' ')}; once per machine)\n`);
  execFileSync('python3', ['-m', 'venv', tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(join(tmp, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...PINNED], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 600_000,
  });
  rmSync(venv, { recursive: true, force: true });
  renameSync(tmp, venv);
  // venv scripts hard-code their own path; python itself works from the renamed folder.
  if (!hasTritonclient(py)) throw new Error(`could not provision tritonclient in ${venv}`);
  return py;
}

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
