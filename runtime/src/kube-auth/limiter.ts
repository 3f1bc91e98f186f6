/**
 * At most `max` tasks at once, at most `maxWaiting` queued behind them; a task beyond that is
 * refused at once (the caller answers 503) rather than piling up while the API server is slow.
 */
import { ReviewUnavailable } from '../errors.ts';

export class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly max: number;
  private readonly maxWaiting: number;

  constructor(max: number, maxWaiting: number) {
    this.max = max;
    this.maxWaiting = maxWaiting;
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) {
      if (this.waiting.length >= this.maxWaiting)
        throw new ReviewUnavailable(`${this.maxWaiting} authorization reviews are already waiting`);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // the slot passes straight to the next waiter; `running` stays the same
      if (next) next();
      else this.running--;
    }
  }
}
