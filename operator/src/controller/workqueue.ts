/**
 * A work queue with client-go semantics: a key waiting in the queue is stored once however many
 * times it is added; a key being processed is never handed out again until `done`, and if it was
 * added meanwhile it is queued once more after `done`. Failures back off per key, exponentially.
 */
export interface BackoffPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseDelayMs: 5, maxDelayMs: 5 * 60_000 };

type Waiter = (key: string | undefined) => void;

/** Told of each key's way through the queue (client-go's queue metrics hooks). */
export interface WorkQueueObserver {
  /** The key became due (counted once while it waits, however many times it is added). */
  added(key: string): void;
  /** A worker took the key. */
  started(key: string): void;
  /** The worker is done with the key. */
  finished(key: string): void;
  /** A failed key was re-added with backoff. */
  retried(key: string): void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: Waiter[] = [];
  private shuttingDown = false;
  private readonly backoff: BackoffPolicy;
  private observer: WorkQueueObserver | undefined;

  constructor(backoff: BackoffPolicy = DEFAULT_BACKOFF) {
    this.backoff = backoff;
  }

  observe(observer: WorkQueueObserver): void {
    this.observer = observer;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.observer?.added(key);
    if (this.processing.has(key)) return;
    this.handOut(key);
  }

  /** Gives a dirty key to a waiting worker, or queues it. */
  private handOut(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.observer?.started(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds the key after `delayMs`; an earlier pending delayed add for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Re-adds a failed key after its exponential backoff delay; returns the delay used. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.observer?.retried(key);
    const delay = Math.min(this.backoff.baseDelayMs * 2 ** n, this.backoff.maxDelayMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the failure count of a key after a success. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resolves with the next key, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.observer?.started(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    this.observer?.finished(key);
    if (this.dirty.has(key) && !this.shuttingDown) this.handOut(key);
  }

  get length(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
