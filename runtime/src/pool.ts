/**
 * A pool of inference worker threads, one onnxruntime session each. The scheduler hands a job
 * to an idle worker; the pool tells it when a worker becomes idle again.
 */
import { Worker } from 'node:worker_threads';
import type { Tensor } from './datatypes.ts';
import { ModelLoadError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { RawValueMetadata } from './model.ts';

export interface WorkerData {
  modelPath: string;
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

interface Job {
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  loaded: boolean;
  /** runs posted to this worker and not answered yet (it executes them in order) */
  jobs: Map<number, Job>;
}

const WORKER_URL = new URL('./worker.ts', import.meta.url);

export class WorkerPool {
  readonly size: number;
  private readonly data: WorkerData;
  private readonly log: Logger;
  private slots: Slot[] = [];
  private nextId = 1;
  /** runs posted ahead to one worker: >1 hides the message round trip behind the current run */
  private readonly depth: number;
  private closing = false;
  /** called whenever a worker becomes idle */
  onIdle: () => void = () => {};

  constructor(size: number, data: WorkerData, log: Logger, depth = 1) {
    this.size = size;
    this.depth = Math.max(1, depth);
    this.data = data;
    this.log = log;
  }

  /** Start every worker; resolves with the model metadata once all have loaded the model. */
  async start(): Promise<{ inputs: RawValueMetadata[]; outputs: RawValueMetadata[] }> {
    const started = await Promise.all(Array.from({ length: this.size }, () => this.spawn()));
    return started[0] as { inputs: RawValueMetadata[]; outputs: RawValueMetadata[] };
  }

  private spawn(): Promise<{ inputs: RawValueMetadata[]; outputs: RawValueMetadata[]; slot: Slot }> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL, { workerData: this.data });
      const slot: Slot = { worker, loaded: false, jobs: new Map() };
      let loaded = false;
      worker.on('message', (msg: WorkerMessage) => {
        if (msg.type === 'ready') {
          loaded = true;
          slot.loaded = true;
          this.slots.push(slot);
          resolve({ inputs: msg.inputs, outputs: msg.outputs, slot });
          this.onIdle();
        } else if (msg.type === 'error') {
          reject(new ModelLoadError(msg.message));
          void worker.terminate();
        } else {
          const job = slot.jobs.get(msg.id);
          slot.jobs.delete(msg.id);
          if (job) {
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
        const i = this.slots.indexOf(slot);
        if (i >= 0) this.slots.splice(i, 1);
        for (const job of slot.jobs.values()) job.reject(new Error(`inference worker exited (code ${code}) during the request`));
        slot.jobs.clear();
        if (!loaded) {
          reject(new ModelLoadError(`inference worker exited with code ${code} while loading the model`));
          return;
        }
        if (!this.closing) {
          this.log.error('inference worker exited; starting a new one', { code });
          this.spawn().catch((err: Error) => this.log.error('cannot restart inference worker', { error: err.message }));
        }
      });
    });
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

  /** Post a run to the least loaded worker (the caller checks hasIdle() first). */
  run(feeds: Map<string, Tensor>, fetches: string[] | undefined): Promise<RunResult> {
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
      slot.jobs.set(id, { resolve, reject });
      const msg: RunRequest = fetches ? { id, feeds: feedObj, fetches } : { id, feeds: feedObj };
      slot.worker.postMessage(msg, transfer);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots = [];
  }
}
