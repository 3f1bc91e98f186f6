/**
 * Operator scale benchmark: `npm run bench:operator`. On the local control plane (etcd +
 * kube-apiserver + kube-controller-manager, no node: pods stay Pending, which the operator reports
 * as a rollout in progress), the real operator process and BENCH_MDS ModelDeployments (250):
 *   1. create them all (16 in flight) → time until every one has its Deployment and Service and a
 *      status for its generation;
 *   2. change spec.model.version on all → time until every Deployment carries the new version;
 *   3. steady state: after a settle, write requests by the operator's own user over 60 s, counted
 *      in the API server's audit log (leader election off, so no Lease renewals);
 *   4. the operator's resident memory (VmRSS) idle, after each step, and at the end.
 * BENCH_RUNS (3) full runs, each on a fresh control plane; medians are reported.
 * Writes bench/operator/results/latest.{json,md} and prints the table.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditMark, readAuditEvents, writesBy } from '@modelship/devcluster/audit';
import { repoRoot } from '@modelship/devcluster/binaries';
import { startControlPlane } from '@modelship/devcluster/controlplane';
import { waitFor } from '@modelship/devcluster/wait';
import { startOperator } from '@modelship/devcluster/operator-process';
import { clients, patchMd, type Clients } from '@modelship/devcluster/kube-clients';

// The local control plane's Service range is a /24 (254 addresses, one for `kubernetes`), so at most
// 253 ModelDeployments get a ClusterIP there.
const MDS = Number(process.env.BENCH_MDS ?? 250);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? 60);
const IN_FLIGHT = 16;
const OPERATOR_USER = 'modelship-bench-operator';
const NS = 'bench';
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);

interface RunResult {
  createSeconds: number;
  versionChangeSeconds: number;
  steadyWritesPerMinute: number;
  steadyReconcilesPerMinute: number;
  rssMiB: { idle: number; afterCreate: number; afterVersionChange: number; end: number };
  /** V8 heap in use at the end (nodejs_heap_size_used_bytes from the operator's /metrics) */
  heapUsedMiB: number;
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

async function inBatches(count: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

const mdName = (i: number) => `m${String(i).padStart(4, '0')}`;

function modelDeployment(i: number, version: string): Record<string, unknown> {
  return {
    apiVersion: 'modelship.dev/v1alpha1',
    kind: 'ModelDeployment',
    metadata: { name: mdName(i), namespace: NS },
    spec: {
      model: {
        version,
        uri: `http://models.bench.invalid/m${i}/${version}/model.onnx`,
        sha256: 'e8fc777f90a039e4e8ed748ddd9b70e78ca8949321b413ac949b664635ac4553',
      },
    },
  };
}

const MD = { group: 'modelship.dev', version: 'v1alpha1', plural: 'modeldeployments' };

async function countReconciled(c: Clients): Promise<number> {
  const list = (await c.custom.listNamespacedCustomObject({ ...MD, namespace: NS })) as {
    items: Array<{ metadata: { generation?: number }; status?: { observedGeneration?: number } }>;
  };
  const deployments = (await c.apps.listNamespacedDeployment({ namespace: NS })).items.length;
  const services = (await c.core.listNamespacedService({ namespace: NS })).items.length;
  const observed = list.items.filter((m) => m.status?.observedGeneration === m.metadata.generation).length;
  return Math.min(observed, deployments, services);
}

async function deploymentsSettled(c: Clients): Promise<boolean> {
  const deployments = (await c.apps.listNamespacedDeployment({ namespace: NS })).items;
  return deployments.length === MDS && deployments.every((d) => d.status?.observedGeneration === d.metadata?.generation);
}

async function countOnVersion(c: Clients, version: string): Promise<number> {
  const deployments = (await c.apps.listNamespacedDeployment({ namespace: NS })).items;
  return deployments.filter((d) =>
    d.spec?.template.spec?.containers.some((x) => x.env?.some((e) => e.name === 'MODELSHIP_MODEL_VERSION' && e.value === version)),
  ).length;
}

async function oneRun(run: number): Promise<RunResult> {
  const cp = await startControlPlane({ crdDir: join(repoRoot, 'crds'), log: (l) => say(`run ${run}: ${l}`) });
  try {
    process.env.KUBECONFIG = cp.kubeconfigPath;
    const c = clients();
    await c.core.createNamespace({ body: { metadata: { name: NS } } });
    const operatorKubeconfig = await cp.writeKubeconfigFor(OPERATOR_USER, ['system:masters']);
    const op = await startOperator({ namespace: NS, kubeconfig: operatorKubeconfig, args: ['--log-level', 'info'] });
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      const idle = rssMiB(op.pid);

      const t0 = Date.now();
      await inBatches(MDS, (i) => c.custom.createNamespacedCustomObject({ ...MD, namespace: NS, body: modelDeployment(i, '1') }));
      await waitFor(async () => (await countReconciled(c)) === MDS, {
        timeoutMs: 600_000,
        intervalMs: 250,
        description: `${MDS} ModelDeployments reconciled`,
      });
      const createSeconds = (Date.now() - t0) / 1000;
      const afterCreate = rssMiB(op.pid);
      say(`run ${run}: ${MDS} created and reconciled in ${createSeconds.toFixed(1)} s, RSS ${afterCreate} MiB`);

      const t1 = Date.now();
      await inBatches(MDS, (i) => patchMd(c, NS, mdName(i), { spec: { model: { version: '2' } } }));
      await waitFor(async () => (await countOnVersion(c, '2')) === MDS, {
        timeoutMs: 600_000,
        intervalMs: 250,
        description: `${MDS} Deployments on version 2`,
      });
      const versionChangeSeconds = (Date.now() - t1) / 1000;
      const afterVersionChange = rssMiB(op.pid);
      say(`run ${run}: version change on all in ${versionChangeSeconds.toFixed(1)} s, RSS ${afterVersionChange} MiB`);

      // settle: every Deployment's status observed by the Deployment controller, every ModelDeployment's
      // status for its generation, then quiet for a while before counting
      await waitFor(async () => (await countReconciled(c)) === MDS && (await deploymentsSettled(c)), {
        timeoutMs: 300_000,
        intervalMs: 1_000,
        description: 'settled',
      });
      await new Promise((r) => setTimeout(r, 20_000));
      const auditStart = await auditMark(cp.auditLogPath);
      const reconcilesBefore = await op.metric('modelship_reconcile_total');
      await new Promise((r) => setTimeout(r, STEADY_SECONDS * 1000));
      const writes = writesBy(await readAuditEvents({ path: cp.auditLogPath, since: auditStart }), OPERATOR_USER);
      const byKind = new Map<string, number>();
      for (const w of writes) {
        const k = `${w.verb} ${w.objectRef?.resource ?? '?'}${w.objectRef?.subresource ? `/${w.objectRef.subresource}` : ''}`;
        byKind.set(k, (byKind.get(k) ?? 0) + 1);
      }
      if (writes.length > 0) say(`run ${run}: steady-state writes by kind: ${JSON.stringify(Object.fromEntries(byKind))}`);
      const reconciles = (await op.metric('modelship_reconcile_total')) - reconcilesBefore;
      const end = rssMiB(op.pid);
      const heapUsedMiB = Math.round((await op.metric('nodejs_heap_size_used_bytes')) / 104857.6) / 10;
      const perMinute = (n: number) => Math.round((n * 60) / STEADY_SECONDS);
      say(
        `run ${run}: steady state ${writes.length} writes, ${reconciles} reconciles in ${STEADY_SECONDS} s; RSS ${end} MiB, heap used ${heapUsedMiB} MiB`,
      );
      return {
        createSeconds,
        versionChangeSeconds,
        steadyWritesPerMinute: perMinute(writes.length),
        steadyReconcilesPerMinute: perMinute(reconciles),
        rssMiB: { idle, afterCreate, afterVersionChange, end },
        heapUsedMiB,
      };
    } finally {
      await op.stop();
    }
  } finally {
    await cp.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const results: RunResult[] = [];
for (let run = 1; run <= RUNS; run++) results.push(await oneRun(run));

const pick = (f: (r: RunResult) => number) => ({ median: median(results.map(f)), runs: results.map(f) });
const summary = {
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  modelDeployments: MDS,
  runs: RUNS,
  createAndReconcileSeconds: pick((r) => r.createSeconds),
  versionChangeSeconds: pick((r) => r.versionChangeSeconds),
  steadyWritesPerMinute: pick((r) => r.steadyWritesPerMinute),
  steadyReconcilesPerMinute: pick((r) => r.steadyReconcilesPerMinute),
  rssMiB: {
    idle: pick((r) => r.rssMiB.idle),
    afterCreate: pick((r) => r.rssMiB.afterCreate),
    afterVersionChange: pick((r) => r.rssMiB.afterVersionChange),
    end: pick((r) => r.rssMiB.end),
  },
  heapUsedMiB: pick((r) => r.heapUsedMiB),
};
const fmt = (p: { median: number; runs: number[] }, digits = 1) =>
  `${p.median.toFixed(digits)} (runs: ${p.runs.map((x) => x.toFixed(digits)).join(', ')})`;
const table = `| ${MDS} ModelDeployments, ${RUNS} runs, medians | value |
|---|---|
| create all → every Deployment, Service and status in place | ${fmt(summary.createAndReconcileSeconds)} s |
| version change on all → every Deployment on the new version | ${fmt(summary.versionChangeSeconds)} s |
| steady state: API writes by the operator per minute | ${fmt(summary.steadyWritesPerMinute, 0)} |
| steady state: reconciles per minute (periodic re-checks of rollouts waiting for pods) | ${fmt(summary.steadyReconcilesPerMinute, 0)} |
| operator RSS idle → after create → after version change → end (MiB) | ${summary.rssMiB.idle.median} → ${summary.rssMiB.afterCreate.median} → ${summary.rssMiB.afterVersionChange.median} → ${summary.rssMiB.end.median} |
| operator V8 heap in use at the end (MiB) | ${fmt(summary.heapUsedMiB)} |
`;
const out = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'latest.json'), `${JSON.stringify(summary, null, 2)}\n`);
writeFileSync(join(out, 'latest.md'), `${table}\nMachine: ${summary.machine}; ${summary.date}\n`);
process.stdout.write(`\n${table}`);
