// An A/B experiment on the real node under a steady load of 50 requests/s to the one Service's
// ClusterIP, every response counted by the model_version the runtime reports. Each request of the
// split load opens a new connection, so kube-proxy spreads requests over the pods as a population
// of clients would.
//  - iris version 1 on 4 replicas with spec.experiment version 2 at weight 20: the experiment runs
//    max(1, round(4*20/80)) = 1 pod, status.experiment.effectiveWeight 20; the measured share of
//    version 2 is within ±5 points of it.
//  - requests with `modelship-version: 1` / `: 2` through the same Service reach that version, 100 %.
//  - status.experiment has per-variant figures (requests, error rate, p99) from the operator's scrape.
//  - promotion (spec.model := the experiment's model, spec.experiment removed, one patch) under the
//    load: version 2 becomes the only version, with 0 failed requests.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import { repoRoot } from '@modelship/devcluster/binaries';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, createMd, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { describeLoad, irisServiceUrl, modelPods, settledOn, startIrisLoad } from './faults.ts';
import { exampleIris, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import type { LoadResult } from './load.ts';

const RATE = 50;
const STABLE_REPLICAS = 4;
const WEIGHT = 20;
const SHA = readFileSync(join(repoRoot, 'examples/models/iris/model.onnx.sha256'), 'utf8').split(/\s+/)[0] as string;

/** What a load answered between two snapshots (versions that answered nothing in between left out). */
function between(a: LoadResult, b: LoadResult): { ok: number; failed: number; byVersion: Record<string, number> } {
  const byVersion: Record<string, number> = {};
  for (const [v, n] of Object.entries(b.byVersion)) if (n > (a.byVersion[v] ?? 0)) byVersion[v] = n - (a.byVersion[v] ?? 0);
  return { ok: b.ok - a.ok, failed: b.failed - a.failed, byVersion };
}

describe('e2e: A/B experiment under steady load', { timeout: 900_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let url: string;
  const experimentModel = () => ({ version: '2', uri: `${cluster.modelServerUrl}/iris/model.onnx`, sha256: SHA });
  const md = () => getMd(c, ns, 'iris');
  const deployment = (name: string) => c.apps.readNamespacedDeployment({ name, namespace: ns }).catch(() => undefined);
  const describeMd = (m: ModelDeployment) => JSON.stringify({ experiment: m.status?.experiment, current: m.status?.currentVersion });

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-ab');
    op = await startE2eOperator(cluster, ns);
    const spec = exampleIris(cluster.modelServerUrl).spec;
    spec.replicas = STABLE_REPLICAS;
    spec.experiment = { model: experimentModel(), weight: WEIGHT };
    await createMd(c, ns, 'iris', spec);
    // Both tracks rolled out with every pod ready, no pod of an older template left.
    await waitFor(
      async () => {
        const m = await md();
        const stable = await deployment('iris');
        const exp = await deployment('iris-experiment');
        const pods = await modelPods(c, ns, 'iris');
        const done = (d: typeof stable, n: number) =>
          d?.status?.readyReplicas === n && d.status.updatedReplicas === n && d.status.replicas === n;
        if (!done(stable, STABLE_REPLICAS) || !done(exp, 1) || pods.length !== STABLE_REPLICAS + 1) throw new Error(describeMd(m));
        if (m.status?.currentVersion !== '1' || m.status.experiment?.effectiveWeight !== WEIGHT) throw new Error(describeMd(m));
        return m;
      },
      { timeoutMs: 300_000, intervalMs: 1_000, description: 'iris 1 on 4 pods with experiment 2 on 1 pod' },
    );
    url = await irisServiceUrl(c, ns);
  });

  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('splits 80/20 within ±5 points of effectiveWeight, pins by header 100 % both ways, reports per-variant figures, promotes with 0 failures', async (t: TestContext) => {
    const load = startIrisLoad(url, { rate: RATE, maxSeconds: 600, freshConnections: true });
    try {
      // 1. The split, over 30 s of the 50 req/s load.
      await sleep(3_000);
      const a = load.snapshot();
      await sleep(30_000);
      const b = load.snapshot();
      const split = between(a, b);
      const effective = (await md()).status?.experiment?.effectiveWeight as number;
      const share = (100 * (split.byVersion['2'] ?? 0)) / split.ok;
      t.diagnostic(
        `split: version 2 answered ${share.toFixed(1)}% of ${split.ok} (effectiveWeight ${effective}%): ${JSON.stringify(split.byVersion)}`,
      );
      assert.equal(effective, WEIGHT);
      assert.ok(split.ok > 1_000, `only ${split.ok} answers measured`);
      assert.equal(split.failed, 0, describeLoad(b));
      assert.ok(Math.abs(share - effective) <= 5, `measured ${share.toFixed(1)}% vs effective ${effective}%`);

      // 2. Pinning through the one Service: each pinned version answers 100 % of its requests,
      //    whichever pod kube-proxy picked (the other variant's pods forward once).
      for (const version of ['1', '2']) {
        const pinned = startIrisLoad(url, { rate: 25, maxSeconds: 60, freshConnections: true, headers: { 'modelship-version': version } });
        await sleep(12_000);
        const r = await pinned.stop();
        t.diagnostic(`pinned to ${version}: ${r.ok} ok, ${r.failed} failed, by version ${JSON.stringify(r.byVersion)}`);
        assert.ok(r.ok >= 200, `only ${r.ok} pinned answers`);
        assert.equal(r.failed, 0, describeLoad(r));
        assert.deepEqual(r.byVersion, { [version]: r.ok }, `every answer from version ${version}`);
      }

      // 3. Per-variant figures in status.experiment, from a window the main load fell in.
      const figured = await waitFor(
        async () => {
          const m = await md();
          const vs = m.status?.experiment?.variants ?? [];
          return vs.length === 2 && vs.every((v) => (v.requests ?? 0) > 0 && v.p99LatencyMs !== undefined) ? m : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 1_000, description: 'per-variant figures in status.experiment' },
      );
      const e = figured.status?.experiment;
      t.diagnostic(`status.experiment: ${JSON.stringify(e)}`);
      assert.ok(e?.lastAnalysisAt);
      assert.equal(e?.summary, `2@${WEIGHT}%`);
      const [stable, experiment] = e?.variants ?? [];
      assert.deepEqual([stable?.version, stable?.track, experiment?.version, experiment?.track], ['1', 'stable', '2', 'experiment']);
      assert.equal(stable?.errorRate, 0);
      assert.equal(experiment?.errorRate, 0);
      assert.ok((stable?.requests ?? 0) > (experiment?.requests ?? 0), 'the stable variant serves the larger share');

      // 4. Promotion in one patch, under the load: version 2 becomes the only version, nothing fails.
      const before = load.snapshot();
      await patchMd(c, ns, 'iris', { spec: { model: experimentModel(), experiment: null } });
      const promoted = await settledOn(c, ns, 'iris', '2', { replicas: STABLE_REPLICAS, timeoutMs: 300_000 });
      assert.equal(promoted.status?.experiment, undefined);
      assert.equal(await deployment('iris-experiment'), undefined);
      await sleep(8_000); // kube-proxy drops the terminating pods' endpoints; the old pods drain
      const mark = load.snapshot();
      await sleep(10_000);
      const end = await load.stop();
      const afterPromotion = between(mark, end);
      t.diagnostic(
        `promotion: ${between(before, end).ok} answers from the patch on, ${end.failed - before.failed} failed; afterwards ${JSON.stringify(afterPromotion.byVersion)}`,
      );
      assert.deepEqual(afterPromotion.byVersion, { '2': afterPromotion.ok }, 'only version 2 answers');
      assert.equal(end.failed, 0, describeLoad(end));
      t.diagnostic(`whole load: ${describeLoad(end)}`);
    } finally {
      await load.stop();
    }
  });
});
