// `kubectl modelship` for the tests, the way a user gets it: `npm run plugin:install`'s script links
// the launcher into a directory, and the real kubectl binary finds it there on the PATH.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, resolveBinaries } from '@modelship/devcluster/binaries';
import type { KubectlResult } from '@modelship/devcluster/controlplane';

export interface Plugin {
  /** The directory the plugin is linked into (on the PATH of every run). */
  dir: string;
  kubectl: string;
  /** `kubectl modelship ...args`; stdin is a pipe (not a terminal) holding `input`. */
  run(args: string[], opts?: { input?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<KubectlResult>;
  /** The same on a terminal (script(1) gives it a pty), typing `typed`; stdout and stderr arrive mixed. */
  runOnTerminal(args: string[], typed: string): Promise<KubectlResult>;
  remove(): Promise<void>;
}

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv, input: string, timeoutMs: number): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'], cwd: tmpdir() });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

export async function installPlugin(): Promise<Plugin> {
  const { kubectl } = await resolveBinaries(['kubectl']);
  const dir = await mkdtemp(join(tmpdir(), 'modelship-plugin-'));
  const installed = await exec(
    process.execPath,
    [join(repoRoot, 'kubectl-plugin/scripts/install.ts'), '--dir', dir],
    process.env,
    '',
    30_000,
  );
  assert.equal(installed.code, 0, installed.stderr);
  assert.match(installed.stdout, new RegExp(`^linked ${dir}/kubectl-modelship -> ${repoRoot}/kubectl-plugin/bin/kubectl-modelship$`, 'm'));
  // the launcher runs the repository's Node whatever `node` the PATH has (this machine's is Node 20)
  const PATH = `${dir}:${process.env.PATH ?? ''}`;
  // MODELSHIP_PLUGIN_TRANSCRIPT=<file>: every run and its output appended there (the README's sessions)
  const transcript = process.env.MODELSHIP_PLUGIN_TRANSCRIPT;
  const run: Plugin['run'] = async (args, opts = {}) => {
    const env = { ...process.env, PATH, ...opts.env };
    const r = await exec(kubectl, ['modelship', ...args], env, opts.input ?? '', opts.timeoutMs ?? 120_000);
    if (transcript) await appendFile(transcript, `$ kubectl modelship ${args.join(' ')}\n${r.stdout}${r.stderr}(exit ${r.code})\n\n`);
    return r;
  };
  const runOnTerminal: Plugin['runOnTerminal'] = (args, typed) => {
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const command = [kubectl, 'modelship', ...args].map(quote).join(' ');
    return exec('script', ['-qec', command, '/dev/null'], { ...process.env, PATH }, typed, 60_000);
  };
  return {
    dir,
    kubectl,
    run,
    runOnTerminal,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export function show(r: KubectlResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Exit 1 (or `code`), nothing on stdout, exactly one line on stderr matching `message`. */
export function assertOneLineError(r: KubectlResult, message: RegExp, code = 1): void {
  assert.equal(r.code, code, show(r));
  const lines = r.stderr.split('\n').filter(Boolean);
  if (code === 2) assert.equal(lines[1], "See 'kubectl modelship --help'.", show(r));
  assert.equal(lines.length, code === 2 ? 2 : 1, `one error line: ${show(r)}`);
  assert.match(lines[0] ?? '', message, show(r));
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}
