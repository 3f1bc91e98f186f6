/**
 * Resident memory of a benchmark server: the sum of VmRSS over every process of its tree (the process,
 * its descendants, and anything left in its process group, e.g. Ray's raylet and workers, gunicorn's
 * workers), read from /proc. Shared pages (the onnxruntime library, copy-on-write memory after fork) count
 * once per process, as in the sum a `ps` user would do; it over-states what forked workers really add.
 */
import { readFileSync, readdirSync } from 'node:fs';

interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
}

function readStat(pid: number): ProcInfo | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: the fields after it start past the last ')'
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(f[1]), pgid: Number(f[2]) };
  } catch {
    return undefined;
  }
}

function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Pids of `root`'s tree: root, its descendants, and the members of its process group. */
export function processTree(root: number): number[] {
  const all = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readStat(Number(d)))
    .filter((p): p is ProcInfo => p !== undefined);
  const tree = new Set<number>([root]);
  for (const p of all) if (p.pgid === root) tree.add(p.pid);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (!tree.has(p.pid) && tree.has(p.ppid)) {
        tree.add(p.pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** Sum of VmRSS over `root`'s tree, in MiB, and how many processes it counted. */
export function treeRssMiB(root: number): { mib: number; processes: number } {
  const pids = processTree(root).filter((p) => rssKiB(p) > 0);
  return { mib: pids.reduce((a, p) => a + rssKiB(p), 0) / 1024, processes: pids.length };
}
