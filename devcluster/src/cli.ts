// The dev cluster for humans: `node devcluster/src/cli.ts up [--node] | down | status`
// (npm run cluster:up [-- --node] / cluster:down / cluster:status).
//   up         a control plane (etcd + kube-apiserver + kube-controller-manager, crds/ installed):
//              no root needed, Pods are never run
//   up --node  a full single node besides (scheduler, containerd, kubelet, kube-proxy,
//              metrics-server, images built here): needs root and the Debian packages, which are
//              installed when missing (root with apt)
//   down       stops exactly the recorded processes and removes everything they created
//   status     prints the recorded cluster, or "not running" (exit code 1)
// Either kind runs detached (outlives this command) and is recorded in <cache>/dev-cluster.json;
// `up` prints `export KUBECONFIG=...` (if one is already running, just that).

import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { cacheRoot, repoRoot } from './binaries.ts';
import { CLUSTER_DIR_PREFIX, recordedClusterDir, startCluster, stopRecordedCluster, type ClusterInfo } from './cluster.ts';
import { startControlPlane, type ControlPlaneInfo } from './controlplane.ts';
import { isOurProcess, readSessionState, Session, type SessionState } from './processes.ts';
import { errorMessage } from './wait.ts';

export type Kind = 'control-plane' | 'node';
export type RecordedState = SessionState & Partial<ClusterInfo>;

const recordPath = () => join(cacheRoot(), 'dev-cluster.json');
const say = (line: string) => process.stderr.write(`${line}\n`);

/** The recorded cluster's dir: the CLI's record, else a detached node cluster holding the lock. */
function recordedDir(): string | undefined {
  try {
    return (JSON.parse(readFileSync(recordPath(), 'utf8')) as { dir: string }).dir;
  } catch {
    const dir = recordedClusterDir();
    return dir && readSessionState(dir)?.detached ? dir : undefined;
  }
}

export function recorded(): RecordedState | undefined {
  const dir = recordedDir();
  return dir ? readSessionState<ClusterInfo>(dir) : undefined;
}

const kindOf = (s: SessionState): Kind => (s.kind === CLUSTER_DIR_PREFIX ? 'node' : 'control-plane');
const running = (s: SessionState) => s.processes.length > 0 && s.processes.every(isOurProcess);

/** Starts a detached dev cluster of `kind`, or returns the one already running. */
export async function clusterUp(kind: Kind): Promise<RecordedState> {
  const existing = recorded();
  if (existing && running(existing) && kindOf(existing) === kind) {
    say(`dev cluster (${kind}) already running at ${existing.server} (dir ${existing.dir})`);
    return existing;
  }
  if (existing || existsSync(recordPath())) {
    say(existing && running(existing) ? `a ${kindOf(existing)} dev cluster is running; stopping it first` : 'cleaning up a stale record');
    await clusterDown();
  }
  const log = (l: string) => say(`devcluster: ${l}`);
  const dir =
    kind === 'node'
      ? (await startCluster({ detached: true, log })).dir
      : (await startControlPlane({ crdDir: join(repoRoot, 'crds'), detached: true, log })).dir;
  await mkdir(dirname(recordPath()), { recursive: true });
  await writeFile(recordPath(), `${JSON.stringify({ dir })}\n`);
  return readSessionState<ClusterInfo>(dir)!;
}

/** Stops the recorded dev cluster; false if none was recorded. */
export async function clusterDown(): Promise<boolean> {
  const dir = recordedDir();
  await rm(recordPath(), { force: true });
  const state = dir ? readSessionState(dir) : undefined;
  if (!dir || !state) return false;
  const log = (l: string) => say(`devcluster: ${l}`);
  if (kindOf(state) === 'node') await stopRecordedCluster(dir, log);
  else await Session.attach<ControlPlaneInfo>(dir, { log }).stop();
  return true;
}

export function statusLines(s: RecordedState | undefined): { lines: string[]; running: boolean } {
  if (!s) return { lines: ['not running'], running: false };
  const alive = running(s);
  const pids = s.processes.map((p) => `${p.name}=${p.pid}`).join(' ');
  return {
    lines: [
      `${alive ? 'running' : 'NOT running (stale record; run down)'}: ${kindOf(s)} at ${s.server} (dir ${s.dir})`,
      `processes: ${pids}`,
      `export KUBECONFIG=${s.kubeconfigPath}`,
    ],
    running: alive,
  };
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...flags] = argv;
  if (cmd === 'up') {
    const s = await clusterUp(flags.includes('--node') ? 'node' : 'control-plane');
    say(`dev cluster running at ${s.server} (dir ${s.dir}); stop it with: npm run cluster:down`);
    process.stdout.write(`export KUBECONFIG=${s.kubeconfigPath}\n`);
    return 0;
  }
  if (cmd === 'down') {
    say((await clusterDown()) ? 'dev cluster stopped; nothing left behind' : `no dev cluster recorded (${recordPath()})`);
    return 0;
  }
  if (cmd === 'status') {
    const { lines, running: alive } = statusLines(recorded());
    process.stdout.write(`${lines.join('\n')}\n`);
    return alive ? 0 : 1;
  }
  say('usage: node devcluster/src/cli.ts up [--node] | down | status');
  return 2;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    say(`devcluster ${process.argv[2] ?? ''}: ${errorMessage(err)}`);
    process.exitCode = 1;
  }
  // a detached cluster's processes are unref'd: nothing of it keeps this process alive
  process.exit();
}
