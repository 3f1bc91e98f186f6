/**
 * Scheduler: a bounded FIFO queue in front of the worker pool. A request is handed to a worker
 * as soon as one is idle; while all are busy, requests accumulate and are then run together
 * (dynamic batching, Triton semantics: max batch size, max queue delay, 0 = no waiting).
 * Per-request deadline; 429 when the queue is full; a request whose client went away is dropped
 * from the queue before it runs.
 */
import { performance } from 'node:perf_hooks';
import { batchKey, concatInputs, splitOutputs, takeBatch, totalRows, type Batchable } from './batcher.ts';
import type { Tensor } from '../tensor/datatypes.ts';
import { HttpError, unavailable, WorkerLostError } from '../errors.ts';
import type { RunResult } from './pool.ts';

export interface Executor {
  hasIdle(): boolean;
  run(feeds: Map<string, Tensor>, fetches: string[] | undefined): Promise<RunResult>;
  onIdle: () => void;
}

export interface SchedulerOptions {
  inputNames: string[];
  /** 1 = every request runs alone */
  maxBatchSize: number;
  maxBatchDelayUs: number;
  maxQueueSize: number;
  timeoutMs: number;
  /** the model has a dynamic first dimension on every input and output */
  batchable: boolean;
}

export interface SchedulerHooks {
  queueSeconds(s: number): void;
  computeSeconds(s: number): void;
  batchRows(rows: number): void;
  queueDepth(n: number): void;
  /** a queued request was dropped because its client went away */
  abandoned?(): void;
}

export interface JobResult {
  outputs: Map<string, Tensor>;
}

interface Job extends Batchable {
  inputs: Map<string, Tensor>;
  fetches: string[] | undefined;
  enqueued: number;
  deadline: number;
  done: boolean;
  resolve(r: JobResult): void;
  reject(e: Error): void;
  /** detaches the abort listener */
  cleanup(): void;
}

/** Status of a request whose client went away (nginx's "client closed request"; never sent). */
export const CLIENT_CLOSED = 499;

export class Scheduler {
  private readonly opts: SchedulerOptions;
  private readonly exec: Executor;
  private readonly hooks: SchedulerHooks;
  private readonly queue: Job[] = [];
  private readonly running = new Set<Job>();
  private delayTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly batching: boolean;

  constructor(opts: SchedulerOptions, exec: Executor, hooks: SchedulerHooks) {
    this.opts = opts;
    this.exec = exec;
    this.hooks = hooks;
    this.batching = opts.batchable && opts.maxBatchSize > 1;
    exec.onIdle = () => this.pump();
  }

  /** Requests queued or running. */
  get pending(): number {
    return this.queue.length + this.running.size;
  }

  /**
   * Queue a request. When `signal` aborts (the client went away) while the request is still
   * queued, it is dropped without running and the promise rejects with status 499.
   */
  submit(inputs: Map<string, Tensor>, rows: number, fetches: string[] | undefined, signal?: AbortSignal): Promise<JobResult> {
    if (this.queue.length >= this.opts.maxQueueSize) {
      return Promise.reject(new HttpError(429, `the inference queue is full (${this.opts.maxQueueSize} requests waiting); retry later`, 1));
    }
    if (signal?.aborted) return Promise.reject(new HttpError(CLIENT_CLOSED, 'the client closed the request'));
    return new Promise<JobResult>((resolve, reject) => {
      const now = performance.now();
      const job: Job = {
        inputs,
        rows: this.opts.batchable ? rows : 1,
        key: this.batching ? batchKey(this.opts.inputNames, inputs) : '',
        solo: !this.batching,
        // a batched run computes every output; a solo run only the requested ones
        fetches: this.batching ? undefined : fetches,
        enqueued: now,
        deadline: now + this.opts.timeoutMs,
        done: false,
        resolve,
        reject,
        cleanup: () => {},
      };
      if (signal) {
        const onAbort = () => this.abandon(job);
        signal.addEventListener('abort', onAbort, { once: true });
        job.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(job);
      this.hooks.queueDepth(this.queue.length);
      this.pump();
      this.armSweep();
    });
  }

  /** The client of `job` went away: drop it if it has not started (a running batch cannot be stopped). */
  private abandon(job: Job): void {
    if (job.done) return;
    const i = this.queue.indexOf(job);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.hooks.queueDepth(this.queue.length);
    this.hooks.abandoned?.();
    job.done = true;
    job.cleanup();
    job.reject(new HttpError(CLIENT_CLOSED, 'the client closed the request'));
  }

  private pump(): void {
    while (this.queue.length > 0 && this.exec.hasIdle()) {
      if (this.batching && this.opts.maxBatchDelayUs > 0) {
        const head = this.queue[0] as Job;
        const waitedUs = (performance.now() - head.enqueued) * 1000;
        if (waitedUs < this.opts.maxBatchDelayUs && !head.solo && totalRows(this.queue) < this.opts.maxBatchSize) {
          if (!this.delayTimer) {
            this.delayTimer = setTimeout(
              () => {
                this.delayTimer = undefined;
                this.pump();
              },
              Math.max(0, Math.ceil((this.opts.maxBatchDelayUs - waitedUs) / 1000)),
            );
          }
          return;
        }
      }
      const batch = takeBatch(this.queue, this.batching ? this.opts.maxBatchSize : 1);
      this.hooks.queueDepth(this.queue.length);
      this.dispatch(batch);
    }
  }

  private dispatch(batch: Job[]): void {
    const now = performance.now();
    const live = batch.filter((j) => !j.done);
    if (live.length === 0) return;
    for (const j of live) {
      this.running.add(j);
      this.hooks.queueSeconds((now - j.enqueued) / 1000);
    }
    const single = live.length === 1;
    const feeds = single
      ? (live[0] as Job).inputs
      : concatInputs(
          this.opts.inputNames,
          live.map((j) => j.inputs),
        );
    const rows = live.map((j) => j.rows);
    this.hooks.batchRows(single ? (live[0] as Job).rows : totalRows(live));
    this.exec.run(feeds, single ? (live[0] as Job).fetches : undefined).then(
      (result) => {
        this.hooks.computeSeconds(result.computeMs / 1000);
        if (single) {
          this.finish(live[0] as Job, result.outputs);
          return;
        }
        const parts = splitOutputs(result.outputs, rows);
        if (!parts) {
          this.retrySolo(live);
          return;
        }
        for (let i = 0; i < live.length; i++) this.finish(live[i] as Job, parts[i] as Map<string, Tensor>);
      },
      (err: Error) => {
        if (err instanceof WorkerLostError) {
          // not retried: a request that crashes or hangs its worker would take the next one too
          const failure = err.timedOut ? new HttpError(504, err.message) : unavailable(`inference failed: ${err.message}; retry`);
          for (const j of live) this.fail(j, failure);
          return;
        }
        if (!single) {
          // one bad request must not fail its neighbours: run each alone
          this.retrySolo(live);
          return;
        }
        this.fail(live[0] as Job, new HttpError(500, `inference failed: ${err.message}`));
      },
    );
  }

  private retrySolo(jobs: Job[]): void {
    for (const j of jobs) {
      this.running.delete(j);
      j.solo = true;
    }
    this.queue.unshift(...jobs.filter((j) => !j.done));
    this.pump();
  }

  private finish(job: Job, outputs: Map<string, Tensor>): void {
    this.running.delete(job);
    if (job.done) return;
    job.done = true;
    job.cleanup();
    job.resolve({ outputs });
  }

  private fail(job: Job, err: Error): void {
    this.running.delete(job);
    if (job.done) return;
    job.done = true;
    job.cleanup();
    job.reject(err);
  }

  /** One timer sweeps deadlines while anything is pending (no timer per request). */
  private armSweep(): void {
    if (this.sweepTimer) return;
    const period = Math.min(50, Math.max(1, Math.floor(this.opts.timeoutMs / 4)));
    this.sweepTimer = setInterval(() => {
      const now = performance.now();
      for (let i = this.queue.length - 1; i >= 0; i--) {
        const j = this.queue[i] as Job;
        if (now >= j.deadline) {
          this.queue.splice(i, 1);
          j.done = true;
          j.cleanup();
          j.reject(new HttpError(504, `inference timed out after ${this.opts.timeoutMs} ms waiting in the queue`));
        }
      }
      for (const j of this.running) {
        if (now >= j.deadline && !j.done) {
          j.done = true;
          j.cleanup();
          j.reject(new HttpError(504, `inference timed out after ${this.opts.timeoutMs} ms`));
        }
      }
      if (this.queue.length === 0 && this.running.size === 0) {
        clearInterval(this.sweepTimer);
        this.sweepTimer = undefined;
      }
    }, period);
    this.sweepTimer.unref();
  }

  /** Resolves when nothing is queued or running. */
  async idle(): Promise<void> {
    while (this.pending > 0) await new Promise((r) => setTimeout(r, 5));
  }

  close(): void {
    if (this.delayTimer) clearTimeout(this.delayTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }
}
