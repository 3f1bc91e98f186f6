/**
 * The venv docs/convert/pytorch_mlp.py runs in: docs/convert/requirements-pytorch.txt, apart from the
 * conversion venv because torch's install is large (3.4 GB, 140 s to make on a cold machine here).
 * test/run.ts starts making it in the background when the conversion guide's test will run; the
 * test then awaits the same script, which waits for that build (flock) or finds the venv made.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@modelship/devcluster/binaries';
import { requirements } from './python-clients.ts';

export const TORCH_REQUIREMENTS = join(repoRoot, 'docs', 'convert', 'requirements-pytorch.txt');
const IMPORTS = 'import torch, onnx, numpy';
const SCRIPT = join(repoRoot, 'test', 'runtime', 'torch-venv.sh');

let pending: Promise<string> | undefined;

/** The python of the torch venv, made once per machine (the name follows the pins). */
export function resolveTorchPython(log: (line: string) => void = () => {}): Promise<string> {
  pending ??= new Promise<string>((resolve, reject) => {
    const pins = requirements(TORCH_REQUIREMENTS);
    const tag = createHash('sha256').update(pins.join('\n')).digest('hex').slice(0, 8);
    const cache = process.env['MODELSHIP_CACHE_DIR'] ?? join(homedir(), '.cache', 'modelship');
    const child = spawn(SCRIPT, [join(cache, `torch-venv-${tag}`), TORCH_REQUIREMENTS, IMPORTS], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let partial = '';
    const lastLines: string[] = [];
    const emit = (line: string): void => {
      if (line.trim() === '') return;
      log(line);
      lastLines.push(line);
      if (lastLines.length > 20) lastLines.shift();
    };
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      lines.forEach(emit);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      emit(partial);
      const python = out.trim().split('\n').pop() ?? '';
      if (code === 0 && python !== '') resolve(python);
      else reject(new Error(`${SCRIPT} exited ${code}:\n${lastLines.join('\n')}`));
    });
  });
  return pending;
}
