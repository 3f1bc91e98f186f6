import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AdmissionregistrationV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { auditMark, readAuditEvents, writesBy } from '@modelship/devcluster/audit';
import { getTestControlPlane } from '@modelship/devcluster/controlplane';
import { freePort } from '@modelship/devcluster/ports';
import { waitFor, sleep } from '@modelship/devcluster/wait';
import {
  clients,
  condition,
  createMd,
  createNamespace,
  deleteMd,
  exists,
  getMd,
  patchMd,
  type Clients,
} from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import { markReady, podsOf } from './pods.ts';

const OPERATOR_USER = 'modelship-operator-reconcile-test';
const MODEL = { version: '1', uri: 'https://models.example.com/iris/1/model.onnx' };
const merge = () => setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('operator reconcile against a real API server', () => {
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'reconcile');
    const cp = await getTestControlPlane();
    op = await startOperator({ namespace: ns, env: { KUBECONFIG: await cp.writeKubeconfigFor(OPERATOR_USER, ['system:masters']) } });
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  test('apply -> Deployment and Service with the rendered spec, owner references, labels; status and an Event', async () => {
    const md = await createMd(c, ns, 'iris', { model: MODEL, replicas: 2 });
    const dep = await waitFor(() => c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns }).catch(() => undefined), {
      description: 'Deployment iris',
    });
    assert.equal(dep.spec?.replicas, 2);
    assert.deepEqual(
      dep.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]),
      [['ModelDeployment', 'iris', md.metadata?.uid, true]],
    );
    assert.equal(dep.metadata?.labels?.['app.kubernetes.io/managed-by'], 'modelship');
    assert.equal(dep.metadata?.labels?.['app.kubernetes.io/instance'], 'iris');
    const serve = dep.spec?.template.spec?.containers.find((x) => x.name === 'serve');
    assert.equal(serve?.env?.find((e) => e.name === 'MODELSHIP_MODEL_VERSION')?.value, '1');
    assert.equal(dep.spec?.template.spec?.initContainers?.[0]?.name, 'fetch');
    assert.equal(dep.spec?.template.spec?.securityContext?.runAsNonRoot, true);
    assert.ok(
      dep.metadata?.managedFields?.some((f) => f.manager === 'modelship-operator' && f.operation === 'Apply'),
      'server-side applied with our field manager',
    );
    const applied = await waitFor(
      async () => {
        const w = writesBy(await readAuditEvents(), OPERATOR_USER).filter(
          (e) => e.verb === 'patch' && e.objectRef?.resource === 'deployments' && e.objectRef.name === 'iris',
        );
        return w.length > 0 ? w : undefined;
      },
      { description: "the operator's apply in the audit log" },
    );
    assert.equal(applied[0]?.objectRef?.namespace, ns);

    const svc = await c.core.readNamespacedService({ name: 'iris', namespace: ns });
    assert.equal(svc.spec?.ports?.[0]?.port, 80);
    assert.deepEqual(svc.spec?.selector, { 'app.kubernetes.io/name': 'modelship-runtime', 'app.kubernetes.io/instance': 'iris' });
    assert.equal(svc.metadata?.ownerReferences?.[0]?.uid, md.metadata?.uid);
    assert.equal(
      await exists(() => c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'iris', namespace: ns })),
      false,
      'no HPA without autoscaling',
    );

    const withStatus = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'iris');
        return m.status?.observedGeneration === m.metadata?.generation && m.status?.conditions?.length === 4 ? m : undefined;
      },
      { description: 'status with observedGeneration and conditions' },
    );
    assert.equal(condition(withStatus, 'Progressing')?.status, 'True');
    assert.equal(condition(withStatus, 'Ready')?.status, 'False');
    assert.equal(withStatus.status?.updatingVersion, '1');
    assert.equal(withStatus.status?.url, `http://iris.${ns}.svc.cluster.local/v2/models/iris`);
    assert.equal(withStatus.status?.selector, 'app.kubernetes.io/name=modelship-runtime,app.kubernetes.io/instance=iris');

    const events = await waitFor(
      async () => {
        const list = await c.core.listNamespacedEvent({
          namespace: ns,
          fieldSelector: 'involvedObject.name=iris,involvedObject.kind=ModelDeployment',
        });
        return list.items.some((e) => e.reason === 'RolloutStarted') ? list.items : undefined;
      },
      { description: 'RolloutStarted event' },
    );
    assert.deepEqual(
      events.filter((e) => e.reason === 'Created' || e.reason === 'RolloutStarted').map((e) => `${e.reason}: ${e.message}`),
      ['RolloutStarted: rolling out version 1; created Deployment, Service and PodDisruptionBudget iris'],
      'one Event for the rollout and the children created for it',
    );
  });

  test('pods becoming ready (as a kubelet reports) -> Ready=True, currentVersion, Succeeded history', async () => {
    const pods = await waitFor(
      async () => {
        const p = await podsOf(c, ns, 'iris');
        return p.length === 2 ? p : undefined;
      },
      { description: 'two pods created by the real ReplicaSet controller' },
    );
    await markReady(c, pods);
    const md = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'iris');
        return condition(m, 'Ready')?.status === 'True' ? m : undefined;
      },
      { description: 'Ready=True' },
    );
    assert.equal(md.status?.currentVersion, '1');
    assert.equal(md.status?.updatingVersion, undefined);
    assert.equal(md.status?.readyReplicas, 2);
    assert.equal(md.status?.history?.[0]?.outcome, 'Succeeded');
    assert.equal(condition(md, 'Available')?.status, 'True');
    assert.equal(condition(md, 'Degraded')?.status, 'False');
  });

  test('changing spec.model.version changes the pod template and nothing else', async () => {
    const before = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns });
    const svcBefore = await c.core.readNamespacedService({ name: 'iris', namespace: ns });
    await patchMd(c, ns, 'iris', { spec: { model: { version: '2', uri: 'https://models.example.com/iris/2/model.onnx' } } });
    const after = await waitFor(
      async () => {
        const d = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns });
        const v = d.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'MODELSHIP_MODEL_VERSION')?.value;
        return v === '2' ? d : undefined;
      },
      { description: 'pod template at version 2' },
    );
    assert.equal(
      after.spec?.template.spec?.initContainers?.[0]?.env?.find((e) => e.name === 'MODELSHIP_MODEL_URI')?.value,
      'https://models.example.com/iris/2/model.onnx',
    );
    assert.notEqual(
      after.spec?.template.metadata?.annotations?.['modelship.dev/template-hash'],
      before.spec?.template.metadata?.annotations?.['modelship.dev/template-hash'],
    );
    assert.deepEqual(after.spec?.selector, before.spec?.selector);
    assert.equal(after.spec?.replicas, before.spec?.replicas);
    await sleep(2000);
    const svcAfter = await c.core.readNamespacedService({ name: 'iris', namespace: ns });
    assert.equal(svcAfter.metadata?.resourceVersion, svcBefore.metadata?.resourceVersion, 'the Service was not rewritten');
    const md = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'iris');
        return m.status?.updatingVersion === '2' ? m : undefined;
      },
      { description: 'updatingVersion 2' },
    );
    assert.equal(md.status?.currentVersion, '1');
    assert.deepEqual(
      md.status?.history?.map((h) => [h.version, h.outcome]),
      [
        ['2', 'Progressing'],
        ['1', 'Succeeded'],
      ],
    );
  });

  test('a deleted child is recreated and a hand-edited child is restored', async () => {
    const svc = await c.core.readNamespacedService({ name: 'iris', namespace: ns });
    await c.core.deleteNamespacedService({ name: 'iris', namespace: ns });
    const recreated = await waitFor(
      async () => {
        const s = await c.core.readNamespacedService({ name: 'iris', namespace: ns }).catch(() => undefined);
        return s && s.metadata?.uid !== svc.metadata?.uid ? s : undefined;
      },
      { description: 'Service recreated' },
    );
    assert.equal(recreated.spec?.ports?.[0]?.port, 80);

    await c.core.patchNamespacedService(
      { name: 'iris', namespace: ns, body: { spec: { selector: { 'app.kubernetes.io/instance': 'hijacked' } } } },
      merge(),
    );
    await waitFor(
      async () => {
        const s = await c.core.readNamespacedService({ name: 'iris', namespace: ns });
        return s.spec?.selector?.['app.kubernetes.io/instance'] === 'iris';
      },
      { description: 'Service selector restored' },
    );

    await c.apps.patchNamespacedDeployment(
      {
        name: 'iris',
        namespace: ns,
        body: { spec: { template: { spec: { containers: [{ name: 'serve', image: 'evil/image:latest' }] } } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    await waitFor(
      async () => {
        const d = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns });
        return d.spec?.template.spec?.containers.find((x) => x.name === 'serve')?.image === 'modelship/runtime:test';
      },
      { description: 'serve image restored' },
    );

    await c.apps.patchNamespacedDeployment({ name: 'iris', namespace: ns, body: { spec: { replicas: 5 } } }, merge());
    await waitFor(async () => (await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns })).spec?.replicas === 2, {
      description: 'replicas restored to 2',
    });

    await c.apps.deleteNamespacedDeployment({ name: 'iris', namespace: ns });
    await waitFor(
      async () => {
        const d = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns }).catch(() => undefined);
        return d && !d.metadata?.deletionTimestamp ? d : undefined;
      },
      { description: 'Deployment recreated' },
    );
  });

  test('autoscaling creates an HPA and leaves replicas to it; removing it deletes the HPA', async () => {
    await patchMd(c, ns, 'iris', { spec: { autoscaling: { minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 60 } } });
    const hpa = await waitFor(
      () => c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'iris', namespace: ns }).catch(() => undefined),
      { description: 'HPA' },
    );
    assert.equal(hpa.spec?.maxReplicas, 6);
    assert.equal(hpa.spec?.scaleTargetRef.name, 'iris');
    assert.equal(hpa.metadata?.ownerReferences?.[0]?.kind, 'ModelDeployment');
    const dep = await waitFor(
      async () => {
        const d = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns });
        const ours = (d.metadata?.managedFields ?? []).filter(
          (f) => f.manager === 'modelship-operator' && JSON.stringify(f.fieldsV1 ?? {}).includes('"f:replicas"'),
        );
        return ours.length === 0 ? d : undefined;
      },
      { description: 'the operator lets go of spec.replicas' },
    );
    assert.equal(dep.spec?.replicas, 2, 'replicas kept at its value (not reset to the default of 1) while the HPA takes over');

    await patchMd(c, ns, 'iris', { spec: { autoscaling: null } });
    await waitFor(async () => !(await exists(() => c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'iris', namespace: ns }))), {
      description: 'HPA deleted',
    });
  });

  test('a name conflict with an object the operator does not own -> Degraded ResourceConflict, object untouched', async () => {
    const foreign = await c.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'taken', labels: { team: 'other' } }, spec: { ports: [{ port: 1234 }], selector: { app: 'other' } } },
    });
    await createMd(c, ns, 'taken', { model: MODEL });
    const md = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'taken');
        return condition(m, 'Degraded')?.status === 'True' ? m : undefined;
      },
      { description: 'Degraded on conflict' },
    );
    assert.equal(condition(md, 'Degraded')?.reason, 'ResourceConflict');
    assert.match(condition(md, 'Degraded')?.message ?? '', /Service taken already exists and is not managed by Modelship/);
    assert.equal(condition(md, 'Ready')?.status, 'False');
    const still = await c.core.readNamespacedService({ name: 'taken', namespace: ns });
    assert.equal(still.metadata?.resourceVersion, foreign.metadata?.resourceVersion, 'foreign Service untouched');
    assert.equal(still.metadata?.ownerReferences, undefined);
    assert.equal(
      await exists(() => c.apps.readNamespacedDeployment({ name: 'taken', namespace: ns })),
      false,
      'no Deployment while blocked: no pods start (the other children are written before the Deployment)',
    );
    const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=taken' });
    assert.ok(events.items.some((e) => e.reason === 'ResourceConflict' && e.type === 'Warning'));
    await deleteMd(c, ns, 'taken');
  });

  test('a retryable API error that lasts (a failing admission webhook, HTTP 500) -> Degraded ApplyFailed "(retrying)"; it recovers by itself', async () => {
    const admission = c.kc.makeApiClient(AdmissionregistrationV1Api);
    const webhookName = `refuse-services-${ns}`;
    await admission.createValidatingWebhookConfiguration({
      body: {
        metadata: { name: webhookName },
        webhooks: [
          {
            name: 'refuse.services.modelship.test',
            // nothing listens there: every Service create in this namespace fails with 500
            clientConfig: { url: `https://127.0.0.1:${await freePort()}/validate` },
            rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['services'] }],
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
            failurePolicy: 'Fail',
            sideEffects: 'None',
            admissionReviewVersions: ['v1'],
            timeoutSeconds: 2,
          },
        ],
      },
    });
    try {
      await createMd(c, ns, 'webhooked', { model: MODEL });
      const md = await waitFor(
        async () => {
          const m = await getMd(c, ns, 'webhooked');
          return condition(m, 'Degraded')?.status === 'True' ? m : undefined;
        },
        { timeoutMs: 30_000, description: 'Degraded while the Service cannot be created' },
      );
      assert.equal(condition(md, 'Degraded')?.reason, 'ApplyFailed');
      assert.match(condition(md, 'Degraded')?.message ?? '', /failed calling webhook .*\(retrying\)$/);
      assert.equal(md.status?.observedGeneration, md.metadata?.generation);
      assert.equal(
        await exists(() => c.apps.readNamespacedDeployment({ name: 'webhooked', namespace: ns })),
        false,
        'the Deployment waits for the children written before it: no pods start while the Service cannot be created',
      );
      const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=webhooked' });
      assert.ok(events.items.some((e) => e.reason === 'ApplyFailed' && e.type === 'Warning'));
    } finally {
      await admission.deleteValidatingWebhookConfiguration({ name: webhookName });
    }
    // the operator keeps retrying with backoff: the Service appears and Degraded clears
    await waitFor(
      async () => {
        const svc = await exists(() => c.core.readNamespacedService({ name: 'webhooked', namespace: ns }));
        const dep = await exists(() => c.apps.readNamespacedDeployment({ name: 'webhooked', namespace: ns }));
        return svc && dep && condition(await getMd(c, ns, 'webhooked'), 'Degraded')?.status === 'False';
      },
      { timeoutMs: 60_000, description: 'the Service and the Deployment created and Degraded cleared after the webhook is gone' },
    );
    await deleteMd(c, ns, 'webhooked');
  });

  test('steady state: zero write requests over one minute', async () => {
    await sleep(3000);
    const mark = await auditMark();
    const before = await op.metric('modelship_api_writes_total');
    const reconcilesBefore = await op.metric('modelship_reconcile_total');
    // a little over the 60 s safety re-check of a pending rollout, so the window holds at least one
    await sleep(65_000);
    const after = await op.metric('modelship_api_writes_total');
    const reconcilesAfter = await op.metric('modelship_reconcile_total');
    assert.ok(
      reconcilesAfter - reconcilesBefore >= 1,
      'the operator kept reconciling (a rollout is pending, so it re-checks at least every 60 s)',
    );
    assert.equal(
      after - before,
      0,
      `writes counted by the operator during one idle minute (reconciles meanwhile: ${reconcilesAfter - reconcilesBefore})`,
    );
    await sleep(1000);
    const audited = writesBy(await readAuditEvents({ since: mark }), OPERATOR_USER);
    assert.deepEqual(
      audited.map((e) => `${e.verb} ${e.objectRef?.resource}/${e.objectRef?.name}`),
      [],
      'writes by the operator in the API server audit log',
    );
  });

  test('deleting the ModelDeployment garbage-collects its children (real controller-manager)', async () => {
    await deleteMd(c, ns, 'iris');
    await waitFor(
      async () =>
        !(await exists(() => c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns }))) &&
        !(await exists(() => c.core.readNamespacedService({ name: 'iris', namespace: ns }))),
      { timeoutMs: 90_000, description: 'Deployment and Service collected' },
    );
  });
});
