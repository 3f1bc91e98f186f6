/**
 * The benchmark's model: a dense ONNX model of about `mb` megabytes with random weights
 * (make-model.py), generated once per machine under ${MODELSHIP_CACHE_DIR:-~/.cache/modelship}
 * with the conversion guide's pinned venv (docs/convert/requirements.txt has onnx and numpy).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@modelship/devcluster/binaries';
import { provisionVenv, requirements } from '../../test/runtime/python-clients.ts';

export interface Tensor {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}

export interface BenchModel {
  /** what the table calls it */
  label: string;
  path: string;
  bytes: number;
  sha256: string;
  expected: { inputs: Tensor[]; outputs: Tensor[] };
}

function load(label: string, dir: string): BenchModel {
  const path = join(dir, 'model.onnx');
  return {
    label,
    path,
    bytes: statSync(path).size,
    sha256: readFileSync(`${path}.sha256`, 'utf8').split(/\s/)[0]!,
    expected: JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as BenchModel['expected'],
  };
}

/** The generated dense model of about `mb` × 10^6 bytes (generated on first use, ~10 s). */
export function denseModel(mb: number, log: (line: string) => void): BenchModel {
  const cache = process.env['MODELSHIP_CACHE_DIR'] ?? join(homedir(), '.cache', 'modelship');
  const dir = join(cache, `podstart-dense-${mb}mb-seed7`);
  if (!existsSync(join(dir, 'expected.json'))) {
    const pins = requirements(join(repoRoot, 'docs', 'convert', 'requirements.txt'));
    // the same venv name as the conversion guide's test: one venv per machine for both
    const tag = createHash('sha256').update(pins.join('\n')).digest('hex').slice(0, 8);
    const python = provisionVenv(`convert-venv-${tag}`, pins, 'import sklearn, skl2onnx, onnxmltools, xgboost, pandas');
    log(`generating a ${mb} MB dense model in ${dir}`);
    execFileSync(python, [join(repoRoot, 'bench', 'podstart', 'make-model.py'), '--out', dir, '--mb', String(mb)], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  return load(`dense ${mb} MB`, dir);
}

/** examples/models/iris: a 1 KB model, the baseline for what pod start costs without a big download. */
export function irisModel(): BenchModel {
  return load('iris (tiny)', join(repoRoot, 'examples', 'models', 'iris'));
}
