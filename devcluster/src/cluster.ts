// A real single-node Kubernetes cluster, composed from its components in one Session: the host
// network (bridge msbr0, 10.244.0.0/24), the control plane with node support (its API server on the
// bridge's gateway, so pods reach it through the `kubernetes` Service), a static model server on
// the gateway, containerd with the locally built images, cluster DNS when given, kubelet,
// kube-proxy (iptables) and metrics-server. Tear-down (also on failure, Ctrl-C, or by the next run
// if this one was killed) is the session's: pods, processes, then node.ts's forced clean-up.
// One cluster per machine (fixed bridge and subnet), guarded by a lock file.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, resolveBinaries } from './binaries.ts';
import { containerdSocketPath, startContainerd } from './containerd.ts';
import { resolveCoreDns, startCoreDns } from './coredns.ts';
import { composeControlPlane, installCrds, type ControlPlane, type ControlPlaneInfo } from './controlplane.ts';
import { ensureImages, type Images } from './images.ts';
import type { KubectlOptions, KubectlResult } from './kubectl.ts';
import { NODE_NAME, startKubelet } from './kubelet.ts';
import { startKubeProxy } from './kube-proxy.ts';
import { resolveMetricsServer, startMetricsServer } from './metrics-server.ts';
import { startModelServerProcess } from './model-server.ts';
import { BRIDGE, GATEWAY_IP, POD_CIDR, setUpHostNetwork, takeBaseline } from './network.ts';
import { CGROUP_ROOT, KUBEPODS, nodeTeardown, type NodeInfo } from './node.ts';
import { ensurePrerequisites } from './prerequisites.ts';
import { isAlive, isOurProcess, readSessionState, reapSession, Session, type SessionState, type Teardown } from './processes.ts';

export { NODE_NAME } from './kubelet.ts';
export { BRIDGE, GATEWAY_IP, POD_CIDR } from './network.ts';

export const CLUSTER_DIR_PREFIX = 'modelship-cluster-';
/** Machine-wide: the bridge and pod subnet are fixed, so one cluster at a time. */
export const LOCK_PATH = join(tmpdir(), 'modelship-cluster.lock');

/**
 * Cluster DNS, started after the API server and before kubelet, whose clusterDNS becomes the
 * address it listens on. Its process must be the session's (session.spawn) so it is stopped and
 * reaped with the rest.
 */
export type DnsComponent = (session: Session, cp: ControlPlane) => Promise<{ address: string }>;

export interface ClusterOptions {
  log?: (line: string) => void;
  /** For the CLI / quickstart: processes outlive this one; stop with stopRecordedCluster. */
  detached?: boolean;
  startTimeoutMs?: number;
  /** Directory served by the model server (default examples/models). */
  modelsDir?: string;
  /** Cluster DNS (default: CoreDNS on the bridge gateway); `false`: none, pods get a nameserver nothing answers on. */
  dns?: DnsComponent | false;
}

/** What the cluster records in its state file (read by the e2e tests, the CLI and the reaper). */
export type ClusterInfo = ControlPlaneInfo &
  NodeInfo & {
    runtimeImage: string;
    operatorImage: string;
    pauseImage: string;
    /** http://10.244.0.1:<port>: serves the models dir; reachable from pods and the host. */
    modelServerUrl: string;
    /** The nameserver pods get, when the cluster runs DNS. */
    dnsAddress?: string;
  };
export type ClusterState = SessionState & ClusterInfo;

export interface Cluster {
  cp: ControlPlane;
  dir: string;
  kubeconfigPath: string;
  server: string;
  nodeName: string;
  /** localhost/modelship/runtime:<content hash>, imported into containerd. */
  runtimeImage: string;
  /** localhost/modelship/operator:<content hash> (operator/Dockerfile), imported into containerd. */
  operatorImage: string;
  images: Images;
  modelServerUrl: string;
  containerdSocket: string;
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  stop(): Promise<void>;
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const log = opts.log ?? (() => {});
  const since = (
    (t0) => () =>
      `${((Date.now() - t0) / 1000).toFixed(1)}s`
  )(Date.now());
  ensurePrerequisites(log);
  const bins = await resolveBinaries(['kubelet', 'kube-proxy']);
  const startDns = opts.dns ?? coreDns(log);
  const session = await Session.create<ClusterInfo>({
    prefix: CLUSTER_DIR_PREFIX,
    detached: opts.detached ?? false,
    log,
    timeoutMs: opts.startTimeoutMs ?? 120_000,
    teardown: clusterTeardown,
  });
  try {
    acquireLock(session.dir, log);
    const kubepodsExisted = existsSync(join(CGROUP_ROOT, 'memory', KUBEPODS));
    const containerdSocket = containerdSocketPath(session.dir);
    await session.record({ baseline: takeBaseline(), kubepodsExisted, kubeProxyBin: bins['kube-proxy'], containerdSocket });
    // images and metrics-server meanwhile: both may take a while, nothing before kubelet needs them
    const images = ensureImages({ log: (l) => log(`images: ${l}`) });
    const metricsServer = resolveMetricsServer((l) => log(`metrics-server: ${l}`));
    images.catch(() => {});
    metricsServer.catch(() => {});
    await setUpHostNetwork();
    log(`bridge ${BRIDGE} ${GATEWAY_IP}/24 up (${since()})`);
    const cp = await composeControlPlane(session, { address: GATEWAY_IP, withNodes: true });
    await installCrds(cp, join(repoRoot, 'crds'), log);
    const models = await startModelServerProcess(session, { root: opts.modelsDir ?? join(repoRoot, 'examples/models'), host: GATEWAY_IP });
    const built = await images;
    log(`images ready (${since()}): ${built.runtime.ref}, ${built.operator.ref}, ${built.pause.ref}`);
    await startContainerd(session, { pause: built.pause, images: [built.runtime, built.operator] });
    const dns = startDns ? await startDns(session, cp) : undefined;
    await startKubelet(session, { bin: bins.kubelet, cp, containerdSocket, ...(dns ? { clusterDns: dns.address } : {}) });
    await startKubeProxy(session, { bin: bins['kube-proxy'], cp });
    await startMetricsServer(session, { bin: await metricsServer, cp, address: GATEWAY_IP });
    await session.record({
      runtimeImage: built.runtime.ref,
      operatorImage: built.operator.ref,
      pauseImage: built.pause.ref,
      modelServerUrl: models.url,
      ...(dns ? { dnsAddress: dns.address } : {}),
    });
    await session.ready();
    log(`cluster ready in ${since()} (node ${NODE_NAME}, pods ${POD_CIDR}, dir ${session.dir})`);
    const handle = { ...cp, pids: session.pids(), stop: () => session.stop() };
    return {
      cp: handle,
      dir: session.dir,
      kubeconfigPath: cp.kubeconfigPath,
      server: cp.server,
      nodeName: NODE_NAME,
      runtimeImage: built.runtime.ref,
      operatorImage: built.operator.ref,
      images: built,
      modelServerUrl: models.url,
      containerdSocket,
      kubectl: (args, o) => cp.kubectl(args, o),
      stop: () => session.stop(),
    };
  } catch (err) {
    await session.stop().catch(() => {});
    throw err;
  }
}

/**
 * CoreDNS (kubernetes plugin) on the bridge gateway, port 53; its binary is resolved (built once
 * per machine) from the moment this is called, while the rest of the cluster starts.
 */
export function coreDns(log: (line: string) => void): DnsComponent {
  const bin = resolveCoreDns((l) => log(`coredns: ${l}`));
  bin.catch(() => {});
  return async (session, cp) => {
    const dns = await startCoreDns({
      bin: await bin,
      address: GATEWAY_IP,
      kubeconfigPath: await cp.writeKubeconfigFor('modelship-devcluster:coredns', ['system:masters']),
      dir: session.dir,
      spawn: (name, b, args) => session.spawn(name, b, args),
      log: session.log,
    });
    return { address: dns.address };
  };
}

// ---- tear-down and the machine-wide lock -----------------------------------------------------------

const clusterTeardown: Teardown<ClusterInfo> = {
  graceful: (state, procs, log) => nodeTeardown.graceful!(state, procs, log),
  force: (state, log) => {
    nodeTeardown.force!(state, log);
    releaseLock(state.dir);
  },
};

function readLock(): { pid: number; dir: string } | undefined {
  try {
    return JSON.parse(readFileSync(LOCK_PATH, 'utf8')) as { pid: number; dir: string };
  } catch {
    return undefined;
  }
}

/** Takes the machine-wide lock, reaping a cluster whose (non-detached) owner is gone. */
function acquireLock(dir: string, log: (line: string) => void): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      execFileSync('/bin/sh', ['-c', 'set -C; cat > "$1"', 'sh', LOCK_PATH], {
        input: JSON.stringify({ pid: process.pid, dir }),
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      return;
    } catch {
      if (!existsSync(LOCK_PATH)) throw new Error(`could not write ${LOCK_PATH}`);
    }
    const held = readLock();
    const state = held ? readSessionState<ClusterInfo>(held.dir) : undefined;
    if (held && isAlive(held.pid) && held.pid !== process.pid) {
      throw new Error(`another dev cluster with a node is running (pid ${held.pid}, ${held.dir}); one per machine`);
    }
    if (state?.detached && state.processes.some(isOurProcess)) {
      throw new Error(`a detached cluster is running from ${state.dir}: stop it first (npm run cluster:down)`);
    }
    if (state) reapSession(state, clusterTeardown, log);
    rmSync(LOCK_PATH, { force: true });
  }
  throw new Error(`could not take ${LOCK_PATH}`);
}

function releaseLock(dir: string): void {
  if (readLock()?.dir === dir) rmSync(LOCK_PATH, { force: true });
}

/** The dir of the cluster holding the machine-wide lock, if any. */
export function recordedClusterDir(): string | undefined {
  return readLock()?.dir;
}

/** Stops a cluster recorded in its dir (the CLI's `down`, or a detached cluster): the same tear-down as its owner's. */
export async function stopRecordedCluster(dir: string, log: (line: string) => void = () => {}): Promise<void> {
  await Session.attach<ClusterInfo>(dir, { log, teardown: clusterTeardown }).stop();
}
