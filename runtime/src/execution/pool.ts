/**
 * A pool of inference worker threads, one onnxruntime session each. The scheduler hands a job
 * to an idle worker; the pool tells it when a worker becomes idle again.
 *
 * Health: a worker that ends (crash, or taken out by the pool because a run exceeded the run
 * timeout) fails the runs it held with WorkerLostError and is replaced; a replacement that
 * cannot load is retried with capped exponential backoff, for as long as the pool is open.
 * `live < size` is what readiness reports.
 *
 * A worker is never terminated in the middle of an onnxruntime run: that aborts the whole
 * process (onnxruntime-node throws from native code into a torn-down environment: "terminate
 * called after throwing an instance of 'Napi::Error'"). A worker taken out while it runs is
 * retired instead: out of rotation at once, its requests answered at once, a replacement
 * started at once, and the thread itself terminated as soon as its run returns.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { Tensor } from '../tensor/datatypes.ts';
import { errorMessage, ModelLoadError, WorkerLostError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { RawValueMetadata } from '../tensor/model.ts';

export interface WorkerData {
  modelPath: string;
  /** the model as rewritten at load (runtime/src/onnx/): loaded instead of the file when set */
  modelBytes?: Uint8Array;
  intraOpThreads: number;
}

export interface RunRequest {
  id: number;
  feeds: Record<string, Tensor>;
  fetches?: string[];
}

export type WorkerMessage =
  | { type: 'ready'; inputs: RawValueMetadata[]; outputs: RawValueMetadata[] }
  | { type: 'error'; message: string }
  | { type: 'result'; id: number; outputs?: Record<string, Tensor>; error?: string; computeMs: number };

export interface RunResult {
  outputs: Map<string, Tensor>;
  computeMs: number;
}

export interface PoolOptions {
  /** runs posted ahead to one worker: >1 hides the message round trip behind the current run */
  depth?: number;
  /** a run longer than this ends its worker (0 = no limit) */
  runTimeoutMs?: number;
  /** first delay before retrying a replacement that failed, doubled per failure */
  respawnBaseMs?: number;
  respawnMaxMs?: number;
  /** a worker that ran at least this long before ending resets the backoff */
  stableMs?: number;
  /** a loaded worker ended and will be replaced */
  onWorkerLost?: () => void;
  /** a retired worker still inside its run this long after it was retired counts as stuck (default 2 x the run timeout) */
  stuckAfterMs?: number;
}

interface Job {
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

interface Slot {
  worker: Worker;
  /** when the pool retired it (a run still inside), 0 if not retired */
  retiredAt: number;
  loadedAt: number;
  /** runs posted to this worker and not answered yet (it executes them in order) */
  jobs: Map<number, Job>;
  /** runs posted and not answered yet, including those of a retired worker */
  outstanding: number;
  /** why the pool took this worker out, if it did */
  endedBecause: string | undefined;
  timedOut: boolean;
}

type Meta = { inputs: RawValueMetadata[]; outputs: RawValueMetadata[] };

const WORKER_URL = new URL('./worker.ts', import.meta.url);

/**
 * Delay before the next replacement attempt after `failures` consecutive failures (a worker
 * that could not load, or ended soon after loading): 0 for the first, then base, 2 base, ...
 * capped at max.
 */
export function respawnDelayMs(failures: number, baseMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
}

export class WorkerPool {
  readonly size: number;
  private readonly data: WorkerData;
  private readonly log: Logger;
  private slots: Slot[] = [];
  private nextId = 1;
  private readonly depth: number;
  private readonly runTimeoutMs: number;
  private readonly respawnBaseMs: number;
  private readonly respawnMaxMs: number;
  private readonly stableMs: number;
  private closing = false;
  private failures = 0;
  private readonly respawnTimers = new Set<NodeJS.Timeout>();
  /** workers taken out while running; each ends when its run returns */
  private readonly retired = new Set<Slot>();
  private replacements = 0;
  private readonly onWorkerLost: () => void;
  private readonly stuckAfterMs: number;
  /** called whenever a worker becomes idle */
  onIdle: () => void = () => {};

  constructor(size: number, data: WorkerData, log: Logger, opts: PoolOptions = {}) {
    this.size = size;
    this.depth = Math.max(1, opts.depth ?? 1);
    this.runTimeoutMs = opts.runTimeoutMs ?? 0;
    this.respawnBaseMs = opts.respawnBaseMs ?? 100;
    this.respawnMaxMs = opts.respawnMaxMs ?? 30_000;
    this.stableMs = opts.stableMs ?? 10_000;
    this.onWorkerLost = opts.onWorkerLost ?? (() => {});
    this.stuckAfterMs = opts.stuckAfterMs ?? 2 * this.runTimeoutMs;
    this.data = data;
    this.log = log;
  }

  /** Workers that have loaded the model and are running. */
  get live(): number {
    return this.slots.length;
  }

  /**
   * Retired workers still inside a run long after their run timeout: a hung run holds a thread
   * (a CPU, its memory) that only a process restart gets back, so liveness reports it.
   */
  get stuck(): number {
    const now = performance.now();
    let n = 0;
    for (const s of this.retired) if (now - s.retiredAt >= this.stuckAfterMs) n++;
    return n;
  }

  /** Replacement workers started since start() (crashes and run timeouts). */
  get restarts(): number {
    return this.replacements;
  }

  /** Start every worker; resolves with the model metadata once all have loaded the model. */
  async start(): Promise<Meta> {
    const started = await Promise.all(Array.from({ length: this.size }, () => this.spawn()));
    return started[0] as Meta;
  }

  private spawn(): Promise<Meta> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL, { workerData: this.data });
      const slot: Slot = { worker, retiredAt: 0, loadedAt: 0, jobs: new Map(), outstanding: 0, endedBecause: undefined, timedOut: false };
      let loaded = false;
      worker.on('message', (msg: WorkerMessage) => {
        if (msg.type === 'ready') {
          loaded = true;
          slot.loadedAt = performance.now();
          if (this.closing) {
            void worker.terminate();
            reject(new ModelLoadError('the pool is closing'));
            return;
          }
          this.slots.push(slot);
          resolve({ inputs: msg.inputs, outputs: msg.outputs });
          this.onIdle();
        } else if (msg.type === 'error') {
          reject(new ModelLoadError(msg.message));
          void worker.terminate();
        } else {
          slot.outstanding--;
          if (slot.endedBecause !== undefined) {
            // a retired worker whose run has returned: safe to end now
            if (slot.outstanding <= 0) void worker.terminate();
            return;
          }
          const job = slot.jobs.get(msg.id);
          slot.jobs.delete(msg.id);
          if (job) {
            clearTimeout(job.timer);
            if (msg.error !== undefined) job.reject(new Error(msg.error));
            else job.resolve({ outputs: new Map(Object.entries(msg.outputs ?? {})), computeMs: msg.computeMs });
          }
          this.onIdle();
        }
      });
      worker.on('error', (err) => {
        if (!loaded) {
          reject(new ModelLoadError(`inference worker failed while loading the model: ${err.message}`));
          return;
        }
        this.log.error('inference worker crashed', { error: err.message });
      });
      worker.on('exit', (code) => {
        this.retired.delete(slot);
        if (!loaded) {
          reject(new ModelLoadError(`inference worker exited with code ${code} while loading the model`));
          return;
        }
        // taken out by the pool: already answered and replaced
        if (slot.endedBecause !== undefined) return;
        const i = this.slots.indexOf(slot);
        if (i >= 0) this.slots.splice(i, 1);
        this.failJobs(slot, new WorkerLostError(`the inference worker exited (code ${code}) during the request`, false));
        if (this.closing) return;
        // a worker that ends soon after loading (again and again) must not be restarted in a tight loop
        if (performance.now() - slot.loadedAt < this.stableMs) this.failures++;
        this.log.error('inference worker exited; starting a new one', { code, live: this.slots.length, size: this.size });
        this.onWorkerLost();
        this.scheduleRespawn();
      });
    });
  }

  private scheduleRespawn(): void {
    const delay = respawnDelayMs(this.failures, this.respawnBaseMs, this.respawnMaxMs);
    const timer = setTimeout(() => {
      this.respawnTimers.delete(timer);
      if (this.closing) return;
      const t0 = performance.now();
      this.replacements++;
      this.spawn().then(
        () => {
          this.failures = 0;
          this.log.info('inference worker replaced', {
            loadMs: Math.round(performance.now() - t0),
            live: this.slots.length,
            size: this.size,
          });
        },
        (err: unknown) => {
          if (this.closing) return;
          this.failures++;
          this.log.error('cannot start a replacement inference worker; retrying', {
            error: errorMessage(err),
            retryInMs: respawnDelayMs(this.failures, this.respawnBaseMs, this.respawnMaxMs),
            live: this.slots.length,
            size: this.size,
          });
          this.scheduleRespawn();
        },
      );
    }, delay);
    this.respawnTimers.add(timer);
  }

  /**
   * End one live worker: its runs fail with WorkerLostError and a replacement starts, as after
   * a crash. The run timeout uses this; so can a test.
   */
  async endWorker(index: number, reason: string, timedOut = false): Promise<void> {
    const slot = this.slots[index];
    if (!slot) throw new RangeError(`no live worker ${index} (${this.slots.length} live)`);
    await this.end(slot, reason, timedOut);
  }

  private failJobs(slot: Slot, err: WorkerLostError): void {
    for (const job of slot.jobs.values()) {
      clearTimeout(job.timer);
      job.reject(err);
    }
    slot.jobs.clear();
  }

  /** Take a worker out: answer its runs now, replace it now, end the thread once no run is in it. */
  private async end(slot: Slot, reason: string, timedOut: boolean): Promise<void> {
    if (slot.endedBecause !== undefined) return;
    slot.endedBecause = reason;
    slot.timedOut = timedOut;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    this.failJobs(slot, new WorkerLostError(reason, timedOut));
    if (!this.closing) {
      this.log.error('inference worker taken out; starting a new one', {
        reason,
        runsInProgress: slot.outstanding,
        live: this.slots.length,
        size: this.size,
      });
      this.onWorkerLost();
      this.scheduleRespawn();
    }
    if (slot.outstanding <= 0) {
      await slot.worker.terminate();
      return;
    }
    slot.retiredAt = performance.now();
    this.retired.add(slot);
    const exited = new Promise<void>((r) => slot.worker.once('exit', () => r()));
    await exited;
  }

  /** The least loaded worker that can take another run, if any. */
  private pick(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (s.jobs.size < this.depth && (!best || s.jobs.size < best.jobs.size)) best = s;
    }
    return best;
  }

  hasIdle(): boolean {
    return this.pick() !== undefined;
  }

  /**
   * Post a run to the least loaded worker (the caller checks hasIdle() first). A run longer
   * than `timeoutMs` (default: the pool's run timeout; 0 = none) ends its worker.
   */
  run(feeds: Map<string, Tensor>, fetches: string[] | undefined, timeoutMs = this.runTimeoutMs): Promise<RunResult> {
    const slot = this.pick();
    if (!slot) return Promise.reject(new Error('no idle inference worker'));
    const id = this.nextId++;
    const feedObj: Record<string, Tensor> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, t] of feeds) {
      feedObj[name] = t;
      if (!Array.isArray(t.data)) {
        const buf = t.data.buffer;
        // transfer only buffers the tensor owns whole (decoded inputs); never a shared one
        if (buf instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.byteLength === buf.byteLength && !transfer.includes(buf))
          transfer.push(buf);
      }
    }
    return new Promise<RunResult>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.log.warn('inference run exceeded the run timeout; replacing its worker', { runTimeoutMs: timeoutMs });
              void this.end(slot, `the inference run took longer than the run timeout of ${timeoutMs} ms; its worker was replaced`, true);
            }, timeoutMs)
          : undefined;
      slot.jobs.set(id, { resolve, reject, timer });
      slot.outstanding++;
      const msg: RunRequest = fetches ? { id, feeds: feedObj, fetches } : { id, feeds: feedObj };
      slot.worker.postMessage(msg, transfer);
    });
  }

  /**
   * Stop every worker. One still inside a run is given up to `graceMs` for the run to return
   * (terminating it mid-run would abort the process), then terminated anyway.
   */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    for (const t of this.respawnTimers) clearTimeout(t);
    this.respawnTimers.clear();
    const slots = [...this.slots, ...this.retired];
    this.slots = [];
    await Promise.all(
      slots.map(async (s) => {
        const deadline = performance.now() + graceMs;
        while (s.outstanding > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await s.worker.terminate();
      }),
    );
  }
}
