/**
 * CPUs this container may use: the cgroup CPU limit (v2 cpu.max, v1 cfs quota), capped by the
 * CPUs the process can run on. onnxruntime sizes its pools from the host's cores otherwise.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Parse cgroup v2 `cpu.max` ("max 100000" or "150000 100000") into CPUs, undefined = no limit. */
export function parseCpuMax(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const [quota, period] = text.split(/\s+/);
  if (!quota || quota === 'max') return undefined;
  const q = Number(quota);
  const p = Number(period ?? '100000');
  if (!(q > 0) || !(p > 0)) return undefined;
  return q / p;
}

export function cpuLimit(): number {
  const host = availableParallelism();
  let limit = parseCpuMax(read('/sys/fs/cgroup/cpu.max'));
  if (limit === undefined) {
    const q = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'));
    const p = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us'));
    if (q > 0 && p > 0) limit = q / p;
  }
  return Math.max(1, Math.min(host, Math.ceil(limit ?? host)));
}

/**
 * Default inference worker count: one CPU stays with the main thread (HTTP, JSON, batching),
 * the others run onnxruntime. Measured on 2 CPUs with the iris model: 1 worker + batching
 * served more than 2 workers, because the main thread is the bottleneck for small models.
 */
export function defaultWorkers(cpus: number): number {
  return Math.max(1, Math.floor(cpus) - 1);
}

/**
 * Default onnxruntime intra-op threads per worker: the CPUs left after the HTTP thread, shared
 * by the workers, at least 1. With the default pool (CPU limit - 1 workers) this is 1, which is
 * what small models want (a second intra-op thread slows small batches down on 2 CPUs); with an
 * explicit smaller pool, each worker gets the spare CPUs for its larger operators.
 */
export function defaultIntraOpThreads(cpus: number, workers: number): number {
  return Math.max(1, Math.floor((Math.floor(cpus) - 1) / Math.max(1, workers)));
}
