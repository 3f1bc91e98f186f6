// The table of child kinds (operator/src/controller/child-kinds.ts): the chart's RBAC grants
// exactly what the table uses (no drift either way), and each kind keeps its compare semantics.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { KubernetesObject, V1PolicyRule } from '@kubernetes/client-node';
import { CHILD_KINDS, childName, informedKinds, type ChildKind, type RenderContext } from '../../operator/src/controller/child-kinds.ts';
import { renderPodTemplate } from '../../operator/src/render/pod-template.ts';
import { findManifest, renderChart, resolveHelm } from '@modelship/devcluster/helm';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';

/** The resources of the ClusterRole that are not children: the operator's own API, failure signals, events, TLS inputs. */
const NOT_CHILDREN = new Set([
  'modelship.dev/modeldeployments',
  'modelship.dev/modeldeployments/status',
  'modelship.dev/modeldeployments/finalizers',
  '/pods',
  '/pods/proxy',
  '/events',
  // spec.service.tls: the TLS Secret and the clientCA Secret or ConfigMap, read before a rollout
  '/secrets',
  '/configmaps',
]);

/**
 * The verbs a resource's child kinds need: read on conflict, informer, server-side apply, delete
 * when one of them can be unwanted (the stable and canary Deployments share `deployments`).
 */
const verbsFor = (kind: ChildKind) => {
  const removable = CHILD_KINDS.some((k) => k.group === kind.group && k.plural === kind.plural && k.removable);
  return ['get', 'list', 'watch', 'create', 'patch', ...(removable ? ['delete'] : [])];
};

describe('child kinds and the chart RBAC', () => {
  let rules: V1PolicyRule[];
  before(
    async () => {
      await resolveHelm(); // builds helm on the first run on a machine (a few minutes)
      const ms = await renderChart({ values: { replicas: 2 } });
      rules = (findManifest(ms, 'ClusterRole', 'modelship') as unknown as { rules: V1PolicyRule[] }).rules;
    },
    { timeout: 30 * 60_000 },
  );

  test('every child kind has exactly the verbs it uses in the ClusterRole', () => {
    for (const kind of CHILD_KINDS) {
      const granted = rules.filter((r) => r.apiGroups?.includes(kind.group) && r.resources?.includes(kind.plural));
      assert.equal(granted.length, 1, `one rule for ${kind.group}/${kind.plural}: ${JSON.stringify(granted)}`);
      assert.deepEqual([...(granted[0]?.verbs ?? [])].sort(), verbsFor(kind).sort(), `${kind.kind} verbs`);
    }
  });

  test('every resource the ClusterRole grants is a child kind or one of the known non-children', () => {
    const children = new Set(CHILD_KINDS.map((k) => `${k.group}/${k.plural}`));
    for (const r of rules) {
      for (const group of r.apiGroups ?? []) {
        for (const resource of r.resources ?? []) {
          const key = `${group}/${resource}`;
          assert.ok(
            children.has(key) || NOT_CHILDREN.has(key),
            `the ClusterRole grants ${key}, which is no child kind in operator/src/controller/child-kinds.ts`,
          );
        }
      }
    }
  });
});

describe('child kinds table', () => {
  const md = modelDeployment({ replicas: 1 });
  const ctx = { template: renderPodTemplate(md, { ...md.spec.model, name: 'iris' }, RUNTIME_DEFAULTS), metricsPort: 9090 };

  test('kinds are unique by kind and name; Deployment and Service always wanted, HPA, NetworkPolicy, PodDisruptionBudget, canary and experiment only when asked', () => {
    const id = (k: ChildKind) => `${k.kind} ${childName(k, 'iris')}`;
    assert.equal(new Set(CHILD_KINDS.map(id)).size, CHILD_KINDS.length);
    const wanted = (m: typeof md, c: RenderContext = ctx) => CHILD_KINDS.filter((k) => k.render(m, c) !== undefined).map(id);
    assert.deepEqual(wanted(md), ['Deployment iris', 'Service iris']);
    const all = modelDeployment({ autoscaling: { maxReplicas: 3 }, networkPolicy: { enabled: true } });
    assert.deepEqual(wanted(all), [
      'Deployment iris',
      'Service iris',
      'HorizontalPodAutoscaler iris',
      'NetworkPolicy iris',
      'PodDisruptionBudget iris',
    ]);
    assert.deepEqual(wanted(modelDeployment({ replicas: 2 })), ['Deployment iris', 'Service iris', 'PodDisruptionBudget iris']);
    const withCanary = { ...ctx, canary: { template: ctx.template, replicas: 1 } };
    assert.deepEqual(wanted(md, withCanary), ['Deployment iris', 'Deployment iris-canary', 'Service iris']);
    assert.deepEqual(wanted(md, { ...ctx, canary: { template: ctx.template, replicas: 0 } }), ['Deployment iris', 'Service iris']);
    assert.deepEqual(wanted(md, { ...ctx, experiment: { template: ctx.template, replicas: 1 } }), [
      'Deployment iris',
      'Deployment iris-experiment',
      'Service iris',
      'Service iris-stable',
      'Service iris-experiment',
    ]);
    const routed = modelDeployment({ replicas: 1, rollout: { httpRoute: { parentRefs: [{ name: 'gateway' }] } } });
    assert.deepEqual(wanted(routed), ['Deployment iris', 'Service iris', 'Service iris-stable', 'HTTPRoute iris']);
    assert.deepEqual(wanted(routed, withCanary), [
      'Deployment iris',
      'Deployment iris-canary',
      'Service iris',
      'Service iris-stable',
      'Service iris-canary',
      'HTTPRoute iris',
    ]);
    const autoscaledCanary = { ...ctx, canary: { template: ctx.template, replicas: 1, autoscaling: { minReplicas: 1, maxReplicas: 2 } } };
    assert.deepEqual(wanted(all, autoscaledCanary), [
      'Deployment iris',
      'Deployment iris-canary',
      'Service iris',
      'HorizontalPodAutoscaler iris',
      'HorizontalPodAutoscaler iris-canary',
      'NetworkPolicy iris',
      'PodDisruptionBudget iris',
    ]);
    for (const k of CHILD_KINDS) assert.equal(k.removable, !wanted(md).includes(id(k)), `${id(k)}.removable`);
    assert.deepEqual(
      informedKinds(CHILD_KINDS).map((k) => k.kind),
      ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'PodDisruptionBudget', 'HTTPRoute'],
      'one informer per kind',
    );
  });

  test('Deployment/Service compare as "contains what we set"; NetworkPolicy spec must be equal', () => {
    const all = modelDeployment({
      autoscaling: { maxReplicas: 3 },
      networkPolicy: { enabled: true },
      rollout: { httpRoute: { parentRefs: [{ name: 'gateway' }] } },
    });
    const canaryTemplate = renderPodTemplate(md, { ...md.spec.model, version: '2', name: 'iris' }, RUNTIME_DEFAULTS);
    const withCanary = {
      ...ctx,
      canary: { template: canaryTemplate, replicas: 2, weight: 10, ready: true, autoscaling: { minReplicas: 2, maxReplicas: 3 } },
      experiment: { template: ctx.template, replicas: 1 },
    };
    for (const k of CHILD_KINDS) {
      const desired = k.render(all, withCanary) as KubernetesObject & { spec: Record<string, unknown> };
      // as the API server returns it: no apiVersion/kind in a list, defaults and status added
      const { apiVersion: _v, kind: _k, ...listed } = structuredClone(desired);
      assert.equal(k.difference(desired, listed), undefined, `${k.kind} unchanged`);
      const withExtra = { ...listed, spec: { ...listed.spec, addedByServer: 'x' }, status: { y: 1 } };
      const expected = k.kind === 'NetworkPolicy' ? '.spec' : undefined;
      assert.equal(k.difference(desired, withExtra), expected, `${k.kind} with a field someone else set`);
    }
  });
});
