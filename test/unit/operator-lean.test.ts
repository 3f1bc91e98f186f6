// What the informer caches keep (operator/src/kube/lean.ts): everything the reconciler, the diff
// and the failure signals read gives the same answer on the lean object as on the full one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { KubernetesObject, V1ContainerStatus, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_TEMPLATE_HASH, FIELD_MANAGER } from '../../operator/src/api/labels.ts';
import { CHILD_KINDS } from '../../operator/src/controller/child-kinds.ts';
import { ownsField } from '../../operator/src/kube/diff.ts';
import { LAST_APPLIED_ANNOTATION, leanModelDeployment, leanPod } from '../../operator/src/kube/lean.ts';
import { renderPodTemplate, templateHashOf } from '../../operator/src/render/pod-template.ts';
import { detectFailure } from '../../operator/src/rollout/signals.ts';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';

const md = modelDeployment({
  autoscaling: { maxReplicas: 4 },
  networkPolicy: { enabled: true },
  rollout: { httpRoute: { parentRefs: [{ name: 'gateway' }] } },
});
const template = renderPodTemplate(md, { ...md.spec.model, name: 'iris' }, RUNTIME_DEFAULTS);
const canaryTemplate = renderPodTemplate(md, { ...md.spec.model, version: '2', name: 'iris' }, RUNTIME_DEFAULTS);
// With an autoscaled canary, an experiment and an HTTPRoute, so every kind (the canary and experiment
// Deployments, the canary's HPA, the track Services too) renders an object.
const ctx = {
  template,
  metricsPort: 9090,
  canary: { template: canaryTemplate, replicas: 1, weight: 10, ready: true, autoscaling: { minReplicas: 1, maxReplicas: 2 } },
  experiment: { template, replicas: 1 },
};
const kind = (name: string) => CHILD_KINDS.find((k) => k.kind === name)!;

/** A child as the API server returns it: our fields, plus server metadata, managedFields, status. */
function asStored(desired: KubernetesObject, ownReplicas: boolean): KubernetesObject & { status: unknown } {
  const { apiVersion: _v, kind: _k, metadata, ...rest } = structuredClone(desired);
  return {
    ...rest,
    metadata: {
      ...metadata,
      uid: 'child-uid',
      resourceVersion: '42',
      generation: 3,
      creationTimestamp: new Date('2026-11-23T12:00:00Z'),
      annotations: { 'deployment.kubernetes.io/revision': '2', [LAST_APPLIED_ANNOTATION]: JSON.stringify(desired) },
      managedFields: [
        {
          manager: FIELD_MANAGER,
          operation: 'Apply',
          apiVersion: 'apps/v1',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': { 'f:labels': { 'f:app': {} } },
            'f:spec': { ...(ownReplicas ? { 'f:replicas': {} } : {}), 'f:template': {} },
          },
        },
        { manager: 'kube-controller-manager', operation: 'Update', subresource: 'status', fieldsV1: { 'f:status': { 'f:replicas': {} } } },
        { manager: 'other', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
      ],
    },
    status: {
      observedGeneration: 3,
      replicas: 2,
      readyReplicas: 1,
      updatedReplicas: 2,
      availableReplicas: 1,
      conditions: [{ type: 'Progressing', status: 'True' }],
    },
  };
}

test('every child kind: the lean object compares like the stored one, and keeps no annotations and no foreign managedFields', () => {
  for (const k of CHILD_KINDS) {
    const desired = k.render(md, ctx)!;
    const stored = asStored(desired, true);
    const lean = k.lean(stored as never);
    assert.equal(k.difference(desired, lean), k.difference(desired, stored as never), `${k.kind}: same difference`);
    assert.equal(k.difference(desired, lean), undefined, `${k.kind}: unchanged`);
    assert.equal(lean.metadata?.annotations, undefined, `${k.kind}: annotations dropped`);
    for (const e of lean.metadata?.managedFields ?? []) assert.equal(e.manager, FIELD_MANAGER);
    assert.deepEqual(
      { name: lean.metadata?.name, uid: lean.metadata?.uid, rv: lean.metadata?.resourceVersion, owners: lean.metadata?.ownerReferences },
      { name: desired.metadata?.name, uid: 'child-uid', rv: '42', owners: desired.metadata?.ownerReferences },
    );
    // A changed field we set is still seen as a difference on the lean object.
    const changed = structuredClone(stored) as unknown as { metadata: { labels: Record<string, string> } };
    changed.metadata.labels['app.kubernetes.io/instance'] = 'other';
    assert.notEqual(k.difference(desired, k.lean(changed as never)), undefined, `${k.kind}: a changed label is a difference`);
  }
});

test('Deployment: status, template hash and "do we own spec.replicas" survive; Service/HPA/NetworkPolicy drop status', () => {
  const desired = kind('Deployment').render(md, ctx) as V1Deployment;
  for (const owns of [true, false]) {
    const stored = asStored(desired, owns) as unknown as V1Deployment;
    const lean = kind('Deployment').lean(stored) as V1Deployment;
    assert.equal(ownsField(lean.metadata?.managedFields, FIELD_MANAGER, ['spec', 'replicas']), owns);
    assert.equal(ownsField(stored.metadata?.managedFields, FIELD_MANAGER, ['spec', 'replicas']), owns);
    assert.deepEqual(lean.status, stored.status);
    assert.equal(lean.metadata?.generation, 3);
    assert.equal(templateHashOf(lean.spec?.template), templateHashOf(desired.spec?.template));
    assert.ok(JSON.stringify(lean).length < JSON.stringify(stored).length / 2, 'less than half the size');
  }
  for (const name of ['Service', 'HorizontalPodAutoscaler', 'NetworkPolicy']) {
    const lean = kind(name).lean(asStored(kind(name).render(md, ctx)!, false) as never) as { status?: unknown };
    assert.equal(lean.status, undefined, `${name}: status dropped`);
  }
});

const NOW = new Date('2026-11-23T12:00:00Z');

/** A Pod as the API server returns it (JSON), with the given container statuses. */
function storedPod(init: V1ContainerStatus[], main: V1ContainerStatus[], createdMsAgo: number): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'iris-abc-x',
      namespace: 'ml',
      uid: 'pod-uid',
      resourceVersion: '7',
      creationTimestamp: new Date(NOW.getTime() - createdMsAgo),
      labels: { 'app.kubernetes.io/instance': 'iris', 'pod-template-hash': 'abc' },
      annotations: { [ANNOTATION_TEMPLATE_HASH]: 'h1', 'prometheus.io/scrape': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'iris-abc', uid: 'rs', controller: true }],
      managedFields: [{ manager: 'kubelet', operation: 'Update', fieldsV1: { 'f:status': {} } }],
    },
    spec: ctx.template.spec!,
    status: {
      phase: 'Pending',
      conditions: [{ type: 'Ready', status: 'False' }],
      hostIP: '10.0.0.1',
      initContainerStatuses: init,
      containerStatuses: main,
    },
  };
}

const terminated = fc.record({
  exitCode: fc.constantFrom(0, 1, 3, 137),
  message: fc.option(fc.constantFrom('sha256 mismatch', 'line 1\nline 2', ''), { nil: undefined }),
  finishedAt: fc.constant(new Date('2026-11-23T11:59:00Z')),
});
const state = fc.oneof(
  fc.record({ terminated }),
  fc.record({
    waiting: fc.record({
      reason: fc.constantFrom('ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CrashLoopBackOff', 'PodInitializing'),
      message: fc.constant('m'),
    }),
  }),
  fc.record({ running: fc.constant({ startedAt: new Date('2026-11-23T11:59:00Z') }) }),
);
const containerStatus = (name: string) =>
  fc.record({
    name: fc.constant(name),
    image: fc.constant('modelship/runtime:test'),
    imageID: fc.constant('sha256:abc'),
    containerID: fc.constant('containerd://x'),
    ready: fc.boolean(),
    restartCount: fc.nat({ max: 6 }),
    started: fc.boolean(),
    state,
    lastState: fc.option(fc.record({ terminated }), { nil: undefined }),
  }) as fc.Arbitrary<V1ContainerStatus>;

test('Pods: the failure signal on the lean pod equals the one on the stored pod (property)', () => {
  fc.assert(
    fc.property(
      fc.array(containerStatus('fetch'), { maxLength: 1 }),
      fc.array(containerStatus('serve'), { maxLength: 1 }),
      fc.integer({ min: 0, max: 120_000 }),
      (init, main, age) => {
        const pod = storedPod(init, main, age);
        assert.deepEqual(detectFailure(undefined, [leanPod(pod)], NOW), detectFailure(undefined, [pod], NOW));
      },
    ),
    { numRuns: 300 },
  );
});

test('Pods: no spec, no managedFields; the instance label, template hash and owner stay', () => {
  const pod = storedPod([], [], 0);
  const lean = leanPod(pod);
  assert.equal(lean.spec, undefined);
  assert.equal(lean.metadata?.managedFields, undefined);
  assert.deepEqual(lean.metadata?.annotations, { [ANNOTATION_TEMPLATE_HASH]: 'h1' });
  assert.equal(lean.metadata?.labels?.['app.kubernetes.io/instance'], 'iris');
  assert.deepEqual(lean.metadata?.ownerReferences, pod.metadata?.ownerReferences);
  assert.equal(lean.metadata?.resourceVersion, '7');
  assert.equal(lean.status?.phase, 'Pending');
});

test('Pods: the Ready condition (type and status only) stays for the canary analysis; other conditions go', () => {
  const pod = storedPod([], [], 0);
  pod.status = {
    ...pod.status,
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: NOW },
      { type: 'Ready', status: 'True', lastTransitionTime: NOW, reason: 'x', message: 'y' },
    ],
  };
  assert.deepEqual(leanPod(pod).status?.conditions, [{ type: 'Ready', status: 'True' }]);
  const stored = storedPod([], [], 0);
  assert.deepEqual(leanPod(stored).status?.conditions, [{ type: 'Ready', status: 'False' }], 'the stored pod is not ready');
  stored.status = { ...stored.status, conditions: [{ type: 'PodScheduled', status: 'True' }] };
  assert.equal(leanPod(stored).status?.conditions, undefined, 'no Ready condition: none kept');
  assert.ok(leanPod(pod).metadata?.uid, 'uid: the analysis keys pods by it');
});

test('ModelDeployments: managedFields and kubectl last-applied dropped, everything else kept', () => {
  const stored = {
    ...md,
    metadata: {
      ...md.metadata,
      resourceVersion: '9',
      annotations: { [LAST_APPLIED_ANNOTATION]: '{}', 'team.example.com/owner': 'ml' },
      managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
    },
    status: { observedGeneration: 1 },
  };
  const lean = leanModelDeployment(stored);
  assert.deepEqual(lean, {
    ...stored,
    metadata: { ...md.metadata, resourceVersion: '9', annotations: { 'team.example.com/owner': 'ml' } },
  });
});
