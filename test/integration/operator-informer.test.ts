import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { getTestControlPlane } from '@modelship/devcluster/controlplane';
import { waitFor } from '@modelship/devcluster/wait';
import { clients, createMd, createNamespace, type Clients } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';

// Revoking the operator's permissions makes its watches fail for real (403 on re-list/re-watch);
// client-node's informer then stops for good unless the operator restarts it.
describe('informers restart after the API refuses them', () => {
  let c: Clients;
  let ns: string;
  let op: OperatorProcess | undefined;
  const user = `informer-test-${Math.random().toString(36).slice(2, 7)}`;
  const binding = `${user}-admin`;

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'informer');
  });
  after(async () => {
    await op?.stop();
    await c.rbac.deleteClusterRoleBinding({ name: binding }).catch(() => undefined);
    await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  test('a watch refused with 403 is restarted with backoff and the operator recovers when access returns', async () => {
    const cp = await getTestControlPlane();
    const kubeconfig = await cp.writeKubeconfigFor(user, []);
    const bind = () =>
      c.rbac.createClusterRoleBinding({
        body: {
          metadata: { name: binding },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
        },
      });
    await bind();
    op = await startOperator({ namespace: ns, env: { KUBECONFIG: kubeconfig } });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${op!.port}/readyz`)).status === 200, { description: 'operator ready' });

    // Restarts before the revocation (a freshly started API server answers 429 "storage is
    // (re)initializing" for a while) are not what this test is about.
    const restartsBefore = await op.metric('modelship_informer_restarts_total');
    await c.rbac.deleteClusterRoleBinding({ name: binding });
    // Quiet watches are recycled by the client within ~30 s; the re-watch is then refused.
    await waitFor(async () => (await op!.metric('modelship_informer_restarts_total')) > restartsBefore, {
      timeoutMs: 120_000,
      intervalMs: 1000,
      description: 'an informer restart after 403',
    });
    assert.doesNotThrow(() => process.kill(op!.pid, 0), 'the operator process kept running');
    const readyWhileBroken = await fetch(`http://127.0.0.1:${op.port}/readyz`);
    assert.equal(readyWhileBroken.status, 503, '/readyz reports the broken watch');

    await bind();
    await waitFor(async () => (await fetch(`http://127.0.0.1:${op!.port}/readyz`)).status === 200, {
      timeoutMs: 90_000,
      intervalMs: 1000,
      description: 'ready again',
    });
    await createMd(c, ns, 'after', { model: { version: '1', uri: 'https://m.example.com/1.onnx' } });
    await waitFor(() => c.apps.readNamespacedDeployment({ name: 'after', namespace: ns }).catch(() => undefined), {
      timeoutMs: 60_000,
      description: 'Deployment for a ModelDeployment created after recovery',
    });
    const warned = op.logs().some((l) => l.message === 'informer stopped; restarting');
    assert.ok(warned, 'the restart was logged');
  });
});
