// spec.pod (workload knobs) in the rendered runtime pods, and the runtime PodDisruptionBudget: each
// knob reaches the pod template of every track, the default spread, the token mount, the template
// hash (a change is a rollout, scaling is not), the PDB on and off; and the CRD's refusal rules
// cover exactly the operator's own label keys and the runtime's env names (contract/runtime-contract.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import type { ModelDeployment, PodSettings } from '../../operator/src/api/types.generated.ts';
import * as labels from '../../operator/src/api/labels.ts';
import { ENV } from '../../contract/runtime-contract.ts';
import { renderCanaryDeployment, renderDeployment } from '../../operator/src/render/children.ts';
import { renderExperimentDeployment } from '../../operator/src/render/experiment.ts';
import { renderPodTemplate, templateHashOf } from '../../operator/src/render/pod-template.ts';
import { DEFAULT_SPREAD_TOPOLOGY_KEY, RESERVED_KEY_PREFIX, RESERVED_LABEL_KEYS } from '../../operator/src/render/pod-settings.ts';
import { mayRunSeveralPods, renderPodDisruptionBudget } from '../../operator/src/render/pod-disruption-budget.ts';
import { crdPath, parseCrd, storageVersion, type SchemaNode } from '../../operator/scripts/generate-api-types.ts';
import { applyErrorPolicy } from '../../operator/src/reconcile/act.ts';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';
import { apiError } from './operator-reconcile-fakes.ts';

const withPod = (pod: PodSettings, overrides: Partial<ModelDeployment['spec']> = {}) => modelDeployment({ pod, ...overrides });
const render = (md: ModelDeployment) => renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);

const FULL: PodSettings = {
  nodeSelector: { pool: 'ml', 'topology.kubernetes.io/zone': 'a' },
  tolerations: [
    { key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 },
  ],
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'gpu', operator: 'In', values: ['a100'] }] }],
      },
    },
  },
  priorityClassName: 'serving-high',
  serviceAccountName: 'iris-reader',
  imagePullSecrets: [{ name: 'registry-a' }, { name: 'registry-b' }],
  env: [
    { name: 'OTEL_SERVICE_NAME', value: 'iris' },
    { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'tokens', key: 'iris' } } },
    { name: 'REGION', valueFrom: { configMapKeyRef: { name: 'site', key: 'region', optional: true } } },
  ],
  labels: { team: 'search', 'sidecar.istio.io/inject': 'true' },
  annotations: { 'cost-center': '42', 'prometheus.io/port': '9999' },
};

describe('spec.pod in the runtime pod template', () => {
  test('every knob reaches the pod spec and metadata', () => {
    const t = render(withPod(FULL));
    const spec = t.spec!;
    assert.deepEqual(spec.nodeSelector, FULL.nodeSelector);
    assert.deepEqual(spec.tolerations, FULL.tolerations);
    assert.deepEqual(spec.affinity, FULL.affinity);
    assert.equal(spec.priorityClassName, 'serving-high');
    assert.equal(spec.serviceAccountName, 'iris-reader');
    assert.deepEqual(spec.imagePullSecrets, [{ name: 'registry-a' }, { name: 'registry-b' }]);
    for (const c of [spec.initContainers?.[0], spec.containers[0]]) {
      const extra = c?.env?.filter((e) => !e.name.startsWith('MODELSHIP_'));
      assert.deepEqual(extra, FULL.env, `${c?.name}: the extra env, after the runtime's own`);
      assert.ok(c?.env?.[0]?.name.startsWith('MODELSHIP_'), `${c?.name}: the runtime's variables come first ($(VAR) can refer to them)`);
    }
    assert.equal(t.metadata?.labels?.team, 'search');
    assert.equal(t.metadata?.labels?.['sidecar.istio.io/inject'], 'true');
    assert.equal(t.metadata?.labels?.[labels.LABEL_INSTANCE], 'iris', 'the selector labels stay');
    assert.equal(t.metadata?.annotations?.['cost-center'], '42');
    assert.equal(t.metadata?.annotations?.['prometheus.io/port'], '9999', "the user's scrape settings replace the operator's");
    assert.equal(t.metadata?.annotations?.['prometheus.io/scrape'], 'true', "the operator's other scrape settings stay");
    assert.match(templateHashOf(t) ?? '', /^[0-9a-f]{10}$/);
  });

  test('the pods run as a named ServiceAccount with its own token setting; without one no token is mounted', () => {
    const named = render(withPod({ serviceAccountName: 'iris-reader' })).spec!;
    assert.equal(named.serviceAccountName, 'iris-reader');
    assert.equal('automountServiceAccountToken' in named, false, "the ServiceAccount's automountServiceAccountToken decides");
    const plain = render(modelDeployment()).spec!;
    assert.equal(plain.serviceAccountName, undefined);
    assert.equal(plain.automountServiceAccountToken, false);
  });

  test('without topologySpreadConstraints the pods spread across nodes (soft); an empty list turns it off; a constraint without a selector counts this ModelDeployment', () => {
    const selector = { matchLabels: labels.selectorLabels('iris') };
    for (const md of [
      modelDeployment({ replicas: 1 }),
      modelDeployment({ replicas: 3 }),
      modelDeployment({ autoscaling: { maxReplicas: 5 } }),
    ]) {
      assert.deepEqual(render(md).spec?.topologySpreadConstraints, [
        {
          maxSkew: 1,
          topologyKey: DEFAULT_SPREAD_TOPOLOGY_KEY,
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: selector,
          matchLabelKeys: ['pod-template-hash'],
        },
      ]);
    }
    assert.equal(DEFAULT_SPREAD_TOPOLOGY_KEY, 'kubernetes.io/hostname');
    assert.equal(render(withPod({ topologySpreadConstraints: [] })).spec?.topologySpreadConstraints, undefined);
    const zone = { maxSkew: 2, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' as const, minDomains: 3 };
    const team = { matchLabels: { team: 'search' } };
    assert.deepEqual(
      render(withPod({ topologySpreadConstraints: [zone, { ...zone, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: team }] })).spec
        ?.topologySpreadConstraints,
      [
        { ...zone, labelSelector: selector },
        { ...zone, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: team },
      ],
    );
  });

  test('each knob changes the template hash (a rollout); replicas and autoscaling do not', () => {
    const base = templateHashOf(render(modelDeployment()));
    const changes: PodSettings[] = [
      { nodeSelector: { pool: 'ml' } },
      { tolerations: [{ key: 'dedicated', operator: 'Exists' }] },
      { affinity: FULL.affinity! },
      { topologySpreadConstraints: [] },
      { priorityClassName: 'high' },
      { serviceAccountName: 'sa' },
      { imagePullSecrets: [{ name: 'pull' }] },
      { env: [{ name: 'A', value: '1' }] },
      { labels: { team: 'x' } },
      { annotations: { note: 'x' } },
    ];
    const hashes = changes.map((pod) => templateHashOf(render(withPod(pod))));
    for (const [i, h] of hashes.entries()) assert.notEqual(h, base, `${JSON.stringify(changes[i])} changes the template`);
    assert.equal(new Set(hashes).size, hashes.length, 'every knob changes it differently');
    assert.equal(templateHashOf(render(withPod({}))), base, 'an empty spec.pod is no change');
    for (const scaled of [
      modelDeployment({ replicas: 1 }),
      modelDeployment({ replicas: 9 }),
      modelDeployment({ autoscaling: { minReplicas: 2, maxReplicas: 5 } }),
    ]) {
      assert.equal(
        templateHashOf(render(scaled)),
        base,
        `${JSON.stringify(scaled.spec.replicas ?? scaled.spec.autoscaling)} is not a rollout`,
      );
    }
  });

  test('the stable, canary and experiment Deployments all carry the settings', () => {
    const md = withPod(FULL);
    const template = render(md);
    const deployments = [
      renderDeployment(md, template),
      renderCanaryDeployment(md, template, 1),
      renderExperimentDeployment(md, template, 1),
    ];
    for (const d of deployments) {
      const t = d.spec?.template as V1PodTemplateSpec;
      assert.deepEqual(t.spec?.nodeSelector, FULL.nodeSelector, `${d.metadata?.name}`);
      assert.deepEqual(t.spec?.tolerations, FULL.tolerations, `${d.metadata?.name}`);
      assert.equal(t.spec?.serviceAccountName, 'iris-reader', `${d.metadata?.name}`);
      assert.deepEqual(t.spec?.imagePullSecrets, FULL.imagePullSecrets, `${d.metadata?.name}`);
      assert.equal(t.metadata?.labels?.team, 'search', `${d.metadata?.name}`);
    }
  });
});

describe('the runtime PodDisruptionBudget', () => {
  test('present while the ModelDeployment may run more than one pod, absent at one (or none)', () => {
    const cases: [Partial<ModelDeployment['spec']>, boolean][] = [
      [{ replicas: 0 }, false],
      [{ replicas: 1 }, false],
      [{ replicas: 2 }, true],
      [{ replicas: 1, autoscaling: { minReplicas: 1, maxReplicas: 1 } }, false],
      [{ replicas: 1, autoscaling: { minReplicas: 1, maxReplicas: 4 } }, true],
      [{ replicas: 5, autoscaling: { minReplicas: 1, maxReplicas: 1 } }, false],
      [{ autoscaling: { minReplicas: 3, maxReplicas: 6 } }, true],
    ];
    for (const [spec, wanted] of cases) {
      const md = modelDeployment(spec);
      assert.equal(mayRunSeveralPods(md), wanted, JSON.stringify(spec));
      assert.equal(renderPodDisruptionBudget(md) !== undefined, wanted, JSON.stringify(spec));
    }
    const noReplicasField = modelDeployment();
    delete noReplicasField.spec.replicas;
    assert.equal(renderPodDisruptionBudget(noReplicasField), undefined, 'replicas defaults to 1');
  });

  test('maxUnavailable 1 over every track of the instance, owned by the ModelDeployment, unhealthy pods evictable', () => {
    const md = modelDeployment({ replicas: 3 });
    const pdb = renderPodDisruptionBudget(md)!;
    assert.equal(pdb.apiVersion, 'policy/v1');
    assert.equal(pdb.kind, 'PodDisruptionBudget');
    assert.equal(pdb.metadata?.name, 'iris');
    assert.equal(pdb.metadata?.namespace, 'ml');
    assert.deepEqual(pdb.metadata?.labels, labels.commonLabels('iris'));
    assert.equal(pdb.metadata?.ownerReferences?.[0]?.uid, 'uid-1');
    assert.equal(pdb.metadata?.ownerReferences?.[0]?.controller, true);
    assert.equal(pdb.spec?.maxUnavailable, 1);
    assert.equal(pdb.spec?.minAvailable, undefined);
    assert.equal(pdb.spec?.unhealthyPodEvictionPolicy, 'AlwaysAllow');
    assert.deepEqual(pdb.spec?.selector, { matchLabels: labels.selectorLabels('iris') });
    // The selector matches the pods of the stable, canary and experiment Deployments alike.
    const template = render(md);
    for (const d of [
      renderDeployment(md, template),
      renderCanaryDeployment(md, template, 1),
      renderExperimentDeployment(md, template, 1),
    ]) {
      const podLabels: Record<string, string> = d.spec?.template.metadata?.labels ?? {};
      const selector: Record<string, string> = pdb.spec?.selector?.matchLabels ?? {};
      for (const [k, v] of Object.entries(selector)) assert.equal(podLabels[k], v, `${d.metadata?.name} ${k}`);
    }
  });
});

describe("the CRD's refusal rules agree with the operator and the runtime contract", () => {
  const pod = (storageVersion(parseCrd(readFileSync(crdPath, 'utf8'))).schema.openAPIV3Schema.properties?.spec?.properties?.pod ??
    {}) as SchemaNode;
  const rulesOf = (n: SchemaNode | undefined) =>
    ((n?.['x-kubernetes-validations'] as { rule: string }[] | undefined) ?? []).map((r) => r.rule).join('\n');

  test('spec.pod.env: the rule refuses the MODELSHIP_ prefix, and every variable the runtime reads has it', () => {
    assert.match(rulesOf(pod.properties?.env?.items), /!self\.name\.startsWith\('MODELSHIP_'\)/);
    for (const [key, name] of Object.entries(ENV))
      assert.ok(name.startsWith('MODELSHIP_'), `ENV.${key} = ${name} would escape the CRD's rule`);
  });

  test("spec.pod.labels: the rule refuses the operator's selector and managed-by keys and the modelship.dev/ prefix; every label key the operator writes is one of them", () => {
    const rules = rulesOf(pod.properties?.labels);
    for (const key of RESERVED_LABEL_KEYS) assert.ok(rules.includes(`'${key}'`), `the CRD refuses ${key}`);
    assert.ok(rules.includes(`!k.startsWith('${RESERVED_KEY_PREFIX}')`));
    const written = Object.entries(labels)
      .filter(([name, v]) => name.startsWith('LABEL_') && typeof v === 'string')
      .map(([, v]) => v as string);
    assert.ok(written.length >= 5, `label keys of labels.ts: ${written.join(', ')}`);
    for (const key of [...written, ...Object.keys(labels.commonLabels('x')), ...Object.keys(labels.canarySelectorLabels('x'))]) {
      assert.ok(RESERVED_LABEL_KEYS.includes(key) || key.startsWith(RESERVED_KEY_PREFIX), `${key} is refused in spec.pod.labels`);
    }
    assert.ok(labels.ANNOTATION_TEMPLATE_HASH.startsWith(RESERVED_KEY_PREFIX));
    assert.ok(
      rulesOf(pod.properties?.annotations).includes(`!k.startsWith('${RESERVED_KEY_PREFIX}')`),
      'modelship.dev/ annotations refused',
    );
  });
});

describe('an affinity the API server cannot type', () => {
  test('server-side apply\'s 500 "failed to create typed patch object" is InvalidSpec and not retried; other 500s still are', () => {
    // As kube-apiserver 1.35 answers an apply with an unknown field inside spec.pod.affinity (integration test operator-pod-settings).
    const message =
      'failed to create typed patch object (ml/iris; apps/v1, Kind=Deployment): .spec.template.spec.affinity.nodeAffinity.bogusField: field not declared in schema';
    const policy = applyErrorPolicy(apiError(500, message));
    assert.equal(policy.retryable, false);
    assert.deepEqual(policy.problem, { reason: 'InvalidSpec', message });
    const other = applyErrorPolicy(apiError(500, 'etcdserver: request timed out'));
    assert.equal(other.retryable, true);
    assert.equal(other.problem.reason, 'ApplyFailed');
  });
});
