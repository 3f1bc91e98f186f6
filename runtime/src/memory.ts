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

/**
 * Default cap on request bytes in flight. With a limit: a quarter of it, minus the model once
 * per worker (each onnxruntime session holds its own copy of the weights). A quarter, because
 * the budget charges a request twice its body (body + decoded tensors) while measured peak RSS
 * is about six times the body for a 16 MB iris request (onnxruntime's intermediates and outputs,
 * their copy back to the main thread, the encoded response, garbage not yet collected) on top of
 * a ~160 MiB base; with a 128 MiB budget, 24 concurrent 16 MB requests peaked at 492 MiB.
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
      : Math.floor(limitBytes / 4) - modelBytes * workers;
  return Math.max(MIN_BUDGET, budget);
}
