// spec.networkPolicy on a real API server: the operator creates, updates, deletes and recreates
// the NetworkPolicy it owns, and leaves it alone at steady state.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PatchStrategy, setHeaderOptions, type V1NetworkPolicy } from '@kubernetes/client-node';
import { auditMark, readAuditEvents, writesBy } from '@modelship/devcluster/audit';
import { getTestControlPlane } from '@modelship/devcluster/controlplane';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import { clients, condition, createMd, createNamespace, exists, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';

const OPERATOR_USER = 'modelship-operator-networkpolicy-test';
const MODEL = { version: '1', uri: 'https://models.example.com/iris/1/model.onnx' };
const WEB = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'web' } }, podSelector: { matchLabels: { app: 'shop' } } };
const PROMETHEUS = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } };

/** A NetworkPolicy as the API server sends it (client-node's typed read renames `from` to `_from`). */
interface RawNetworkPolicy {
  metadata: V1NetworkPolicy['metadata'];
  spec: {
    podSelector?: { matchLabels?: Record<string, string> };
    policyTypes?: string[];
    ingress?: Array<{ from?: unknown[]; ports?: Array<{ port?: unknown; protocol?: string }> }>;
  };
}
const ingressOf = (np: RawNetworkPolicy) =>
  np.spec.ingress?.map((r) => ({ from: r.from, ports: r.ports?.map((p) => [p.protocol, p.port]) }));

describe('operator-owned NetworkPolicy', () => {
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  const readRaw = (name: string) =>
    c.custom.getNamespacedCustomObject({
      group: 'networking.k8s.io',
      version: 'v1',
      plural: 'networkpolicies',
      namespace: ns,
      name,
    }) as Promise<RawNetworkPolicy>;
  const read = () => readRaw('guarded');

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'netpol');
    const cp = await getTestControlPlane();
    op = await startOperator({ namespace: ns, env: { KUBECONFIG: await cp.writeKubeconfigFor(OPERATOR_USER, ['system:masters']) } });
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  test('created, updated, left alone at steady state, recreated when deleted by hand, deleted when disabled', async () => {
    const md = await createMd(c, ns, 'guarded', {
      model: MODEL,
      networkPolicy: { enabled: true, ingressFrom: [WEB], metricsFrom: [PROMETHEUS] },
    });
    const created = await waitFor(() => read().catch(() => undefined), { description: 'NetworkPolicy guarded' });
    assert.deepEqual(
      created.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller, r.blockOwnerDeletion]),
      [['ModelDeployment', 'guarded', md.metadata?.uid, true, true]],
    );
    assert.equal(created.metadata?.labels?.['app.kubernetes.io/managed-by'], 'modelship');
    assert.deepEqual(created.spec.podSelector?.matchLabels, {
      'app.kubernetes.io/name': 'modelship-runtime',
      'app.kubernetes.io/instance': 'guarded',
    });
    assert.deepEqual(created.spec.policyTypes, ['Ingress']);
    assert.deepEqual(ingressOf(created), [
      { from: [WEB], ports: [['TCP', 8080]] },
      { from: [PROMETHEUS], ports: [['TCP', 9090]] },
    ]);
    // The pods it selects are the Deployment's.
    const dep = await waitFor(() => c.apps.readNamespacedDeployment({ name: 'guarded', namespace: ns }).catch(() => undefined), {
      description: 'Deployment guarded',
    });
    assert.deepEqual(dep.spec?.selector.matchLabels, created.spec.podSelector?.matchLabels);

    // Steady state: no further write to the policy.
    const since = await auditMark();
    await sleep(3000);
    await patchMd(c, ns, 'guarded', { metadata: { annotations: { touch: '1' } } }); // a reconcile that changes nothing
    await sleep(2000);
    const steadyWrites = writesBy(await readAuditEvents({ since }), OPERATOR_USER).filter(
      (e) => e.objectRef?.resource === 'networkpolicies',
    );
    assert.deepEqual(
      steadyWrites.map((e) => e.verb),
      [],
      'no NetworkPolicy write at steady state',
    );

    // Spec change -> updated in place (same object).
    await patchMd(c, ns, 'guarded', { spec: { networkPolicy: { ingressFrom: [{ podSelector: {} }], metricsFrom: null } } });
    const updated = await waitFor(
      async () => {
        const np = await read();
        return ingressOf(np)?.length === 1 ? np : undefined;
      },
      { description: 'NetworkPolicy updated' },
    );
    assert.equal(updated.metadata?.uid, created.metadata?.uid);
    assert.deepEqual(ingressOf(updated), [{ from: [{ podSelector: {} }], ports: [['TCP', 8080]] }]);

    // Deleted by hand -> recreated.
    await c.networking.deleteNamespacedNetworkPolicy({ name: 'guarded', namespace: ns });
    const deletedAt = Date.now();
    const recreated = await waitFor(
      async () => {
        const np = await read().catch(() => undefined);
        return np && np.metadata?.uid !== created.metadata?.uid ? np : undefined;
      },
      { description: 'NetworkPolicy recreated', intervalMs: 100 },
    );
    const recreateMs = Date.now() - deletedAt;
    assert.deepEqual(ingressOf(recreated), [{ from: [{ podSelector: {} }], ports: [['TCP', 8080]] }]);

    // Widened by hand (an allow-all rule added) -> put back: extra allow entries are not tolerated.
    await c.custom.patchNamespacedCustomObject(
      {
        group: 'networking.k8s.io',
        version: 'v1',
        plural: 'networkpolicies',
        namespace: ns,
        name: 'guarded',
        body: { spec: { ingress: [...(recreated.spec.ingress ?? []), {}] } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const restored = await waitFor(
      async () => {
        const np = await read();
        return np.spec.ingress?.length === 1 ? np : undefined;
      },
      { description: 'the allow-all rule added by hand removed again' },
    );
    assert.deepEqual(ingressOf(restored), [{ from: [{ podSelector: {} }], ports: [['TCP', 8080]] }]);

    // Disabled -> deleted; the other children stay.
    await patchMd(c, ns, 'guarded', { spec: { networkPolicy: { enabled: false } } });
    await waitFor(async () => !(await exists(read)), { description: 'NetworkPolicy deleted' });
    assert.ok(await exists(() => c.apps.readNamespacedDeployment({ name: 'guarded', namespace: ns })));
    assert.ok(await exists(() => c.core.readNamespacedService({ name: 'guarded', namespace: ns })));
    process.stdout.write(`# NetworkPolicy deleted by hand: recreated after ${recreateMs} ms\n`);
  });

  test('a NetworkPolicy of the same name that the ModelDeployment does not own is a conflict, never overwritten', async () => {
    const foreign = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'taken', namespace: ns },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    };
    await c.networking.createNamespacedNetworkPolicy({ namespace: ns, body: foreign });
    await createMd(c, ns, 'taken', { model: MODEL, networkPolicy: { enabled: true, ingressFrom: [{ podSelector: {} }] } });
    const md = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'taken');
        return condition(m, 'Degraded')?.reason === 'ResourceConflict' ? m : undefined;
      },
      { description: 'Degraded ResourceConflict' },
    );
    assert.match(condition(md, 'Degraded')?.message ?? '', /NetworkPolicy taken already exists/);
    const np = await readRaw('taken');
    assert.equal(np.metadata?.ownerReferences, undefined, 'left untouched');
    assert.equal(np.spec.ingress, undefined);
  });
});
