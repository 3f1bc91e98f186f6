/**
 * The authorization decisions of kubernetes mode, kept briefly: keyed by sha256(token) and verb
 * (never the token itself), each entry expiring at its own deadline, at most `maxEntries` entries
 * (least recently used evicted first: a Map iterates in insertion order and a hit re-inserts).
 * Identical lookups that miss while a review for them is running share that review (coalesced).
 * Pure: the clock is passed in.
 */

export class DecisionCache<D> {
  private readonly entries = new Map<string, { decision: D; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<D>>();
  readonly maxEntries: number;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

  /** the cached decision, if still valid at `now` (an expired one is dropped) */
  get(key: string, now: number): D | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (e.expiresAt <= now) return undefined;
    this.entries.set(key, e);
    return e.decision;
  }

  /** keep `decision` until `expiresAt`; nothing is kept when that is not after `now` */
  set(key: string, decision: D, expiresAt: number, now: number): void {
    this.entries.delete(key);
    if (!(expiresAt > now)) return;
    this.entries.set(key, { decision, expiresAt });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /**
   * The cached decision, else the running review for the same key, else a new one from `review`;
   * `review` stores what it wants cached itself (via set).
   */
  lookup(key: string, now: number, review: () => Promise<D>): D | Promise<D> {
    const hit = this.get(key, now);
    if (hit !== undefined) return hit;
    const running = this.inflight.get(key);
    if (running) return running;
    const p = review().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** reviews in flight (distinct keys) */
  get pending(): number {
    return this.inflight.size;
  }
}
