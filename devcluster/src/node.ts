// Tear-down of the single node: the polite part (cordon, delete every pod, wait for containerd to
// have no task) and the forced part, which works from the state file alone (also for a dead owner's
// leftovers): processes left in pod cgroups, containerd shims of our socket, kube-proxy's rules,
// mounts, netns, iptables chains, the bridge, CNI cache, kubelet's cgroups, sysctls.

import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { ctrFor } from './containerd.ts';
import { runKubectl } from './kubectl.ts';
import { NODE_NAME } from './kubelet.ts';
import {
  removeBridge,
  removeCniCache,
  removeNewChains,
  removeNewNetns,
  removeRunContainerd,
  restoreSysctls,
  runSync,
  unmountAll,
  type NetworkBaseline,
} from './network.ts';
import { isAlive, killProcsSync, isOurProcess, type Proc, type SessionState, type Teardown } from './processes.ts';
import { waitFor } from './wait.ts';

export const CGROUP_ROOT = '/sys/fs/cgroup';
export const KUBEPODS = 'kubepods';

/** What the node records in the session's state file so anyone can tear it down. */
export interface NodeInfo {
  kubeconfigPath: string;
  binaries: { kubectl: string };
  containerdSocket: string;
  kubeProxyBin: string;
  baseline: NetworkBaseline;
  kubepodsExisted: boolean;
}

type NodeState = SessionState & Partial<NodeInfo>;

/** Cordon the node, delete every pod (kubelet stops them and tears down their network through CNI). */
async function drainNode(state: NodeState, procs: readonly Proc[]): Promise<void> {
  const kubeletUp = procs.some((p) => p.name === 'kubelet' && isAlive(p.pid));
  if (!kubeletUp || !state.kubeconfigPath || !state.binaries?.kubectl || !state.containerdSocket) return;
  const kubectl = (args: string[], timeoutMs: number) =>
    runKubectl(state.binaries!.kubectl, state.kubeconfigPath!, join(state.dir, 'kubectl-cache'), args, { timeoutMs });
  await kubectl(['cordon', NODE_NAME], 15_000);
  await kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=1', '--wait=false'], 30_000);
  const ctr = ctrFor(state.containerdSocket);
  await waitFor(async () => (await ctr(['tasks', 'ls', '-q'], 10_000)).trim() === '', {
    timeoutMs: 45_000,
    intervalMs: 500,
    description: 'all pod containers to stop',
  });
}

/** Everything the graceful stop could not do. Idempotent; needs only the state file. */
export function forceCleanupNode(state: NodeState, log: (line: string) => void = () => {}): void {
  killProcsSync(state.processes.filter(isOurProcess));
  if (!state.baseline) return; // the node never started: nothing of it to remove
  for (let i = 0; i < 3; i++) {
    const pods = podProcesses();
    const shims = state.containerdSocket ? shimProcesses(state.containerdSocket) : [];
    if (pods.length === 0 && shims.length === 0) break;
    if (i === 0) log(`killing ${pods.length} pod process(es) and ${shims.length} containerd shim(s)`);
    killAll(pods);
    killAll(shims);
    const pause = new Int32Array(new SharedArrayBuffer(4));
    Atomics.wait(pause, 0, 0, 300);
  }
  if (state.kubeProxyBin && existsSync(state.kubeProxyBin)) runSync(state.kubeProxyBin, ['--cleanup', '--v=0']);
  unmountAll([state.dir], log);
  removeNewNetns(state.baseline, log);
  removeNewChains(state.baseline, log);
  removeBridge(state.baseline, log);
  removeCniCache(state.baseline);
  removeRunContainerd(state.baseline);
  if (!state.kubepodsExisted) removeKubepodsCgroups();
  restoreSysctls(state.baseline);
}

export const nodeTeardown: Teardown<NodeInfo> = {
  graceful: (state, procs) => drainNode(state, procs),
  force: forceCleanupNode,
};

// ---- forced tear-down -----------------------------------------------------------------------------

function readProc(pid: string, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

function pids(): string[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e) && e !== String(process.pid));
}

/** PIDs in kubelet's pod cgroups (`/kubepods/...` in any v1 hierarchy). */
export function podProcesses(): number[] {
  return pids()
    .filter((p) => /^\d+:[^:]*:\/kubepods(\/|$)/m.test(readProc(p, 'cgroup') ?? ''))
    .map(Number);
}

/** containerd shims serving our containerd (their command line names our socket). */
export function shimProcesses(socket: string): number[] {
  return pids()
    .filter((p) => {
      const argv = (readProc(p, 'cmdline') ?? '').split('\0');
      return /containerd-shim/.test(argv[0] ?? '') && argv.includes(socket);
    })
    .map(Number);
}

export function killAll(list: number[]): void {
  for (const pid of list) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Removes kubelet's cgroup trees (/kubepods in every v1 hierarchy), deepest first; empty ones only. */
export function removeKubepodsCgroups(): number {
  let removed = 0;
  if (!existsSync(CGROUP_ROOT)) return 0;
  for (const hierarchy of readdirSync(CGROUP_ROOT)) {
    const top = join(CGROUP_ROOT, hierarchy, KUBEPODS);
    if (!existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (d: string) => {
      dirs.push(d);
      let entries: string[];
      try {
        entries = readdirSync(d, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => e.name);
      } catch {
        return;
      }
      for (const e of entries) walk(join(d, e));
    };
    walk(top);
    for (const d of dirs.reverse()) {
      try {
        rmdirSync(d);
        removed++;
      } catch {
        // busy: a process is still in it
      }
    }
  }
  return removed;
}
