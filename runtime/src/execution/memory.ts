/**
 * Memory this container may use (the cgroup limit: v2 memory.max, v1 memory.limit_in_bytes) and
 * the default in-flight request budget derived from it.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** cgroup v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages); anything above this is no limit. */
const V1_UNLIMITED = 2 ** 60;

/** Parse a cgroup memory limit file ("max", or bytes); undefined = no limit. */
export function parseMemoryLimit(text: string | undefined): number | undefined {
  if (!text || text === 'max') return undefined;
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  if (!(n > 0) || n >= V1_UNLIMITED) return undefined;
  return n;
}

/** The container's memory limit in bytes, undefined when there is none. */
export function memoryLimit(): number | undefined {
  return parseMemoryLimit(read('/sys/fs/cgroup/memory.max')) ?? parseMemoryLimit(read('/sys/fs/cgroup/memory/memory.limit_in_bytes'));
}

/** Without a container limit: a quarter of the machine's memory, at most this. */
export const UNLIMITED_BUDGET_CAP = 1024 ** 3;
/** Never below this, so one default-sized request (16 MiB body + its decoded tensors) always fits. */
export const MIN_BUDGET = 32 * 1024 ** 2;
/** Measured RSS of a ready runtime before any request: ~160 MiB with one worker, ~184 MiB with two. */
export const BASE_BYTES = 128 * 1024 ** 2;
export const PER_WORKER_BYTES = 32 * 1024 ** 2;
/** Measured peak RSS of a request is about three times what the budget charges it (see below). */
export const PEAK_PER_CHARGED_BYTE = 3;

/**
 * Default cap on request bytes in flight. With a limit: what is left after the runtime itself
 * (a base, plus the model and a session's overhead per worker: each onnxruntime session holds
 * its own copy of the weights), divided by 3, because the budget charges a request twice its
 * body (body + decoded tensors) while its measured peak RSS is about six times its body (16 MB
 * iris request: onnxruntime's intermediates and outputs, their copy back to the main thread, the
 * encoded response, garbage not yet collected). With 512 Mi and 2 workers that is 106 MiB; 24
 * concurrent 16 MB requests then peaked at 479 MiB RSS (3 answered, 21 refused with 503).
 * Without a limit: a quarter of the machine's memory, at most 1 GiB, so an unlimited pod still
 * cannot take a node's memory with requests.
 */
export function defaultInflightBudget(
  limitBytes: number | undefined,
  modelBytes: number,
  workers: number,
  machineBytes = totalmem(),
): number {
  const budget =
    limitBytes === undefined
      ? Math.min(UNLIMITED_BUDGET_CAP, Math.floor(machineBytes / 4))
      : Math.floor((limitBytes - BASE_BYTES - workers * (modelBytes + PER_WORKER_BYTES)) / PEAK_PER_CHARGED_BYTE);
  return Math.max(MIN_BUDGET, budget);
}
