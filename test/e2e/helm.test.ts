// The chart on the real single-node cluster: `helm install` the operator image built from
// operator/Dockerfile (2 replicas, leader election) into a namespace that enforces the `restricted`
// Pod Security Standard; the operator runs in-cluster (ServiceAccount token, the `kubernetes`
// Service) with exactly the chart's RBAC; a ModelDeployment in another restricted namespace becomes
// Ready and answers through its Service; `helm upgrade` with changed values takes effect (operator
// pods replaced, the new runtime default reaches the runtime Deployment); `helm uninstall` removes
// what the chart installed and leaves the CRD and the ModelDeployment (Helm never deletes crds/).
import assert from 'node:assert/strict';
import { ApiextensionsV1Api, ApiregistrationV1Api } from '@kubernetes/client-node';
import { after, before, describe, it } from 'node:test';
import { attachControlPlane } from '@modelship/devcluster/controlplane';
import { chartDir, runHelm } from '@modelship/devcluster/helm';
import { splitImageRef } from '@modelship/devcluster/images';
import { waitFor } from '@modelship/devcluster/wait';
import { clients, condition, exists, getMd, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { post } from '@modelship/devcluster/http-post';
import { assertIrisOutputs, createAndWaitReady, exampleIris, expected, restrictedNamespace } from '@modelship/devcluster/iris';

const RELEASE = 'modelship';

describe('e2e: helm install the operator image on a real node', { timeout: 900_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let system: string;
  let models: string;
  let imageArgs: string[];

  const helm = async (args: string[]) => {
    const r = await runHelm(args, { kubeconfig: cluster.kubeconfigPath, timeoutMs: 300_000 });
    assert.equal(r.code, 0, `helm ${args.join(' ')}:\n${r.stderr}${r.stdout}`);
    return r;
  };
  const operatorPods = async () =>
    (await c.core.listNamespacedPod({ namespace: system, labelSelector: 'app.kubernetes.io/name=modelship' })).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    );
  const operatorDeployment = async () => {
    const list = await c.apps.listNamespacedDeployment({ namespace: system, labelSelector: 'app.kubernetes.io/name=modelship' });
    assert.equal(list.items.length, 1, 'one operator Deployment');
    return list.items[0]!;
  };

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    system = await restrictedNamespace(c, 'e2e-modelship-system');
    models = await restrictedNamespace(c, 'e2e-helm-models');
    const op = splitImageRef(cluster.operatorImage);
    const rt = splitImageRef(cluster.runtimeImage);
    imageArgs = [
      '--set',
      `image.repository=${op.repository}`,
      '--set',
      `image.tag=${op.tag}`,
      '--set',
      'image.pullPolicy=Never',
      '--set',
      `runtime.image.repository=${rt.repository}`,
      '--set',
      `runtime.image.tag=${rt.tag}`,
      '--set',
      'runtime.image.pullPolicy=Never',
    ];
  });

  after(async () => {
    await runHelm(['uninstall', RELEASE, '-n', system, '--wait', '--timeout', '60s'], { kubeconfig: cluster?.kubeconfigPath }).catch(
      () => {},
    );
    await c?.custom
      .deleteNamespacedCustomObject({
        group: 'modelship.dev',
        version: 'v1alpha1',
        plural: 'modeldeployments',
        namespace: models,
        name: 'iris',
      })
      .catch(() => {});
    await c?.core.deleteNamespace({ name: models }).catch(() => {});
    await c?.core.deleteNamespace({ name: system }).catch(() => {});
    await cluster?.stop();
  });

  it('helm install (2 replicas) → both operator pods Running and Ready under restricted, one holds the Lease', async () => {
    await helm(['install', RELEASE, chartDir, '-n', system, '--set', 'replicas=2', ...imageArgs, '--wait', '--timeout', '240s']);
    const dep = await operatorDeployment();
    assert.equal(dep.status?.readyReplicas, 2);
    const pods = await operatorPods();
    assert.equal(pods.length, 2);
    for (const p of pods) {
      assert.equal(p.status?.phase, 'Running');
      assert.equal(p.spec?.containers[0]?.image, cluster.operatorImage);
      assert.equal(p.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
    }
    const ns = await c.core.readNamespace({ name: system });
    assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    const lease = await waitFor(
      async () => {
        const l = await c.coordination.readNamespacedLease({ name: 'modelship-operator', namespace: system }).catch(() => undefined);
        return l?.spec?.holderIdentity ? l : undefined;
      },
      { timeoutMs: 60_000, description: 'the Lease to have a holder' },
    );
    const names = pods.map((p) => p.metadata?.name);
    assert.ok(names.includes(lease.spec?.holderIdentity ?? ''), `holder ${lease.spec?.holderIdentity} is one of ${names.join(', ')}`);
  });

  it('a ModelDeployment → Ready (restricted namespace), predictions through its Service', async () => {
    // reconciled by the in-cluster operator
    const ready = await createAndWaitReady(c, models, exampleIris(cluster.modelServerUrl));
    assert.equal(ready.status?.currentVersion, '1');
    const svc = await c.core.readNamespacedService({ name: 'iris', namespace: models });
    const r = await waitFor(
      async () => {
        const res = await post(`http://${svc.spec?.clusterIP}/v2/models/iris/infer`, { inputs: expected.inputs });
        return res.status === 200 ? res : undefined;
      },
      { timeoutMs: 30_000, description: 'V2 infer via the ClusterIP' },
    );
    assertIrisOutputs(r.body);
  });

  it('custom.metrics.k8s.io works out of the box: APIService Available (generated caBundle), a value for the iris pod', async () => {
    const registration = c.kc.makeApiClient(ApiregistrationV1Api);
    await waitFor(
      async () =>
        (await registration.readAPIService({ name: 'v1beta2.custom.metrics.k8s.io' })).status?.conditions?.find(
          (x) => x.type === 'Available',
        )?.status === 'True',
      { timeoutMs: 60_000, intervalMs: 1_000, description: 'the chart’s custom metrics APIService Available' },
    );
    // the first read of a pod starts its window; a later one (after the 2 s reuse) has a value
    const path = `/apis/custom.metrics.k8s.io/v1beta2/namespaces/${models}/pods/*/modelship_concurrency?labelSelector=app.kubernetes.io%2Finstance%3Diris`;
    const cp = attachControlPlane(cluster.cpDir);
    const items = await waitFor(
      async () => {
        const r = await cp.kubectl(['get', '--raw', path]);
        assert.equal(r.code, 0, r.stderr);
        const list = JSON.parse(r.stdout) as { items: Array<{ describedObject: { name: string }; value: string }> };
        return list.items.length > 0 ? list.items : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 3_000, description: 'a modelship_concurrency value for the iris pod' },
    );
    assert.match(items[0]!.describedObject.name, /^iris-/);
    assert.match(items[0]!.value, /^\d+m?$/);
  });

  it('helm upgrade with changed values takes effect: new operator pods, the new runtime default reaches the runtime Deployment', async () => {
    const before = new Set((await operatorPods()).map((p) => p.metadata?.uid));
    await helm([
      'upgrade',
      RELEASE,
      chartDir,
      '-n',
      system,
      '--reuse-values',
      '--set',
      'runtime.drainDelaySeconds=3',
      '--set',
      'logLevel=debug',
      '--wait',
      '--timeout',
      '240s',
    ]);
    const dep = await operatorDeployment();
    const env = dep.spec?.template.spec?.containers[0]?.env ?? [];
    assert.equal(env.find((e) => e.name === 'MODELSHIP_LOG_LEVEL')?.value, 'debug');
    assert.equal(env.find((e) => e.name === 'MODELSHIP_DRAIN_DELAY_SECONDS')?.value, '3');
    await waitFor(
      async () => {
        const pods = await operatorPods();
        return pods.length === 2 && pods.every((p) => !before.has(p.metadata?.uid)) ? pods : undefined;
      },
      { timeoutMs: 120_000, description: 'both operator pods replaced' },
    );
    await waitFor(
      async () => {
        const d = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: models });
        const e = d.spec?.template.spec?.containers.find((x) => x.name === 'serve')?.env ?? [];
        return e.find((x) => x.name === 'MODELSHIP_DRAIN_DELAY_SECONDS')?.value === '3';
      },
      { timeoutMs: 120_000, intervalMs: 1_000, description: 'the runtime Deployment to get drain delay 3 from the upgraded operator' },
    );
    await waitFor(async () => condition(await getMd(c, models, 'iris'), 'Ready')?.status === 'True', {
      timeoutMs: 180_000,
      intervalMs: 1_000,
      description: 'mdep/iris Ready again after the rollout',
    });
  });

  it('helm uninstall removes the operator, its RBAC and Services; the CRD and the ModelDeployment stay', async () => {
    const dep = await operatorDeployment();
    const name = dep.metadata!.name!;
    await helm(['uninstall', RELEASE, '-n', system, '--wait', '--timeout', '120s']);
    await waitFor(async () => (await operatorPods()).length === 0, { timeoutMs: 60_000, description: 'operator pods gone' });
    assert.equal(await exists(() => c.apps.readNamespacedDeployment({ name, namespace: system })), false);
    assert.equal(await exists(() => c.core.readNamespacedServiceAccount({ name, namespace: system })), false);
    assert.equal(await exists(() => c.rbac.readClusterRole({ name })), false);
    assert.equal(await exists(() => c.rbac.readClusterRoleBinding({ name })), false);
    assert.equal(
      await exists(() => c.kc.makeApiClient(ApiregistrationV1Api).readAPIService({ name: 'v1beta2.custom.metrics.k8s.io' })),
      false,
      'the custom metrics APIService goes with the release',
    );
    const services = (await c.core.listNamespacedService({ namespace: system })).items;
    assert.deepEqual(
      services.map((s) => s.metadata?.name),
      [],
    );
    assert.equal(
      await exists(() => c.kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: 'modeldeployments.modelship.dev' })),
      true,
      'the CRD stays (helm does not delete crds/)',
    );
    assert.equal(await exists(() => c.rbac.readNamespacedRole({ name: `${name}-leader-election`, namespace: system })), false);
    const md = await getMd(c, models, 'iris');
    assert.equal(md.metadata?.name, 'iris', 'the ModelDeployment stays');
    assert.equal(
      await exists(() => c.apps.readNamespacedDeployment({ name: 'iris', namespace: models })),
      true,
      'its runtime keeps serving without the operator',
    );
  });
});
