// Child processes of the harness: spawn with logs to files, stop exactly the recorded PIDs,
// and clean up on exit / SIGINT / SIGTERM / uncaught exceptions.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { sleep } from './wait.ts';

export interface ProcRecord {
  name: string;
  /** Absolute path of the binary, also argv[0]: used to check a PID still is our process. */
  bin: string;
  pid: number;
  logPath: string;
}

export interface Proc extends ProcRecord {
  child?: ChildProcess;
}

export function spawnLogged(
  name: string,
  bin: string,
  args: string[],
  logPath: string,
  opts: { detached?: boolean; env?: NodeJS.ProcessEnv } = {},
): Proc {
  const fd = openSync(logPath, 'a');
  try {
    writeSync(fd, `\n=== ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
    const child = spawn(bin, args, {
      stdio: ['ignore', fd, fd],
      detached: opts.detached ?? false,
      env: opts.env ?? process.env,
    });
    // An 'error' event (e.g. ENOENT) must not crash the process; exit is observed separately.
    child.on('error', () => {});
    if (child.pid === undefined) {
      throw new Error(`could not start ${name} (${bin})`);
    }
    if (opts.detached) child.unref();
    return { name, bin, pid: child.pid, logPath, child };
  } finally {
    closeSync(fd);
  }
}

/** True while `pid` is running (a zombie counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** True if `pid` is alive and still runs `bin` (guards against PID reuse). */
export function isOurProcess(p: ProcRecord): boolean {
  if (!isAlive(p.pid)) return false;
  try {
    const argv0 = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 === p.bin;
  } catch {
    return false;
  }
}

function exited(p: Proc): boolean {
  if (p.child) return p.child.exitCode !== null || p.child.signalCode !== null;
  return !isAlive(p.pid);
}

function signal(p: Proc, sig: NodeJS.Signals): void {
  if (exited(p)) return;
  if (!p.child && !isOurProcess(p)) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    // already gone
  }
}

/**
 * SIGTERM to each process in reverse start order, waiting for each to exit; SIGKILL whatever is still
 * running once `graceMs` (shared) has passed.
 */
export async function stopProcs(procs: readonly Proc[], graceMs = 10_000): Promise<void> {
  const deadline = Date.now() + graceMs;
  for (const p of [...procs].reverse()) {
    signal(p, 'SIGTERM');
    while (!exited(p) && Date.now() < deadline) await sleep(50);
    if (!exited(p)) {
      signal(p, 'SIGKILL');
      const killDeadline = Date.now() + 5_000;
      while (!exited(p) && Date.now() < killDeadline) await sleep(20);
    }
  }
}

/** Synchronous last resort (process 'exit' handler): SIGKILL everything, briefly wait for it to die. */
export function killProcsSync(procs: readonly Proc[]): void {
  for (const p of procs) signal(p, 'SIGKILL');
  const deadline = Date.now() + 2_000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (procs.some((p) => isAlive(p.pid)) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 20);
}

export async function tail(path: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---- cleanup registry -------------------------------------------------------------------------

export interface Cleanup {
  /** Async, graceful. */
  stop(): Promise<void>;
  /** Sync, for the 'exit' event. */
  killSync(): void;
}

const registry = new Set<Cleanup>();
let hooksInstalled = false;
let stopping = false;

const signalNumbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const c of registry) c.killSync();
    registry.clear();
  });
  process.on('uncaughtExceptionMonitor', () => {
    for (const c of registry) c.killSync();
    registry.clear();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      const code = 128 + (signalNumbers[sig] ?? 1);
      if (stopping) {
        // second signal: do not wait any more
        process.exit(code);
      }
      stopping = true;
      process.stderr.write(`harness: ${sig}, stopping the control plane...\n`);
      void Promise.allSettled([...registry].map((c) => c.stop())).finally(() => process.exit(code));
    });
  }
}

export function registerCleanup(c: Cleanup): void {
  installHooks();
  registry.add(c);
}

export function unregisterCleanup(c: Cleanup): void {
  registry.delete(c);
}

export function removeDirSync(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch {
    // best effort
  }
}
