// spec.pod and the runtime PodDisruptionBudget with the operator on a real API server (and the
// kube-controller-manager's ReplicaSet and disruption controllers): every knob reaches the
// Deployment's pod template and the pods the ReplicaSet creates; a knob change is a new template;
// nothing is written at steady state; the PDB follows replicas and autoscaling; an affinity the API
// server refuses is reported on the ModelDeployment.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PatchStrategy, PolicyV1Api, SchedulingV1Api, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { auditMark, readAuditEvents, writesBy } from '@modelship/devcluster/audit';
import { getTestControlPlane } from '@modelship/devcluster/controlplane';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import { clients, condition, createMd, createNamespace, exists, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';

const OPERATOR_USER = 'modelship-operator-pod-settings-test';
const MODEL = { version: '1', uri: 'https://models.example.com/iris/1/model.onnx' };
const HASH = 'modelship.dev/template-hash';
/** The typed client answers with class instances; compare their JSON. */
const plain = (x: unknown): unknown => (x === undefined ? undefined : JSON.parse(JSON.stringify(x)));
const suffix = Math.random().toString(36).slice(2, 7);
const PRIORITY_CLASS = `knobs-serving-${suffix}`;

const POD = {
  nodeSelector: { pool: 'ml' },
  tolerations: [
    { key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' },
    { key: 'example.com/maintenance', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 },
  ],
  affinity: {
    nodeAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 10, preference: { matchExpressions: [{ key: 'gpu', operator: 'In', values: ['a100'] }] } },
      ],
    },
  },
  topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' }],
  priorityClassName: PRIORITY_CLASS,
  serviceAccountName: 'iris-reader',
  imagePullSecrets: [{ name: 'registry' }],
  env: [
    { name: 'OTEL_SERVICE_NAME', value: 'iris' },
    { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'tokens', key: 'iris', optional: true } } },
    { name: 'REGION', valueFrom: { configMapKeyRef: { name: 'site', key: 'region', optional: true } } },
  ],
  labels: { team: 'search' },
  annotations: { 'example.com/owner': 'search-team' },
};

describe('operator: spec.pod and the PodDisruptionBudget', () => {
  let c: Clients;
  let policy: PolicyV1Api;
  let scheduling: SchedulingV1Api;
  let ns: string;
  let op: OperatorProcess;
  const deployment = (name: string) => c.apps.readNamespacedDeployment({ name, namespace: ns });
  const pdb = (name: string) => policy.readNamespacedPodDisruptionBudget({ name, namespace: ns });
  const pdbExists = (name: string) => exists(() => pdb(name));

  before(async () => {
    c = clients();
    policy = c.kc.makeApiClient(PolicyV1Api);
    scheduling = c.kc.makeApiClient(SchedulingV1Api);
    ns = await createNamespace(c, 'podknobs');
    // The ServiceAccount and PriorityClass admission plugins refuse pods that name missing ones.
    await c.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'iris-reader' } } });
    await scheduling.createPriorityClass({ body: { metadata: { name: PRIORITY_CLASS }, value: 1000 } });
    const cp = await getTestControlPlane();
    op = await startOperator({ namespace: ns, env: { KUBECONFIG: await cp.writeKubeconfigFor(OPERATOR_USER, ['system:masters']) } });
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
    await scheduling?.deletePriorityClass({ name: PRIORITY_CLASS }).catch(() => undefined);
  });

  test("every knob reaches the Deployment's pod template and the pods; the PDB is there; no write at steady state", async () => {
    const md = await createMd(c, ns, 'placed', { model: MODEL, replicas: 2, pod: POD });
    const dep = await waitFor(() => deployment('placed').catch(() => undefined), { description: 'Deployment placed' });
    const spec = dep.spec!.template.spec!;
    assert.deepEqual(plain(spec.nodeSelector), POD.nodeSelector);
    assert.deepEqual(plain(spec.tolerations), POD.tolerations);
    assert.deepEqual(plain(spec.affinity), POD.affinity);
    assert.deepEqual(plain(spec.topologySpreadConstraints), [
      {
        ...POD.topologySpreadConstraints[0],
        labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'modelship-runtime', 'app.kubernetes.io/instance': 'placed' } },
      },
    ]);
    assert.equal(spec.priorityClassName, PRIORITY_CLASS);
    assert.equal(spec.serviceAccountName, 'iris-reader');
    assert.equal(spec.automountServiceAccountToken, undefined, "the ServiceAccount's own setting decides");
    assert.deepEqual(plain(spec.imagePullSecrets), POD.imagePullSecrets);
    for (const container of [spec.initContainers?.[0], spec.containers[0]]) {
      assert.deepEqual(plain(container?.env?.filter((e) => !e.name.startsWith('MODELSHIP_'))), POD.env, `${container?.name} env`);
    }
    assert.equal(dep.spec?.template.metadata?.labels?.team, 'search');
    assert.equal(dep.spec?.template.metadata?.annotations?.['example.com/owner'], 'search-team');

    // The ReplicaSet controller creates the pods, and the API server's pod admission accepts them as rendered.
    const pods = await waitFor(
      async () => {
        const list = await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=placed' });
        return list.items.length === 2 ? list.items : undefined;
      },
      { description: '2 pods of placed' },
    );
    for (const p of pods as V1Pod[]) {
      assert.equal(p.spec?.serviceAccountName, 'iris-reader');
      assert.deepEqual(plain(p.spec?.imagePullSecrets), POD.imagePullSecrets);
      assert.equal(p.spec?.priorityClassName, PRIORITY_CLASS);
      assert.equal(p.spec?.priority, 1000, 'the Priority admission plugin resolved the class');
      assert.deepEqual(plain(p.spec?.nodeSelector), POD.nodeSelector);
      for (const t of POD.tolerations)
        assert.ok(
          p.spec?.tolerations?.some((x) => x.key === t.key && x.effect === t.effect),
          t.key,
        );
      assert.equal(p.metadata?.labels?.team, 'search');
    }

    const budget = await waitFor(() => pdb('placed').catch(() => undefined), { description: 'PodDisruptionBudget placed' });
    assert.equal(budget.spec?.maxUnavailable, 1);
    assert.equal(budget.spec?.unhealthyPodEvictionPolicy, 'AlwaysAllow');
    assert.deepEqual(plain(budget.spec?.selector?.matchLabels), plain(dep.spec?.selector.matchLabels));
    assert.deepEqual(
      budget.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]),
      [['ModelDeployment', 'placed', md.metadata?.uid, true]],
    );
    // The disruption controller finds the pods through the Deployment's scale.
    await waitFor(async () => ((await pdb('placed')).status?.expectedPods === 2 ? true : undefined), {
      description: 'PDB expects 2 pods',
    });

    // Steady state: a reconcile that changes nothing writes no Deployment and no PDB.
    const since = await auditMark();
    await patchMd(c, ns, 'placed', { metadata: { annotations: { touch: '1' } } });
    await sleep(4000);
    const writes = writesBy(await readAuditEvents({ since }), OPERATOR_USER).filter((e) =>
      ['deployments', 'poddisruptionbudgets'].includes(e.objectRef?.resource ?? ''),
    );
    assert.deepEqual(
      writes.map((e) => `${e.verb} ${e.objectRef?.resource}`),
      [],
      'no Deployment or PDB write at steady state',
    );
  });

  test('a knob change is a new pod template (a rollout), removing a knob removes it from the template', async () => {
    const before = await deployment('placed');
    await patchMd(c, ns, 'placed', { spec: { pod: { nodeSelector: { pool: 'ml-2' }, imagePullSecrets: null, serviceAccountName: null } } });
    const after = await waitFor(
      async () => {
        const d = await deployment('placed');
        return d.spec?.template.spec?.nodeSelector?.pool === 'ml-2' ? d : undefined;
      },
      { description: 'new nodeSelector in the template' },
    );
    assert.notEqual(after.spec?.template.metadata?.annotations?.[HASH], before.spec?.template.metadata?.annotations?.[HASH]);
    assert.equal(after.spec?.template.spec?.imagePullSecrets, undefined, 'the removed pull secrets are gone (server-side apply)');
    // the API server copies serviceAccountName into the deprecated serviceAccount and back when only one goes
    const sa = after.spec?.template.spec;
    assert.deepEqual(
      [sa?.serviceAccountName, sa?.serviceAccount, sa?.automountServiceAccountToken],
      [undefined, undefined, false],
      'the removed ServiceAccount is gone, and the default one keeps its token unmounted',
    );
    assert.equal(after.metadata?.generation, (before.metadata?.generation ?? 0) + 1, 'one write for the change');
  });

  test('the PDB goes when the ModelDeployment drops to one pod and comes back with replicas or autoscaling', async () => {
    await createMd(c, ns, 'budget', { model: MODEL, replicas: 3 });
    await waitFor(async () => ((await pdbExists('budget')) ? true : undefined), { description: 'PDB at 3 replicas' });
    const first = await pdb('budget');

    // kubectl scale: through the scale subresource.
    const scale = (replicas: number) =>
      c.custom.patchNamespacedCustomObjectScale(
        {
          group: 'modelship.dev',
          version: 'v1alpha1',
          plural: 'modeldeployments',
          namespace: ns,
          name: 'budget',
          body: { spec: { replicas } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    await scale(1);
    await waitFor(async () => ((await pdbExists('budget')) ? undefined : true), { description: 'PDB deleted at 1 replica' });
    await scale(2);
    const back = await waitFor(() => pdb('budget').catch(() => undefined), { description: 'PDB back at 2 replicas' });
    assert.notEqual(back.metadata?.uid, first.metadata?.uid, 'a new object');

    await patchMd(c, ns, 'budget', { spec: { replicas: 1, autoscaling: { minReplicas: 1, maxReplicas: 1 } } });
    await waitFor(async () => ((await pdbExists('budget')) ? undefined : true), { description: 'PDB deleted at maxReplicas 1' });
    await patchMd(c, ns, 'budget', { spec: { autoscaling: { maxReplicas: 4 } } });
    await waitFor(async () => ((await pdbExists('budget')) ? true : undefined), {
      description: 'PDB with autoscaling up to 4 (minReplicas 1)',
    });
    await patchMd(c, ns, 'budget', { spec: { autoscaling: null } });
    await waitFor(async () => ((await pdbExists('budget')) ? undefined : true), {
      description: 'PDB deleted: autoscaling off, replicas 1',
    });
    assert.ok(await exists(() => deployment('budget')), 'the Deployment stays');
  });

  test('an unknown field inside an affinity part is reported as InvalidSpec, naming it, and not retried', async () => {
    await createMd(c, ns, 'typo', { model: MODEL, pod: { affinity: { nodeAffinity: { preferredDuringScheduling: [] } } } });
    const md = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'typo');
        return condition(m, 'Degraded')?.status === 'True' ? m : undefined;
      },
      { description: 'Degraded' },
    );
    const degraded = condition(md, 'Degraded');
    assert.equal(degraded?.reason, 'InvalidSpec');
    assert.match(
      degraded?.message ?? '',
      /\.spec\.template\.spec\.affinity\.nodeAffinity\.preferredDuringScheduling: field not declared in schema/,
    );
    // Not retried: the same body would fail the same way (before: a 500 was retried with backoff, 6 writes in 6 s).
    const since = await auditMark();
    await sleep(5000);
    const writes = writesBy(await readAuditEvents({ since }), OPERATOR_USER).filter((e) => e.objectRef?.name === 'typo');
    assert.deepEqual(
      writes.map((e) => `${e.verb} ${e.objectRef?.resource}`),
      [],
      'no retried apply',
    );
    assert.equal(await exists(() => deployment('typo')), false, 'no Deployment');
  });

  test('an affinity the API server refuses is reported on the ModelDeployment, naming the field', async () => {
    const bad = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } };
    await createMd(c, ns, 'misplaced', { model: MODEL, pod: { affinity: bad } });
    const md = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'misplaced');
        return condition(m, 'Degraded')?.status === 'True' ? m : undefined;
      },
      { description: 'Degraded' },
    );
    const degraded = condition(md, 'Degraded');
    assert.equal(degraded?.reason, 'InvalidSpec');
    assert.match(
      degraded?.message ?? '',
      /spec\.template\.spec\.affinity\.nodeAffinity\.requiredDuringSchedulingIgnoredDuringExecution\.nodeSelectorTerms/,
    );
    assert.equal(await exists(() => deployment('misplaced')), false, 'no Deployment');
  });
});
