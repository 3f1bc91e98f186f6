// The operator runs with exactly the permissions charts/modelship grants, and its core scenarios
// still pass: the chart's ServiceAccount, (Cluster)Role(s) and bindings are applied as rendered by
// `helm template`, and the operator process authenticates as that ServiceAccount (a client
// certificate for system:serviceaccount:<ns>:<name> in the group system:serviceaccounts, which
// RBAC matches exactly like the ServiceAccount's token). Any missing permission would surface as a
// 403 in the operator's log or in the API server's audit log, and both are checked.
// The ModelDeployments live in a namespace that enforces Pod Security "restricted", so the runtime
// pods the operator renders are admitted under it too.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { dump } from 'js-yaml';
import { PolicyV1Api } from '@kubernetes/client-node';
import { auditMark, readAuditEvents, type AuditEvent } from '@modelship/devcluster/audit';
import { getTestControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { renderChart, resolveHelm, type Manifest } from '@modelship/devcluster/helm';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import { clients, condition, createMd, deleteMd, exists, patchMd, type Clients, waitForMd } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import { markFetchFailed, markReady, podsOf } from './pods.ts';

const RESTRICTED = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' };
const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
const LEASE_ARGS = ['--lease-duration', '6s', '--renew-deadline', '4s', '--retry-period', '1s'];
const uri = (v: string) => `https://models.example.com/iris/${v}/model.onnx`;
const model = (v: string) => ({ version: v, uri: uri(v) });

interface Install {
  release: string;
  releaseNs: string;
  serviceAccount: string;
  user: string;
  kubeconfig: string;
  manifests: Manifest[];
}

/** Applies the chart's ServiceAccount and RBAC (nothing else) and returns a kubeconfig that acts as that ServiceAccount. */
async function installChartRbac(cp: ControlPlane, release: string, releaseNs: string, values: Record<string, unknown>): Promise<Install> {
  const manifests = (await renderChart({ release, namespace: releaseNs, values })).filter((m) => RBAC_KINDS.has(m.kind));
  const sa = manifests.find((m) => m.kind === 'ServiceAccount');
  assert.ok(sa, 'the chart renders a ServiceAccount');
  const applied = await cp.kubectl(['apply', '--server-side', '--field-manager=modelship-rbac-test', '-f', '-'], {
    input: manifests.map((m) => `---\n${dump(m)}`).join(''),
  });
  assert.equal(applied.code, 0, applied.stderr);
  const user = `system:serviceaccount:${releaseNs}:${sa.metadata.name}`;
  const kubeconfig = await cp.writeKubeconfigFor(user, ['system:serviceaccounts', `system:serviceaccounts:${releaseNs}`]);
  return { release, releaseNs, serviceAccount: sa.metadata.name, user, kubeconfig, manifests };
}

async function removeClusterScoped(cp: ControlPlane, install: Install | undefined) {
  for (const m of install?.manifests ?? []) {
    if (m.kind.startsWith('Cluster')) await cp.kubectl(['delete', m.kind.toLowerCase(), m.metadata.name, '--ignore-not-found']);
  }
}

async function createNs(c: Clients, prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 7)}`;
  await c.core.createNamespace({ body: { metadata: { name, labels } } });
  return name;
}

/** Namespaces still terminating from earlier test files: an operator watching all namespaces could write there and get a 403 that has nothing to do with RBAC. */
async function waitNoTerminatingNamespaces(c: Clients) {
  await waitFor(
    async () => {
      const list = await c.core.listNamespace();
      return list.items.every((n) => n.status?.phase !== 'Terminating');
    },
    { timeoutMs: 120_000, intervalMs: 1000, description: 'namespaces of earlier tests to finish terminating' },
  ).catch(() => undefined);
}

async function deployedVersion(c: Clients, ns: string, name: string): Promise<string | undefined> {
  const d = await c.apps.readNamespacedDeployment({ name, namespace: ns });
  return d.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'MODELSHIP_MODEL_VERSION')?.value;
}

async function templateHash(c: Clients, ns: string, name: string): Promise<string | undefined> {
  return (await c.apps.readNamespacedDeployment({ name, namespace: ns })).spec?.template.metadata?.annotations?.[
    'modelship.dev/template-hash'
  ];
}

async function podsOfVersion(c: Clients, ns: string, name: string, version: string, count = 1) {
  const hash = await waitFor(
    async () => ((await deployedVersion(c, ns, name).catch(() => undefined)) === version ? templateHash(c, ns, name) : undefined),
    {
      description: `${name}: pod template at version ${version}`,
    },
  );
  return waitFor(
    async () => {
      const pods = await podsOf(c, ns, name, hash);
      return pods.length >= count ? pods : undefined;
    },
    { description: `${name}: ${count} pod(s) of version ${version} admitted (Pod Security restricted) and created` },
  );
}

/** create -> children -> pods admitted -> marked ready (as a kubelet would) -> Ready=True at that version. */
async function deployToReady(c: Clients, ns: string, name: string, replicas: number) {
  await createMd(c, ns, name, { model: model('1'), replicas });
  const pods = await podsOfVersion(c, ns, name, '1', replicas);
  await markReady(c, pods);
  return waitForMd(c, ns, name, `${name} Ready=True`, (m) => condition(m, 'Ready')?.status === 'True' && m.status?.currentVersion === '1');
}

/** Every log line (stdout JSON and stderr) of an operator run that mentions a denial. */
async function deniedInLog(op: OperatorProcess): Promise<string[]> {
  const text = await readFile(`${process.env.MODELSHIP_TEST_CP_DIR}/operator-${op.identity}.log`, 'utf8');
  return text.split('\n').filter((l) => /forbidden|\b403\b/i.test(l));
}

function describeEvent(e: AuditEvent): string {
  const r = e.objectRef ?? {};
  return `${e.verb} ${r.resource ?? ''}${r.subresource ? `/${r.subresource}` : ''} ${r.namespace ?? ''}/${r.name ?? ''} -> ${e.responseStatus?.code}`;
}

describe('the operator with exactly the chart RBAC (default: ClusterRole, all namespaces, leader election)', () => {
  let cp: ControlPlane;
  let c: Clients;
  let install: Install | undefined;
  let releaseNs: string;
  let ns: string;
  let mark: number;
  const ops: OperatorProcess[] = [];
  const suffix = Math.random().toString(36).slice(2, 7);
  const leaseArgs = () => [
    '--leader-elect',
    'true',
    '--leader-election-namespace',
    releaseNs,
    '--leader-election-id',
    'modelship-operator',
    ...LEASE_ARGS,
  ];

  before(
    async () => {
      await resolveHelm();
      cp = await getTestControlPlane();
      c = clients();
      releaseNs = await createNs(c, 'rbac-sys');
      ns = await createNs(c, 'rbac-ml', RESTRICTED);
      // replicas 2: the chart switches leader election on and grants the Lease Role
      install = await installChartRbac(cp, `rbac-${suffix}`, releaseNs, { replicas: 2 });
      await waitNoTerminatingNamespaces(c);
      mark = await auditMark();
    },
    { timeout: 30 * 60_000 },
  );
  after(async () => {
    await Promise.all(ops.map((o) => o.stop()));
    for (const name of [ns, releaseNs]) if (name) await c?.core.deleteNamespace({ name }).catch(() => undefined);
    if (cp) await removeClusterScoped(cp, install);
    await cp?.stop();
  });

  test('the ServiceAccount identity has the chart permissions and nothing more', async () => {
    const as = { user: { name: install!.user, groups: ['system:serviceaccounts', `system:serviceaccounts:${releaseNs}`] } };
    const can = async (...args: string[]) => (await cp.kubectl(['auth', 'can-i', ...args], as)).stdout.trim();
    assert.equal(await can('patch', 'deployments.apps', '-n', ns), 'yes');
    assert.equal(await can('watch', 'modeldeployments.modelship.dev', '--all-namespaces'), 'yes');
    assert.equal(await can('patch', 'modeldeployments.modelship.dev', '--subresource=status', '-n', ns), 'yes');
    assert.equal(await can('update', 'leases.coordination.k8s.io/modelship-operator', '-n', releaseNs), 'yes');
    assert.equal(await can('update', 'leases.coordination.k8s.io/someone-else', '-n', releaseNs), 'no');
    assert.equal(await can('update', 'leases.coordination.k8s.io/modelship-operator', '-n', ns), 'no');
    // spec.service.tls: a named Secret is read (get), the cluster's Secrets are never listed or watched
    assert.equal(await can('get', 'secrets', '-n', ns), 'yes');
    assert.equal(await can('list', 'secrets', '-n', ns), 'no');
    assert.equal(await can('watch', 'secrets', '--all-namespaces'), 'no');
    assert.equal(await can('patch', 'modeldeployments.modelship.dev', '-n', ns), 'no', 'never writes the user spec');
    assert.equal(await can('update', 'deployments.apps', '-n', ns), 'no', 'server-side apply only');
    assert.equal(await can('delete', 'deployments.apps', '-n', ns), 'yes', 'the canary Deployment is deleted when a canary ends');
    assert.equal(await can('get', 'pods', '--subresource=proxy', '-n', ns), 'yes', 'canary analysis reads pod metrics');
    assert.equal(await can('create', 'pods', '--subresource=proxy', '-n', ns), 'no');
    const secrets = await cp.kubectl(['get', 'secrets', '-n', ns], as);
    assert.match(secrets.stderr, /forbidden/);
  });

  test('two replicas: one takes the Lease (created through the chart Role), the other stands by', async () => {
    const a = await startOperator({ namespace: null, identity: `rbac-a-${suffix}`, kubeconfig: install!.kubeconfig, args: leaseArgs() });
    ops.push(a);
    await waitFor(async () => (await a.metric('modelship_leader')) === 1, { description: 'replica a leads' });
    const b = await startOperator({ namespace: null, identity: `rbac-b-${suffix}`, kubeconfig: install!.kubeconfig, args: leaseArgs() });
    ops.push(b);
    await sleep(3000);
    assert.equal(await b.metric('modelship_leader'), 0);
    const lease = await c.coordination.readNamespacedLease({ name: 'modelship-operator', namespace: releaseNs });
    assert.equal(lease.spec?.holderIdentity, a.identity);
  });

  test('create -> Deployment + Service (server-side apply) -> runtime pods admitted under restricted -> Ready', async () => {
    const md = await deployToReady(c, ns, 'iris', 2);
    assert.equal(md.status?.readyReplicas, 2);
    assert.equal(md.status?.history?.[0]?.outcome, 'Succeeded');
    const dep = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns });
    assert.ok(dep.metadata?.managedFields?.some((f) => f.manager === 'modelship-operator' && f.operation === 'Apply'));
    assert.ok(await exists(() => c.core.readNamespacedService({ name: 'iris', namespace: ns })));
    const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=iris' });
    assert.ok(
      events.items.some((e) => e.reason === 'RolloutSucceeded'),
      'Events recorded',
    );
  });

  test('autoscaling on creates the HPA, off deletes it', async () => {
    await patchMd(c, ns, 'iris', { spec: { autoscaling: { minReplicas: 2, maxReplicas: 4, targetCPUUtilizationPercentage: 70 } } });
    await waitFor(() => c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'iris', namespace: ns }).catch(() => undefined), {
      description: 'HPA created',
    });
    await patchMd(c, ns, 'iris', { spec: { autoscaling: null } });
    await waitFor(async () => !(await exists(() => c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'iris', namespace: ns }))), {
      description: 'HPA deleted',
    });
  });

  test('networkPolicy enabled creates the NetworkPolicy, disabled deletes it', async () => {
    const read = () => c.networking.readNamespacedNetworkPolicy({ name: 'iris', namespace: ns });
    await patchMd(c, ns, 'iris', { spec: { networkPolicy: { enabled: true, ingressFrom: [{ podSelector: {} }] } } });
    await waitFor(() => read().catch(() => undefined), { description: 'NetworkPolicy created' });
    await patchMd(c, ns, 'iris', { spec: { networkPolicy: null } });
    await waitFor(async () => !(await exists(read)), { description: 'NetworkPolicy deleted' });
  });

  test('two replicas create the PodDisruptionBudget, one deletes it', async () => {
    const policy = c.kc.makeApiClient(PolicyV1Api);
    const read = () => policy.readNamespacedPodDisruptionBudget({ name: 'budget', namespace: ns });
    await createMd(c, ns, 'budget', { model: model('1'), replicas: 2 });
    await waitFor(() => read().catch(() => undefined), { description: 'PodDisruptionBudget created' });
    await patchMd(c, ns, 'budget', { spec: { replicas: 1 } });
    await waitFor(async () => !(await exists(read)), { description: 'PodDisruptionBudget deleted' });
    await deleteMd(c, ns, 'budget');
  });

  test('a failing version (fetch: checksum mismatch) is rolled back', async () => {
    const goodHash = await templateHash(c, ns, 'iris');
    await patchMd(c, ns, 'iris', { spec: { model: { ...model('2'), sha256: 'b'.repeat(64) } } });
    const pods = await podsOfVersion(c, ns, 'iris', '2');
    await markFetchFailed(c, pods, `fetch: sha256 mismatch for model.onnx: expected ${'b'.repeat(64)}, got ${'c'.repeat(64)}`);
    const md = await waitForMd(c, ns, 'iris', 'rolled back', (m) => m.status?.history?.[0]?.outcome === 'RolledBack');
    assert.equal(md.status?.failedVersion, '2');
    assert.equal(md.status?.currentVersion, '1');
    assert.equal(condition(md, 'Degraded')?.reason, 'RolledBack');
    await waitFor(async () => (await templateHash(c, ns, 'iris')) === goodHash, { description: 'Deployment back on the good template' });
    // The operator writes the status first, then the Event: wait for it rather than race it.
    await waitFor(
      async () => {
        const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=iris' });
        return events.items.some((e) => e.type === 'Warning' && e.reason === 'RolledBack');
      },
      { description: 'a Warning Event RolledBack', timeoutMs: 10_000 },
    );
  });

  test('a name conflict is read (get) and reported, not overwritten', async () => {
    await c.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'taken' }, spec: { ports: [{ port: 1234 }], selector: { app: 'other' } } },
    });
    await createMd(c, ns, 'taken', { model: model('1') });
    const md = await waitForMd(c, ns, 'taken', 'Degraded ResourceConflict', (m) => condition(m, 'Degraded')?.reason === 'ResourceConflict');
    assert.match(condition(md, 'Degraded')?.message ?? '', /Service taken already exists and is not managed by Modelship/);
    await deleteMd(c, ns, 'taken');
  });

  test('the leader stops: the standby takes the Lease over (get + update on it) and reconciles', async () => {
    const [a, b] = ops as [OperatorProcess, OperatorProcess];
    assert.equal(await a.stop('SIGTERM'), 0);
    await waitFor(async () => (await b.metric('modelship_leader')) === 1, { timeoutMs: 30_000, description: 'replica b leads' });
    assert.equal(
      (await c.coordination.readNamespacedLease({ name: 'modelship-operator', namespace: releaseNs })).spec?.holderIdentity,
      b.identity,
    );
    const md = await deployToReady(c, ns, 'second', 1);
    assert.equal(md.status?.readyReplicas, 1);
  });

  test('no request of the operator was forbidden: not in its logs, not in the audit log; and every write kind was exercised', async () => {
    await sleep(1000);
    for (const op of ops) assert.deepEqual(await deniedInLog(op), [], `denials in the log of ${op.identity}`);
    const events = (await readAuditEvents({ since: mark })).filter((e) => e.user.username === install!.user);
    assert.deepEqual(
      events.filter((e) => e.responseStatus?.code === 403).map(describeEvent),
      [],
      'requests of the chart ServiceAccount refused with 403',
    );
    const kinds = new Set(
      events
        .filter((e) => (e.responseStatus?.code ?? 0) < 300)
        .map((e) => `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`),
    );
    for (const expected of [
      'patch deployments',
      'patch services',
      'patch horizontalpodautoscalers',
      'delete horizontalpodautoscalers',
      'patch networkpolicies',
      'delete networkpolicies',
      'patch poddisruptionbudgets',
      'delete poddisruptionbudgets',
      'patch modeldeployments/status',
      'create events',
      'create leases',
      'update leases',
    ]) {
      assert.ok(kinds.has(expected), `the scenarios made a successful "${expected}" (made: ${[...kinds].sort().join(', ')})`);
    }
  });
});

describe('the operator with exactly the chart RBAC (watchNamespace: a Role in one namespace)', () => {
  let cp: ControlPlane;
  let c: Clients;
  let install: Install | undefined;
  let releaseNs: string;
  let ns: string;
  let other: string;
  let mark: number;
  let op: OperatorProcess | undefined;
  const suffix = Math.random().toString(36).slice(2, 7);

  before(
    async () => {
      await resolveHelm();
      cp = await getTestControlPlane();
      c = clients();
      releaseNs = await createNs(c, 'rbacns-sys');
      ns = await createNs(c, 'rbacns-ml', RESTRICTED);
      other = await createNs(c, 'rbacns-other');
      install = await installChartRbac(cp, `rbacns-${suffix}`, releaseNs, { watchNamespace: ns });
      assert.deepEqual(
        install.manifests.filter((m) => m.kind.startsWith('Cluster')),
        [],
        'no cluster-wide RBAC',
      );
      mark = await auditMark();
    },
    { timeout: 30 * 60_000 },
  );
  after(async () => {
    await op?.stop();
    for (const name of [ns, other, releaseNs]) if (name) await c?.core.deleteNamespace({ name }).catch(() => undefined);
    await cp?.stop();
  });

  test('the identity can act in the watched namespace only', async () => {
    const as = { user: { name: install!.user, groups: ['system:serviceaccounts', `system:serviceaccounts:${releaseNs}`] } };
    const can = async (...args: string[]) => (await cp.kubectl(['auth', 'can-i', ...args], as)).stdout.trim();
    assert.equal(await can('list', 'modeldeployments.modelship.dev', '-n', ns), 'yes');
    assert.equal(await can('list', 'modeldeployments.modelship.dev', '--all-namespaces'), 'no');
    assert.equal(await can('patch', 'deployments.apps', '-n', other), 'no');
    assert.equal(
      await can('create', 'leases.coordination.k8s.io', '-n', releaseNs),
      'no',
      'one replica: no leader election, no Lease Role',
    );
  });

  test('create -> children -> Ready, autoscaling on/off, in the watched namespace; another namespace is ignored', async () => {
    op = await startOperator({ namespace: ns, kubeconfig: install!.kubeconfig });
    const md = await deployToReady(c, ns, 'iris', 1);
    assert.equal(md.status?.readyReplicas, 1);
    await patchMd(c, ns, 'iris', { spec: { autoscaling: { minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 70 } } });
    await waitFor(() => c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'iris', namespace: ns }).catch(() => undefined), {
      description: 'HPA created',
    });
    await patchMd(c, ns, 'iris', { spec: { autoscaling: null } });
    await waitFor(async () => !(await exists(() => c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'iris', namespace: ns }))), {
      description: 'HPA deleted',
    });

    await createMd(c, other, 'elsewhere', { model: model('1') });
    await sleep(3000);
    assert.equal(
      await exists(() => c.apps.readNamespacedDeployment({ name: 'elsewhere', namespace: other })),
      false,
      'outside the watched namespace',
    );
  });

  test('no request was forbidden (operator log, audit log)', async () => {
    await sleep(1000);
    assert.deepEqual(await deniedInLog(op!), [], 'denials in the operator log');
    const events = (await readAuditEvents({ since: mark })).filter((e) => e.user.username === install!.user);
    assert.ok(events.length > 0, 'the operator wrote as the chart ServiceAccount');
    assert.deepEqual(events.filter((e) => e.responseStatus?.code === 403).map(describeEvent), []);
  });
});
