/**
 * CPU time of the processes that share the machine during a phase (the control plane's, the
 * operator's, the bench's own), from /proc/<pid>/stat: where a phase's time goes when the API
 * server, not the network, is the limit.
 */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** utime + stime of a process, in seconds (0 once it is gone). */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

export type CpuSample = Record<string, number>;

export function sampleCpu(pids: Record<string, number>): CpuSample {
  const sample: CpuSample = {};
  for (const [name, pid] of Object.entries(pids)) sample[name] = pid === process.pid ? selfSeconds() : cpuSecondsOf(pid);
  return sample;
}

function selfSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** CPU seconds per process between two samples, rounded to 0.1 s. */
export function cpuBetween(before: CpuSample, after: CpuSample): CpuSample {
  return Object.fromEntries(Object.keys(after).map((k) => [k, Math.round(((after[k] ?? 0) - (before[k] ?? 0)) * 10) / 10]));
}

/** Two phases' CPU seconds added, process by process. */
export function cpuSum(a: CpuSample, b: CpuSample): CpuSample {
  return Object.fromEntries(
    [...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, Math.round(((a[k] ?? 0) + (b[k] ?? 0)) * 10) / 10]),
  );
}
