/**
 * Python virtual environments the tests run real Python tools in, created once per machine under
 * ${MODELSHIP_CACHE_DIR:-~/.cache/modelship}/<name> with pinned packages from PyPI, and created
 * again when a pinned package is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

function canImport(py: string, imports: string): boolean {
  return existsSync(py) && spawnSync(py, ['-c', imports], { stdio: 'ignore' }).status === 0;
}

/** The venv's python, created with `pins` unless it already has them (`imports` runs without error). */
export function provisionVenv(name: string, pins: readonly string[], imports: string): string {
  const cache = process.env['MODELSHIP_CACHE_DIR'] ?? join(homedir(), '.cache', 'modelship');
  const venv = join(cache, name);
  const py = join(venv, 'bin', 'python');
  if (canImport(py, imports)) return py;
  mkdirSync(cache, { recursive: true });
  const tmp = `${venv}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`python: creating ${venv} (pip install ${pins.join(' ')}; once per machine)\n`);
  execFileSync('python3', ['-m', 'venv', tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(join(tmp, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...pins], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 600_000,
  });
  rmSync(venv, { recursive: true, force: true });
  renameSync(tmp, venv);
  // venv scripts hard-code their own path; python itself works from the renamed folder.
  if (!canImport(py, imports)) throw new Error(`could not provision ${venv}`);
  return py;
}

const CLIENT_PINS = ['tritonclient[http]==2.73.0', 'numpy==2.4.6', 'geventhttpclient==2.6.1', 'requests==2.32.5'];
const CLIENT_IMPORTS = 'import tritonclient.http, numpy, requests';

/** A Python with the clients users call the runtime with: MODELSHIP_TRITONCLIENT_PYTHON, else a cached venv. */
export function provisionPython(): string {
  const given = process.env['MODELSHIP_TRITONCLIENT_PYTHON'];
  if (given) {
    if (!canImport(given, CLIENT_IMPORTS)) throw new Error(`MODELSHIP_TRITONCLIENT_PYTHON=${given} cannot run "${CLIENT_IMPORTS}"`);
    return given;
  }
  return provisionVenv('tritonclient-venv', CLIENT_PINS, CLIENT_IMPORTS);
}

/** The pins of a requirements file (comments and blank lines dropped). */
export function requirements(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '');
}
