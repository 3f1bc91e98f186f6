// spec.rollout.httpRoute: the HTTPRoute and per-track Services the operator renders (pure), and the
// Degraded notice when the cluster lacks the Gateway API (status/compute.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderPodTemplate } from '../../operator/src/render/pod-template.ts';
import { canarySplit, renderCanaryTrackService, renderHttpRoute, type RouteContext } from '../../operator/src/render/http-route.ts';
import { renderStableTrackService } from '../../operator/src/render/track-service.ts';
import { computeConditions } from '../../operator/src/status/compute.ts';
import { CHILD_KINDS, type ChildKind } from '../../operator/src/controller/child-kinds.ts';
import { silentLogger } from '../../operator/src/log.ts';
import { act } from '../../operator/src/reconcile/act.ts';
import { FakeClients, apiError } from './operator-reconcile-fakes.ts';
import { RUNTIME_DEFAULTS, deploymentWith, modelDeployment } from './operator-fixtures.ts';

const routed = modelDeployment({
  rollout: { strategy: 'Canary', httpRoute: { parentRefs: [{ name: 'gateway', namespace: 'infra' }], hostnames: ['iris.example.com'] } },
  service: { port: 8080 },
});
const template = (version: string) => renderPodTemplate(routed, { ...routed.spec.model, version, name: 'iris' }, RUNTIME_DEFAULTS);
const stableOnly: RouteContext = { template: template('1') };
const canaryAt = (weight: number, extra: Partial<NonNullable<RouteContext['canary']>> = {}): RouteContext => ({
  template: template('1'),
  canary: { template: template('2'), replicas: 1, weight, ready: true, ...extra },
});

describe('HTTPRoute rendering', () => {
  test('no httpRoute in the spec: no HTTPRoute and no track Services', () => {
    const md = modelDeployment();
    assert.equal(renderHttpRoute(md, canaryAt(10)), undefined);
    assert.equal(renderStableTrackService(md, canaryAt(10)), undefined);
    assert.equal(renderCanaryTrackService(md, canaryAt(10)), undefined);
  });

  test('without a canary everything goes to the one Service, with the parents and hostnames of the spec', () => {
    const route = renderHttpRoute(routed, stableOnly);
    assert.ok(route);
    assert.equal(route.metadata?.name, 'iris');
    assert.equal(route.metadata?.ownerReferences?.[0]?.uid, 'uid-1');
    assert.deepEqual(route.spec.parentRefs, [{ name: 'gateway', namespace: 'infra' }]);
    assert.deepEqual(route.spec.hostnames, ['iris.example.com']);
    assert.deepEqual(route.spec.rules, [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' } }],
        backendRefs: [{ group: '', kind: 'Service', name: 'iris', port: 8080, weight: 1 }],
      },
    ]);
    assert.equal(renderCanaryTrackService(routed, stableOnly), undefined);
  });

  test('a canary step: exact weights 100-w / w to the track Services, and a header rule per version', () => {
    for (const weight of [10, 50]) {
      const route = renderHttpRoute(routed, canaryAt(weight));
      assert.ok(route);
      const [pinStable, pinCanary, split] = route.spec.rules;
      assert.deepEqual(pinStable?.matches[0]?.headers, [{ type: 'Exact', name: 'modelship-version', value: '1' }]);
      assert.deepEqual(
        pinStable?.backendRefs.map((b) => b.name),
        ['iris-stable'],
      );
      assert.deepEqual(pinCanary?.matches[0]?.headers, [{ type: 'Exact', name: 'modelship-version', value: '2' }]);
      assert.deepEqual(
        pinCanary?.backendRefs.map((b) => b.name),
        ['iris-canary'],
      );
      assert.equal(split?.matches[0]?.headers, undefined);
      assert.deepEqual(
        split?.backendRefs.map((b) => [b.name, b.port, b.weight]),
        [
          ['iris-stable', 8080, 100 - weight],
          ['iris-canary', 8080, weight],
        ],
      );
    }
  });

  test('promoting, scaled away, no canary pod ready yet (regression: 503s for its share) or no step weight: the one Service', () => {
    const cases = [
      canaryAt(50, { promoting: true }),
      canaryAt(50, { replicas: 0 }),
      canaryAt(50, { ready: false }),
      canaryAt(50, { weight: undefined }),
    ];
    for (const ctx of cases) {
      assert.equal(canarySplit(ctx), undefined);
      assert.deepEqual(
        renderHttpRoute(routed, ctx)?.spec.rules.flatMap((r) => r.backendRefs.map((b) => b.name)),
        ['iris'],
      );
    }
  });

  test('track Services select one version by the model-version label every runtime pod carries', () => {
    const stable = renderStableTrackService(routed, canaryAt(10));
    const canary = renderCanaryTrackService(routed, canaryAt(10));
    assert.equal(stable?.metadata?.name, 'iris-stable');
    assert.equal(canary?.metadata?.name, 'iris-canary');
    assert.equal(stable?.spec?.selector?.['modelship.dev/model-version'], '1');
    assert.equal(canary?.spec?.selector?.['modelship.dev/model-version'], '2');
    assert.equal(stable?.spec?.selector?.['app.kubernetes.io/instance'], 'iris');
    assert.deepEqual(stable?.spec?.ports, [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    // the canary pods' template labels carry the version the selector uses
    assert.equal(template('2').metadata?.labels?.['modelship.dev/model-version'], '2');
  });
});

describe('Degraded notice (an optional API missing)', () => {
  const head = { version: '1', uri: 'https://m/1', templateHash: 'h', outcome: 'Succeeded' as const, startedAt: 't', finishedAt: 't' };
  const deployment = deploymentWith('h', { complete: true });
  const notice = { reason: 'HTTPRouteUnavailable', message: 'HTTPRoute iris not applied' };
  const byType = (cs: ReturnType<typeof computeConditions>) => Object.fromEntries(cs.map((c) => [c.type, c]));

  test('Degraded=True with the notice, Ready unaffected', () => {
    const plain = byType(computeConditions({ head, currentVersion: '1', deployment, blocking: undefined }));
    const noticed = byType(computeConditions({ head, currentVersion: '1', deployment, blocking: undefined, notice }));
    assert.equal(plain.Ready?.status, 'True');
    assert.equal(plain.Degraded?.status, 'False');
    assert.deepEqual([noticed.Degraded?.status, noticed.Degraded?.reason], ['True', 'HTTPRouteUnavailable']);
    assert.deepEqual(noticed.Ready, plain.Ready);
  });

  test('a worse Degraded (a rollback) is not overwritten by the notice', () => {
    const rolledBack = { ...head, outcome: 'RolledBack' as const, message: 'rolled back' };
    const cs = byType(computeConditions({ head: rolledBack, currentVersion: '1', deployment, blocking: undefined, notice }));
    assert.equal(cs.Degraded?.reason, 'RolledBack');
  });
});

describe('act: an optional child kind whose API is missing', () => {
  const md = modelDeployment({ rollout: { httpRoute: { parentRefs: [{ name: 'gateway' }] } } });
  const ctx = { template: template('1'), metricsPort: 9090 };
  const stepsFor = (kinds: readonly ChildKind[]) =>
    kinds.flatMap((kind) => {
      const desired = kind.render(md, ctx);
      return desired ? [{ op: 'apply' as const, kind, desired, actual: undefined }] : [];
    });

  test('404 on the HTTPRoute apply: Degraded notice, every other child still applied, nothing retried', async () => {
    const c = new FakeClients();
    c.answers.set('patchNamespacedCustomObject', () => {
      throw apiError(404, 'the server could not find the requested resource');
    });
    const out = await act(c.asKubeClients(), silentLogger(), md, stepsFor(CHILD_KINDS));
    // the pod-less children first, concurrently (reconcile/act.ts stagesOf), then the Deployment
    assert.deepEqual(c.writes, ['apply services', 'apply services', 'apply poddisruptionbudgets', 'apply httproutes', 'apply deployments']);
    assert.deepEqual(out.created, ['Deployment iris', 'Service iris', 'Service iris-stable', 'PodDisruptionBudget iris']);
    assert.equal(out.problem, undefined);
    assert.equal(out.retry, undefined);
    assert.equal(out.unavailable?.reason, 'HTTPRouteUnavailable');
    assert.match(out.unavailable?.message ?? '', /the cluster serves no gateway\.networking\.k8s\.io\/v1 httproutes/);
  });

  test('404 on a kind that is not optional is still an apply failure that stops the writes before any Deployment', async () => {
    const c = new FakeClients();
    c.answers.set('patchNamespacedService', () => {
      throw apiError(404, 'the server could not find the requested resource');
    });
    const out = await act(c.asKubeClients(), silentLogger(), md, stepsFor(CHILD_KINDS));
    assert.equal(out.problem?.reason, 'ApplyFailed');
    assert.equal(out.unavailable, undefined);
    assert.ok(!c.writes.includes('apply deployments'), c.writes.join(', '));
  });
});
