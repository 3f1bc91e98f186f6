// The processes a dev cluster started, and how to clean them up: spawn with logs to files, stop
// exactly the recorded PIDs, clean up on exit / SIGINT / SIGTERM / uncaught exceptions, and a
// Session that records every process of one control plane or cluster in <dir>/devcluster.json so
// another process can attach to it, stop it (cluster CLI `down`) or reap it (its owner died).

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { freePorts } from './ports.ts';
import { sleep, waitFor } from './wait.ts';

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

/**
 * A process started on its own (not by a Session), logged to `logPath`, stopped on exit or Ctrl-C
 * by the cleanup registry until `stop` is called.
 */
export function spawnStandalone(
  name: string,
  bin: string,
  args: string[],
  logPath: string,
  opts: { env?: NodeJS.ProcessEnv } = {},
): { proc: Proc; stop: () => Promise<void> } {
  const proc = spawnLogged(name, bin, args, logPath, opts);
  const cleanup = { stop: () => stopProcs([proc]), killSync: () => killProcsSync([proc]) };
  registerCleanup(cleanup);
  return {
    proc,
    stop: async () => {
      unregisterCleanup(cleanup);
      await stopProcs([proc]);
    },
  };
}

/** Throws when the process this harness started has already ended (for readiness loops). */
export function assertRunning(proc: Proc): void {
  const c = proc.child;
  if (c && (c.exitCode !== null || c.signalCode !== null)) throw new Error(`${proc.name} exited (${c.exitCode ?? c.signalCode})`);
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

const capturedChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of capturedChildren) c.kill('SIGKILL');
});

/**
 * Runs a short command (kubectl, helm, promtool) to its end with its output captured and `input` on
 * its stdin; killed after `timeoutMs` (default 120 s) or when this process exits. Rejects only when
 * it cannot be started; a signal is exit code 128.
 */
export function runCaptured(
  bin: string,
  args: readonly string[],
  opts: { cwd?: string | undefined; env?: NodeJS.ProcessEnv; input?: string | undefined; timeoutMs?: number | undefined } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd, env: opts.env });
    capturedChildren.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      stderr += `\n(${basename(bin)} killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      capturedChildren.delete(child);
      reject(err);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      capturedChildren.delete(child);
      resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
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

// ---- session: one dev cluster's processes, state file, dir and tear-down -------------------------

export const STATE_FILE = 'devcluster.json';

export interface SessionState {
  version: 2;
  /** Temp-dir prefix: which composition started it (control plane only, or a full node). */
  kind: string;
  ownerPid: number;
  /** Started by the CLI: outlives its owner, never reaped, stopped by `down`. */
  detached: boolean;
  dir: string;
  processes: ProcRecord[];
}

/** What a composition adds to the generic tear-down; both run from the state file alone. */
export interface Teardown<T extends object> {
  /** Polite steps before the processes are stopped (e.g. delete the pods). */
  graceful?(state: SessionState & Partial<T>, procs: readonly Proc[], log: (line: string) => void): Promise<void>;
  /** Sync and idempotent: whatever the processes left behind (also for a dead owner's leftovers). */
  force?(state: SessionState & Partial<T>, log: (line: string) => void): void;
}

const keepDir = () => process.env.MODELSHIP_KEEP_CP === '1';

export function readSessionState<T extends object>(dir: string): (SessionState & Partial<T>) | undefined {
  try {
    const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as SessionState & Partial<T>;
    return state.version === 2 ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Processes recorded in the state file that `known` does not have (e.g. restarted by another process). */
function recordedSince(dir: string, known: readonly Proc[]): Proc[] {
  const recorded = readSessionState(dir)?.processes ?? [];
  return recorded.filter((r) => !known.some((p) => p.pid === r.pid) && isOurProcess(r));
}

/** Replaces a process's record (fault injection restarts a component from another process). */
export async function replaceRecordedProcess(dir: string, oldPid: number, proc: ProcRecord): Promise<void> {
  const state = readSessionState(dir);
  if (!state) throw new Error(`no dev cluster recorded in ${dir}`);
  state.processes = state.processes.map((p) =>
    p.pid === oldPid ? { name: proc.name, bin: proc.bin, pid: proc.pid, logPath: proc.logPath } : p,
  );
  await writeStateFile(dir, state);
}

async function writeStateFile(dir: string, state: object): Promise<void> {
  const tmp = join(dir, `${STATE_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, join(dir, STATE_FILE));
}

class StartError extends Error {}

export interface SessionOptions<T extends object> {
  /** Temp-dir prefix, also the state's `kind`. */
  prefix: string;
  detached?: boolean;
  log?: (line: string) => void;
  /** Default health timeout of a component. */
  timeoutMs?: number;
  teardown?: Teardown<T>;
}

/**
 * One dev cluster's processes: spawned with logs under <dir>/logs, recorded in <dir>/devcluster.json
 * (with whatever the composition records), stopped in reverse start order, then the composition's
 * forced tear-down and the dir removed. Until ready() (detached) it is stopped when this process
 * exits or is signalled.
 */
export class Session<T extends object = object> {
  readonly dir: string;
  readonly log: (line: string) => void;
  readonly timeoutMs: number;
  readonly state: SessionState & Partial<T>;
  private readonly procs: Proc[];
  private readonly teardown: Teardown<T>;
  private readonly cleanup: Cleanup;
  private stopped: Promise<void> | undefined;

  private constructor(state: SessionState & Partial<T>, procs: Proc[], opts: Omit<SessionOptions<T>, 'prefix'>) {
    this.state = state;
    this.dir = state.dir;
    this.procs = procs;
    this.log = opts.log ?? (() => {});
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.teardown = opts.teardown ?? {};
    this.cleanup = { stop: () => this.stop(), killSync: () => this.killSync() };
  }

  static async create<T extends object>(opts: SessionOptions<T>): Promise<Session<T>> {
    const dir = await mkdtemp(join(tmpdir(), opts.prefix));
    await mkdir(join(dir, 'logs'), { recursive: true });
    const state: SessionState = {
      version: 2,
      kind: opts.prefix,
      ownerPid: process.pid,
      detached: opts.detached ?? false,
      dir,
      processes: [],
    };
    const session = new Session<T>(state as SessionState & Partial<T>, [], opts);
    registerCleanup(session.cleanup);
    await session.save();
    return session;
  }

  /** A session another process recorded in `dir` (to stop it); its live processes only. */
  static attach<T extends object>(dir: string, opts: Omit<SessionOptions<T>, 'prefix'> = {}): Session<T> {
    const state = readSessionState<T>(dir);
    if (!state) throw new Error(`no dev cluster recorded in ${dir}`);
    return new Session<T>(state, state.processes.filter(isOurProcess), opts);
  }

  get detached(): boolean {
    return this.state.detached;
  }

  pids(): number[] {
    return this.procs.map((p) => p.pid);
  }

  /** Records what a component produced (server, kubeconfig, images...) in the state file. */
  async record(info: Partial<T>): Promise<void> {
    Object.assign(this.state, info);
    await this.save();
  }

  private async save(): Promise<void> {
    const all = [...this.procs, ...recordedSince(this.dir, this.procs)];
    this.state.processes = all.map(({ name, bin, pid, logPath }) => ({ name, bin, pid, logPath }));
    await writeStateFile(this.dir, this.state);
  }

  /** Spawns `name` with its log at <dir>/logs/<name>.log and records it. */
  async spawn(name: string, bin: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Proc> {
    const proc = spawnLogged(name, bin, args, join(this.dir, 'logs', `${name}.log`), { detached: this.detached, ...(env ? { env } : {}) });
    this.procs.push(proc);
    await this.save();
    return proc;
  }

  /** Waits until `healthy()`; fails at once if the process exits, with the end of its log. */
  async waitHealthy(proc: Proc, description: string, healthy: () => Promise<boolean>, timeoutMs = this.timeoutMs): Promise<void> {
    const started = Date.now();
    let outcome: { exited: number | string | null } | 'healthy';
    try {
      // an exit is a result, not an error: waitFor retries on errors until its deadline
      outcome = await waitFor(
        async () => {
          const c = proc.child;
          if (c && (c.exitCode !== null || c.signalCode !== null)) return { exited: c.exitCode ?? c.signalCode };
          return (await healthy()) ? ('healthy' as const) : undefined;
        },
        { timeoutMs, intervalMs: 200, description },
      );
    } catch (err) {
      throw new StartError(
        `${(err as Error).message}\n${proc.logPath} ends with (MODELSHIP_KEEP_CP=1 keeps it):\n${await tail(proc.logPath)}`,
        {
          cause: err,
        },
      );
    }
    if (outcome !== 'healthy') {
      throw new StartError(
        `${proc.name} exited (${String(outcome.exited)}) before ${description}; ${proc.logPath} ends with (MODELSHIP_KEEP_CP=1 keeps it):\n${await tail(proc.logPath)}`,
      );
    }
    this.log(`${proc.name} ready in ${((Date.now() - started) / 1000).toFixed(1)}s (pid ${proc.pid})`);
  }

  /**
   * Spawns a component on `portCount` fresh ports and waits until it is healthy; starts it again on
   * new ports if it exits complaining that an address is in use (another process took one).
   */
  async startOnFreePorts(
    name: string,
    bin: string,
    portCount: number,
    args: (ports: number[]) => string[],
    healthy: (ports: number[]) => Promise<boolean>,
  ): Promise<number[]> {
    const logPath = join(this.dir, 'logs', `${name}.log`);
    for (let attempt = 1; ; attempt++) {
      const ports = await freePorts(portCount);
      const logStart = existsSync(logPath) ? statSync(logPath).size : 0;
      const proc = await this.spawn(name, bin, args(ports));
      try {
        await this.waitHealthy(proc, `${name} to become healthy (ports ${ports.join(',')})`, () => healthy(ports));
        return ports;
      } catch (err) {
        const thisAttempt = (await readFile(logPath)).subarray(logStart).toString('utf8');
        if (attempt >= 3 || !/address already in use/i.test(thisAttempt)) throw err;
        this.procs.splice(this.procs.indexOf(proc), 1);
        await stopProcs([proc], 1_000);
        this.log(`${name}: port taken, retrying on new ports`);
      }
    }
  }

  /** Started: a detached session now outlives this process (no exit hooks any more). */
  async ready(): Promise<void> {
    await this.save();
    if (this.detached) unregisterCleanup(this.cleanup);
  }

  /** Graceful tear-down, then the forced one; removes the dir (unless MODELSHIP_KEEP_CP=1). Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      unregisterCleanup(this.cleanup);
      const procs = [...this.procs, ...recordedSince(this.dir, this.procs)];
      try {
        await this.teardown.graceful?.(this.state, procs, this.log).catch((err: unknown) => {
          this.log(`graceful tear-down incomplete (${(err as Error).message.split('\n')[0]}); forcing`);
        });
        await stopProcs(procs, 15_000);
      } finally {
        this.teardown.force?.(this.state, this.log);
        if (!keepDir()) removeDirSync(this.dir);
      }
    })();
    return this.stopped;
  }

  /** For the 'exit' event: SIGKILL, forced tear-down, remove the dir. */
  killSync(): void {
    killProcsSync([...this.procs, ...recordedSince(this.dir, this.procs)]);
    this.teardown.force?.(this.state, () => {});
    if (!keepDir()) removeDirSync(this.dir);
  }
}

/** Forced tear-down of a session whose owner is gone (SIGKILLed: no exit hook ran). */
export function reapSession<T extends object>(state: SessionState & Partial<T>, teardown: Teardown<T>, log: (line: string) => void): void {
  const procs = state.processes.filter(isOurProcess);
  if (procs.length > 0)
    log(`reaping the dev cluster of dead pid ${state.ownerPid} in ${state.dir} (pids ${procs.map((p) => p.pid).join(' ')})`);
  killProcsSync(procs);
  teardown.force?.(state, log);
  if (!keepDir()) removeDirSync(state.dir);
}

/** Reaps every `<tmp>/<prefix>*` session whose owner is gone and that was not started detached. */
export function reapStaleSessions<T extends object>(prefix: string, teardown: Teardown<T>, log: (line: string) => void): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(prefix));
  } catch {
    return;
  }
  for (const entry of entries) {
    const state = readSessionState<T>(join(tmpdir(), entry));
    if (state && !state.detached && !isAlive(state.ownerPid)) reapSession(state, teardown, log);
  }
}
