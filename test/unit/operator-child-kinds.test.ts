// The table of child kinds (operator/src/controller/child-kinds.ts): the chart's RBAC grants
// exactly what the table uses (no drift either way), and each kind keeps its compare semantics.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { KubernetesObject, V1PolicyRule } from '@kubernetes/client-node';
import { CHILD_KINDS, type ChildKind } from '../../operator/src/controller/child-kinds.ts';
import { renderPodTemplate } from '../../operator/src/render/pod-template.ts';
import { findManifest, renderChart, resolveHelm } from '@modelship/devcluster/helm';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';

/** The resources of the ClusterRole that are not children: the operator's own API, failure signals, events. */
const NOT_CHILDREN = new Set([
  'modelship.dev/modeldeployments',
  'modelship.dev/modeldeployments/status',
  'modelship.dev/modeldeployments/finalizers',
  '/pods',
  '/events',
]);

/** The verbs a child kind needs: read on conflict, informer, server-side apply, delete when it can be unwanted. */
const verbsFor = (kind: ChildKind) => ['get', 'list', 'watch', 'create', 'patch', ...(kind.removable ? ['delete'] : [])];

describe('child kinds and the chart RBAC', () => {
  let rules: V1PolicyRule[];
  before(
    async () => {
      await resolveHelm(); // builds helm on the first run on a machine (a few minutes)
      const ms = await renderChart({ values: { replicas: 2 } });
      rules = (findManifest(ms, 'ClusterRole') as unknown as { rules: V1PolicyRule[] }).rules;
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
  const md = modelDeployment();
  const ctx = { template: renderPodTemplate(md, { ...md.spec.model, name: 'iris' }, RUNTIME_DEFAULTS), metricsPort: 9090 };

  test('kinds are unique; Deployment and Service always wanted, HPA and NetworkPolicy only when the spec asks', () => {
    assert.equal(new Set(CHILD_KINDS.map((k) => k.kind)).size, CHILD_KINDS.length);
    const wanted = (m: typeof md) => CHILD_KINDS.filter((k) => k.render(m, ctx) !== undefined).map((k) => k.kind);
    assert.deepEqual(wanted(md), ['Deployment', 'Service']);
    const all = modelDeployment({ autoscaling: { maxReplicas: 3 }, networkPolicy: { enabled: true } });
    assert.deepEqual(wanted(all), ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'NetworkPolicy']);
    for (const k of CHILD_KINDS) assert.equal(k.removable, !wanted(md).includes(k.kind), `${k.kind}.removable`);
  });

  test('Deployment/Service compare as "contains what we set"; NetworkPolicy spec must be equal', () => {
    const all = modelDeployment({ autoscaling: { maxReplicas: 3 }, networkPolicy: { enabled: true } });
    for (const k of CHILD_KINDS) {
      const desired = k.render(all, ctx) as KubernetesObject & { spec: Record<string, unknown> };
      // as the API server returns it: no apiVersion/kind in a list, defaults and status added
      const { apiVersion: _v, kind: _k, ...listed } = structuredClone(desired);
      assert.equal(k.difference(desired, listed), undefined, `${k.kind} unchanged`);
      const withExtra = { ...listed, spec: { ...listed.spec, addedByServer: 'x' }, status: { y: 1 } };
      const expected = k.kind === 'NetworkPolicy' ? '.spec' : undefined;
      assert.equal(k.difference(desired, withExtra), expected, `${k.kind} with a field someone else set`);
    }
  });
});
