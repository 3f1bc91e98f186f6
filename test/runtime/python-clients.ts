/**
 * A Python with the clients users call the runtime with (tritonclient[http], requests): the one
 * named by MODELSHIP_TRITONCLIENT_PYTHON, else a venv created once per machine under
 * ${MODELSHIP_CACHE_DIR:-~/.cache/modelship}/tritonclient-venv (pip, pinned versions; recreated
 * when a pinned package is missing).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const PINNED = ['tritonclient[http]==2.73.0', 'numpy==2.4.6', 'geventhttpclient==2.6.1', 'requests==2.32.5'];
const IMPORTS = 'import tritonclient.http, numpy, requests';

function hasClients(py: string): boolean {
  return existsSync(py) && spawnSync(py, ['-c', IMPORTS], { stdio: 'ignore' }).status === 0;
}

export function provisionPython(): string {
  const given = process.env['MODELSHIP_TRITONCLIENT_PYTHON'];
  if (given) {
    if (!hasClients(given)) throw new Error(`MODELSHIP_TRITONCLIENT_PYTHON=${given} cannot run "${IMPORTS}"`);
    return given;
  }
  const cache = process.env['MODELSHIP_CACHE_DIR'] ?? join(homedir(), '.cache', 'modelship');
  const venv = join(cache, 'tritonclient-venv');
  const py = join(venv, 'bin', 'python');
  if (hasClients(py)) return py;
  mkdirSync(cache, { recursive: true });
  const tmp = `${venv}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`python clients: creating ${venv} (pip install ${PINNED.join(' ')}; once per machine)\n`);
  execFileSync('python3', ['-m', 'venv', tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(join(tmp, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...PINNED], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 600_000,
  });
  rmSync(venv, { recursive: true, force: true });
  renameSync(tmp, venv);
  // venv scripts hard-code their own path; python itself works from the renamed folder.
  if (!hasClients(py)) throw new Error(`could not provision the Python clients in ${venv}`);
  return py;
}
