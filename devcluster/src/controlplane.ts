// A real, local Kubernetes control plane, composed from its components: etcd → kube-apiserver →
// kube-controller-manager (→ kube-scheduler when a node will join). On its own (integration tests,
// `cluster:up`) no kubelet runs, so Pods are never run. Every process is one Session's (processes.ts).

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { repoRoot, resolveBinaries } from './binaries.ts';
import { startControllerManager } from './controller-manager.ts';
import { startEtcd } from './etcd.ts';
import { startApiServer } from './kube-apiserver.ts';
import { renderKubeconfig, runKubectl, userFileBase, type KubectlOptions, type KubectlResult } from './kubectl.ts';
import { generatePki, issueClientCert, type CertPair } from './pki.ts';
import { reapStaleSessions, readSessionState, Session, type SessionState } from './processes.ts';
import { startScheduler } from './scheduler.ts';
import { sleep } from './wait.ts';

export type { KubectlOptions, KubectlResult } from './kubectl.ts';

export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl'] as const;
export type Component = (typeof COMPONENTS)[number];
export const DIR_PREFIX = 'modelship-cp-';

export interface ControlPlaneOptions {
  /** Directory of CRD manifests to `kubectl apply --server-side` and wait for (Established). */
  crdDir?: string;
  /** Progress lines (no trailing newline). Default: silent. */
  log?: (line: string) => void;
  /** For `cluster:up`: own process groups, unref'd, no cleanup hooks once started. */
  detached?: boolean;
  /** Per-component health timeout (default 60 s). */
  startTimeoutMs?: number;
}

/** What the control plane records in the session's state file (attach, kubectl, cluster CLI). */
export interface ControlPlaneInfo {
  server: string;
  kubeconfigPath: string;
  auditLogPath: string;
  ca: CertPair;
  binaries: Record<Component, string>;
}

export interface ControlPlane {
  /** Admin (O=system:masters) client-cert kubeconfig, CA embedded. */
  kubeconfigPath: string;
  /** https://<apiserver address, default 127.0.0.1>:<port> */
  server: string;
  /** Temp dir holding PKI, logs, etcd data, kubeconfigs; removed by stop() unless MODELSHIP_KEEP_CP=1. */
  dir: string;
  /** PIDs of the session's processes, in start order. */
  pids: number[];
  /** JSON-lines audit log: Metadata level, write verbs only. */
  auditLogPath: string;
  caCertPath: string;
  binaries: Record<Component, string>;
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Client-cert kubeconfig for another user (for RBAC tests and the node's components); returns its path. */
  writeKubeconfigFor(user: string, groups: string[]): Promise<string>;
  /** Stops the processes (only if this handle started them) and removes the dir. */
  stop(): Promise<void>;
}

/**
 * Composes the control plane into `session`: PKI, etcd, kube-apiserver on `address`, then
 * kube-controller-manager; with `withNodes` also kube-scheduler and the node-facing API server flags.
 */
export async function composeControlPlane(
  session: Session<ControlPlaneInfo>,
  o: { address?: string; withNodes?: boolean } = {},
): Promise<ControlPlane> {
  const address = o.address ?? '127.0.0.1';
  const withNodes = o.withNodes ?? false;
  const binaries = await resolveBinaries(COMPONENTS);
  const scheduler = withNodes ? (await resolveBinaries(['kube-scheduler']))['kube-scheduler'] : undefined;
  const pki = await generatePki(join(session.dir, 'pki'), address === '127.0.0.1' ? [] : [`IP:${address}`]);
  const etcd = await startEtcd(session, binaries.etcd);
  const api = await startApiServer(session, { bin: binaries['kube-apiserver'], etcdUrl: etcd.url, pki, address, withNodes });
  await session.record({ server: api.server, kubeconfigPath: api.kubeconfigPath, auditLogPath: api.auditLogPath, ca: pki.ca, binaries });
  const cp = controlPlaneHandle(session.state as SessionState & ControlPlaneInfo, () => session.stop());
  const kubeconfigFor = (user: string) => cp.writeKubeconfigFor(user, []);
  await startControllerManager(session, { bin: binaries['kube-controller-manager'], ...api, pki, kubeconfigFor, fastHpa: withNodes });
  if (scheduler) await startScheduler(session, { bin: scheduler, kubeconfigFor });
  return { ...cp, pids: session.pids() };
}

/** Starts a control plane on its own (integration tests, `cluster:up`); crds/ installed if given. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? (() => {});
  const t0 = Date.now();
  reapStaleSessions(DIR_PREFIX, {}, log);
  const session = await Session.create<ControlPlaneInfo>({
    prefix: DIR_PREFIX,
    log,
    detached: opts.detached ?? false,
    timeoutMs: opts.startTimeoutMs ?? 60_000,
  });
  try {
    const cp = await composeControlPlane(session);
    if (opts.crdDir) await installCrds(cp, opts.crdDir, log);
    await session.ready();
    log(`control plane ready at ${cp.server} in ${((Date.now() - t0) / 1000).toFixed(1)}s (dir ${session.dir})`);
    return { ...cp, pids: session.pids() };
  } catch (err) {
    await session.stop();
    throw err;
  }
}

// ---- the handle ---------------------------------------------------------------------------------

function controlPlaneHandle(state: SessionState & ControlPlaneInfo, stop: () => Promise<void>): ControlPlane {
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
    stop,
  };
}

/** A handle on a control plane another process started (its dir); stop() does nothing. */
export function attachControlPlane(dir: string | undefined = process.env.MODELSHIP_TEST_CP_DIR): ControlPlane {
  if (!dir) throw new Error('attachControlPlane: no dir given and MODELSHIP_TEST_CP_DIR is not set');
  const state = readSessionState<ControlPlaneInfo>(dir);
  if (!state?.server) throw new Error(`no control plane recorded in ${dir}`);
  return controlPlaneHandle(state as SessionState & ControlPlaneInfo, async () => {});
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

// ---- CRDs ---------------------------------------------------------------------------------------

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
