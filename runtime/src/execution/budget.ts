/**
 * The in-flight memory budget: bytes of request bodies being read and of decoded tensors queued
 * or running. A request reserves before it allocates; over the budget it is refused (503).
 */
export interface BudgetHooks {
  inUse(bytes: number): void;
  rejected(): void;
}

export class MemoryBudget {
  readonly limit: number;
  private used = 0;
  private readonly hooks: BudgetHooks;
  private readonly onRelease: (bytes: number) => void;

  /** `onRelease`: told of every release (reclaim.ts collects the garbage of large requests) */
  constructor(limit: number, hooks: BudgetHooks, onRelease: (bytes: number) => void = () => {}) {
    this.limit = limit;
    this.hooks = hooks;
    this.onRelease = onRelease;
  }

  get inUse(): number {
    return this.used;
  }

  /** Reserve `bytes`, or return false (and count a rejection) when they do not fit. */
  tryReserve(bytes: number): boolean {
    if (bytes <= 0) return true;
    if (this.used + bytes > this.limit) {
      this.hooks.rejected();
      return false;
    }
    this.used += bytes;
    this.hooks.inUse(this.used);
    return true;
  }

  release(bytes: number): void {
    if (bytes <= 0) return;
    this.used = Math.max(0, this.used - bytes);
    this.hooks.inUse(this.used);
    this.onRelease(bytes);
  }
}

/** What one request holds against the budget; released once, whatever ends it. */
export class Reservation {
  private held = 0;
  private released = false;
  private readonly budget: MemoryBudget;

  constructor(budget: MemoryBudget) {
    this.budget = budget;
  }

  get bytes(): number {
    return this.held;
  }

  add(bytes: number): boolean {
    if (this.released) return false;
    if (!this.budget.tryReserve(bytes)) return false;
    this.held += bytes;
    return true;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.release(this.held);
    this.held = 0;
  }
}
