// A real, local Kubernetes control plane for integration tests: etcd + kube-apiserver (RBAC,
// client-cert auth, audit log of writes) + kube-controller-manager (garbage collector, Deployment /
// ReplicaSet and the other default controllers). No kubelet: Pods are never run.
// Flags follow envtest (reference/local-cluster.md §2) and hack/local-up-cluster.sh (§6).

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveBinaries, repoRoot } from './binaries.ts';
import { generatePki, issueClientCert, type CertPair, type Pki } from './pki.ts';
import { freePorts } from './ports.ts';
import {
  isAlive,
  isOurProcess,
  killProcsSync,
  registerCleanup,
  removeDirSync,
  spawnLogged,
  stopProcs,
  tail,
  unregisterCleanup,
  type Cleanup,
  type Proc,
  type ProcRecord,
} from './processes.ts';
import { sleep, waitFor } from './wait.ts';

export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl'] as const;
export type Component = (typeof COMPONENTS)[number];

export const DIR_PREFIX = 'modelship-cp-';
/** A /16 so 1,000 ModelDeployments (one Service each) fit with room to spare; a /24 holds 254. */
export const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/16';
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ControlPlaneOptions {
  /** Directory of CRD manifests to `kubectl apply --server-side` and wait for (Established). */
  crdDir?: string;
  /** Progress lines (no trailing newline). Default: silent. */
  log?: (line: string) => void;
  /** For `cluster:up`: own process groups, unref'd, no cleanup hooks once started. */
  detached?: boolean;
  /** Per-component health timeout (default 60 s). */
  startTimeoutMs?: number;
  /**
   * For a cluster with a real node (cluster.ts): also start kube-scheduler; authorization Node,RBAC
   * with NodeRestriction and ServiceAccount admission; a client certificate for API server → kubelet.
   */
  withNodes?: boolean;
  /**
   * Address the API server binds to and advertises (default 127.0.0.1). cluster.ts passes the pod
   * bridge's gateway, so pods reach the API server through the `kubernetes` Service.
   */
  apiserverAddress?: string;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  input?: string;
  /** Run as this user (client certificate issued on demand) instead of admin (system:masters). */
  user?: { name: string; groups?: string[] };
  /** Default 120 s; the kubectl process is killed after that. */
  timeoutMs?: number;
}

export interface ControlPlane {
  /** Admin (O=system:masters) client-cert kubeconfig, CA embedded. */
  kubeconfigPath: string;
  /** https://<apiserverAddress, default 127.0.0.1>:<port> */
  server: string;
  /** Temp dir holding PKI, logs, etcd data, kubeconfigs; removed by stop() unless MODELSHIP_KEEP_CP=1. */
  dir: string;
  /** PIDs of etcd, kube-apiserver, kube-controller-manager, in start order. */
  pids: number[];
  /** JSON-lines audit log: Metadata level, write verbs only. */
  auditLogPath: string;
  caCertPath: string;
  binaries: Record<Component, string>;
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Client-cert kubeconfig for another user (for RBAC tests); returns its path. */
  writeKubeconfigFor(user: string, groups: string[]): Promise<string>;
  /** Stops the processes (only if this handle started them) and removes the dir. */
  stop(): Promise<void>;
}

/** Written to <dir>/controlplane.json; lets other processes attach (tests) or stop it (cluster:down). */
export interface ControlPlaneState {
  version: 1;
  ownerPid: number;
  detached: boolean;
  dir: string;
  server: string;
  kubeconfigPath: string;
  auditLogPath: string;
  ca: CertPair;
  binaries: Record<Component, string>;
  processes: ProcRecord[];
}

// ---- pure argument / file builders (unit-tested) ----------------------------------------------

export function etcdArgs(o: { dataDir: string; clientPort: number; peerPort: number }): string[] {
  const client = `http://127.0.0.1:${o.clientPort}`;
  return [
    `--name=modelship-test`,
    `--data-dir=${o.dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=http://127.0.0.1:${o.peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${o.peerPort}`,
    `--initial-cluster=modelship-test=http://127.0.0.1:${o.peerPort}`,
    `--unsafe-no-fsync=true`,
    `--log-level=warn`,
  ];
}

export function apiserverArgs(o: {
  etcdUrl: string;
  port: number;
  pki: Pki;
  certDir: string;
  auditPolicyPath: string;
  auditLogPath: string;
  /** withNodes: the API server's client certificate towards kubelets. */
  kubeletClient?: CertPair;
  /** withNodes: the aggregation layer's client certificate towards extension API servers (metrics-server). */
  frontProxyClient?: CertPair;
  address?: string;
}): string[] {
  const address = o.address ?? '127.0.0.1';
  const aggregation = o.frontProxyClient
    ? [
        `--requestheader-client-ca-file=${o.pki.ca.cert}`,
        `--requestheader-allowed-names=front-proxy-client`,
        `--requestheader-username-headers=X-Remote-User`,
        `--requestheader-group-headers=X-Remote-Group`,
        `--requestheader-extra-headers-prefix=X-Remote-Extra-`,
        `--proxy-client-cert-file=${o.frontProxyClient.cert}`,
        `--proxy-client-key-file=${o.frontProxyClient.key}`,
        // extension API servers run on the host, behind a selector-less Service: dial the endpoint
        `--enable-aggregator-routing=true`,
      ]
    : [];
  const nodes = o.kubeletClient
    ? [
        `--authorization-mode=Node,RBAC`,
        `--enable-admission-plugins=NodeRestriction`,
        `--kubelet-client-certificate=${o.kubeletClient.cert}`,
        `--kubelet-client-key=${o.kubeletClient.key}`,
        // logs / exec / port-forward: dial the kubelet at the address it registers (--node-ip, the
        // bridge's gateway); the default tries Hostname first, a name nothing here resolves
        `--kubelet-preferred-address-types=InternalIP,Hostname`,
      ]
    : [`--authorization-mode=RBAC`, `--disable-admission-plugins=ServiceAccount`];
  return [
    `--etcd-servers=${o.etcdUrl}`,
    `--bind-address=${address}`,
    `--advertise-address=${address}`,
    `--secure-port=${o.port}`,
    `--cert-dir=${o.certDir}`,
    `--tls-cert-file=${o.pki.serving.cert}`,
    `--tls-private-key-file=${o.pki.serving.key}`,
    `--client-ca-file=${o.pki.ca.cert}`,
    ...nodes,
    ...aggregation,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    `--allow-privileged=true`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${o.pki.serviceAccount.pub}`,
    `--service-account-signing-key-file=${o.pki.serviceAccount.key}`,
    `--audit-policy-file=${o.auditPolicyPath}`,
    `--audit-log-path=${o.auditLogPath}`,
    `--audit-log-format=json`,
    `--audit-log-mode=blocking`,
  ];
}

/**
 * With a real node, the HorizontalPodAutoscaler is tuned for test speed (defaults in brackets):
 * evaluate every 5 s (15 s), scale down after 20 s without a higher recommendation (5 min), and count
 * a new pod's CPU after 15 s (5 min initialization period, 30 s readiness delay).
 */
export const FAST_HPA_ARGS = [
  '--horizontal-pod-autoscaler-sync-period=5s',
  '--horizontal-pod-autoscaler-downscale-stabilization=20s',
  '--horizontal-pod-autoscaler-cpu-initialization-period=15s',
  '--horizontal-pod-autoscaler-initial-readiness-delay=5s',
];

export function controllerManagerArgs(o: { kubeconfigPath: string; port: number; pki: Pki; certDir: string; fastHpa?: boolean }): string[] {
  return [
    ...(o.fastHpa ? FAST_HPA_ARGS : []),
    `--kubeconfig=${o.kubeconfigPath}`,
    `--leader-elect=false`,
    `--controllers=*`,
    `--use-service-account-credentials=false`,
    `--service-account-private-key-file=${o.pki.serviceAccount.key}`,
    `--root-ca-file=${o.pki.ca.cert}`,
    `--cluster-signing-cert-file=${o.pki.ca.cert}`,
    `--cluster-signing-key-file=${o.pki.ca.key}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    `--bind-address=127.0.0.1`,
    `--secure-port=${o.port}`,
    `--cert-dir=${o.certDir}`,
  ];
}

/** kube-scheduler (withNodes): its config file and flags; no leader election on one node. */
export function schedulerConfig(kubeconfigPath: string): string {
  return `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: ${JSON.stringify(kubeconfigPath)}
leaderElection:
  leaderElect: false
`;
}

export function schedulerArgs(o: { configPath: string; port: number; certDir: string }): string[] {
  return [`--config=${o.configPath}`, `--bind-address=127.0.0.1`, `--secure-port=${o.port}`, `--cert-dir=${o.certDir}`];
}

/** Metadata for writes, nothing else: the log is a count of write requests per user. */
export const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
`;

export function renderKubeconfig(o: { server: string; caPem: string; certPem: string; keyPem: string; user: string }): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const user = JSON.stringify(o.user);
  return `apiVersion: v1
kind: Config
clusters:
  - name: modelship-test
    cluster:
      server: ${o.server}
      certificate-authority-data: ${b64(o.caPem)}
users:
  - name: ${user}
    user:
      client-certificate-data: ${b64(o.certPem)}
      client-key-data: ${b64(o.keyPem)}
contexts:
  - name: modelship-test
    context:
      cluster: modelship-test
      user: ${user}
      namespace: default
current-context: modelship-test
`;
}

/** File-name-safe, collision-free base name for a user's cert and kubeconfig. */
export function userFileBase(user: string, groups: readonly string[]): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([user, [...groups]]))
    .digest('hex')
    .slice(0, 10);
  const safe = user.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40);
  return `user-${safe}-${hash}`;
}

// ---- health checks ------------------------------------------------------------------------------

interface Tls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure?: boolean;
}

/** GET a URL; resolves to status and body, rejects on network errors; 5 s timeout. */
export function httpGet(url: string, tls: Tls = {}): Promise<{ status: number; body: string }> {
  return httpCall('GET', url, tls);
}

function httpCall(method: string, url: string, tls: Tls, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const u = new URL(url);
    const opts = {
      method,
      timeout: 5_000,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(u.protocol === 'https:'
        ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !tls.insecure, servername: undefined }
        : {}),
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

// ---- stale cleanup ------------------------------------------------------------------------------

/**
 * Kills leftovers of earlier runs that were SIGKILLed (no exit hook ran): temp dirs whose owner
 * process is gone and that were not started detached (cluster:up). Only PIDs still running the
 * recorded binary are signalled.
 */
export function reapStaleControlPlanes(log: (line: string) => void = () => {}): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = join(tmpdir(), entry);
    let state: ControlPlaneState;
    try {
      state = JSON.parse(readFileSync(join(dir, 'controlplane.json'), 'utf8')) as ControlPlaneState;
    } catch {
      continue;
    }
    if (state.detached || isAlive(state.ownerPid)) continue;
    const procs = state.processes.filter(isOurProcess);
    if (procs.length > 0) log(`reaping stale control plane ${dir} (pids ${procs.map((p) => p.pid).join(' ')})`);
    killProcsSync(procs);
    if (process.env.MODELSHIP_KEEP_CP !== '1') removeDirSync(dir);
  }
}

// ---- kubectl ------------------------------------------------------------------------------------

const kubectlChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of kubectlChildren) c.kill('SIGKILL');
});

export function runKubectl(
  kubectlBin: string,
  kubeconfig: string,
  cacheDir: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<KubectlResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(kubectlBin, [`--kubeconfig=${kubeconfig}`, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, KUBECACHEDIR: cacheDir },
    });
    kubectlChildren.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      stderr += `\n(kubectl killed after ${opts.timeoutMs ?? 120_000} ms)`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      kubectlChildren.delete(child);
      reject(err);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      kubectlChildren.delete(child);
      resolvePromise({ code: code ?? (sig ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

// ---- the handle ---------------------------------------------------------------------------------

function makeHandle(state: ControlPlaneState, stopImpl: () => Promise<void>): ControlPlane {
  const kubectlCache = join(state.dir, 'kubectl-cache');
  const userConfigs = new Map<string, Promise<string>>();
  const writeKubeconfigFor = (user: string, groups: string[]): Promise<string> => {
    const base = userFileBase(user, groups);
    let p = userConfigs.get(base);
    if (!p) {
      p = (async () => {
        const usersDir = join(state.dir, 'users');
        const path = join(usersDir, `${base}.kubeconfig`);
        if (existsSync(path)) return path; // written earlier, e.g. by another process attached to it
        await mkdir(usersDir, { recursive: true });
        // cert files unique per writer: processes attached to the same dir may race; the kubeconfig
        // (which embeds the data) is then renamed into place atomically
        const unique = `${base}.${process.pid}-${randomBytes(3).toString('hex')}`;
        const pair = await issueClientCert(join(state.dir, 'pki'), state.ca, join('..', 'users', unique), user, groups);
        const [caPem, certPem, keyPem] = await Promise.all([
          readFile(state.ca.cert, 'utf8'),
          readFile(pair.cert, 'utf8'),
          readFile(pair.key, 'utf8'),
        ]);
        const tmp = `${path}.${process.pid}.tmp`;
        await writeFile(tmp, renderKubeconfig({ server: state.server, caPem, certPem, keyPem, user }), { mode: 0o600 });
        await rename(tmp, path);
        return path;
      })();
      p.catch(() => userConfigs.delete(base));
      userConfigs.set(base, p);
    }
    return p;
  };
  return {
    kubeconfigPath: state.kubeconfigPath,
    server: state.server,
    dir: state.dir,
    pids: state.processes.map((p) => p.pid),
    auditLogPath: state.auditLogPath,
    caCertPath: state.ca.cert,
    binaries: state.binaries,
    writeKubeconfigFor,
    async kubectl(args, opts = {}) {
      const kubeconfig = opts.user ? await writeKubeconfigFor(opts.user.name, opts.user.groups ?? []) : state.kubeconfigPath;
      return runKubectl(state.binaries.kubectl, kubeconfig, kubectlCache, args, opts);
    },
    stop: stopImpl,
  };
}

/** A handle on a control plane another process started (its dir); stop() does nothing. */
export function attachControlPlane(dir: string | undefined = process.env.MODELSHIP_TEST_CP_DIR): ControlPlane {
  if (!dir) throw new Error('attachControlPlane: no dir given and MODELSHIP_TEST_CP_DIR is not set');
  const state = JSON.parse(readFileSync(join(dir, 'controlplane.json'), 'utf8')) as ControlPlaneState;
  return makeHandle(state, async () => {});
}

/**
 * For test files: the control plane of `npm test` (MODELSHIP_TEST_CP_DIR) if there is one, else a
 * fresh one with crds/ installed (so a single file can run with `node --test file.ts`).
 * Call stop() in `after`; it is a no-op for the shared one.
 */
export async function getTestControlPlane(): Promise<ControlPlane> {
  if (process.env.MODELSHIP_TEST_CP_DIR) return attachControlPlane(process.env.MODELSHIP_TEST_CP_DIR);
  return startControlPlane({
    crdDir: join(repoRoot, 'crds'),
    log: (line) => process.stderr.write(`harness: ${line}\n`),
  });
}

/** Stops a recorded control plane (cluster:down): exactly its PIDs, then removes its dir. */
export async function stopRecordedControlPlane(state: ControlPlaneState): Promise<void> {
  const procs = state.processes.filter(isOurProcess);
  await stopProcs(procs);
  if (process.env.MODELSHIP_KEEP_CP !== '1') removeDirSync(state.dir);
}

// ---- start --------------------------------------------------------------------------------------

class ComponentError extends Error {}

/** Processes recorded in the state file that `known` does not have (same start order). */
function recordedSince(statePath: string, known: readonly Proc[]): Proc[] {
  try {
    const recorded = (JSON.parse(readFileSync(statePath, 'utf8')) as ControlPlaneState).processes;
    return recorded.filter((r) => !known.some((p) => p.pid === r.pid) && isOurProcess(r));
  } catch {
    return [];
  }
}

/**
 * Fault injection (e2e fault tests): stops the control plane's kube-apiserver (SIGTERM, SIGKILL
 * after `graceMs`, default 10 s: with clients' watches open its own graceful shutdown waits 60 s
 * for them) and starts it again with the same command line, from any process attached to
 * `dir`. The new PID replaces the old one in controlplane.json, where the owner's stop() finds it.
 * Resolves once /readyz answers 200; returns how long stopping, starting and the whole outage took.
 */
export async function restartApiserver(
  dir: string,
  opts: { downMs?: number; graceMs?: number; timeoutMs?: number } = {},
): Promise<{ oldPid: number; newPid: number; stopMs: number; startMs: number; downMs: number }> {
  const statePath = join(dir, 'controlplane.json');
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as ControlPlaneState;
  const i = state.processes.findIndex((p) => p.name === 'kube-apiserver' && isOurProcess(p));
  const old = state.processes[i];
  if (!old) throw new Error(`no running kube-apiserver recorded in ${statePath}`);
  const args = readFileSync(`/proc/${old.pid}/cmdline`, 'utf8').split('\0').slice(1, -1);
  const stoppedAt = Date.now();
  await stopProcs([old], opts.graceMs ?? 10_000);
  if (isAlive(old.pid)) throw new Error(`kube-apiserver (pid ${old.pid}) did not stop`);
  const stopMs = Date.now() - stoppedAt;
  if (opts.downMs) await sleep(opts.downMs);
  const startedAt = Date.now();
  const proc = spawnLogged(old.name, old.bin, args, old.logPath, { detached: true });
  state.processes[i] = { name: proc.name, bin: proc.bin, pid: proc.pid, logPath: proc.logPath };
  const tmp = `${statePath}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, statePath);
  const pki = join(dir, 'pki');
  const tls: Tls = {
    ca: readFileSync(join(pki, 'ca.crt')),
    cert: readFileSync(join(pki, 'admin.crt')),
    key: readFileSync(join(pki, 'admin.key')),
  };
  await waitFor(
    async () => {
      if (!isAlive(proc.pid)) throw new Error(`the restarted kube-apiserver exited; ${old.logPath} ends with:\n${await tail(old.logPath)}`);
      return (await httpGet(`${state.server}/readyz`, tls)).status === 200;
    },
    { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 100, description: 'the restarted kube-apiserver to become ready' },
  );
  return { oldPid: old.pid, newPid: proc.pid, stopMs, startMs: Date.now() - startedAt, downMs: Date.now() - stoppedAt };
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const detached = opts.detached ?? false;
  const t0 = Date.now();
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

  reapStaleControlPlanes(log);
  const binaries = await resolveBinaries(COMPONENTS);
  const schedulerBin = opts.withNodes ? (await resolveBinaries(['kube-scheduler']))['kube-scheduler'] : undefined;

  const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
  const procs: Proc[] = [];
  const keep = process.env.MODELSHIP_KEEP_CP === '1';
  let stopped: Promise<void> | undefined;
  // a component restarted by another process (restartApiserver) is recorded only in the state file
  const allProcs = (): Proc[] => [...procs, ...recordedSince(statePath, procs)];
  const cleanup: Cleanup = {
    stop: () => {
      stopped ??= (async () => {
        unregisterCleanup(cleanup);
        await stopProcs(allProcs());
        if (!keep) removeDirSync(dir);
      })();
      return stopped;
    },
    killSync: () => {
      killProcsSync(allProcs());
      if (!keep) removeDirSync(dir);
    },
  };
  registerCleanup(cleanup);

  const logsDir = join(dir, 'logs');
  const pkiDir = join(dir, 'pki');
  const auditLogPath = join(dir, 'audit.log');
  const auditPolicyPath = join(dir, 'audit-policy.yaml');
  const kubeconfigPath = join(dir, 'kubeconfig');
  const kcmKubeconfigPath = join(dir, 'kube-controller-manager.kubeconfig');
  const statePath = join(dir, 'controlplane.json');

  const state: ControlPlaneState = {
    version: 1,
    ownerPid: process.pid,
    detached,
    dir,
    server: '',
    kubeconfigPath,
    auditLogPath,
    ca: { cert: join(pkiDir, 'ca.crt'), key: join(pkiDir, 'ca.key') },
    binaries,
    processes: [],
  };
  const saveState = async () => {
    state.processes = procs.map(({ name, bin, pid, logPath }) => ({ name, bin, pid, logPath }));
    const tmp = `${statePath}.tmp`;
    await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
    await rename(tmp, statePath);
  };

  /**
   * Spawns a component on fresh ports and waits for `healthy`; retries (new ports) if it exits
   * complaining that an address is in use (another process took a port we picked).
   */
  const startComponent = async (
    name: string,
    bin: string,
    portCount: number,
    args: (ports: number[]) => string[],
    healthy: (ports: number[]) => Promise<boolean>,
  ): Promise<number[]> => {
    const logPath = join(logsDir, `${name}.log`);
    for (let attempt = 1; ; attempt++) {
      const ports = await freePorts(portCount);
      const logStart = existsSync(logPath) ? statSync(logPath).size : 0;
      const proc = spawnLogged(name, bin, args(ports), logPath, { detached });
      procs.push(proc);
      await saveState();
      const started = Date.now();
      try {
        const outcome = await waitFor(
          async () => {
            const child = proc.child;
            if (child && (child.exitCode !== null || child.signalCode !== null)) {
              return { exited: child.exitCode ?? child.signalCode };
            }
            return (await healthy(ports)) ? { exited: undefined } : undefined;
          },
          { timeoutMs, intervalMs: 200, description: `${name} to become healthy` },
        );
        if (outcome.exited === undefined) {
          log(`${name} ready in ${((Date.now() - started) / 1000).toFixed(1)}s (pid ${proc.pid}, ports ${ports.join(',')})`);
          return ports;
        }
        procs.pop();
        const logTail = await tail(logPath);
        const thisAttempt = (await readFile(logPath)).subarray(logStart).toString('utf8');
        if (attempt < 3 && /address already in use/i.test(thisAttempt)) {
          log(`${name}: port taken, retrying on new ports`);
          continue;
        }
        throw new ComponentError(
          `${name} exited (${String(outcome.exited)}) before becoming healthy; ${logPath} ends with (MODELSHIP_KEEP_CP=1 keeps the dir):\n${logTail}`,
        );
      } catch (err) {
        if (err instanceof ComponentError) throw err;
        throw new ComponentError(
          `${name} did not become healthy: ${(err as Error).message}\n${logPath} ends with:\n${await tail(logPath)}`,
        );
      }
    }
  };

  try {
    await mkdir(logsDir, { recursive: true });
    const apiAddress = opts.apiserverAddress ?? '127.0.0.1';
    const [pki] = await Promise.all([
      generatePki(pkiDir, apiAddress === '127.0.0.1' ? [] : [`IP:${apiAddress}`]),
      writeFile(auditPolicyPath, AUDIT_POLICY),
    ]);
    const [kubeletClient, schedulerCert, frontProxyClient] = schedulerBin
      ? await Promise.all([
          issueClientCert(pkiDir, pki.ca, 'apiserver-kubelet-client', 'kube-apiserver-kubelet-client', ['system:masters']),
          issueClientCert(pkiDir, pki.ca, 'kube-scheduler', 'system:kube-scheduler', []),
          issueClientCert(pkiDir, pki.ca, 'front-proxy-client', 'front-proxy-client', []),
        ])
      : [];
    const [caPem, adminCert, adminKey, kcmCert, kcmKey] = await Promise.all(
      [pki.ca.cert, pki.admin.cert, pki.admin.key, pki.controllerManager.cert, pki.controllerManager.key].map((f) => readFile(f, 'utf8')),
    );
    const adminTls: Tls = {
      ca: Buffer.from(caPem as string),
      cert: Buffer.from(adminCert as string),
      key: Buffer.from(adminKey as string),
    };
    log(`pki ready (${since()})`);

    const [etcdPort] = await startComponent(
      'etcd',
      binaries.etcd,
      2,
      ([client, peer]) => etcdArgs({ dataDir: join(dir, 'etcd'), clientPort: client!, peerPort: peer! }),
      async ([client]) => {
        const r = await httpGet(`http://127.0.0.1:${client}/health`);
        return r.status === 200 && /"health":\s*"true"/.test(r.body);
      },
    );

    const [apiPort] = await startComponent(
      'kube-apiserver',
      binaries['kube-apiserver'],
      1,
      ([port]) =>
        apiserverArgs({
          etcdUrl: `http://127.0.0.1:${etcdPort}`,
          port: port!,
          pki,
          certDir: join(dir, 'apiserver-certs'),
          auditPolicyPath,
          auditLogPath,
          address: apiAddress,
          ...(kubeletClient ? { kubeletClient } : {}),
          ...(frontProxyClient ? { frontProxyClient } : {}),
        }),
      async ([port]) => (await httpGet(`https://${apiAddress}:${port}/readyz`, adminTls)).status === 200,
    );
    const server = `https://${apiAddress}:${apiPort}`;
    state.server = server;
    await writeFile(kubeconfigPath, renderKubeconfig({ server, caPem: caPem!, certPem: adminCert!, keyPem: adminKey!, user: 'admin' }), {
      mode: 0o600,
    });
    await writeFile(
      kcmKubeconfigPath,
      renderKubeconfig({ server, caPem: caPem!, certPem: kcmCert!, keyPem: kcmKey!, user: 'system:kube-controller-manager' }),
      { mode: 0o600 },
    );
    await saveState();
    await waitFor(async () => (await httpGet(`${server}/api/v1/namespaces/default`, adminTls)).status === 200, {
      timeoutMs,
      description: 'the default namespace',
    });

    // With --use-service-account-credentials=false every controller acts as this one user, whose
    // bootstrap role is meant for the shared informers only: give it cluster-admin, like the
    // per-controller service accounts have together.
    const binding = await httpCall('POST', `${server}/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`, adminTls, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'modelship-test:kube-controller-manager' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:kube-controller-manager' }],
    });
    if (binding.status !== 201) throw new Error(`creating the controller-manager binding failed: ${binding.status} ${binding.body}`);

    await startComponent(
      'kube-controller-manager',
      binaries['kube-controller-manager'],
      1,
      ([port]) =>
        controllerManagerArgs({
          kubeconfigPath: kcmKubeconfigPath,
          port: port!,
          pki,
          certDir: join(dir, 'kcm-certs'),
          fastHpa: opts.withNodes === true,
        }),
      async ([port]) => (await httpGet(`https://127.0.0.1:${port}/healthz`, { insecure: true })).status === 200,
    );

    if (schedulerBin && schedulerCert) {
      const schedKubeconfig = join(dir, 'kube-scheduler.kubeconfig');
      const schedConfig = join(dir, 'kube-scheduler.yaml');
      const [certPem, keyPem] = await Promise.all([readFile(schedulerCert.cert, 'utf8'), readFile(schedulerCert.key, 'utf8')]);
      await writeFile(schedKubeconfig, renderKubeconfig({ server, caPem: caPem!, certPem, keyPem, user: 'system:kube-scheduler' }), {
        mode: 0o600,
      });
      await writeFile(schedConfig, schedulerConfig(schedKubeconfig));
      await startComponent(
        'kube-scheduler',
        schedulerBin,
        1,
        ([port]) => schedulerArgs({ configPath: schedConfig, port: port!, certDir: join(dir, 'scheduler-certs') }),
        async ([port]) => (await httpGet(`https://127.0.0.1:${port}/healthz`, { insecure: true })).status === 200,
      );
    }

    const handle = makeHandle(state, () => cleanup.stop());
    if (opts.crdDir) await installCrds(handle, opts.crdDir, log);
    await saveState();
    log(`control plane ready at ${server} in ${since()} (dir ${dir})`);
    if (detached) unregisterCleanup(cleanup);
    return handle;
  } catch (err) {
    await cleanup.stop();
    throw err;
  }
}

const MANIFEST = /\.(ya?ml|json)$/i;

export async function installCrds(cp: ControlPlane, crdDir: string, log: (line: string) => void = () => {}): Promise<void> {
  const abs = resolve(crdDir);
  let files: string[] = [];
  try {
    files = (await readdir(abs, { withFileTypes: true })).filter((e) => e.isFile() && MANIFEST.test(e.name)).map((e) => e.name);
  } catch {
    // missing dir: nothing to install
  }
  if (files.length === 0) {
    log(`no CRD manifests in ${abs}`);
    return;
  }
  const applied = await cp.kubectl(['apply', '--server-side', '--field-manager=modelship-test-harness', '-f', abs]);
  if (applied.code !== 0) throw new Error(`kubectl apply -f ${abs} failed:\n${applied.stderr}${applied.stdout}`);
  const crds = await cp.kubectl(['get', 'crd', '-o', 'name']);
  if (crds.stdout.trim() === '') {
    log(`no CRDs among ${files.join(', ')}`);
    return;
  }
  // `kubectl wait` can race the CRD controller; retry a few times.
  for (let attempt = 1; ; attempt++) {
    const waited = await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    if (waited.code === 0) break;
    if (attempt >= 3) throw new Error(`CRDs from ${abs} did not become Established:\n${waited.stderr}${waited.stdout}`);
    await sleep(1_000);
  }
  log(`CRDs installed: ${crds.stdout.trim().split('\n').join(' ')}`);
}
