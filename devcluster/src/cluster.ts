// A real single-node Kubernetes cluster for end-to-end tests, on top of startControlPlane
// (etcd + kube-apiserver + kube-controller-manager + kube-scheduler, Node,RBAC):
//   containerd (its own root/state/socket under the cluster's temp dir; runc, cgroupfs) with a
//   locally built pause image as sandbox image, CNI bridge `msbr0` + host-local 10.244.0.0/24 +
//   portmap + loopback, kubelet (cgroup v1: failCgroupV1 false), kube-proxy (iptables), the runtime
//   image built from runtime/Dockerfile and imported, and a static model server on the bridge's
//   gateway address that pods download from.
// Every process is started and stopped by PID; tear-down (also on failure, Ctrl-C, or by the next
// run if this one was killed) removes the pods' processes, the containerd shims of our socket,
// mounts under the temp dir, pod netns, the bridge, iptables chains created since start (KUBE-*,
// CNI-*), kubelet's cgroups, and restores the sysctls. One cluster per machine (fixed bridge/subnet).

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, resolveBinaries } from './binaries.ts';
import {
  attachControlPlane,
  startControlPlane,
  httpGet,
  type ControlPlane,
  type KubectlOptions,
  type KubectlResult,
} from './controlplane.ts';
import { ensureImages, type Images } from './images.ts';
import {
  BRIDGE,
  GATEWAY_IP,
  POD_CIDR,
  cniConflist,
  removeBridge,
  removeCniCache,
  removeNewChains,
  removeNewNetns,
  removeRunContainerd,
  restoreSysctls,
  run,
  runSync,
  setUpHostNetwork,
  takeBaseline,
  unmountAll,
  type NetworkBaseline,
} from './network.ts';
import {
  CGROUP_ROOT,
  KUBEPODS,
  NODE_NAME,
  containerdConfig,
  killAll,
  kubeProxyConfig,
  kubeletArgs,
  kubeletConfig,
  podProcesses,
  removeKubepodsCgroups,
  shimProcesses,
} from './node.ts';
import { freePorts } from './ports.ts';
import { metricsApiManifests, metricsServerArgs, resolveMetricsServer } from './metrics-server.ts';
import {
  isAlive,
  isOurProcess,
  killProcsSync,
  registerCleanup,
  spawnLogged,
  stopProcs,
  tail,
  unregisterCleanup,
  type Cleanup,
  type Proc,
  type ProcRecord,
} from './processes.ts';
import { sleep, waitFor } from './wait.ts';

export { NODE_NAME } from './node.ts';
export { BRIDGE, GATEWAY_IP, POD_CIDR } from './network.ts';

export const CLUSTER_DIR_PREFIX = 'modelship-cluster-';
/** Machine-wide: the bridge and pod subnet are fixed, so one cluster at a time. */
export const LOCK_PATH = join(tmpdir(), 'modelship-cluster.lock');

const HOST_TOOLS: Record<string, string> = {
  containerd: '/usr/bin/containerd',
  ctr: '/usr/bin/ctr',
  runc: '/usr/sbin/runc',
  bridge: '/usr/lib/cni/bridge',
  'host-local': '/usr/lib/cni/host-local',
  loopback: '/usr/lib/cni/loopback',
  portmap: '/usr/lib/cni/portmap',
  iptables: '/usr/sbin/iptables',
  conntrack: '/usr/sbin/conntrack',
  buildah: '/usr/bin/buildah',
  debootstrap: '/usr/sbin/debootstrap',
  curl: '/usr/bin/curl',
};
/** What .ci/run installs: `apt-get install -y <these>`. */
export const APT_PACKAGES = [
  'containerd',
  'runc',
  'containernetworking-plugins',
  'iptables',
  'conntrack',
  'buildah',
  'debootstrap',
  'kmod',
  'curl',
];

export interface ClusterOptions {
  log?: (line: string) => void;
  /** For quickstart: processes outlive this one; stop with stopRecordedCluster. */
  detached?: boolean;
  startTimeoutMs?: number;
  /** Directory served by the model server (default examples/models). */
  modelsDir?: string;
}

export interface ClusterState {
  version: 1;
  ownerPid: number;
  detached: boolean;
  dir: string;
  cpDir: string;
  kubeconfigPath: string;
  server: string;
  runtimeImage: string;
  operatorImage: string;
  pauseImage: string;
  modelServerUrl: string;
  containerdSocket: string;
  kubeProxyBin: string;
  baseline: NetworkBaseline;
  kubepodsExisted: boolean;
  processes: ProcRecord[];
}

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
  /** http://10.244.0.1:<port>: serves the models dir; reachable from pods and the host. */
  modelServerUrl: string;
  containerdSocket: string;
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  stop(): Promise<void>;
}

// ---- preflight ----------------------------------------------------------------------------------

export function preflight(): void {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('must run as root (containerd, kubelet, iptables, bridge)');
  const missing = Object.entries(HOST_TOOLS).filter(([, path]) => !existsSync(path));
  if (missing.length > 0) {
    problems.push(`missing ${missing.map(([n, p]) => `${n} (${p})`).join(', ')}: apt-get install -y ${APT_PACKAGES.join(' ')}`);
  }
  if (problems.length > 0) throw new Error(`cannot start the e2e cluster: ${problems.join('; ')}`);
}

function softNofile(): number {
  try {
    const n = Number(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 1024;
  } catch {
    return 1024;
  }
}

// ---- forced tear-down (sync; also used to reap a dead owner's cluster) --------------------------

/**
 * Everything the graceful stop could not do: SIGKILL our processes, the pods' processes and the
 * shims of our containerd, then remove mounts, netns, iptables chains, the bridge, CNI cache,
 * cgroups; restore sysctls. Idempotent.
 */
export function forceCleanupSync(state: ClusterState, log: (line: string) => void = () => {}): void {
  killProcsSync(state.processes.filter(isOurProcess));
  for (let i = 0; i < 3; i++) {
    const pods = podProcesses();
    const shims = shimProcesses(state.containerdSocket);
    if (pods.length === 0 && shims.length === 0) break;
    if (i === 0) log(`killing ${pods.length} pod process(es) and ${shims.length} containerd shim(s)`);
    killAll(pods);
    killAll(shims);
    const pause = new Int32Array(new SharedArrayBuffer(4));
    Atomics.wait(pause, 0, 0, 300);
  }
  if (existsSync(state.kubeProxyBin)) runSync(state.kubeProxyBin, ['--cleanup', '--v=0']);
  unmountAll([state.dir], log);
  removeNewNetns(state.baseline, log);
  removeNewChains(state.baseline, log);
  removeBridge(state.baseline, log);
  removeCniCache(state.baseline);
  removeRunContainerd(state.baseline);
  if (!state.kubepodsExisted) removeKubepodsCgroups();
  restoreSysctls(state.baseline);
}

function readLock(): { pid: number; dir: string } | undefined {
  try {
    return JSON.parse(readFileSync(LOCK_PATH, 'utf8')) as { pid: number; dir: string };
  } catch {
    return undefined;
  }
}

function readState(dir: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

/** Takes the machine-wide lock, reaping a cluster whose (non-detached) owner is gone. */
function acquireLock(dir: string, log: (line: string) => void): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSyncExcl(LOCK_PATH, JSON.stringify({ pid: process.pid, dir }));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = readLock();
    const state = held ? readState(held.dir) : undefined;
    if (held && isAlive(held.pid) && held.pid !== process.pid) {
      throw new Error(`another e2e cluster is running (pid ${held.pid}, ${held.dir}); one per machine`);
    }
    if (state?.detached && state.processes.some(isOurProcess)) {
      throw new Error(`a detached cluster (quickstart) is running from ${state.dir}: stop it first (npm run quickstart -- down)`);
    }
    if (state) {
      log(`reaping the cluster of dead pid ${state.ownerPid} (${state.dir})`);
      forceCleanupSync(state, log);
      rmSync(state.dir, { recursive: true, force: true });
    }
    rmSync(LOCK_PATH, { force: true });
  }
  throw new Error(`could not take ${LOCK_PATH}`);
}

function writeFileSyncExcl(path: string, data: string): void {
  execFileSync('/bin/sh', ['-c', 'set -C; cat > "$1"', 'sh', path], { input: data, stdio: ['pipe', 'ignore', 'pipe'] });
}

function releaseLock(dir: string): void {
  if (readLock()?.dir === dir) rmSync(LOCK_PATH, { force: true });
}

// ---- start ----------------------------------------------------------------------------------------

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  const detached = opts.detached ?? false;
  const t0 = Date.now();
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  preflight();

  const dir = await mkdtemp(join(tmpdir(), CLUSTER_DIR_PREFIX));
  acquireLock(dir, log);
  const [kubeProxyBin] = Object.values(await resolveBinaries(['kube-proxy'])) as [string];
  const kubeletBin = (await resolveBinaries(['kubelet'])).kubelet;

  const logsDir = join(dir, 'logs');
  await mkdir(logsDir, { recursive: true });
  const procs: Proc[] = [];
  const state: ClusterState = {
    version: 1,
    ownerPid: process.pid,
    detached,
    dir,
    cpDir: '',
    kubeconfigPath: '',
    server: '',
    runtimeImage: '',
    operatorImage: '',
    pauseImage: '',
    modelServerUrl: '',
    containerdSocket: join(dir, 'containerd', 'containerd.sock'),
    kubeProxyBin,
    baseline: takeBaseline(),
    kubepodsExisted: existsSync(join(CGROUP_ROOT, 'memory', KUBEPODS)),
    processes: [],
  };
  const saveState = async () => {
    state.processes = procs.map(({ name, bin, pid, logPath }) => ({ name, bin, pid, logPath }));
    await writeFile(join(dir, 'cluster.json.tmp'), `${JSON.stringify(state, null, 2)}\n`);
    await rename(join(dir, 'cluster.json.tmp'), join(dir, 'cluster.json'));
  };
  await saveState();

  let cp: ControlPlane | undefined;
  const keep = process.env.MODELSHIP_KEEP_CP === '1';
  let stopped: Promise<void> | undefined;
  const cleanup: Cleanup = {
    stop: () => {
      stopped ??= (async () => {
        unregisterCleanup(cleanup);
        try {
          await gracefulStop(state, procs, cp, log);
        } finally {
          forceCleanupSync(state, log);
          await cp?.stop();
          if (!keep) rmSync(dir, { recursive: true, force: true });
          releaseLock(dir);
        }
      })();
      return stopped;
    },
    killSync: () => {
      forceCleanupSync({ ...state, processes: procs }, () => {});
      if (!keep) rmSync(dir, { recursive: true, force: true });
      releaseLock(dir);
    },
  };
  registerCleanup(cleanup);

  const spawnComponent = async (name: string, bin: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Proc> => {
    const proc = spawnLogged(name, bin, args, join(logsDir, `${name}.log`), { detached, ...(env ? { env } : {}) });
    procs.push(proc);
    await saveState();
    return proc;
  };
  const waitHealthy = async (proc: Proc, description: string, check: () => Promise<boolean>, ms = timeoutMs): Promise<void> => {
    const started = Date.now();
    try {
      await waitFor(
        async () => {
          const c = proc.child;
          if (c && (c.exitCode !== null || c.signalCode !== null)) throw new Error(`${proc.name} exited (${c.exitCode ?? c.signalCode})`);
          return check();
        },
        { timeoutMs: ms, intervalMs: 250, description },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${proc.logPath} ends with:\n${await tail(proc.logPath)}`, { cause: err });
    }
    log(`${proc.name} ready in ${((Date.now() - started) / 1000).toFixed(1)}s (pid ${proc.pid})`);
  };

  try {
    // images and the control plane in parallel: both take a while, neither needs the other
    const imagesPromise = ensureImages({ log: (l) => log(`images: ${l}`) });
    imagesPromise.catch(() => {});
    const metricsServerBin = resolveMetricsServer((l) => log(`metrics-server: ${l}`));
    metricsServerBin.catch(() => {});
    // the bridge first: the API server binds to its gateway address, so pods reach it through the
    // `kubernetes` Service (an in-cluster operator, the helm e2e test)
    await setUpHostNetwork();
    log(`bridge ${BRIDGE} ${GATEWAY_IP}/24 up (${since()})`);
    cp = await startControlPlane({
      crdDir: join(repoRoot, 'crds'),
      withNodes: true,
      apiserverAddress: GATEWAY_IP,
      detached,
      log,
      startTimeoutMs: opts.startTimeoutMs ?? 60_000,
    });
    state.cpDir = cp.dir;
    state.kubeconfigPath = cp.kubeconfigPath;
    state.server = cp.server;
    await saveState();

    // model server on the gateway address
    const [modelPort] = await freePorts(1);
    const modelsDir = opts.modelsDir ?? join(repoRoot, 'examples/models');
    const modelServer = await spawnComponent('model-server', process.execPath, [
      join(repoRoot, 'devcluster/src/model-server.ts'),
      '--root',
      modelsDir,
      '--host',
      GATEWAY_IP,
      '--port',
      String(modelPort),
    ]);
    state.modelServerUrl = `http://${GATEWAY_IP}:${modelPort}`;
    await waitHealthy(modelServer, 'the model server', async () => (await httpGet(`${state.modelServerUrl}/`)).status === 404, 30_000);

    // containerd
    const cdir = join(dir, 'containerd');
    const cniConfDir = join(dir, 'cni', 'net.d');
    await mkdir(cniConfDir, { recursive: true });
    await writeFile(join(cniConfDir, '10-modelship.conflist'), cniConflist({ ipamDataDir: join(dir, 'cni', 'ipam') }));
    const images = await imagesPromise;
    log(`images ready (${since()}): ${images.runtime.ref}, ${images.operator.ref}, ${images.pause.ref}`);
    state.runtimeImage = images.runtime.ref;
    state.operatorImage = images.operator.ref;
    state.pauseImage = images.pause.ref;
    await writeFile(
      join(dir, 'containerd.toml'),
      containerdConfig({
        root: join(cdir, 'root'),
        state: join(cdir, 'state'),
        socket: state.containerdSocket,
        runcRoot: join(cdir, 'runc'),
        cniConfDir,
        sandboxImage: images.pause.ref,
        runcBin: process.env.MODELSHIP_RUNC ?? HOST_TOOLS.runc!,
      }),
    );
    const containerd = await spawnComponent('containerd', HOST_TOOLS.containerd!, ['--config', join(dir, 'containerd.toml')]);
    const ctr = (args: string[], ms?: number) =>
      run(HOST_TOOLS.ctr!, ['--address', state.containerdSocket, '--namespace', 'k8s.io', ...args], ms ? { timeoutMs: ms } : {});
    await waitHealthy(containerd, 'containerd', async () => (await ctr(['version'], 5_000)).includes('Server'), 30_000);
    const tImport = Date.now();
    await Promise.all([images.pause, images.runtime, images.operator].map((i) => ctr(['images', 'import', i.archive], 600_000)));
    log(`images imported into containerd in ${((Date.now() - tImport) / 1000).toFixed(1)}s`);

    // kubelet
    const kubeletDir = join(dir, 'kubelet');
    await mkdir(kubeletDir, { recursive: true });
    await writeFile(join(dir, 'resolv.conf'), `nameserver ${GATEWAY_IP}\noptions ndots:1 timeout:1 attempts:1\n`);
    const [kubeletPort, kubeletHealthz, proxyHealthz, proxyMetrics] = await freePorts(4);
    await writeFile(
      join(dir, 'kubelet.yaml'),
      kubeletConfig({
        rootDir: kubeletDir,
        podLogsDir: join(dir, 'pod-logs'),
        volumePluginDir: join(dir, 'volume-plugins'),
        resolvConf: join(dir, 'resolv.conf'),
        containerdSocket: state.containerdSocket,
        clientCaFile: cp.caCertPath,
        port: kubeletPort!,
        healthzPort: kubeletHealthz!,
        maxOpenFiles: softNofile(),
      }),
    );
    const kubeletKubeconfig = await cp.writeKubeconfigFor(`system:node:${NODE_NAME}`, ['system:nodes']);
    const kubelet = await spawnComponent(
      'kubelet',
      kubeletBin,
      kubeletArgs({
        configPath: join(dir, 'kubelet.yaml'),
        kubeconfigPath: kubeletKubeconfig,
        rootDir: kubeletDir,
        certDir: join(dir, 'kubelet-pki'),
        containerdSocket: state.containerdSocket,
      }),
    );
    const c = cp;
    await waitHealthy(kubelet, `node ${NODE_NAME} Ready`, async () => {
      const r = await c.kubectl(['get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], {
        timeoutMs: 10_000,
      });
      return r.code === 0 && r.stdout.trim() === 'True';
    });

    // kube-proxy
    await writeFile(
      join(dir, 'kube-proxy.yaml'),
      kubeProxyConfig({
        kubeconfigPath: await cp.writeKubeconfigFor('system:kube-proxy', []),
        healthzPort: proxyHealthz!,
        metricsPort: proxyMetrics!,
      }),
    );
    const proxy = await spawnComponent('kube-proxy', kubeProxyBin, [`--config=${join(dir, 'kube-proxy.yaml')}`, '--v=1']);
    await waitHealthy(proxy, 'kube-proxy', async () => (await httpGet(`http://127.0.0.1:${proxyHealthz}/healthz`)).status === 200);

    // metrics-server, behind the aggregation layer
    const [metricsPort] = await freePorts(1);
    const metricsServer = await spawnComponent(
      'metrics-server',
      await metricsServerBin,
      metricsServerArgs({
        kubeconfigPath: await cp.writeKubeconfigFor('modelship-test:metrics-server', ['system:masters']),
        address: GATEWAY_IP,
        port: metricsPort!,
        certDir: join(dir, 'metrics-server-certs'),
      }),
    );
    const applied = await cp.kubectl(['apply', '--server-side', '--field-manager=modelship-test-harness', '-f', '-'], {
      input: metricsApiManifests(GATEWAY_IP, metricsPort!),
    });
    if (applied.code !== 0) throw new Error(`applying the metrics API objects failed:\n${applied.stderr}`);
    await waitHealthy(metricsServer, 'node metrics through the metrics.k8s.io API', async () => {
      const r = await c.kubectl(['get', '--raw', `/apis/metrics.k8s.io/v1beta1/nodes/${NODE_NAME}`], { timeoutMs: 10_000 });
      return r.code === 0 && r.stdout.includes('"usage"');
    });

    await saveState();
    log(`cluster ready in ${since()} (node ${NODE_NAME}, pods ${POD_CIDR}, dir ${dir})`);
    if (detached) unregisterCleanup(cleanup);
    return {
      cp,
      dir,
      kubeconfigPath: cp.kubeconfigPath,
      server: cp.server,
      nodeName: NODE_NAME,
      runtimeImage: images.runtime.ref,
      operatorImage: images.operator.ref,
      images,
      modelServerUrl: state.modelServerUrl,
      containerdSocket: state.containerdSocket,
      kubectl: (args, o) => c.kubectl(args, o),
      stop: () => cleanup.stop(),
    };
  } catch (err) {
    await cleanup.stop().catch(() => {});
    throw err;
  }
}

/**
 * The polite part of stopping: cordon the node, delete every pod (kubelet stops the containers and
 * tears down pod networking through CNI), wait for containerd to have no running task, then stop
 * our processes in reverse start order.
 */
async function gracefulStop(state: ClusterState, procs: Proc[], cp: ControlPlane | undefined, log: (line: string) => void): Promise<void> {
  const kubeletUp = procs.some((p) => p.name === 'kubelet' && isAlive(p.pid));
  if (cp && kubeletUp) {
    try {
      await cp.kubectl(['cordon', NODE_NAME], { timeoutMs: 15_000 });
      await cp.kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=1', '--wait=false'], { timeoutMs: 30_000 });
      await waitFor(
        async () => {
          const out = await run(HOST_TOOLS.ctr!, ['--address', state.containerdSocket, '--namespace', 'k8s.io', 'tasks', 'ls', '-q'], {
            timeoutMs: 10_000,
          });
          return out.trim() === '';
        },
        { timeoutMs: 45_000, intervalMs: 500, description: 'all pod containers to stop' },
      );
    } catch (err) {
      log(`graceful pod shutdown incomplete (${(err as Error).message.split('\n')[0]}); forcing`);
    }
  }
  await stopProcs(procs, 15_000);
  await sleep(0);
}

/** Stops a cluster recorded in its dir (quickstart down, or a detached cluster). */
export async function stopRecordedCluster(dir: string, log: (line: string) => void = () => {}): Promise<void> {
  const state = readState(dir);
  if (!state) throw new Error(`no cluster recorded in ${dir}`);
  const procs: Proc[] = state.processes.filter(isOurProcess);
  const cpState = (() => {
    try {
      return JSON.parse(readFileSync(join(state.cpDir, 'controlplane.json'), 'utf8')) as { processes: ProcRecord[] };
    } catch {
      return undefined;
    }
  })();
  let cp: ControlPlane | undefined;
  try {
    cp = attachControlPlane(state.cpDir);
  } catch {
    cp = undefined;
  }
  await gracefulStop(state, procs, cp, log);
  forceCleanupSync(state, log);
  if (cpState) await stopProcs(cpState.processes.filter(isOurProcess));
  rmSync(state.cpDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  releaseLock(dir);
}

export function recordedClusterDir(): string | undefined {
  return readLock()?.dir;
}
