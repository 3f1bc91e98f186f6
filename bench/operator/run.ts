/**
 * Operator scale benchmark: `npm run bench:operator [-- --mds 1000 --runs 2 --settings uncapped,chart]`.
 * On the local control plane (etcd + kube-apiserver + kube-controller-manager, no node: pods stay
 * Pending, which the operator reports as a rollout in progress), the real operator process and
 * --mds ModelDeployments (250; each with autoscaling, so it has a Deployment, a Service and an HPA):
 *   1. create them all (16 in flight) → time until every one has its Deployment, Service and HPA
 *      and a status for its generation;
 *   2. change spec.model.version on all → time until every Deployment carries the new version;
 *   3. steady state: after a settle, write requests by the operator's own user over 60 s, counted
 *      in the API server's audit log (leader election off, so no Lease renewals);
 *   4. the operator's resident memory (VmRSS) and V8 heap idle (caches empty: what import and
 *      start-up cost), after each step, and at the end;
 *   5. the yardstick: a minimal client (direct-client.ts) server-side applies the same children
 *      into another namespace with the operator's concurrency; create time ÷ its time is the ratio;
 *      the paired rounds also time a same-writes client (same-writes-client.ts: the operator's
 *      writes without its watches and reconciles), which splits the ratio in two.
 *   6. an operator started on N ModelDeployments that already exist (catch-up.ts): its time to
 *      create every child and status, with no user's create inside it, ÷ the minimal client's.
 * --catch-up-only: step 6 alone, each run on a fresh control plane, the settings interleaved run by
 * run (uncapped 1, chart 1, uncapped 2, …) so the machine's drift weighs on both; a run takes a few
 * minutes at 1,000 instead of ~13, so more runs fit.
 * --node-options "<flags>": added to the operator's NODE_OPTIONS in every setting (trying V8
 * settings: a 16 MiB semi-space, for one, left the operator's CPU where it was: BENCHMARKS.md).
 * --settings: `uncapped` runs the operator as `node operator/src/main.ts`; `chart` applies what the
 * chart renders for the operator container (its NODE_OPTIONS and other Node/malloc environment,
 * with the heap percentage turned into MiB of the chart's memory limit: no cgroup here).
 * --runs (3) full runs per setting, each on a fresh control plane; medians are reported.
 * Writes bench/operator/results/latest-<mds>-<settings>.{json,md} and prints the tables.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import { parseConfig, type OperatorConfig } from '../../operator/src/config.ts';
import { shareConnections } from '../../operator/src/kube/clients.ts';
import { auditMark, readAuditEvents, writesBy } from '@modelship/devcluster/audit';
import { repoRoot } from '@modelship/devcluster/binaries';
import { startControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { waitFor } from '@modelship/devcluster/wait';
import { startOperator } from '@modelship/devcluster/operator-process';
import { clients, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { chartOperatorSettings, type OperatorSettings } from './chart-settings.ts';
import { cpuBetween, sampleCpu, type CpuSample } from './cpu.ts';
import { formatBreakdown, histogramBetween, reconcileHistogram, requestBreakdown } from './breakdown.ts';
import { applyChildrenDirectly } from './direct-client.ts';
import { writeAsTheOperatorDoes } from './same-writes-client.ts';
import { watchReconciled } from './reconciled-watch.ts';
import { timeCatchUp, type CatchUp } from './catch-up.ts';

const { values: argv } = parseArgs({
  options: {
    mds: { type: 'string', default: process.env.BENCH_MDS ?? '250' },
    runs: { type: 'string', default: process.env.BENCH_RUNS ?? '3' },
    'steady-seconds': { type: 'string', default: process.env.BENCH_STEADY_SECONDS ?? '60' },
    settings: { type: 'string', default: process.env.BENCH_SETTINGS ?? 'uncapped,chart' },
    'catch-up-only': { type: 'boolean', default: false },
    /** Added to the operator's NODE_OPTIONS in every setting, e.g. "--max-semi-space-size=8". */
    'node-options': { type: 'string' },
    /** Write a V8 CPU profile of each operator process here (read it in Chrome DevTools or speedscope). */
    'profile-dir': { type: 'string' },
  },
});
const MDS = Number(argv.mds);
const RUNS = Number(argv.runs);
const STEADY_SECONDS = Number(argv['steady-seconds']);
const SETTINGS = argv.settings.split(',').map((s) => s.trim());
const CATCH_UP_ONLY = argv['catch-up-only'] ?? false;
for (const s of SETTINGS) if (s !== 'uncapped' && s !== 'chart') throw new Error(`--settings: unknown "${s}" (uncapped, chart)`);
if (!(MDS > 0 && RUNS > 0 && STEADY_SECONDS > 0)) throw new Error('--mds, --runs and --steady-seconds must be positive numbers');
const IN_FLIGHT = 16;
const OPERATOR_USER = 'modelship-bench-operator';
const NS = 'bench';
/** Where the minimal client applies its copies (the operator watches only NS). */
const DIRECT_NS = 'direct';
/** ModelDeployments that no operator watches: what creating them costs the API server on its own. */
const UNWATCHED_NS = 'unwatched';
/** Where the minimal client applies its copies in the paired rounds. */
const PAIRED_NS = 'direct-paired';
/**
 * Paired rounds: the load of a shared machine changes within minutes, so the ratio of two phases
 * run one after the other swings by 2x between runs. Here another --mds ModelDeployments are
 * created in PAIRED_ROUNDS chunks, each chunk's children applied by the minimal client, and the
 * chunk written by the same-writes client, just before or after the operator's chunk (the order
 * rotates: each comes first, second and third in two rounds): all see the same load, round by round.
 */
const PAIRED_ROUNDS = 6;
/** Where the same-writes client (same-writes-client.ts) creates its ModelDeployments and writes as the operator does. */
const SAME_WRITES_NS = 'same-writes';
/** Where the staged minimal client (each model's children as the operator writes them) applies its copies. */
const STAGED_NS = 'direct-staged';
/** Where ModelDeployments wait for an operator started after them (catch-up.ts), and where the minimal client applies their children. */
const CATCH_UP_NS = 'catch-up';
const CATCH_UP_DIRECT_NS = 'direct-catch-up';
const SAME_WRITES_CATCH_UP_NS = 'same-writes-catch-up';
const RUNTIME_IMAGE = 'modelship/runtime:test';
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);

interface Memory {
  rssMiB: number;
  /** V8 heap: in use, and reserved (nodejs_heap_size_*_bytes from the operator's /metrics) */
  heapUsedMiB: number;
  heapTotalMiB: number;
  /** Memory held outside the V8 heap on behalf of JS objects (buffers, external strings) */
  externalMiB: number;
}

interface RunResult {
  createSeconds: number;
  /** The minimal client's time to apply the same children (direct-client.ts), one after another per model */
  directSeconds: number;
  /** The same with each model's children written as the operator writes them (the pod-less ones concurrently, then the Deployment) */
  stagedSeconds: number;
  /** CPU seconds per process while the operator created, and while the minimal client (one after another) applied */
  cpu: { create: CpuSample; direct: CpuSample };
  /** The bench creating the same ModelDeployments where no operator watches: seconds and CPU seconds per process */
  unwatched: { seconds: number; cpu: CpuSample };
  /** Paired rounds: the operator's and the minimal client's summed times, and per round */
  paired: {
    operatorSeconds: number;
    directSeconds: number;
    sameWritesSeconds: number;
    rounds: Array<{ operator: number; direct: number; sameWrites: number; load: number }>;
  };
  /** An operator started on N existing ModelDeployments, against the minimal client (catch-up.ts) */
  catchUp: CatchUp & { load: number };
  /** 1-minute load average when each phase ended */
  load: { create: number; direct: number };
  versionChangeSeconds: number;
  /** Writes by the operator (audit log) from the first create until all were in place, per ModelDeployment */
  writesPerModel: number;
  steadyWritesPerMinute: number;
  steadyReconcilesPerMinute: number;
  memory: { idle: Memory; afterCreate: Memory; afterVersionChange: Memory; end: Memory };
}

type Writes = Awaited<ReturnType<typeof readAuditEvents>>;

function byKind(writes: Writes): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const w of writes) {
    const k = `${w.verb} ${w.objectRef?.resource ?? '?'}${w.objectRef?.subresource ? `/${w.objectRef.subresource}` : ''}`;
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}

const perModel = (writes: Writes) =>
  Object.fromEntries(Object.entries(byKind(writes)).map(([k, n]) => [k, Math.round((n / MDS) * 100) / 100]));

const round1 = (x: number) => Math.round(x * 10) / 10;

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return round1(kb / 1024);
}

async function memoryOf(op: { pid: number; metric: (name: string) => Promise<number> }): Promise<Memory> {
  const mib = async (name: string) => round1((await op.metric(name)) / 1048576);
  return {
    rssMiB: rssMiB(op.pid),
    heapUsedMiB: await mib('nodejs_heap_size_used_bytes'),
    heapTotalMiB: await mib('nodejs_heap_size_total_bytes'),
    externalMiB: await mib('nodejs_external_memory_bytes'),
  };
}

const fmtMemory = (m: Memory) => `RSS ${m.rssMiB} MiB, heap ${m.heapUsedMiB}/${m.heapTotalMiB} MiB, external ${m.externalMiB} MiB`;

async function inBatches(count: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

const mdName = (i: number) => `m${String(i).padStart(4, '0')}`;

function modelDeployment(i: number, version: string, namespace = NS): ModelDeployment {
  return {
    apiVersion: 'modelship.dev/v1alpha1',
    kind: 'ModelDeployment',
    metadata: { name: mdName(i), namespace },
    spec: {
      model: {
        version,
        uri: `http://models.bench.invalid/m${i}/${version}/model.onnx`,
        sha256: 'e8fc777f90a039e4e8ed748ddd9b70e78ca8949321b413ac949b664635ac4553',
      },
      autoscaling: { minReplicas: 1, maxReplicas: 3 },
      // Pods never start here (no node). With the default 300 s deadline, a run longer than that
      // (1,000 on a loaded machine) sees the Deployment controller fail the pending rollouts and
      // the operator report them, which the steady-state window would count as writes.
      rollout: { progressDeadlineSeconds: 86_400 },
    },
  } as ModelDeployment;
}

const MD = { group: 'modelship.dev', version: 'v1alpha1', plural: 'modeldeployments' };

/** Creates each in its own namespace, IN_FLIGHT at a time; answers them as stored. */
async function createEach(c: Clients, mds: readonly ModelDeployment[]): Promise<ModelDeployment[]> {
  const stored: ModelDeployment[] = [];
  await inBatches(mds.length, async (i) => {
    const md = mds[i]!;
    stored[i] = (await c.custom.createNamespacedCustomObject({ ...MD, namespace: md.metadata!.namespace!, body: md })) as ModelDeployment;
  });
  return stored;
}

async function countReconciled(c: Clients): Promise<number> {
  const list = (await c.custom.listNamespacedCustomObject({ ...MD, namespace: NS })) as {
    items: Array<{ metadata: { generation?: number }; status?: { observedGeneration?: number } }>;
  };
  const deployments = (await c.apps.listNamespacedDeployment({ namespace: NS })).items.length;
  const services = (await c.core.listNamespacedService({ namespace: NS })).items.length;
  const hpas = (await c.autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace: NS })).items.length;
  const observed = list.items.filter((m) => m.status?.observedGeneration === m.metadata.generation).length;
  return Math.min(observed, deployments, services, hpas);
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

/** A fresh control plane with these namespaces, the bench's clients on it and a kubeconfig for the operator's user; stopped afterwards. */
async function onFreshControlPlane<T>(
  tag: string,
  namespaces: readonly string[],
  fn: (env: { cp: ControlPlane; c: Clients; operatorKubeconfig: string }) => Promise<T>,
): Promise<T> {
  const cp = await startControlPlane({ crdDir: join(repoRoot, 'crds'), log: (l) => say(`${tag}: ${l}`) });
  try {
    process.env.KUBECONFIG = cp.kubeconfigPath;
    const c = clients();
    // One connection pool for the bench's own requests (creates, patches, lists, the watch), as
    // the operator and the minimal client have: client-node would otherwise open a new TLS
    // connection per request, work for the API server that neither of them causes.
    shareConnections(c.kc);
    for (const name of namespaces) await c.core.createNamespace({ body: { metadata: { name } } });
    const operatorKubeconfig = await cp.writeKubeconfigFor(OPERATOR_USER, ['system:masters']);
    return await fn({ cp, c, operatorKubeconfig });
  } finally {
    await cp.stop();
  }
}

/** The operator process on one namespace, with a setting's environment; a V8 CPU profile when asked (--profile-dir). */
const operatorOn = (settings: OperatorSettings, kubeconfig: string, namespace: string, profile: boolean) =>
  startOperator({
    namespace,
    kubeconfig,
    args: ['--log-level', 'info', '--runtime-image', RUNTIME_IMAGE],
    env: settings.env,
    ...(profile && argv['profile-dir'] ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${argv['profile-dir']}`] } : {}),
  });

/** The catch-up phase on CATCH_UP_NS, the minimal client on CATCH_UP_DIRECT_NS (catch-up.ts). */
const catchUpOptions = (c: Clients, operatorKubeconfig: string, settings: OperatorSettings, cfg: OperatorConfig, profile: boolean) => ({
  kc: c.kc,
  kubeconfig: operatorKubeconfig,
  namespace: CATCH_UP_NS,
  directNamespace: CATCH_UP_DIRECT_NS,
  count: MDS,
  modelDeployment: (i: number, namespace: string) => modelDeployment(i, '1', namespace),
  createAll: (mds: readonly ModelDeployment[]) => createEach(c, mds),
  startOperator: (namespace: string) => operatorOn(settings, operatorKubeconfig, namespace, profile),
  runtimeDefaults: cfg.runtime,
  concurrency: cfg.concurrency,
});

async function oneRun(run: number, settings: OperatorSettings, cfg: OperatorConfig): Promise<RunResult> {
  const tag = `${settings.name} run ${run}`;
  const namespaces = [NS, DIRECT_NS, STAGED_NS, PAIRED_NS, UNWATCHED_NS, SAME_WRITES_NS, CATCH_UP_NS, CATCH_UP_DIRECT_NS];
  return onFreshControlPlane(tag, namespaces, async ({ cp, c, operatorKubeconfig }) => {
    const op = await operatorOn(settings, operatorKubeconfig, NS, true);
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      const idle = await memoryOf(op);
      say(`${tag}: idle ${fmtMemory(idle)}`);

      const [etcd, apiserver, controllerManager] = cp.pids;
      const pids = { etcd: etcd!, apiserver: apiserver!, controllerManager: controllerManager!, operator: op.pid, bench: process.pid };
      const reconciled = await watchReconciled(c.kc, `/apis/${MD.group}/${MD.version}/namespaces/${NS}/${MD.plural}`);
      const createMark = await auditMark(cp.auditLogPath);
      const reconciles0 = await op.metric('modelship_reconcile_total');
      const histogram0 = await reconcileHistogram(op.metric);
      const cpu0 = sampleCpu(pids);
      const t0 = Date.now();
      await inBatches(MDS, (i) => c.custom.createNamespacedCustomObject({ ...MD, namespace: NS, body: modelDeployment(i, '1') }));
      // Every status is written after its children, so the watch tells when all are in place; one
      // check of the children confirms it (and polls, should a child be missing).
      await reconciled.reached(MDS, 1_800_000);
      let tEnd = Date.now();
      const cpuCreate = cpuBetween(cpu0, sampleCpu(pids));
      const loadCreate = loadavg()[0]!;
      reconciled.stop();
      if ((await countReconciled(c)) !== MDS) {
        say(`${tag}: every status written but children missing: polling`);
        await waitFor(async () => (await countReconciled(c)) === MDS, {
          timeoutMs: 1_800_000,
          intervalMs: 250,
          description: `${MDS} ModelDeployments reconciled`,
        });
        tEnd = Date.now();
      }
      const createSeconds = (tEnd - t0) / 1000;
      const createReconciles = ((await op.metric('modelship_reconcile_total')) - reconciles0) / MDS;
      say(
        `${tag}: CPU seconds while creating: ${JSON.stringify(cpuCreate)}, load ${loadCreate.toFixed(1)}; reconciles per ModelDeployment ${createReconciles.toFixed(2)}`,
      );
      const afterCreate = await memoryOf(op);
      say(`${tag}: ${MDS} created and reconciled in ${createSeconds.toFixed(1)} s, ${fmtMemory(afterCreate)}`);
      const createWrites = writesBy(await readAuditEvents({ path: cp.auditLogPath, since: createMark }), OPERATOR_USER);
      say(`${tag}: operator writes while creating, per ModelDeployment: ${JSON.stringify(perModel(createWrites))}`);
      say(`${tag}: while creating, operator requests: ${formatBreakdown(requestBreakdown(createWrites, MDS))}`);
      say(`${tag}: reconcile durations while creating: ${histogramBetween(histogram0, await reconcileHistogram(op.metric))}`);

      const t1 = Date.now();
      await inBatches(MDS, (i) => patchMd(c, NS, mdName(i), { spec: { model: { version: '2' } } }));
      await waitFor(async () => (await countOnVersion(c, '2')) === MDS, {
        timeoutMs: 1_800_000,
        intervalMs: 250,
        description: `${MDS} Deployments on version 2`,
      });
      const versionChangeSeconds = (Date.now() - t1) / 1000;
      const afterVersionChange = await memoryOf(op);
      say(`${tag}: version change on all in ${versionChangeSeconds.toFixed(1)} s, ${fmtMemory(afterVersionChange)}`);

      // settle: every Deployment's status observed by the Deployment controller, every ModelDeployment's
      // status for its generation, then quiet for a while before counting
      await waitFor(async () => (await countReconciled(c)) === MDS && (await deploymentsSettled(c)), {
        timeoutMs: 900_000,
        intervalMs: 1_000,
        description: 'settled',
      });
      await new Promise((r) => setTimeout(r, 20_000));
      const auditStart = await auditMark(cp.auditLogPath);
      const reconcilesBefore = await op.metric('modelship_reconcile_total');
      await new Promise((r) => setTimeout(r, STEADY_SECONDS * 1000));
      const writes = writesBy(await readAuditEvents({ path: cp.auditLogPath, since: auditStart }), OPERATOR_USER);
      if (writes.length > 0) say(`${tag}: steady-state writes by kind: ${JSON.stringify(byKind(writes))}`);
      const reconciles = (await op.metric('modelship_reconcile_total')) - reconcilesBefore;
      const end = await memoryOf(op);
      const perMinute = (n: number) => Math.round((n * 60) / STEADY_SECONDS);
      say(`${tag}: steady state ${writes.length} writes, ${reconciles} reconciles in ${STEADY_SECONDS} s; ${fmtMemory(end)}`);

      // The yardstick, on the same control plane while the operator idles (it does not watch DIRECT_NS).
      const cpu1 = sampleCpu(pids);
      const directMark = await auditMark(cp.auditLogPath);
      const direct = await applyChildrenDirectly({
        kubeconfig: operatorKubeconfig,
        modelDeployments: Array.from({ length: MDS }, (_, i) => modelDeployment(i, '1', DIRECT_NS)),
        runtimeDefaults: cfg.runtime,
        concurrency: cfg.concurrency,
      });
      const cpuDirect = cpuBetween(cpu1, sampleCpu(pids));
      const loadDirect = loadavg()[0]!;
      say(
        `${tag}: minimal client applied ${direct.objects} objects in ${direct.seconds.toFixed(1)} s (operator: ${createSeconds.toFixed(1)} s); CPU seconds ${JSON.stringify(cpuDirect)}, load ${loadDirect.toFixed(1)}`,
      );
      const directWrites = writesBy(await readAuditEvents({ path: cp.auditLogPath, since: directMark }), OPERATOR_USER).filter(
        (e) => e.objectRef?.namespace === DIRECT_NS,
      );
      say(`${tag}: minimal client requests: ${formatBreakdown(requestBreakdown(directWrites, MDS))}`);
      const staged = await applyChildrenDirectly({
        kubeconfig: operatorKubeconfig,
        modelDeployments: Array.from({ length: MDS }, (_, i) => modelDeployment(i, '1', STAGED_NS)),
        runtimeDefaults: cfg.runtime,
        concurrency: cfg.concurrency,
        staged: true,
      });
      say(`${tag}: minimal client, children staged as the operator writes them: ${staged.seconds.toFixed(1)} s`);

      // The ModelDeployments' own cost (create: schema and CEL validation), part of the operator's phase.
      const cpu2 = sampleCpu(pids);
      const tu = Date.now();
      await inBatches(MDS, (i) =>
        c.custom.createNamespacedCustomObject({ ...MD, namespace: UNWATCHED_NS, body: modelDeployment(i, '1', UNWATCHED_NS) }),
      );
      const unwatched = { seconds: (Date.now() - tu) / 1000, cpu: cpuBetween(cpu2, sampleCpu(pids)) };
      say(
        `${tag}: the same ${MDS} ModelDeployments created where no operator watches: ${unwatched.seconds.toFixed(1)} s; CPU seconds ${JSON.stringify(unwatched.cpu)}`,
      );

      // The status the operator wrote for its first ModelDeployment: the same-writes client applies one like it.
      const firstName = mdName(0);
      const first = (await c.custom.getNamespacedCustomObject({ ...MD, namespace: NS, name: firstName })) as ModelDeployment;
      const statusLike = { name: firstName, status: first.status ?? {} };
      const rounds: RunResult['paired']['rounds'] = [];
      const pairedMark = await auditMark(cp.auditLogPath);
      const pairedHistogram0 = await reconcileHistogram(op.metric);
      const all = await watchReconciled(c.kc, `/apis/${MD.group}/${MD.version}/namespaces/${NS}/${MD.plural}`);
      const chunk = Math.ceil(MDS / PAIRED_ROUNDS);
      for (let r = 0, first = MDS; first < 2 * MDS; r++, first += chunk) {
        const indices = Array.from({ length: Math.min(chunk, 2 * MDS - first) }, (_, k) => first + k);
        const operatorChunk = async () => {
          const t = Date.now();
          await inBatches(indices.length, (k) =>
            c.custom.createNamespacedCustomObject({ ...MD, namespace: NS, body: modelDeployment(indices[k]!, '1') }),
          );
          await all.reached(first + indices.length);
          return (Date.now() - t) / 1000;
        };
        const directChunk = async () =>
          (
            await applyChildrenDirectly({
              kubeconfig: operatorKubeconfig,
              modelDeployments: indices.map((i) => modelDeployment(i, '1', PAIRED_NS)),
              runtimeDefaults: cfg.runtime,
              concurrency: cfg.concurrency,
            })
          ).seconds;
        const sameWritesChunk = async () =>
          (
            await writeAsTheOperatorDoes({
              kubeconfig: operatorKubeconfig,
              modelDeployments: indices.map((i) => modelDeployment(i, '1', SAME_WRITES_NS)),
              runtimeDefaults: cfg.runtime,
              concurrency: cfg.concurrency,
              statusLike,
            })
          ).seconds;
        // Each of the three first, second and third in two of the six rounds.
        const phases = [
          ['direct', directChunk],
          ['operator', operatorChunk],
          ['sameWrites', sameWritesChunk],
        ] as const;
        const round = { operator: 0, direct: 0, sameWrites: 0 };
        for (let k = 0; k < phases.length; k++) {
          const [name, run] = phases[(r + k) % phases.length]!;
          round[name] = await run();
        }
        rounds.push({ ...round, load: loadavg()[0]! });
      }
      all.stop();
      const pairedWrites = writesBy(await readAuditEvents({ path: cp.auditLogPath, since: pairedMark }), OPERATOR_USER);
      for (const [who, ns] of [
        ['operator', NS],
        ['minimal client', PAIRED_NS],
        ['same-writes client', SAME_WRITES_NS],
      ] as const)
        say(
          `${tag}: paired rounds, ${who} requests: ${formatBreakdown(
            requestBreakdown(
              pairedWrites.filter((e) => e.objectRef?.namespace === ns),
              MDS,
            ),
          )}`,
        );
      say(`${tag}: paired rounds, reconcile durations: ${histogramBetween(pairedHistogram0, await reconcileHistogram(op.metric))}`);
      const paired = {
        operatorSeconds: rounds.reduce((a, x) => a + x.operator, 0),
        directSeconds: rounds.reduce((a, x) => a + x.direct, 0),
        sameWritesSeconds: rounds.reduce((a, x) => a + x.sameWrites, 0),
        rounds,
      };
      say(
        `${tag}: paired rounds (operator / minimal client / same-writes client s, load): ${rounds.map((x) => `${x.operator.toFixed(1)}/${x.direct.toFixed(1)}/${x.sameWrites.toFixed(1)} (${x.load.toFixed(1)})`).join(', ')}; sums ${paired.operatorSeconds.toFixed(1)} / ${paired.directSeconds.toFixed(1)} = ${(paired.operatorSeconds / paired.directSeconds).toFixed(2)}; operator ÷ same-writes ${(paired.operatorSeconds / paired.sameWritesSeconds).toFixed(2)}`,
      );

      // The first operator's part is measured: stop it, so the catch-up runs on a machine without it.
      await op.stop();
      const catchUp = await timeCatchUp(catchUpOptions(c, operatorKubeconfig, settings, cfg, false));
      const catchUpLoad = loadavg()[0]!;
      say(
        `${tag}: an operator started on ${MDS} existing ModelDeployments: every child and status in ${catchUp.operatorSeconds.toFixed(1)} s (its start ${catchUp.startSeconds.toFixed(1)} s); minimal client ${catchUp.directHalves.map((x) => x.toFixed(1)).join(' + ')} s; ratio ${(catchUp.operatorSeconds / catchUp.directSeconds).toFixed(2)}, load ${catchUpLoad.toFixed(1)}`,
      );
      return {
        createSeconds,
        catchUp: { ...catchUp, load: catchUpLoad },
        directSeconds: direct.seconds,
        stagedSeconds: staged.seconds,
        unwatched,
        paired,
        cpu: { create: cpuCreate, direct: cpuDirect },
        load: { create: loadCreate, direct: loadDirect },
        versionChangeSeconds,
        writesPerModel: createWrites.length / MDS,
        steadyWritesPerMinute: perMinute(writes.length),
        steadyReconcilesPerMinute: perMinute(reconciles),
        memory: { idle, afterCreate, afterVersionChange, end },
      };
    } finally {
      await op.stop();
    }
  });
}

interface CatchUpRun {
  catchUp: CatchUp;
  /** 1-minute load average at the end of the phase */
  load: number;
  /** The operator's memory once every child and status was in place */
  memory: Memory;
}

const CPU_KEYS = ['etcd', 'apiserver', 'controllerManager', 'operator', 'bench'] as const;

/** The median CPU seconds of each process over the runs. */
function cpuPicks(samples: CpuSample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of CPU_KEYS) {
    const xs = samples.flatMap((s) => (s[k] === undefined ? [] : [s[k]]));
    if (xs.length) out[k] = median(xs);
  }
  return out;
}

/** Step 6 alone (--catch-up-only), on a fresh control plane. */
async function catchUpOnlyRun(run: number, settings: OperatorSettings, cfg: OperatorConfig): Promise<CatchUpRun> {
  const tag = `${settings.name} catch-up run ${run}`;
  return onFreshControlPlane(tag, [CATCH_UP_NS, CATCH_UP_DIRECT_NS, SAME_WRITES_CATCH_UP_NS], async ({ cp, c, operatorKubeconfig }) => {
    let memory: Memory | undefined;
    const catchUp = await timeCatchUp({
      ...catchUpOptions(c, operatorKubeconfig, settings, cfg, true),
      sameWrites: {
        namespace: SAME_WRITES_CATCH_UP_NS,
        statusLike: async (namespace) => {
          const first = (await c.custom.getNamespacedCustomObject({ ...MD, namespace, name: mdName(0) })) as ModelDeployment;
          return { name: mdName(0), status: first.status ?? {} };
        },
      },
      whenReached: async (op) => {
        memory = await memoryOf(op);
      },
      cpuOf: () => {
        const [etcd, apiserver, controllerManager] = cp.pids;
        return sampleCpu({ etcd: etcd!, apiserver: apiserver!, controllerManager: controllerManager!, bench: process.pid });
      },
    });
    const load = loadavg()[0]!;
    say(
      `${tag}: CPU seconds, operator's part: ${JSON.stringify(catchUp.cpu?.operator)}; minimal client's halves: ${JSON.stringify(catchUp.cpu?.direct)}`,
    );
    say(
      `${tag}: every child and status in ${catchUp.operatorSeconds.toFixed(1)} s (its start ${catchUp.startSeconds.toFixed(1)} s); minimal client ${catchUp.directHalves.map((x) => x.toFixed(1)).join(' + ')} s; ratio ${(catchUp.operatorSeconds / catchUp.directSeconds).toFixed(2)}; same-writes client ${catchUp.sameWritesSeconds?.toFixed(1)} s; load ${load.toFixed(1)}; ${fmtMemory(memory!)}`,
    );
    return { catchUp, load, memory: memory! };
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Appends Node options (--node-options, for trying V8 settings) to a setting's NODE_OPTIONS. */
function withNodeOptions(settings: OperatorSettings, extra: string | undefined): OperatorSettings {
  if (!extra) return settings;
  const nodeOptions = [settings.env.NODE_OPTIONS, extra].filter(Boolean).join(' ');
  return { ...settings, env: { ...settings.env, NODE_OPTIONS: nodeOptions }, describe: `${settings.describe}; plus NODE_OPTIONS ${extra}` };
}

function writeResults(stem: string, results: unknown[], tables: string): void {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`;
  const date = new Date().toISOString();
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `${stem}.json`), `${JSON.stringify({ date, machine, modelDeployments: MDS, runs: RUNS, results }, null, 2)}\n`);
  writeFileSync(join(out, `${stem}.md`), `${tables}\nMachine: ${machine}; ${date}\n`);
}

// The operator's own defaults (concurrency, runtime defaults), as the bench starts it.
const parsed = parseConfig(['--runtime-image', RUNTIME_IMAGE], {});
if (parsed === 'help') throw new Error('unreachable');
const cfg: OperatorConfig = parsed;
const settingsList: OperatorSettings[] = [];
for (const name of SETTINGS)
  settingsList.push(
    withNodeOptions(
      name === 'chart' ? await chartOperatorSettings() : { name: 'uncapped', env: {}, describe: 'no NODE_OPTIONS, no memory limit' },
      argv['node-options'],
    ),
  );

type Picked = { median: number; runs: number[] };

async function catchUpOnly(): Promise<void> {
  const byName = new Map<string, CatchUpRun[]>(settingsList.map((x) => [x.name, []]));
  for (let run = 1; run <= RUNS; run++)
    for (const settings of settingsList) byName.get(settings.name)!.push(await catchUpOnlyRun(run, settings, cfg));
  const summaries = settingsList.map((settings) => {
    const results = byName.get(settings.name)!;
    const pick = (f: (r: CatchUpRun) => number): Picked => ({ median: median(results.map(f)), runs: results.map(f) });
    return {
      settings: settings.name,
      operatorEnv: settings.env,
      catchUpOperatorSeconds: pick((r) => r.catchUp.operatorSeconds),
      catchUpStartSeconds: pick((r) => r.catchUp.startSeconds),
      catchUpDirectSeconds: pick((r) => r.catchUp.directSeconds),
      catchUpRatio: pick((r) => r.catchUp.operatorSeconds / r.catchUp.directSeconds),
      sameWritesSeconds: pick((r) => r.catchUp.sameWritesSeconds ?? NaN),
      sameWritesOverDirect: pick((r) => (r.catchUp.sameWritesSeconds ?? NaN) / r.catchUp.directSeconds),
      operatorOverSameWrites: pick((r) => r.catchUp.operatorSeconds / (r.catchUp.sameWritesSeconds ?? NaN)),
      cpuOperatorPart: cpuPicks(results.map((r) => r.catchUp.cpu?.operator ?? {})),
      cpuDirectPart: cpuPicks(results.map((r) => r.catchUp.cpu?.direct ?? {})),
      catchUpLoad: pick((r) => r.load),
      rssMiB: pick((r) => r.memory.rssMiB),
      heapUsedMiB: pick((r) => r.memory.heapUsedMiB),
    };
  });
  const fmt = (p: Picked, digits = 1) => `${p.median.toFixed(digits)} (runs: ${p.runs.map((x) => x.toFixed(digits)).join(', ')})`;
  const table = `| ${MDS} ModelDeployments, an operator started on them (catch-up only, fresh control plane per run), ${RUNS} runs interleaved, medians | ${summaries.map((x) => x.settings).join(' | ')} |
|---|${summaries.map(() => '---|').join('')}
| **ratio operator ÷ minimal client** | ${summaries.map((x) => fmt(x.catchUpRatio, 2)).join(' | ')} |
| operator: its spawn → every child and status in place, s | ${summaries.map((x) => fmt(x.catchUpOperatorSeconds)).join(' | ')} |
| … of which its start (spawn → ops endpoint listening), s | ${summaries.map((x) => fmt(x.catchUpStartSeconds)).join(' | ')} |
| minimal client, the same children (half before, half after), s | ${summaries.map((x) => fmt(x.catchUpDirectSeconds)).join(' | ')} |
| same-writes client (the operator's writes for as many existing ModelDeployments: children, status, Event; after the operator), s | ${summaries.map((x) => fmt(x.sameWritesSeconds)).join(' | ')} |
| ratio same-writes client ÷ minimal client (what the job writes besides the children) | ${summaries.map((x) => fmt(x.sameWritesOverDirect, 2)).join(' | ')} |
| ratio operator ÷ same-writes client (what the operator costs on top of its writes) | ${summaries.map((x) => fmt(x.operatorOverSameWrites, 2)).join(' | ')} |
| CPU s, operator's part: ${CPU_KEYS.join(' / ')} | ${summaries.map((x) => CPU_KEYS.map((k) => x.cpuOperatorPart[k]?.toFixed(1) ?? '–').join(' / ')).join(' | ')} |
| CPU s, minimal client's halves: ${CPU_KEYS.join(' / ')} | ${summaries.map((x) => CPU_KEYS.map((k) => x.cpuDirectPart[k]?.toFixed(1) ?? '–').join(' / ')).join(' | ')} |
| operator RSS / V8 heap used when all were in place, MiB | ${summaries.map((x) => `${fmt(x.rssMiB)} / ${x.heapUsedMiB.median.toFixed(1)}`).join(' | ')} |
| load average (1 min) at the end | ${summaries.map((x) => fmt(x.catchUpLoad)).join(' | ')} |
`;
  process.stdout.write(`\n${table}`);
  writeResults(`latest-${MDS}-${SETTINGS.join('-')}-catch-up`, summaries, table);
}

async function fullRuns(): Promise<void> {
  const sections: Array<{ settings: OperatorSettings; summary: Record<string, unknown>; table: string }> = [];
  for (const settings of settingsList) {
    say(`settings ${settings.name}: ${settings.describe}`);
    const results: RunResult[] = [];
    for (let run = 1; run <= RUNS; run++) results.push(await oneRun(run, settings, cfg));
    const pick = (f: (r: RunResult) => number): Picked => ({ median: median(results.map(f)), runs: results.map(f) });
    const mem = (f: (m: RunResult['memory']) => Memory) => ({
      rssMiB: pick((r) => f(r.memory).rssMiB),
      heapUsedMiB: pick((r) => f(r.memory).heapUsedMiB),
      heapTotalMiB: pick((r) => f(r.memory).heapTotalMiB),
      externalMiB: pick((r) => f(r.memory).externalMiB),
    });
    const summary = {
      settings: settings.name,
      operatorEnv: settings.env,
      createAndReconcileSeconds: pick((r) => r.createSeconds),
      directClientSeconds: pick((r) => r.directSeconds),
      createRatio: pick((r) => r.createSeconds / r.directSeconds),
      stagedClientSeconds: pick((r) => r.stagedSeconds),
      unwatchedCreateSeconds: pick((r) => r.unwatched.seconds),
      cpuUnwatched: Object.fromEntries(Object.keys(results[0]!.unwatched.cpu).map((k) => [k, pick((r) => r.unwatched.cpu[k] ?? 0)])),
      pairedOperatorSeconds: pick((r) => r.paired.operatorSeconds),
      pairedDirectSeconds: pick((r) => r.paired.directSeconds),
      pairedRatio: pick((r) => r.paired.operatorSeconds / r.paired.directSeconds),
      pairedSameWritesSeconds: pick((r) => r.paired.sameWritesSeconds),
      pairedSameWritesRatio: pick((r) => r.paired.operatorSeconds / r.paired.sameWritesSeconds),
      sameWritesOverDirect: pick((r) => r.paired.sameWritesSeconds / r.paired.directSeconds),
      pairedRounds: results.map((r) => r.paired.rounds),
      stagedRatio: pick((r) => r.createSeconds / r.stagedSeconds),
      catchUpOperatorSeconds: pick((r) => r.catchUp.operatorSeconds),
      catchUpStartSeconds: pick((r) => r.catchUp.startSeconds),
      catchUpDirectSeconds: pick((r) => r.catchUp.directSeconds),
      catchUpRatio: pick((r) => r.catchUp.operatorSeconds / r.catchUp.directSeconds),
      catchUpLoad: pick((r) => r.catchUp.load),
      cpuCreate: Object.fromEntries(Object.keys(results[0]!.cpu.create).map((k) => [k, pick((r) => r.cpu.create[k] ?? 0)])),
      cpuDirect: Object.fromEntries(Object.keys(results[0]!.cpu.direct).map((k) => [k, pick((r) => r.cpu.direct[k] ?? 0)])),
      loadAverage: { create: pick((r) => r.load.create), direct: pick((r) => r.load.direct) },
      writesPerModel: pick((r) => r.writesPerModel),
      versionChangeSeconds: pick((r) => r.versionChangeSeconds),
      steadyWritesPerMinute: pick((r) => r.steadyWritesPerMinute),
      steadyReconcilesPerMinute: pick((r) => r.steadyReconcilesPerMinute),
      memory: {
        idle: mem((m) => m.idle),
        afterCreate: mem((m) => m.afterCreate),
        afterVersionChange: mem((m) => m.afterVersionChange),
        end: mem((m) => m.end),
      },
    };
    const fmt = (p: Picked, digits = 1) => `${p.median.toFixed(digits)} (runs: ${p.runs.map((x) => x.toFixed(digits)).join(', ')})`;
    const m = summary.memory;
    const table = `| ${MDS} ModelDeployments, operator ${settings.name} (${settings.describe}), ${RUNS} runs, medians | value |
|---|---|
| create all → every Deployment, Service, HPA and status in place | ${fmt(summary.createAndReconcileSeconds)} s |
| minimal client: server-side apply of the same children, concurrency ${cfg.concurrency} | ${fmt(summary.directClientSeconds)} s |
| ratio operator ÷ minimal client | ${fmt(summary.createRatio, 2)} |
| minimal client, each model's children staged as the operator writes them (pod-less ones concurrently, then the Deployment) | ${fmt(summary.stagedClientSeconds)} s |
| ratio operator ÷ staged minimal client | ${fmt(summary.stagedRatio, 2)} |
| paired rounds (another ${MDS} in ${PAIRED_ROUNDS} chunks, operator and minimal client alternating): operator / minimal client, summed | ${fmt(summary.pairedOperatorSeconds)} s / ${fmt(summary.pairedDirectSeconds)} s |
| **ratio operator ÷ minimal client, paired rounds** | ${fmt(summary.pairedRatio, 2)} |
| same-writes client (the operator's writes — the ModelDeployment, its children, status and Event — with no watches or reconciles), summed over the same rounds | ${fmt(summary.pairedSameWritesSeconds)} s |
| ratio same-writes client ÷ minimal client (what the operator's job writes besides the children) | ${fmt(summary.sameWritesOverDirect, 2)} |
| **ratio operator ÷ same-writes client** (what the operator costs on top of its writes) | ${fmt(summary.pairedSameWritesRatio, 2)} |
| an operator started on ${MDS} existing ModelDeployments (created where none watched): its start → every child and status in place (of which Node start and imports) | ${fmt(summary.catchUpOperatorSeconds)} s (${fmt(summary.catchUpStartSeconds)} s) |
| minimal client, the same children, half just before and half just after | ${fmt(summary.catchUpDirectSeconds)} s |
| **ratio operator ÷ minimal client, operator started on existing ModelDeployments** (no user's creates in its time; load ${fmt(summary.catchUpLoad)}) | ${fmt(summary.catchUpRatio, 2)} |
| CPU seconds while the operator created: ${Object.keys(summary.cpuCreate).join(' / ')} | ${Object.values(summary.cpuCreate)
      .map((p) => p.median.toFixed(1))
      .join(' / ')} |
| CPU seconds while the minimal client applied: ${Object.keys(summary.cpuDirect).join(' / ')} | ${Object.values(summary.cpuDirect)
      .map((p) => p.median.toFixed(1))
      .join(' / ')} |
| the bench creating the same ModelDeployments where no operator watches (16 in flight): time; CPU seconds ${Object.keys(summary.cpuUnwatched).join(' / ')} | ${fmt(summary.unwatchedCreateSeconds)} s; ${Object.values(
      summary.cpuUnwatched,
    )
      .map((p) => p.median.toFixed(1))
      .join(' / ')} |
| load average (1 min) at the end of the operator's create / of the minimal client | ${fmt(summary.loadAverage.create)} / ${fmt(summary.loadAverage.direct)} |
| operator writes per ModelDeployment while creating (minimal client: one per child) | ${fmt(summary.writesPerModel, 2)} |
| version change on all → every Deployment on the new version | ${fmt(summary.versionChangeSeconds)} s |
| steady state: API writes by the operator per minute | ${fmt(summary.steadyWritesPerMinute, 0)} |
| steady state: reconciles per minute (periodic re-checks of rollouts waiting for pods) | ${fmt(summary.steadyReconcilesPerMinute, 0)} |
| RSS idle → after create → after version change → end (MiB) | ${m.idle.rssMiB.median} → ${m.afterCreate.rssMiB.median} → ${m.afterVersionChange.rssMiB.median} → ${m.end.rssMiB.median} |
| RSS at the end (MiB) | ${fmt(m.end.rssMiB)} |
| V8 heap used / reserved, idle → end (MiB) | ${m.idle.heapUsedMiB.median} / ${m.idle.heapTotalMiB.median} → ${m.end.heapUsedMiB.median} / ${m.end.heapTotalMiB.median} |
| external memory (buffers, external strings), idle → end (MiB) | ${m.idle.externalMiB.median} → ${m.end.externalMiB.median} |
`;
    sections.push({ settings, summary, table });
    process.stdout.write(`\n${table}`);
  }

  writeResults(
    `latest-${MDS}-${SETTINGS.join('-')}`,
    sections.map((s) => s.summary),
    sections.map((s) => s.table).join('\n'),
  );
}

await (CATCH_UP_ONLY ? catchUpOnly() : fullRuns());
