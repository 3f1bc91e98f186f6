import type { ModelDeployment, ModelDeploymentStatus } from '../api/types.generated.ts';

/**
 * The status this operator last wrote for each ModelDeployment, with the version of the object it
 * was computed from. Until the informer delivers that write, the cache still holds the older
 * status, and a reconcile woken meanwhile (by a child's arrival in its cache, right after the
 * first reconcile created it) would decide from it: start the rollout again — a second
 * `RolloutStarted` Event, a new history entry — and write a status that differs from the
 * cached one only in its timestamps. While the cached object is still the version a write was
 * based on, that write is the current status.
 */
export class WrittenStatuses {
  private readonly last = new Map<string, { basedOn: string; status: ModelDeploymentStatus }>();

  /** The status last written, while the cache has not seen it yet; otherwise undefined. */
  current(md: ModelDeployment): ModelDeploymentStatus | undefined {
    const key = keyOf(md);
    const written = this.last.get(key);
    if (!written) return undefined;
    if (written.basedOn === md.metadata?.resourceVersion) return written.status;
    // The cache moved on (our write, or anyone's change): it is the truth again.
    this.last.delete(key);
    return undefined;
  }

  /** Records a status written for `md`, the cached object it was computed from. */
  wrote(md: ModelDeployment, status: ModelDeploymentStatus): void {
    const basedOn = md.metadata?.resourceVersion;
    if (basedOn !== undefined) this.last.set(keyOf(md), { basedOn, status });
  }

  forget(key: string): void {
    this.last.delete(key);
  }

  get size(): number {
    return this.last.size;
  }
}

const keyOf = (md: ModelDeployment) => `${md.metadata?.namespace}/${md.metadata?.name}`;
