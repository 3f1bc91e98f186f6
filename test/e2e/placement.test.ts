// spec.pod and the PodDisruptionBudget on the real single-node cluster: the node is labelled and
// tainted (NoSchedule) with a key of this test's own; a ModelDeployment with the matching
// nodeSelector and toleration goes Ready on it while one without the toleration stays unscheduled;
// the running pods carry the named ServiceAccount (its token mounted) and the image pull secret;
// a drain-style eviction (policy/v1 Eviction) of the second pod is refused with 429 by the PDB.
// The taint and label are removed in `after`, even on failure: the other e2e files share the node.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PatchStrategy, PolicyV1Api, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, createMd, deleteMd, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { createAndWaitReady, exampleIris, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';

const KEY = 'e2e.modelship.dev/knobs';
const VALUE = Math.random().toString(36).slice(2, 8);
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('e2e: placement, identity and the PodDisruptionBudget on the real node', { timeout: 600_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let node = '';
  let ready: V1Pod[] = [];

  const podsOf = async (instance: string) =>
    (await c.core.listNamespacedPod({ namespace: ns, labelSelector: `app.kubernetes.io/instance=${instance}` })).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    );

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    const nodes = (await c.core.listNode()).items;
    assert.equal(nodes.length, 1, 'the single e2e node');
    node = nodes[0]!.metadata!.name!;
    const taints = nodes[0]!.spec?.taints ?? [];
    await c.core.patchNode(
      {
        name: node,
        body: { metadata: { labels: { [KEY]: VALUE } }, spec: { taints: [...taints, { key: KEY, value: VALUE, effect: 'NoSchedule' }] } },
      },
      mergePatch,
    );
    ns = await restrictedNamespace(c, 'e2e-placement');
    await c.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'iris-runner' } } });
    const auth = Buffer.from(JSON.stringify({ auths: { 'registry.example.com': { auth: Buffer.from('u:p').toString('base64') } } }));
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'registry' },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': auth.toString('base64') },
      },
    });
    op = await startE2eOperator(cluster, ns);
  });

  after(async () => {
    await op?.stop();
    // Give the node back as it was, whatever happened above.
    if (node) {
      try {
        const n = await c.core.readNode({ name: node });
        const taints = (n.spec?.taints ?? []).filter((t) => t.key !== KEY);
        await c.core.patchNode({ name: node, body: { metadata: { labels: { [KEY]: null } }, spec: { taints } } }, mergePatch);
      } catch (err) {
        process.stderr.write(`placement: could not remove the taint/label ${KEY} from ${node}: ${String(err)}\n`);
        throw err;
      }
    }
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('without the toleration the pod stays unscheduled on the tainted node', async () => {
    const iris = exampleIris(cluster.modelServerUrl);
    await createMd(c, ns, 'untolerated', { ...iris.spec, replicas: 1, pod: { nodeSelector: { [KEY]: VALUE } } });
    const pod = await waitFor(
      async () => {
        const [p] = await podsOf('untolerated');
        const scheduled = p?.status?.conditions?.find((x) => x.type === 'PodScheduled');
        return scheduled?.status === 'False' ? p : undefined;
      },
      { timeoutMs: 60_000, description: 'the untolerated pod reported unschedulable' },
    );
    const scheduled = pod.status?.conditions?.find((x) => x.type === 'PodScheduled');
    assert.equal(scheduled?.reason, 'Unschedulable');
    assert.match(scheduled?.message ?? '', /untolerated taint/);
    assert.equal(pod.spec?.nodeName, undefined);
    await deleteMd(c, ns, 'untolerated');
  });

  it('with nodeSelector and toleration: Ready on the tainted node, with the ServiceAccount and the pull secret', async () => {
    const iris = exampleIris(cluster.modelServerUrl);
    const md = await createAndWaitReady(c, ns, {
      metadata: { name: 'placed' },
      spec: {
        ...iris.spec,
        replicas: 2,
        pod: {
          nodeSelector: { [KEY]: VALUE },
          tolerations: [{ key: KEY, operator: 'Equal', value: VALUE, effect: 'NoSchedule' }],
          serviceAccountName: 'iris-runner',
          imagePullSecrets: [{ name: 'registry' }],
          env: [{ name: 'E2E_PLACEMENT', value: VALUE }],
          labels: { team: 'e2e' },
        },
      },
    });
    assert.equal(md.status?.readyReplicas, 2);
    ready = await podsOf('placed');
    assert.equal(ready.length, 2);
    for (const p of ready) {
      assert.equal(p.spec?.nodeName, node, 'placed on the labelled, tainted node');
      assert.equal(p.status?.phase, 'Running');
      assert.equal(p.spec?.serviceAccountName, 'iris-runner');
      assert.deepEqual(
        p.spec?.imagePullSecrets?.map((s) => s.name),
        ['registry'],
      );
      const serve = p.spec?.containers.find((x) => x.name === 'serve');
      assert.ok(
        serve?.volumeMounts?.some((m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount'),
        "the named ServiceAccount's token is mounted (its automountServiceAccountToken is unset: true)",
      );
      assert.equal(serve?.env?.find((e) => e.name === 'E2E_PLACEMENT')?.value, VALUE);
      assert.equal(p.metadata?.labels?.team, 'e2e');
    }
  });

  it('a drain-style eviction takes one pod and is refused with 429 for the second (PDB maxUnavailable 1)', async () => {
    const policy = c.kc.makeApiClient(PolicyV1Api);
    await waitFor(
      async () => {
        const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'placed', namespace: ns });
        return pdb.status?.disruptionsAllowed === 1 && pdb.status?.currentHealthy === 2 ? pdb : undefined;
      },
      { timeoutMs: 60_000, description: 'PDB placed: 2 healthy, 1 disruption allowed' },
    );
    const evict = (pod: V1Pod) =>
      c.core.createNamespacedPodEviction({
        name: pod.metadata!.name!,
        namespace: ns,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod.metadata!.name!, namespace: ns } },
      });
    const [first, second] = ready as [V1Pod, V1Pod];
    await evict(first);
    const refused = await evict(second).then(
      () => undefined,
      (err: { code?: number; body?: unknown }) => err,
    );
    assert.ok(refused, 'the second eviction was refused');
    assert.equal(refused.code, 429, String(refused.body));
    assert.match(String(refused.body), /disruption budget/);
    const stillThere = await c.core.readNamespacedPod({ name: second.metadata!.name!, namespace: ns });
    assert.equal(stillThere.metadata?.deletionTimestamp, undefined, 'the second pod keeps serving');
    // The Deployment replaces the evicted pod, on the same node.
    const back = await waitFor(
      async () => {
        const pods = await podsOf('placed');
        const readyPods = pods.filter((p) => p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
        return readyPods.length === 2 ? readyPods : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1000, description: '2 ready pods again' },
    );
    assert.ok(back.every((p) => p.spec?.nodeName === node));
  });
});
