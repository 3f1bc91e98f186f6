/**
 * Pod start → Ready benchmark: `npm run bench:podstart` (not part of `npm test`). On the e2e dev
 * cluster (a fresh one, or the one MODELSHIP_TEST_CLUSTER_DIR names; run it under
 * `flock /tmp/e2e.lock`: one cluster per machine), for each model source in sources.ts: publish the
 * ladder's `big` rung (a ~100 MB dense ONNX model, bench/ladder.ts) there, apply a ModelDeployment
 * with 1 replica and measure the first pod (apply → pod created → model fetched → runtime ready →
 * pod Ready, and the ModelDeployment's Ready), check one prediction against onnxruntime's, then
 * scale to 2 and measure the second pod of the same version, counting the downloads the source's
 * server answered (is anything cached between pods?). BENCH_PODSTART_REPS (3) repetitions, sources
 * interleaved within each; medians. BENCH_PODSTART_SOURCES (comma list) picks sources.
 * Writes bench/podstart/results/latest.json and latest.md (BENCH_PODSTART_OUT names another stem), prints the table.
 *
 * Times are this process's clock when its pod watch saw each event (ms), except "fetched" and
 * "runtime ready", the timestamps of the fetch container's `model fetched` and the runtime's `ready`
 * log lines (same host, same clock). The readiness probe runs every 2 s, so "runtime ready → pod
 * Ready" is 0–2 s of probe period. The runtime image is on the node (pull policy Never): no image pull.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import { clients, condition, createMd, deleteMd, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { containerLog } from '@modelship/devcluster/container-log';
import { post } from '@modelship/devcluster/http-post';
import { restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import { bigModel, irisModel, type BenchModel } from './model.ts';
import { watchPods, type PodTimeline, type PodTimes } from './pod-timeline.ts';
import { loggedAtIn } from './log-times.ts';
import { SOURCES, type PreparedSource, type Source } from './sources.ts';
import { resultsMarkdown, sec, summaryTable, type PodStart, type Repetition } from './summary.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const REPS = num('BENCH_PODSTART_REPS', 3);
/** results/<OUT>.json and .md: a partial run (one source) can keep the full run's files */
const OUT = process.env['BENCH_PODSTART_OUT'] ?? 'latest';
if (!/^[\w.-]+$/.test(OUT)) throw new Error('BENCH_PODSTART_OUT must be a file name stem (letters, digits, ".", "-", "_")');
const PICKED = process.env['BENCH_PODSTART_SOURCES']?.split(',').map((s) => s.trim());
const READY_TIMEOUT_MS = 300_000;
/** of the largest expected output's magnitude (onnxruntime's answers differ from Python's by ~1e-8) */
const RELATIVE_TOLERANCE = 1e-4;

const log = (line: string): void => void process.stderr.write(`[podstart] ${line}\n`);

/** When `container` of `pod` logged `message` (read from the node's container log). */
function loggedAt(pod: V1Pod, container: string, message: string): number {
  const at = loggedAtIn(containerLog(pod, container), message);
  if (at === undefined) throw new Error(`${container} of ${pod.metadata?.name} logged no "${message}"`);
  return at;
}

function podStart(t: PodTimes, since: number, downloads: number): PodStart {
  const fetched = loggedAt(t.pod, 'fetch', 'model fetched');
  const runtimeReady = loggedAt(t.pod, 'serve', 'ready');
  const ready = t.ready as number;
  return {
    pod: t.name,
    toCreated: t.created - since,
    createdToFetched: fetched - t.created,
    fetchedToRuntimeReady: runtimeReady - fetched,
    runtimeReadyToPodReady: ready - runtimeReady,
    createdToPodReady: ready - t.created,
    toPodReady: ready - since,
    downloads,
  };
}

async function readyPod(timeline: PodTimeline, name: string, skip: ReadonlySet<string>, what: string): Promise<PodTimes> {
  return waitFor(
    () => {
      const t = timeline.of(name).find((p) => !skip.has(p.name));
      return Promise.resolve(t?.ready !== undefined ? t : undefined);
    },
    { timeoutMs: READY_TIMEOUT_MS, intervalMs: 50, description: what },
  );
}

/** One prediction through the Service equals the model's expected outputs. */
async function checkPrediction(c: Clients, ns: string, name: string, model: BenchModel): Promise<void> {
  const svc = await c.core.readNamespacedService({ name, namespace: ns });
  const url = `http://${svc.spec?.clusterIP}/v2/models/${name}/infer`;
  const reply = await waitFor(
    async () => {
      const r = await post(url, { inputs: model.expected.inputs }, undefined, 10_000);
      return r.status === 200 ? r : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, description: `a prediction from ${name}` },
  );
  const outputs = (JSON.parse(reply.body) as { outputs: { name: string; data: unknown[] }[] }).outputs;
  for (const want of model.expected.outputs) {
    const tolerance = RELATIVE_TOLERANCE * Math.max(1, ...want.data.map(Math.abs));
    const got = outputs.find((o) => o.name === want.name)?.data.map(Number);
    const bad = want.data.findIndex((w, i) => !(Math.abs((got?.[i] ?? NaN) - w) <= tolerance));
    if (!got || got.length !== want.data.length || bad >= 0)
      throw new Error(`${name}: output ${want.name} is ${JSON.stringify(got)}, expected ${JSON.stringify(want.data)}`);
  }
}

async function measure(
  c: Clients,
  ns: string,
  timeline: PodTimeline,
  source: Source,
  prepared: PreparedSource,
  model: BenchModel,
  rep: number,
): Promise<Repetition> {
  const name = `${source.name}-${rep}`;
  const before = prepared.downloads();
  const applied = Date.now();
  await createMd(c, ns, name, { model: { version: '1', ...prepared.model }, replicas: 1 });
  const mdReady = waitFor(async () => (condition(await getMd(c, ns, name), 'Ready')?.status === 'True' ? Date.now() : undefined), {
    timeoutMs: READY_TIMEOUT_MS,
    intervalMs: 100,
    description: `${name} Ready`,
  });
  const firstPod = await readyPod(timeline, name, new Set(), `the first pod of ${name} Ready`);
  const applyToMdReady = (await mdReady) - applied;
  await checkPrediction(c, ns, name, model);
  const afterFirst = prepared.downloads();
  const scaled = Date.now();
  await patchMd(c, ns, name, { spec: { replicas: 2 } });
  const secondPod = await readyPod(timeline, name, new Set([firstPod.name]), `the second pod of ${name} Ready`);
  const afterSecond = prepared.downloads();
  const result: Repetition = {
    source: source.name,
    model: model.label,
    modelBytes: model.bytes,
    rep,
    first: podStart(firstPod, applied, afterFirst - before),
    applyToMdReady,
    second: podStart(secondPod, scaled, afterSecond - afterFirst),
  };
  await deleteMd(c, ns, name);
  // the next start gets the node to itself
  await waitFor(
    async () => (await c.core.listNamespacedPod({ namespace: ns, labelSelector: `app.kubernetes.io/instance=${name}` })).items.length === 0,
    { timeoutMs: 180_000, intervalMs: 500, description: `the pods of ${name} gone` },
  );
  return result;
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const sources = SOURCES.filter((s) => !PICKED || PICKED.includes(s.name));
  if (sources.length === 0)
    throw new Error(`BENCH_PODSTART_SOURCES=${PICKED?.join(',')} names none of ${SOURCES.map((s) => s.name).join(', ')}`);
  const models = { big: await bigModel(), tiny: await irisModel() };
  log(`model: ${models.big.path} (${models.big.bytes} bytes)`);
  const startedAt = new Date().toISOString();
  const load = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'modelship-bench-podstart-'));
  let cluster: E2eCluster | undefined;
  let c: Clients | undefined;
  let ns = '';
  let op: OperatorProcess | undefined;
  let timeline: PodTimeline | undefined;
  const prepared = new Map<string, PreparedSource>();
  const reps: Repetition[] = [];
  try {
    const clusterStart = Date.now();
    cluster = await getE2eCluster();
    log(`cluster up in ${sec(Date.now() - clusterStart)} s`);
    c = clients();
    ns = await restrictedNamespace(c, 'bench-podstart');
    op = await startE2eOperator(cluster, ns);
    timeline = await watchPods(c.kc, ns, log);
    const createSecret = async (name: string, stringData: Record<string, string>): Promise<void> => {
      await c!.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name }, type: 'Opaque', stringData } });
    };
    for (const s of sources) prepared.set(s.name, await s.prepare(models[s.model], { dir, createSecret, log }));
    for (let rep = 1; rep <= REPS; rep++) {
      for (const s of sources) {
        const r = await measure(c, ns, timeline, s, prepared.get(s.name)!, models[s.model], rep);
        log(
          `${s.name} #${rep}: 1st pod apply → Ready ${sec(r.first.toPodReady)} s (fetch ${sec(r.first.createdToFetched)} s after creation), ` +
            `2nd pod scale → Ready ${sec(r.second.toPodReady)} s, downloads ${r.first.downloads}/${r.second.downloads}`,
        );
        reps.push(r);
      }
    }
  } finally {
    timeline?.stop();
    for (const p of prepared.values()) await p.stop().catch(() => {});
    await op?.stop().catch(() => {});
    if (c && ns) await c.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  const table = summaryTable(reps);
  const results = join(HERE, 'results');
  mkdirSync(results, { recursive: true });
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, loadavgAtStart: load };
  writeFileSync(
    join(results, `${OUT}.json`),
    `${JSON.stringify({ startedAt, finishedAt: new Date().toISOString(), machine, reps: REPS, repetitions: reps }, null, 2)}\n`,
  );
  writeFileSync(join(results, `${OUT}.md`), resultsMarkdown(startedAt, reps));
  process.stdout.write(`${table}\n`);
}

await main();
