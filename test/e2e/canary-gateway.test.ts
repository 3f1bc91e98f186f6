// Canary with exact weights through a real Gateway: Traefik v3 (built from its Go module by
// devcluster/build/traefik.sh) serves the HTTPRoute the operator renders for spec.rollout.httpRoute.
// Under a steady 50 req/s through the Gateway, counting every answer by the model_version it reports:
//  - at the 10% and the 50% step the measured share of the canary is within ±3 points of the step's
//    weight (the HTTPRoute's weighted backendRefs, not the replica split: 2 stable pods + 1 canary
//    pod would give 33% at both steps);
//  - requests with `modelship-version: <v>` reach version v 100% of the time;
//  - the canary is promoted by itself and no request fails, from the first step to the promotion.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { attachControlPlane } from '@modelship/devcluster/controlplane';
import { startGateway, type Gateway } from '@modelship/devcluster/gateway';
import { clients, condition, createMd, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import type { HTTPRouteManifest } from '../../operator/src/render/http-route.ts';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { IRIS_ROW } from '@modelship/devcluster/iris-binary';
import { describeLoad, settledOn, startIrisLoad } from './faults.ts';
import { exampleIris, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';

const RATE = 50;
const STEP_PAUSE_S = 40;
const WEIGHTS = [10, 50];
const PINNED_REQUESTS = 40;
const INFER_BODY = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: IRIS_ROW }] });

describe('e2e: canary weights and version pins through a Gateway (Traefik)', { timeout: 900_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let dir: string;
  let gateway: Gateway | undefined;
  let op: OperatorProcess;
  let url: string;

  const md = () => getMd(c, ns, 'iris');
  const route = () =>
    c.custom
      .getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', namespace: ns, name: 'iris' })
      .catch(() => undefined) as Promise<HTTPRouteManifest | undefined>;
  type RouteStatus = { parents?: Array<{ conditions?: Array<{ type: string; status: string; observedGeneration?: number }> }> };
  /**
   * The Gateway has taken this generation of the route: every parent reports Accepted and
   * ResolvedRefs for it. The spec alone is not enough: a cold run once measured 6 of 40 requests
   * pinned to version 1 answered by the canary (its 404 for a version it does not serve), sent
   * before Traefik had the rules of the new generation.
   */
  const programmed = (r: HTTPRouteManifest | undefined): boolean => {
    const generation = r?.metadata?.generation;
    const parents = (r as { status?: RouteStatus } | undefined)?.status?.parents ?? [];
    return (
      generation !== undefined &&
      parents.length > 0 &&
      parents.every((p) =>
        ['Accepted', 'ResolvedRefs'].every((type) =>
          p.conditions?.some((cd) => cd.type === type && cd.status === 'True' && cd.observedGeneration === generation),
        ),
      )
    );
  };
  const canaryWeightOf = (r: HTTPRouteManifest | undefined) =>
    r?.spec.rules.flatMap((x) => x.backendRefs).find((b) => b.name === 'iris-canary' && b.weight !== 1)?.weight;

  /** `n` predictions pinned to `version` by the header; the versions that answered. */
  const pinned = async (version: string, n: number) => {
    const answered: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'modelship-version': version },
        body: INFER_BODY,
      });
      const v = res.status === 200 ? (((await res.json()) as { model_version?: string }).model_version ?? '?') : `HTTP ${res.status}`;
      answered[v] = (answered[v] ?? 0) + 1;
    }
    return answered;
  };

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-gateway');
    dir = await mkdtemp(join(tmpdir(), 'modelship-gateway-'));
    gateway = await startGateway({
      cp: attachControlPlane(cluster.cpDir),
      dir,
      namespace: ns,
      log: (l) => process.stderr.write(`gateway: ${l}\n`),
      timeoutMs: 120_000,
    });
    op = await startE2eOperator(cluster, ns);
    const spec = exampleIris(cluster.modelServerUrl).spec;
    spec.replicas = 2;
    spec.rollout = {
      strategy: 'Canary',
      canary: {
        steps: WEIGHTS.map((weight) => ({ weight, pause: `${STEP_PAUSE_S}s` })),
        analysis: { interval: '10s', minRequests: 20 },
      },
      httpRoute: { parentRefs: [gateway.parentRef] },
    };
    await createMd(c, ns, 'iris', spec);
    await settledOn(c, ns, 'iris', '1');
    url = `${gateway.url}/v2/models/iris/infer`;
    await waitFor(
      async () =>
        (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: INFER_BODY }).catch(() => undefined))
          ?.status === 200,
      { timeoutMs: 60_000, intervalMs: 500, description: 'a prediction through the Gateway' },
    );
  });

  after(async () => {
    await op?.stop();
    await gateway?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
    await cluster?.stop();
  });

  it('10% and 50% measured within ±3 points of the set weight, pins reach their version, 0 failed requests', async (t: TestContext) => {
    const load = startIrisLoad(url, { rate: RATE, maxSeconds: 600 });
    try {
      const current = md();
      const model = (await current).spec.model;
      await patchMd(c, ns, 'iris', { spec: { model: { ...model, version: '2' } } });
      for (const [step, weight] of WEIGHTS.entries()) {
        const atStep = await waitFor(
          async () => {
            const m = await md();
            const cs = m.status?.canary;
            if (cs?.version !== '2' || cs.step !== step || cs.phase !== 'Progressing') throw new Error(JSON.stringify(cs));
            const r = await route();
            if (canaryWeightOf(r) !== weight) throw new Error(`HTTPRoute not at ${weight}%: ${JSON.stringify(r?.spec.rules)}`);
            if (!programmed(r))
              throw new Error(
                `HTTPRoute generation ${r?.metadata?.generation} not yet taken by the Gateway: ${JSON.stringify((r as { status?: unknown }).status)}`,
              );
            const canaryDep = await c.apps.readNamespacedDeployment({ name: 'iris-canary', namespace: ns });
            if ((canaryDep.status?.readyReplicas ?? 0) < 1) throw new Error('the canary pod is not ready');
            return m;
          },
          { timeoutMs: 240_000, intervalMs: 500, description: `canary at step ${step} (${weight}%) with the HTTPRoute` },
        );
        await sleep(2_000); // Traefik's provider throttle (500 ms) and its reload
        const pins = { '1': await pinned('1', PINNED_REQUESTS), '2': await pinned('2', PINNED_REQUESTS) };
        t.diagnostic(`step ${step}: pinned answers ${JSON.stringify(pins)}`);
        assert.deepEqual(pins, { '1': { '1': PINNED_REQUESTS }, '2': { '2': PINNED_REQUESTS } });
        const a = load.snapshot();
        const stepEnd = Date.parse(atStep.status!.canary!.stepStartedAt!) + STEP_PAUSE_S * 1000;
        await sleep(Math.max(5_000, stepEnd - Date.now() - 3_000));
        const b = load.snapshot();
        assert.equal((await md()).status?.canary?.step, step, 'the step moved on while measuring');
        const canaryN = (b.byVersion['2'] ?? 0) - (a.byVersion['2'] ?? 0);
        const total = b.ok - a.ok;
        const share = (100 * canaryN) / total;
        const line = `step ${step}: weight ${weight}%, effective (replica split) ${atStep.status?.canary?.effectiveWeight}%, measured through the Gateway ${share.toFixed(1)}% of ${total}`;
        t.diagnostic(line);
        assert.ok(total >= 200, `only ${total} answers measured`);
        assert.ok(Math.abs(share - weight) <= 3, line);
      }
      const done = await waitFor(
        async () => {
          const m = await md();
          return m.status?.canary?.phase === 'Succeeded' ? m : undefined;
        },
        { timeoutMs: 300_000, intervalMs: 1_000, description: 'canary 2 promoted' },
      );
      await settledOn(c, ns, 'iris', '2');
      assert.equal(condition(done, 'Degraded')?.status, 'False');
      assert.deepEqual(
        (await route())?.spec.rules.flatMap((r) => r.backendRefs.map((x) => x.name)),
        ['iris'],
        'after the promotion the route sends everything to the one Service',
      );
      await sleep(3_000);
    } finally {
      const s = await load.stop();
      t.diagnostic(`load through the Gateway: ${describeLoad(s)}`);
      assert.equal(s.failed, 0, s.failures.join('; '));
    }
  });
});
