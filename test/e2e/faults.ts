// Fault injection for the e2e fault tests, on the real node (we are root on it): the host PID and
// memory cgroup of a pod's container, SIGKILL of that process, a lowered cgroup memory limit, and
// the end of one inference worker thread through the Node.js inspector. Plus the shared pieces of
// those tests: iris load through the Service, "settled on a version", history checks.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import { CGROUP_ROOT, KUBEPODS } from '@modelship/devcluster/node';
import { waitFor } from '@modelship/devcluster/wait';
import { IRIS_LABEL, IRIS_ROW } from '@modelship/devcluster/iris-binary';
import { condition, createMd, getMd, type Clients } from '@modelship/devcluster/kube-clients';
import { post } from '@modelship/devcluster/http-post';
import { exampleIris } from '@modelship/devcluster/iris';
import { startLoad, type Load, type LoadResult } from './load.ts';

/** 50 predictions a second through `url`; each must be HTTP 200 with label 2. */
export function startIrisLoad(
  url: string,
  opts: { rate?: number; maxSeconds?: number; headers?: Record<string, string>; freshConnections?: boolean } = {},
): Load {
  return startLoad({
    url,
    ...(opts.headers ? { headers: opts.headers } : {}),
    ...(opts.freshConnections ? { freshConnections: true } : {}),
    body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: IRIS_ROW }] }),
    rate: opts.rate ?? 50,
    maxSeconds: opts.maxSeconds ?? 600,
    check: (status, body) => {
      if (status !== 200) return `HTTP ${status} ${body.slice(0, 200)}`;
      const label = (JSON.parse(body) as { outputs: Array<{ name: string; data: number[] }> }).outputs.find((o) => o.name === 'label')
        ?.data[0];
      return Number(label) === IRIS_LABEL ? undefined : `wrong label ${label}`;
    },
    version: (body) => (JSON.parse(body) as { model_version?: string }).model_version,
  });
}

/**
 * The setting every fault test starts from: iris version 1 on 2 replicas in `ns`, settled, with
 * the 50 req/s load running through its Service.
 */
export async function irisUnderLoad(c: Clients, ns: string, modelServerUrl: string, maxSeconds: number): Promise<Load> {
  const md = exampleIris(modelServerUrl);
  md.spec.replicas = 2;
  await createMd(c, ns, 'iris', md.spec);
  await settledOn(c, ns, 'iris', '1');
  return startIrisLoad(await irisServiceUrl(c, ns), { maxSeconds });
}

/**
 * The URL of the model's V2 infer endpoint through its Service's ClusterIP, once a prediction
 * through it succeeds (kube-proxy programs a new Service's rules a moment after it exists).
 */
export async function irisServiceUrl(c: Clients, ns: string, name = 'iris'): Promise<string> {
  const svc = await c.core.readNamespacedService({ name, namespace: ns });
  const url = `http://${svc.spec?.clusterIP}/v2/models/iris/infer`;
  const body = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: IRIS_ROW }] };
  await waitFor(async () => (await post(url, body, undefined, 2_000)).status === 200, {
    timeoutMs: 60_000,
    intervalMs: 200,
    description: `a prediction through Service ${ns}/${name}`,
  });
  return url;
}

export function describeLoad(r: LoadResult): string {
  return `${r.sent} requests in ${r.seconds.toFixed(0)}s, ${r.ok} ok, ${r.failed} failed, by version ${JSON.stringify(r.byVersion)}${
    r.failed > 0 ? `; failures: ${r.failures.slice(0, 5).join('; ')}` : ''
  }`;
}

export async function modelPods(c: Clients, ns: string, name: string): Promise<V1Pod[]> {
  return (await c.core.listNamespacedPod({ namespace: ns, labelSelector: `app.kubernetes.io/instance=${name}` })).items;
}

/**
 * Serving `version` on `replicas` pods (no old pod left), no rollout under way, Ready unless
 * `ready: false` (after a rollback Ready is False: the desired version is not served).
 */
export function settledOn(
  c: Clients,
  ns: string,
  name: string,
  version: string,
  opts: { replicas?: number; ready?: boolean; timeoutMs?: number } = {},
): Promise<ModelDeployment> {
  const replicas = opts.replicas ?? 2;
  return waitFor(
    async () => {
      const md = await getMd(c, ns, name);
      const pods = await modelPods(c, ns, name);
      const state = JSON.stringify({
        ready: condition(md, 'Ready')?.status,
        current: md.status?.currentVersion,
        updating: md.status?.updatingVersion,
        pods: pods.map(
          (p) =>
            `${p.metadata?.name} v${p.metadata?.labels?.['modelship.dev/model-version']} ${p.status?.phase}${p.metadata?.deletionTimestamp ? ' deleting' : ''}`,
        ),
      });
      if ((opts.ready ?? true) && condition(md, 'Ready')?.status !== 'True') throw new Error(state);
      if (md.status?.currentVersion !== version || md.status?.updatingVersion) throw new Error(state);
      const ok =
        pods.length === replicas &&
        pods.every((p) => p.metadata?.labels?.['modelship.dev/model-version'] === version && !p.metadata?.deletionTimestamp);
      if (!ok) throw new Error(state);
      return md;
    },
    { timeoutMs: opts.timeoutMs ?? 240_000, intervalMs: 500, description: `${name} settled on version ${version}` },
  );
}

/** Each rollout (template hash) appears once in status.history. */
export function assertHistoryUnique(md: ModelDeployment): void {
  const history = md.status?.history ?? [];
  const hashes = history.map((h) => h.templateHash);
  assert.equal(new Set(hashes).size, hashes.length, `duplicate history entries: ${JSON.stringify(history)}`);
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

// ---- the container's process on the host --------------------------------------------------------

export interface HostContainer {
  containerId: string;
  /** the container's memory cgroup directory (cgroup v1, cgroupfs driver) */
  memoryCgroup: string;
  /** host PIDs in the container's cgroup; the runtime is one process (worker threads are threads) */
  pids: number[];
}

function findDir(root: string, name: string, depth = 4): string | undefined {
  if (depth < 0 || !existsSync(root)) return undefined;
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    if (e.name === name) return join(root, e.name);
    const found = findDir(join(root, e.name), name, depth - 1);
    if (found) return found;
  }
  return undefined;
}

/** The running `container` of `pod` as the host sees it (containerd: its cgroup, its PIDs). */
export function hostContainer(pod: V1Pod, container: string): HostContainer {
  const status = pod.status?.containerStatuses?.find((s) => s.name === container);
  const containerId = status?.containerID?.replace(/^containerd:\/\//, '');
  if (!containerId || !status?.state?.running) throw new Error(`container ${container} of ${pod.metadata?.name} is not running`);
  const memoryCgroup = findDir(join(CGROUP_ROOT, 'memory', KUBEPODS), containerId);
  if (!memoryCgroup) throw new Error(`no memory cgroup for container ${containerId}`);
  const pids = readFileSync(join(memoryCgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  if (pids.length === 0) throw new Error(`no process in ${memoryCgroup}`);
  return { containerId, memoryCgroup, pids };
}

/** Caps the container's memory (cgroup v1 memory.limit_in_bytes) at its current usage + `headroomBytes`. */
export function squeezeMemory(hc: HostContainer, headroomBytes: number): { usage: number; limit: number } {
  const usage = Number(readFileSync(join(hc.memoryCgroup, 'memory.usage_in_bytes'), 'utf8').trim());
  const limit = usage + headroomBytes;
  writeFileSync(join(hc.memoryCgroup, 'memory.limit_in_bytes'), String(limit));
  return { usage, limit };
}

/**
 * Ends one inference worker thread of the Node.js process `pid` (the runtime in a pod), from the
 * host: SIGUSR1 opens the process's inspector on 127.0.0.1:9229 inside the pod's network
 * namespace; a small client run there (nsenter) attaches to the first worker thread and evaluates
 * `process.exit(70)` in it, which ends that thread only, as a crash of its JavaScript would.
 * Resolves with the client's report (the worker's title).
 */
export async function exitWorkerThread(pid: number): Promise<string> {
  process.kill(pid, 'SIGUSR1');
  const script = new URL('./inspector-exit-worker.ts', import.meta.url).pathname;
  return new Promise((resolve, reject) => {
    execFile(
      'nsenter',
      [`--net=/proc/${pid}/ns/net`, '--', process.execPath, script],
      { encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`exiting a worker thread of pid ${pid}: ${stderr || err.message}`));
        else resolve(stdout.trim());
      },
    );
  });
}
