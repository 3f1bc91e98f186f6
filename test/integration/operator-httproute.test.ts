// spec.rollout.httpRoute on a real API server, first without the Gateway API CRDs, then with them
// (the standard channel from sigs.k8s.io/gateway-api, as devcluster/build/traefik.sh copies them):
//  - without: the operator starts and stays healthy, the ModelDeployment is Degraded with reason
//    HTTPRouteUnavailable (Ready unaffected), and the replica split works (the canary Deployment);
//  - CRDs installed while it runs: the operator notices within its probe interval and creates the
//    HTTPRoute (accepted by the CRD's own schema and CEL rules) with the canary step's exact weight
//    and the header pins, and the per-track Services; Degraded clears;
//  - httpRoute removed from the spec: the HTTPRoute and the track Services are deleted.
// No kubelet: the test marks pods ready; no Gateway runs (test/e2e/canary-gateway.test.ts has Traefik).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { getTestControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { gatewayApiCrdDir, installGatewayApiCrds } from '@modelship/devcluster/gateway';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import { clients, condition, createMd, createNamespace, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import type { HTTPRouteManifest } from '../../operator/src/render/http-route.ts';
import { markReady, podsOf } from './pods.ts';

const model = (v: string) => ({ version: v, uri: `https://models.example.com/iris/${v}/model.onnx` });
const HTTP_ROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' } as const;

describe('HTTPRoute child, with and without the Gateway API CRDs', () => {
  let c: Clients;
  let cp: ControlPlane;
  let ns: string;
  let op: OperatorProcess;
  const readRoute = () =>
    c.custom.getNamespacedCustomObject({ ...HTTP_ROUTE, namespace: ns, name: 'iris' }).catch(() => undefined) as Promise<
      HTTPRouteManifest | undefined
    >;
  const readService = (name: string) => c.core.readNamespacedService({ name, namespace: ns }).catch(() => undefined);
  const deleteGatewayCrds = async () => {
    const r = await cp.kubectl(['delete', '--ignore-not-found', '-f', await gatewayApiCrdDir()]);
    assert.equal(r.code, 0, r.stderr);
  };
  /** Marks every not-ready pod of iris ready until `done` holds. */
  const readyUntil = <T>(done: () => Promise<T | undefined>, description: string) =>
    waitFor(
      async () => {
        const pods = (await podsOf(c, ns, 'iris')).filter(
          (p) => !p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
        );
        await markReady(c, pods);
        return done();
      },
      { description, intervalMs: 500, timeoutMs: 90_000 },
    );

  before(async () => {
    c = clients();
    cp = await getTestControlPlane();
    await deleteGatewayCrds(); // a run interrupted earlier may have left them
    ns = await createNamespace(c, 'httproute');
    op = await startOperator({ namespace: ns });
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
    if (cp) await deleteGatewayCrds();
  });

  test('Degraded without the CRDs while the replica split works; the HTTPRoute once they are installed; deleted with the field', async () => {
    await createMd(c, ns, 'iris', {
      model: model('1'),
      replicas: 2,
      rollout: {
        strategy: 'Canary',
        canary: { steps: [{ weight: 20, pause: '1h' }], analysis: { interval: '5s' } },
        httpRoute: { parentRefs: [{ name: 'gateway', namespace: 'infra' }], hostnames: ['iris.example.com'] },
      },
    });
    const first = await readyUntil(async () => {
      const m = await getMd(c, ns, 'iris');
      return m.status?.currentVersion === '1' && condition(m, 'Degraded')?.status === 'True' ? m : undefined;
    }, 'version 1 serving, Degraded for the missing HTTPRoute API');
    assert.equal(condition(first, 'Degraded')?.reason, 'HTTPRouteUnavailable');
    assert.match(
      condition(first, 'Degraded')?.message ?? '',
      /HTTPRoute iris not applied: the cluster serves no gateway\.networking\.k8s\.io\/v1 httproutes/,
    );
    assert.equal(condition(first, 'Ready')?.status, 'True', 'the model serves: Ready is not affected');
    assert.ok(await readService('iris'), 'the one Service');
    assert.ok(await readService('iris-stable'), 'the stable track Service (created before the route)');
    const ready = await fetch(`http://127.0.0.1:${op.port}/readyz`);
    assert.equal(ready.status, 200, 'the operator is ready although it cannot watch HTTPRoutes');

    // The replica split keeps working: a canary starts as <name>-canary with its replica share.
    await patchMd(c, ns, 'iris', { spec: { model: model('2') } });
    const canary = await readyUntil(async () => {
      const m = await getMd(c, ns, 'iris');
      return m.status?.canary?.phase === 'Progressing' && m.status.canary.canaryReplicas === 1 ? m : undefined;
    }, 'the canary of version 2 running');
    assert.deepEqual([canary.status?.canary?.weight, canary.status?.canary?.effectiveWeight], [20, 33]);
    assert.equal(condition(canary, 'Degraded')?.reason, 'HTTPRouteUnavailable');

    await installGatewayApiCrds(cp);
    const route = await waitFor(readRoute, {
      description: 'the HTTPRoute, once the operator sees the API',
      timeoutMs: 90_000,
      intervalMs: 1_000,
    });
    assert.equal(route.metadata?.ownerReferences?.[0]?.kind, 'ModelDeployment');
    assert.deepEqual(route.spec.hostnames, ['iris.example.com']);
    assert.deepEqual(
      route.spec.parentRefs.map((p) => [p.group, p.kind, p.namespace, p.name]),
      [['gateway.networking.k8s.io', 'Gateway', 'infra', 'gateway']],
      'parentRefs as given, with the CRD defaults',
    );
    const rules = route.spec.rules.map((r) => ({
      headers: r.matches.flatMap((m) => (m.headers ?? []).map((h) => `${h.name}=${h.value}`)),
      backends: r.backendRefs.map((b) => `${b.name}:${b.port}@${b.weight}`),
    }));
    assert.deepEqual(rules, [
      { headers: ['modelship-version=1'], backends: ['iris-stable:80@1'] },
      { headers: ['modelship-version=2'], backends: ['iris-canary:80@1'] },
      { headers: [], backends: ['iris-stable:80@80', 'iris-canary:80@20'] },
    ]);
    const selectorOf = (s: V1Service | undefined) => s?.spec?.selector?.['modelship.dev/model-version'];
    assert.equal(selectorOf(await readService('iris-stable')), '1');
    assert.equal(selectorOf(await readService('iris-canary')), '2');
    const healed = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'iris');
        return condition(m, 'Degraded')?.status === 'False' ? m : undefined;
      },
      { description: 'Degraded cleared' },
    );
    assert.equal(healed.status?.canary?.phase, 'Progressing');
    // Steady state: the canary is re-reconciled every analysis interval (5 s); the route is not rewritten.
    const rv = (await readRoute())?.metadata?.resourceVersion;
    await sleep(12_000);
    assert.equal((await readRoute())?.metadata?.resourceVersion, rv, 'the HTTPRoute is not rewritten at steady state');

    await patchMd(c, ns, 'iris', { spec: { rollout: { httpRoute: null } } });
    await waitFor(async () => (await readRoute()) === undefined, { description: 'the HTTPRoute deleted' });
    await waitFor(async () => (await readService('iris-stable')) === undefined && (await readService('iris-canary')) === undefined, {
      description: 'the track Services deleted',
    });
    assert.ok(await readService('iris'), 'the one Service stays');
  });
});
