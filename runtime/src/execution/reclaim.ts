/**
 * Giving a large request's memory back at once. Its buffers (the body, decoded tensors, outputs
 * and their copies across the worker boundary) live outside V8's heap, which stays small, so V8
 * may leave them uncollected for many requests: a 512Mi pod still held 155 MB of dead buffers
 * after 40 concurrent 16 MB requests, and the next such round got it OOM-killed. After a large
 * request a full collection is scheduled, coalesced, when the process runs with --expose-gc
 * (runtime/Dockerfile's entrypoint does). Small requests never trigger one.
 */
export const RECLAIM_MIN_BYTES = 4 * 1024 ** 2;

/** The collector `--expose-gc` installs, undefined without the flag. */
export function exposedGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
}

/** Returns `released(bytes)`: at most one collection per turn of the event loop, only for large releases. */
export function createReclaimer(
  collect: (() => void) | undefined = exposedGc(),
  defer: (fn: () => void) => void = setImmediate,
): (bytes: number) => void {
  let pending = false;
  return (bytes) => {
    if (!collect || pending || bytes < RECLAIM_MIN_BYTES) return;
    pending = true;
    defer(() => {
      pending = false;
      collect();
    });
  };
}
