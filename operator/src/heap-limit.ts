/**
 * The V8 heap limit against the container's memory limit.
 *
 * The chart sets the limit with `NODE_OPTIONS=--max-old-space-size-percentage=<p>`: Node reads the
 * container's limit itself (libuv's uv_get_constrained_memory: cgroup v2 memory.max, cgroup v1
 * memory.limit_in_bytes) and takes p % of it as the old-space limit, so the heap follows the limit
 * wherever it is set (chart values, `kubectl set resources`, a LimitRange default, a VPA) without
 * the chart having to parse Kubernetes quantities. This module mirrors that derivation (the
 * benchmark applies it to a process that runs outside a cgroup) and checks the result at start.
 */

const MiB = 1024 * 1024;

/** libuv reports "no limit" as 0, UINT64_MAX, or the cgroup's "max" rounded to a page (> 1 PiB). */
const UNCONSTRAINED_ABOVE_BYTES = 2 ** 50;

/** The container's memory limit in bytes, or undefined when the process is not constrained. */
export function containerMemoryLimit(constrainedBytes: number): number | undefined {
  if (!Number.isFinite(constrainedBytes) || constrainedBytes <= 0 || constrainedBytes >= UNCONSTRAINED_ABOVE_BYTES) return undefined;
  return constrainedBytes;
}

/**
 * Node's `--max-old-space-size-percentage` (src/node_options.cc): the memory available (the
 * constrained memory when there is a limit, total memory otherwise) in whole MiB, times the
 * percentage, truncated.
 */
export function oldSpaceLimitMiB(availableBytes: number, percent: number): number {
  if (!(percent > 0 && percent <= 100)) throw new RangeError(`percentage must be in (0, 100], got ${percent}`);
  return Math.floor((Math.floor(availableBytes / MiB) * percent) / 100);
}

/** Above this share of the container limit the heap can grow until the kernel kills the process. */
export const MAX_SAFE_HEAP_SHARE = 0.75;

export interface HeapLimitCheck {
  /** Undefined when the process runs without a memory limit. */
  containerLimitMiB: number | undefined;
  /** V8's heap limit (old space plus young generation), as v8.getHeapStatistics() reports it. */
  heapLimitMiB: number;
  /** Set when the heap may grow past what the container allows. */
  warning?: string;
}

export function checkHeapLimit(input: { constrainedBytes: number; heapSizeLimitBytes: number }): HeapLimitCheck {
  const limit = containerMemoryLimit(input.constrainedBytes);
  const containerLimitMiB = limit === undefined ? undefined : Math.floor(limit / MiB);
  const heapLimitMiB = Math.floor(input.heapSizeLimitBytes / MiB);
  if (containerLimitMiB === undefined || heapLimitMiB <= containerLimitMiB * MAX_SAFE_HEAP_SHARE)
    return { containerLimitMiB, heapLimitMiB };
  return {
    containerLimitMiB,
    heapLimitMiB,
    warning:
      `the V8 heap limit (${heapLimitMiB} MiB) is above ${MAX_SAFE_HEAP_SHARE * 100}% of the container's memory limit ` +
      `(${containerLimitMiB} MiB): the kernel may kill the operator before V8 collects; ` +
      'set NODE_OPTIONS=--max-old-space-size-percentage=50 (the chart does)',
  };
}
