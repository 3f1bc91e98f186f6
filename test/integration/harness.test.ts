// The test control plane is real: controllers run (Deployment → ReplicaSet, garbage collection),
// RBAC is enforced for client-cert users, and writes land in the audit log.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1Deployment } from '@kubernetes/client-node';
import { auditMark, readAuditEvents, writesBy } from '@modelship/devcluster/audit';
import { getTestControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { waitFor } from '@modelship/devcluster/wait';

const isNotFound = (err: unknown) => (err as { code?: number }).code === 404;

function clientFor(kubeconfigPath: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}

describe('test control plane', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  const ns = `harness-${randomBytes(3).toString('hex')}`;

  before(async () => {
    cp = await getTestControlPlane();
    const kc = clientFor(cp.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  after(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
    await cp?.stop();
  });

  it('runs the Deployment controller and the garbage collector', async () => {
    const deployment: V1Deployment = {
      metadata: { name: 'web', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'registry.invalid/web:1' }] },
        },
      },
    };
    const created = await apps.createNamespacedDeployment({ namespace: ns, body: deployment });
    const uid = created.metadata?.uid;
    assert.ok(uid);

    const rs = await waitFor(
      async () => {
        const list = await apps.listNamespacedReplicaSet({ namespace: ns });
        return list.items.find((r) => r.metadata?.ownerReferences?.some((o) => o.uid === uid));
      },
      { timeoutMs: 60_000, description: 'a ReplicaSet owned by the Deployment' },
    );
    assert.equal(rs.spec?.replicas, 1);

    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'owned',
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid }],
        },
        data: { k: 'v' },
      },
    });
    await apps.deleteNamespacedDeployment({ name: 'web', namespace: ns });

    await waitFor(
      async () => {
        try {
          await core.readNamespacedConfigMap({ name: 'owned', namespace: ns });
          return false;
        } catch (err) {
          if (isNotFound(err)) return true;
          throw err;
        }
      },
      { timeoutMs: 90_000, description: 'the owned ConfigMap to be garbage-collected' },
    );
    await waitFor(async () => (await apps.listNamespacedReplicaSet({ namespace: ns })).items.length === 0, {
      timeoutMs: 90_000,
      description: 'the ReplicaSet to be garbage-collected',
    });
  });

  it('records writes by user in the audit log, and no reads', async () => {
    const since = await auditMark(cp.auditLogPath);
    const name = `audited-${randomBytes(3).toString('hex')}`;
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name } } });
    await core.readNamespacedConfigMap({ name, namespace: ns });

    const event = await waitFor(
      async () =>
        writesBy(await readAuditEvents({ path: cp.auditLogPath, since }), 'admin').find(
          (e) => e.verb === 'create' && e.objectRef?.resource === 'configmaps' && e.objectRef.name === name,
        ),
      { timeoutMs: 30_000, description: `an audit event for creating ConfigMap ${name}` },
    );
    assert.equal(event.objectRef?.namespace, ns);
    assert.equal(event.stage, 'ResponseComplete');
    assert.ok(event.user.groups?.includes('system:masters'));

    const events = await readAuditEvents({ path: cp.auditLogPath, since });
    assert.equal(events.filter((e) => e.objectRef?.name === name && e.verb === 'get').length, 0, 'reads are not audited');
  });

  it('enforces RBAC for users from writeKubeconfigFor', async () => {
    const alice = clientFor(await cp.writeKubeconfigFor('alice', ['dev-team'])).makeApiClient(CoreV1Api);
    await assert.rejects(alice.listNamespacedConfigMap({ namespace: ns }), (err: { code?: number }) => err.code === 403);

    const rbac = clientFor(cp.kubeconfigPath).makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'dev-team-edit' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dev-team' }],
      },
    });
    const since = await auditMark(cp.auditLogPath);
    await waitFor(
      async () => {
        await alice.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'from-alice' } } });
        return true;
      },
      { timeoutMs: 30_000, description: 'alice to be allowed to create ConfigMaps' },
    );
    await waitFor(async () => writesBy(await readAuditEvents({ path: cp.auditLogPath, since }), 'alice').length > 0, {
      timeoutMs: 30_000,
      description: "alice's create in the audit log",
    });

    // kubectl as another user goes through the same certificates
    const denied = await cp.kubectl(['get', 'secrets', '-n', 'kube-system'], { user: { name: 'alice', groups: ['dev-team'] } });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /forbidden/i);
  });

  it('runs the service-account controller (kube-controller-manager is up)', async () => {
    await waitFor(
      async () => {
        try {
          return await core.readNamespacedServiceAccount({ name: 'default', namespace: ns });
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      },
      { timeoutMs: 60_000, description: `the default ServiceAccount in ${ns}` },
    );
  });
});
