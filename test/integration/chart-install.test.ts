// helm install / upgrade / uninstall of charts/modelship against the real API server of the test
// control plane (no kubelet here, so the operator pods are created but never run: that part is
// the end-to-end cluster's). Checks what Helm does with the objects, values and the CRD.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1EnvVar } from '@kubernetes/client-node';
import { getTestControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { chartDir, resolveHelm, runHelm, setArgs } from '@modelship/devcluster/helm';
import { waitFor } from '@modelship/devcluster/wait';
import { clients, createMd, exists, getMd, type Clients } from '@modelship/devcluster/kube-clients';

describe('helm install / upgrade / uninstall against the real API server', () => {
  let cp: ControlPlane;
  let c: Clients;
  const suffix = Math.random().toString(36).slice(2, 7);
  const ns = `chart-inst-${suffix}`;
  const release = `inst-${suffix}`;
  const fullname = `${release}-modelship`;
  const helm = (args: string[]) => runHelm(args, { kubeconfig: cp.kubeconfigPath });
  const env = async (): Promise<Record<string, string | undefined>> => {
    const d = await c.apps.readNamespacedDeployment({ name: fullname, namespace: ns });
    return Object.fromEntries((d.spec?.template.spec?.containers[0]?.env ?? []).map((e: V1EnvVar) => [e.name, e.value]));
  };

  before(
    async () => {
      await resolveHelm();
      cp = await getTestControlPlane();
      c = clients();
      await c.core.createNamespace({ body: { metadata: { name: ns } } });
    },
    { timeout: 30 * 60_000 },
  );
  after(async () => {
    if (cp) await helm(['uninstall', release, '-n', ns, '--ignore-not-found']);
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
    await cp?.stop();
  });

  test('helm install with bad values fails with the schema message and installs nothing', async () => {
    const r = await helm(['install', release, chartDir, '-n', ns, ...setArgs({ replicas: -1, 'image.repository': 'Not A/Valid::Image' })]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /INSTALLATION FAILED: values don't meet the specifications of the schema\(s\)/);
    assert.match(r.stderr, /at '\/replicas': minimum: got -1, want 1/);
    assert.match(r.stderr, /at '\/image\/repository': 'Not A\/Valid::Image' does not match pattern/);
    const list = await helm(['list', '-n', ns, '-a', '-q']);
    assert.equal(list.stdout.trim(), '');
    assert.equal(await exists(() => c.apps.readNamespacedDeployment({ name: fullname, namespace: ns })), false);
  });

  test('helm install: the operator Deployment, ServiceAccount, RBAC and metrics Service; NOTES with next steps', async () => {
    const r = await helm(['install', release, chartDir, '-n', ns]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /STATUS: deployed/);
    assert.match(r.stdout, /Next steps:/);
    assert.match(r.stdout, new RegExp(`kubectl -n ${ns} rollout status deployment/${fullname}`));
    const d = await c.apps.readNamespacedDeployment({ name: fullname, namespace: ns });
    assert.equal(d.spec?.replicas, 1);
    assert.equal((await env()).MODELSHIP_LEADER_ELECT, 'false');
    assert.ok(await exists(() => c.core.readNamespacedServiceAccount({ name: fullname, namespace: ns })));
    assert.ok(await exists(() => c.core.readNamespacedService({ name: `${fullname}-metrics`, namespace: ns })));
    for (const kind of ['clusterrole', 'clusterrolebinding']) {
      const got = await cp.kubectl(['get', kind, fullname, '-o', 'name']);
      assert.equal(got.code, 0, `${kind} ${fullname}: ${got.stderr}`);
    }
    // the CRD was already there (installed by the harness): Helm leaves an existing CRD alone
    assert.equal((await cp.kubectl(['get', 'crd', 'modeldeployments.modelship.dev', '-o', 'name'])).code, 0);
  });

  test('helm upgrade with changed values takes effect (replicas 2 -> leader election, Lease Role, PDB; runtime defaults)', async () => {
    const r = await helm([
      'upgrade',
      release,
      chartDir,
      '-n',
      ns,
      ...setArgs({ replicas: 2, 'runtime.batching.maxBatchSize': 8, 'runtime.image.tag': '0.1.1' }),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /REVISION: 2/);
    const d = await c.apps.readNamespacedDeployment({ name: fullname, namespace: ns });
    assert.equal(d.spec?.replicas, 2);
    const e = await env();
    assert.equal(e.MODELSHIP_LEADER_ELECT, 'true');
    assert.equal(e.MODELSHIP_DEFAULT_MAX_BATCH_SIZE, '8');
    assert.equal(e.MODELSHIP_RUNTIME_IMAGE, 'modelship/runtime:0.1.1');
    assert.ok(await exists(() => c.core.readNamespacedServiceAccount({ name: fullname, namespace: ns })));
    const pdb = await cp.kubectl(['get', 'pdb', fullname, '-n', ns, '-o', 'jsonpath={.spec.minAvailable}']);
    assert.equal(pdb.stdout, '1', pdb.stderr);
    const role = await cp.kubectl(['get', 'role', `${fullname}-leader-election`, '-n', ns, '-o', 'name']);
    assert.equal(role.code, 0, role.stderr);

    const bad = await helm(['upgrade', release, chartDir, '-n', ns, ...setArgs({ replicas: 2, unknownKey: true })]);
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      /UPGRADE FAILED: values don't meet the specifications of the schema\(s\)[\s\S]*additional properties 'unknownKey' not allowed/,
    );
    const status = await helm(['status', release, '-n', ns, '-o', 'json']);
    assert.equal((JSON.parse(status.stdout) as { version: number }).version, 2, 'a refused upgrade leaves the release as it was');
  });

  test('helm uninstall removes what the chart installed; the CRD and existing ModelDeployments stay', async () => {
    await createMd(c, ns, 'survivor', { model: { version: '1', uri: 'https://models.example.com/iris/1/model.onnx' } });
    const r = await helm(['uninstall', release, '-n', ns]);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(async () => !(await exists(() => c.apps.readNamespacedDeployment({ name: fullname, namespace: ns }))), {
      description: 'operator Deployment gone',
    });
    assert.equal(await exists(() => c.core.readNamespacedServiceAccount({ name: fullname, namespace: ns })), false);
    assert.equal(await exists(() => c.core.readNamespacedService({ name: `${fullname}-metrics`, namespace: ns })), false);
    for (const [kind, name, namespaced] of [
      ['clusterrole', fullname, false],
      ['clusterrolebinding', fullname, false],
      ['role', `${fullname}-leader-election`, true],
      ['rolebinding', `${fullname}-leader-election`, true],
      ['pdb', fullname, true],
    ] as const) {
      const got = await cp.kubectl(['get', kind, name, ...(namespaced ? ['-n', ns] : []), '--ignore-not-found', '-o', 'name']);
      assert.equal(got.stdout.trim(), '', `${kind} ${name} removed`);
    }
    assert.equal(
      (await cp.kubectl(['get', 'crd', 'modeldeployments.modelship.dev', '-o', 'name'])).code,
      0,
      'Helm never deletes CRDs from crds/',
    );
    const md = await getMd(c, ns, 'survivor');
    assert.equal(md.metadata?.deletionTimestamp, undefined, 'the ModelDeployment survives (unmanaged until an operator runs again)');
  });
});
