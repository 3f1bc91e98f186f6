// spec.runtime.auth.mode kubernetes on a real API server, with the operator running as the chart's
// ServiceAccount with exactly the chart's RBAC (rbac.runtimeAuth: true): the CRD refuses
// contradictory settings by field; the operator creates <name>-runtime, a ClusterRoleBinding to
// system:auth-delegator (which needs the chart's `bind` grant: the operator holds no review
// permission itself) and its finalizer, and the runtime's identity can then create the reviews;
// leaving the mode and deleting the ModelDeployment remove the binding and the finalizer; a
// ModelDeployment in the default mode gets none of it and keeps automountServiceAccountToken: false.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dump } from 'js-yaml';
import { getTestControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { renderChart, resolveHelm, type Manifest } from '@modelship/devcluster/helm';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { clients, createMd, deleteMd, exists, getMd, kubeConfig, patchMd } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import { waitFor } from '@modelship/devcluster/wait';
import { manifest, output } from './crd-namespace.ts';

const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
const FINALIZER = 'modelship.dev/runtime-access';
const model = { version: '1', uri: 'https://models.example.com/iris/1/model.onnx' };

describe('operator: kubernetes auth mode with the chart RBAC (rbac.runtimeAuth: true)', () => {
  let cp: ControlPlane;
  let c: ReturnType<typeof clients> & { rbac: RbacAuthorizationV1Api };
  let ns = '';
  let releaseNs = '';
  let manifests: Manifest[] = [];
  let op: OperatorProcess | undefined;
  const suffix = Math.random().toString(36).slice(2, 7);
  const crbName = (name: string) => `modelship-runtime:${ns}:${name}`;
  const crbExists = (name: string) => exists(() => c.rbac.readClusterRoleBinding({ name: crbName(name) }));
  const saExists = (name: string) => exists(() => c.core.readNamespacedServiceAccount({ name, namespace: ns }));
  const kubectl = async (args: string[], input?: string) => cp.kubectl(args, input === undefined ? {} : { input });

  before(
    async () => {
      await resolveHelm();
      cp = await getTestControlPlane();
      c = { ...clients(), rbac: kubeConfig().makeApiClient(RbacAuthorizationV1Api) };
      ns = `kauth-op-${suffix}`;
      releaseNs = `kauth-sys-${suffix}`;
      for (const n of [ns, releaseNs]) await c.core.createNamespace({ body: { metadata: { name: n } } });
      manifests = (await renderChart({ release: `kauth-${suffix}`, namespace: releaseNs, values: { 'rbac.runtimeAuth': true } })).filter(
        (m) => RBAC_KINDS.has(m.kind),
      );
      const applied = await kubectl(
        ['apply', '--server-side', '--field-manager=kauth-op-test', '-f', '-'],
        manifests.map((m) => `---\n${dump(m)}`).join(''),
      );
      assert.equal(applied.code, 0, output(applied));
      const sa = manifests.find((m) => m.kind === 'ServiceAccount')!;
      const kubeconfig = await cp.writeKubeconfigFor(`system:serviceaccount:${releaseNs}:${sa.metadata.name}`, [
        'system:serviceaccounts',
        `system:serviceaccounts:${releaseNs}`,
      ]);
      op = await startOperator({ namespace: ns, identity: `kauth-${suffix}`, kubeconfig });
    },
    { timeout: 30 * 60_000 },
  );

  after(async () => {
    await op?.stop();
    if (c) {
      for (const name of ['iris', 'plain']) {
        await patchMd(c, ns, name, { metadata: { finalizers: null } }).catch(() => undefined);
        await c.rbac.deleteClusterRoleBinding({ name: crbName(name) }).catch(() => undefined);
      }
      for (const n of [ns, releaseNs]) if (n) await c.core.deleteNamespace({ name: n }).catch(() => undefined);
    }
    for (const m of manifests)
      if (m.kind.startsWith('Cluster')) await kubectl(['delete', m.kind.toLowerCase(), m.metadata.name, '--ignore-not-found']);
    await cp?.stop();
  });

  test('the CRD refuses contradictory auth settings, naming the field', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ auth: { mode: 'kubernetes' }, apiKeySecretRef: { name: 's', key: 'k' } }, /spec\.runtime\.auth\.mode: .*mutually exclusive/],
      [{ auth: { mode: 'apiKey' } }, /spec\.runtime\.auth\.mode: .*apiKey needs apiKeySecretRef/],
      [{ auth: { mode: 'none' }, apiKeySecretRef: { name: 's', key: 'k' } }, /spec\.runtime\.auth\.mode: .*contradicts apiKeySecretRef/],
      [{ auth: { audience: 'x' } }, /spec\.runtime\.auth\.audience: .*only to mode kubernetes/],
      [{ auth: { mode: 'kubernetes', audience: 'a b' } }, /spec\.runtime\.auth\.audience/],
      [{ auth: { mode: 'rbac' } }, /spec\.runtime\.auth\.mode: Unsupported value: "rbac"/],
    ];
    for (const [runtime, re] of cases) {
      const r = await kubectl(['apply', '--dry-run=server', '-n', ns, '-f', '-'], manifest('bad', { model, runtime }));
      assert.notEqual(r.code, 0, `${JSON.stringify(runtime)} accepted`);
      assert.match(r.stderr, re, JSON.stringify(runtime));
    }
    const ok = await kubectl(
      ['apply', '--dry-run=server', '-n', ns, '-f', '-'],
      manifest('good', { model, runtime: { auth: { mode: 'kubernetes', audience: 'ml.example.com' } } }),
    );
    assert.equal(ok.code, 0, output(ok));
  });

  test('kubernetes mode: ServiceAccount, ClusterRoleBinding to system:auth-delegator, finalizer; the runtime identity may review', async () => {
    await createMd(c, ns, 'iris', { model, runtime: { auth: { mode: 'kubernetes' } } });
    await waitFor(async () => (await crbExists('iris')) && (await saExists('iris-runtime')), {
      description: 'SA and ClusterRoleBinding',
      timeoutMs: 60_000,
    });
    const crb = await c.rbac.readClusterRoleBinding({ name: crbName('iris') });
    assert.deepEqual({ ...crb.roleRef }, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' });
    assert.deepEqual(
      crb.subjects?.map((x) => ({ ...x })),
      [{ kind: 'ServiceAccount', name: 'iris-runtime', namespace: ns }],
    );
    const sa = await c.core.readNamespacedServiceAccount({ name: 'iris-runtime', namespace: ns });
    assert.equal(sa.metadata?.ownerReferences?.[0]?.name, 'iris');
    assert.ok((await getMd(c, ns, 'iris')).metadata?.finalizers?.includes(FINALIZER));
    const dep = await waitFor(() => c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns }).catch(() => undefined), {
      description: 'Deployment',
    });
    const pod = dep.spec!.template.spec!;
    assert.equal(pod.serviceAccountName, 'iris-runtime');
    assert.equal(pod.automountServiceAccountToken, true);
    assert.equal(pod.containers[0]?.env?.find((e) => e.name === 'MODELSHIP_AUTH_MODE')?.value, 'kubernetes');
    const as = `system:serviceaccount:${ns}:iris-runtime`;
    for (const res of ['tokenreviews.authentication.k8s.io', 'subjectaccessreviews.authorization.k8s.io']) {
      const r = await kubectl(['auth', 'can-i', 'create', res, `--as=${as}`]);
      assert.equal(r.stdout.trim(), 'yes', `${res}: ${output(r)}`);
    }
    // steady state: no writes while nothing changes
    const writes = async () => op!.metric('modelship_api_writes_total');
    const before = await writes();
    await patchMd(c, ns, 'iris', { metadata: { labels: { touched: 'yes' } } });
    await new Promise((r) => setTimeout(r, 2000));
    const extra = (await writes()) - before;
    assert.ok(extra <= 1, `a reconcile with nothing to change writes no SA, binding or finalizer (writes: ${extra})`);
  });

  test('leaving kubernetes mode removes the binding, the ServiceAccount and the finalizer; the pods stop mounting a token', async () => {
    await patchMd(c, ns, 'iris', { spec: { runtime: { auth: null } } });
    await waitFor(async () => !(await crbExists('iris')) && !(await saExists('iris-runtime')), {
      description: 'binding and SA gone',
      timeoutMs: 60_000,
    });
    await waitFor(async () => !(await getMd(c, ns, 'iris')).metadata?.finalizers?.includes(FINALIZER), {
      description: 'finalizer removed',
    });
    const dep = await waitFor(
      async () => {
        const d = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns });
        return d.spec?.template.spec?.automountServiceAccountToken === false ? d : undefined;
      },
      { description: 'template without token' },
    );
    assert.equal(dep.spec?.template.spec?.serviceAccountName, undefined);
    assert.equal(dep.spec?.template.spec?.serviceAccount, undefined);
  });

  test('deleting a ModelDeployment in kubernetes mode deletes its ClusterRoleBinding, then the ModelDeployment goes', async () => {
    await patchMd(c, ns, 'iris', { spec: { runtime: { auth: { mode: 'kubernetes' } } } });
    await waitFor(() => crbExists('iris'), { description: 'binding back', timeoutMs: 60_000 });
    await deleteMd(c, ns, 'iris');
    await waitFor(async () => !(await crbExists('iris')) && !(await exists(() => getMd(c, ns, 'iris'))), {
      description: 'binding and ModelDeployment gone',
      timeoutMs: 60_000,
    });
  });

  test('the default mode: no finalizer, no ServiceAccount, no binding, no token', async () => {
    await createMd(c, ns, 'plain', { model });
    const dep = await waitFor(() => c.apps.readNamespacedDeployment({ name: 'plain', namespace: ns }).catch(() => undefined), {
      description: 'Deployment',
    });
    assert.equal(dep.spec?.template.spec?.automountServiceAccountToken, false);
    assert.equal((await getMd(c, ns, 'plain')).metadata?.finalizers, undefined);
    assert.equal(await crbExists('plain'), false);
    assert.equal(await saExists('plain-runtime'), false);
  });
});

describe('operator: kubernetes auth mode with the default chart RBAC (rbac.runtimeAuth off)', () => {
  let cp: ControlPlane;
  let c: ReturnType<typeof clients>;
  let ns = '';
  let releaseNs = '';
  let manifests: Manifest[] = [];
  let op: OperatorProcess | undefined;
  const suffix = Math.random().toString(36).slice(2, 7);

  before(
    async () => {
      await resolveHelm();
      cp = await getTestControlPlane();
      c = clients();
      ns = `kauth-off-${suffix}`;
      releaseNs = `kao-${suffix}`; // short: the client certificate CN is at most 64 characters
      for (const n of [ns, releaseNs]) await c.core.createNamespace({ body: { metadata: { name: n } } });
      manifests = (await renderChart({ release: `kao-${suffix}`, namespace: releaseNs })).filter((m) => RBAC_KINDS.has(m.kind));
      const applied = await cp.kubectl(['apply', '--server-side', '--field-manager=kauth-op-test', '-f', '-'], {
        input: manifests.map((m) => `---\n${dump(m)}`).join(''),
      });
      assert.equal(applied.code, 0, output(applied));
      const sa = manifests.find((m) => m.kind === 'ServiceAccount')!;
      const kubeconfig = await cp.writeKubeconfigFor(`system:serviceaccount:${releaseNs}:${sa.metadata.name}`, [
        'system:serviceaccounts',
        `system:serviceaccounts:${releaseNs}`,
      ]);
      op = await startOperator({ namespace: ns, identity: `kauthoff-${suffix}`, kubeconfig });
    },
    { timeout: 30 * 60_000 },
  );

  after(async () => {
    await op?.stop();
    if (c) for (const n of [ns, releaseNs]) if (n) await c.core.deleteNamespace({ name: n }).catch(() => undefined);
    for (const m of manifests)
      if (m.kind.startsWith('Cluster')) await cp.kubectl(['delete', m.kind.toLowerCase(), m.metadata.name, '--ignore-not-found']);
    await cp?.stop();
  });

  test('the ModelDeployment is reported Forbidden, naming the mode; nothing is half-created', async () => {
    await createMd(c, ns, 'iris', { model, runtime: { auth: { mode: 'kubernetes' } } });
    const md = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'iris');
        return m.status?.conditions?.some(
          (x) => x.reason === 'Forbidden' && /runtime access \(auth mode kubernetes\)/.test(x.message ?? ''),
        )
          ? m
          : undefined;
      },
      { description: 'a Forbidden condition naming the runtime access', timeoutMs: 60_000 },
    );
    assert.ok(
      md.status?.conditions?.some((x) => x.type === 'Degraded' && x.status === 'True'),
      JSON.stringify(md.status?.conditions),
    );
    assert.equal(md.metadata?.finalizers, undefined, 'the finalizer could not be set, so no binding was attempted');
    assert.equal(await exists(() => c.core.readNamespacedServiceAccount({ name: 'iris-runtime', namespace: ns })), false);
  });
});
