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

/**
 * Model weights the default pool may hold in total. Every worker's onnxruntime session holds its
 * own copy of the weights: measured on 2 CPUs with the image's malloc settings, each worker past
 * the first adds ~1.1x the model file (resnet18, 47 MB: +70 MB; a 100 MB dense model: +115 MB).
 */
export const POOL_WEIGHTS_BUDGET_BYTES = 128 * 2 ** 20;

export interface PoolShape {
  workers: number;
  intraOpThreads: number;
}

/**
 * Default pool for a model file of `modelBytes`: the CPUs left after the HTTP thread, as one
 * single-threaded worker each while the weight copies fit POOL_WEIGHTS_BUDGET_BYTES (small
 * models: their operators are too small to split across threads), else as the largest number of
 * workers that fits the budget and divides those CPUs evenly, each with that share as onnxruntime
 * intra-op threads (large models: their operators do split, so fewer sessions lose little
 * throughput, save a copy of the weights per worker dropped and answer a lone request sooner).
 * At least one worker. --workers and --intra-op-threads override it.
 */
export function defaultPoolShape(cpus: number, modelBytes: number): PoolShape {
  const spare = Math.max(1, Math.floor(cpus) - 1);
  const fit = Math.max(1, Math.floor(POOL_WEIGHTS_BUDGET_BYTES / Math.max(1, modelBytes)));
  let workers = 1;
  for (let w = Math.min(spare, fit); w > 1; w--) {
    if (spare % w === 0) {
      workers = w;
      break;
    }
  }
  return { workers, intraOpThreads: Math.floor(spare / workers) };
}
