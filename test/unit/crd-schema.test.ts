// Static checks of the ModelDeployment CRD that need no API server (the integration test
// test/integration/crd-validation.test.ts checks how a real kube-apiserver applies it).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { crdPath, parseCrd, storageVersion, type SchemaNode } from '../../operator/scripts/generate-api-types.ts';

const crd = parseCrd(readFileSync(crdPath, 'utf8'));
const version = storageVersion(crd);
const root = version.schema.openAPIV3Schema;

/** Every schema node a field can be described at, with its path (anyOf branches are not fields). */
function* walk(node: SchemaNode, path: string): Generator<[string, SchemaNode]> {
  yield [path, node];
  for (const [name, child] of Object.entries(node.properties ?? {})) yield* walk(child, path ? `${path}.${name}` : name);
  if (node.items) yield* walk(node.items, `${path}[]`);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    yield* walk(node.additionalProperties, `${path}{}`);
  }
}

function at(path: string): SchemaNode {
  for (const [p, node] of walk(root, '')) if (p === path) return node;
  throw new Error(`no schema node at ${path}`);
}

describe('ModelDeployment CRD', () => {
  test('every schema node has a description (so kubectl explain teaches)', () => {
    // The root metadata is the one exception: the API server forbids anything there but name and
    // generateName restrictions, and documents it as ObjectMeta itself.
    const missing = [...walk(root, '')]
      .filter(([path, node]) => path !== 'metadata' && !node.description?.trim())
      .map(([path]) => path || '<root>');
    assert.deepEqual(missing, []);
    const columns = version as unknown as { additionalPrinterColumns: { name: string; description?: string }[] };
    const undocumented = columns.additionalPrinterColumns.filter((c) => c.name !== 'Age' && !c.description);
    assert.deepEqual(undocumented, []);
  });

  test('names, scope and version', () => {
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.spec.group, 'modelship.dev');
    assert.equal(crd.spec.scope, 'Namespaced');
    assert.deepEqual(crd.spec.names, {
      kind: 'ModelDeployment',
      listKind: 'ModelDeploymentList',
      plural: 'modeldeployments',
      singular: 'modeldeployment',
      shortNames: ['mdep'],
      categories: ['modelship'],
    });
    assert.equal(version.name, 'v1alpha1');
    assert.equal(version.served, true);
    assert.equal(crd.spec.versions.length, 1);
  });

  test('status and scale subresources, printer columns', () => {
    const v = version as unknown as {
      subresources: unknown;
      additionalPrinterColumns: { name: string; jsonPath: string; priority?: number }[];
    };
    assert.deepEqual(v.subresources, {
      status: {},
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
    });
    const columns = v.additionalPrinterColumns.map((c) => [c.name, c.jsonPath, c.priority ?? 0]);
    assert.deepEqual(columns, [
      ['Model', '.spec.model.name', 0],
      ['Current', '.status.currentVersion', 0],
      ['Desired', '.spec.model.version', 0],
      ['Ready', '.status.conditions[?(@.type=="Ready")].status', 0],
      ['Replicas', '.status.replicas', 0],
      ['Canary', '.status.canary.phase', 0],
      ['Weight', '.status.canary.effectiveWeight', 0],
      ['Experiment', '.status.experiment.summary', 0],
      ['Age', '.metadata.creationTimestamp', 0],
      ['Updating', '.status.updatingVersion', 1],
      ['Failed', '.status.failedVersion', 1],
      ['URL', '.status.url', 1],
    ]);
  });

  test('defaults', () => {
    const defaults = Object.fromEntries([...walk(root, '')].filter(([, n]) => n.default !== undefined).map(([p, n]) => [p, n.default]));
    assert.deepEqual(defaults, {
      'spec.model.format': 'onnx',
      'spec.replicas': 1,
      'spec.autoscaling.metric': 'cpu',
      'spec.autoscaling.minReplicas': 1,
      'spec.rollout': {},
      'spec.rollout.strategy': 'RollingUpdate',
      'spec.rollout.canary.steps': [
        { weight: 10, pause: '1m' },
        { weight: 50, pause: '1m' },
      ],
      'spec.rollout.canary.steps[].pause': '1m',
      'spec.rollout.canary.analysis': {},
      'spec.rollout.canary.analysis.interval': '30s',
      'spec.rollout.canary.analysis.minRequests': 50,
      'spec.rollout.canary.analysis.maxErrorRate': '1%',
      'spec.rollout.canary.analysis.maxP99LatencyIncrease': '100%',
      'spec.rollout.maxSurge': 1,
      'spec.rollout.maxUnavailable': 0,
      'spec.rollout.progressDeadlineSeconds': 300,
      'spec.rollout.autoRollback': true,
      'spec.rollout.historyLimit': 10,
      'spec.service': {},
      'spec.service.type': 'ClusterIP',
      'spec.service.port': 80,
      'spec.service.tls.clientCA.key': 'ca.crt',
    });
  });

  test('required fields', () => {
    assert.deepEqual(root.required, ['spec']);
    assert.deepEqual(at('spec').required, ['model']);
    assert.deepEqual(at('spec.model').required, ['version', 'uri']);
    assert.deepEqual(at('spec.autoscaling').required, ['maxReplicas']);
    assert.deepEqual(at('spec.runtime.apiKeySecretRef').required, ['name', 'key']);
    assert.deepEqual(at('status.conditions').required, undefined);
    assert.deepEqual(at('status.conditions').items?.required, ['type', 'status', 'lastTransitionTime', 'reason', 'message']);
    assert.deepEqual(at('status.history[]').required, ['version', 'uri', 'templateHash', 'startedAt', 'outcome']);
  });

  test('unknown fields are pruned by the schema, never preserved (kubectl rejects them: strict field validation), but for the parts of the core Affinity type', () => {
    const preserving = [...walk(root, '')].filter(([, n]) => n['x-kubernetes-preserve-unknown-fields']).map(([p]) => p);
    // The core type is too large to copy; the API server checks it when the operator writes the Deployment.
    assert.deepEqual(preserving, ['spec.pod.affinity.nodeAffinity', 'spec.pod.affinity.podAffinity', 'spec.pod.affinity.podAntiAffinity']);
    assert.match(at('spec').description ?? '', /kubectl apply, create, replace and edit refuse the object and name the field/);
    assert.match(at('spec').description ?? '', /warning naming the field, and the field is dropped/);
  });

  test('every CEL rule has a message and a reason; strings read by CEL have a maxLength (cost budget)', () => {
    const rules = [...walk(root, '')].flatMap(([path, node]) =>
      ((node['x-kubernetes-validations'] as { rule: string; message?: string; reason?: string }[] | undefined) ?? []).map((r) => ({
        path,
        node,
        ...r,
      })),
    );
    assert.ok(rules.length >= 7, `expected the CEL rules, found ${rules.length}`);
    for (const r of rules) {
      assert.ok(r.message && r.message.length > 20, `${r.path}: rule ${r.rule} needs a message`);
      assert.ok(r.reason, `${r.path}: rule ${r.rule} needs a reason`);
      if (r.node.type === 'string') assert.ok(typeof r.node.maxLength === 'number', `${r.path} needs a maxLength`);
    }
  });

  test('status lists: conditions are a map keyed by type, history is bounded by the historyLimit maximum', () => {
    const conditions = at('status.conditions');
    assert.equal(conditions['x-kubernetes-list-type'], 'map');
    assert.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
    assert.equal(at('status.history').maxItems, at('spec.rollout.historyLimit').maximum);
    assert.deepEqual(at('status.history[].outcome').enum, ['Progressing', 'Succeeded', 'Failed', 'RolledBack', 'Superseded', 'Aborted']);
  });

  test('patterns accept and refuse what their descriptions say', () => {
    const re = (path: string) => new RegExp(at(path).pattern as string);
    const versionRe = re('spec.model.version');
    for (const ok of ['1', '3', 'v2.1.0', '2024-06-01', 'a_b']) assert.match(ok, versionRe);
    for (const bad of ['', '-1', 'v1.', 'a b', 'é']) assert.doesNotMatch(bad, versionRe);
    const name = re('spec.model.name');
    assert.match('iris-2', name);
    assert.doesNotMatch('Iris', name);
    const quantity = new RegExp(at('spec.resources.requests{}').pattern as string);
    for (const ok of ['500m', '1', '256Mi', '1.5', '1e3']) assert.match(ok, quantity);
    for (const bad of ['lots', '1 Gi', 'Mi']) assert.doesNotMatch(bad, quantity);
    const percent = re('spec.rollout.maxSurge');
    assert.match('25%', percent);
    assert.doesNotMatch('25', percent);
  });
});
