// End to end on the real single-node cluster: `kubectl apply -f examples/iris/modeldeployment.yaml`
// exactly as written (its model is the copy inside the runtime image: nothing else is applied or
// served for it), real pods from the runtime image built from runtime/Dockerfile,
// in a namespace that enforces the `restricted` Pod Security Standard; predictions through the
// Service's ClusterIP (kube-proxy iptables), through the API server's service proxy, and the
// README's TF-Serving curl; delete → pods and Service gone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { join } from 'node:path';
import { repoRoot } from '@modelship/devcluster/binaries';
import { attachControlPlane } from '@modelship/devcluster/controlplane';
import { clients, condition, deleteMd, exists, waitForMd, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { curl, post } from '@modelship/devcluster/http-post';
import { assertIrisOutputs, expected, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';

describe('e2e: examples/iris on a real node', { timeout: 600_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let clusterIP = '';

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-iris');
    op = await startE2eOperator(cluster, ns);
  });

  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('kubectl apply -f examples/iris/modeldeployment.yaml as written → Ready, pods Running and Ready (restricted Pod Security enforced)', async () => {
    const applied = await attachControlPlane(cluster.cpDir).kubectl([
      '-n',
      ns,
      'apply',
      '-f',
      join(repoRoot, 'examples/iris/modeldeployment.yaml'),
    ]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /modeldeployment\.modelship\.dev\/iris created/);
    const ready = await waitForMd(c, ns, 'iris', 'mdep/iris Ready', (m) => condition(m, 'Ready')?.status === 'True', 240_000);
    assert.equal(ready.spec?.model.uri, 'file:///app/examples/models/iris/model.onnx', 'the model bundled in the runtime image');
    assert.equal(ready.status?.currentVersion, '1');
    const pods = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=iris' })).items;
    assert.equal(pods.length, 1);
    const pod = pods[0]!;
    assert.equal(pod.status?.phase, 'Running');
    assert.equal(pod.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
    assert.equal(pod.spec?.containers[0]?.image, cluster.runtimeImage);
    assert.equal(pod.status?.initContainerStatuses?.[0]?.state?.terminated?.exitCode, 0, 'fetch downloaded and verified the model');
    const nsObj = await c.core.readNamespace({ name: ns });
    assert.equal(nsObj.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    const svc = await c.core.readNamespacedService({ name: 'iris', namespace: ns });
    clusterIP = svc.spec?.clusterIP ?? '';
    assert.match(clusterIP, /^10\.0\.\d{1,3}\.\d{1,3}$/, 'a ClusterIP from the Service range 10.0.0.0/16');
  });

  it('V2 infer through the Service ClusterIP returns the expected outputs', async () => {
    const r = await waitFor(
      async () => {
        const res = await post(`http://${clusterIP}/v2/models/iris/infer`, { inputs: expected.inputs });
        return res.status === 200 ? res : undefined;
      },
      { timeoutMs: 30_000, description: 'V2 infer via the ClusterIP' },
    );
    assertIrisOutputs(r.body);
  });

  it('V2 infer through the API server service proxy', async () => {
    const r = await post(
      `${cluster.server}/api/v1/namespaces/${ns}/services/iris:80/proxy/v2/models/iris/infer`,
      { inputs: expected.inputs },
      { cpDir: cluster.cpDir },
    );
    assert.equal(r.status, 200, r.body);
    assertIrisOutputs(r.body);
  });

  it('the TF-Serving style curl works', async () => {
    const out = await curl([
      '-d',
      '{"instances": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]}',
      '-X',
      'POST',
      `http://${clusterIP}/v1/models/iris:predict`,
    ]);
    const res = JSON.parse(out) as { predictions: Array<Record<string, unknown>> };
    assert.equal(res.predictions.length, 2, out);
    assert.deepEqual(
      res.predictions.map((p) => Number(p.label)),
      [0, 2],
      out,
    );
  });

  it('delete the ModelDeployment → pods and Service gone', async () => {
    await deleteMd(c, ns, 'iris');
    await waitFor(
      async () => {
        const pods = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=iris' })).items;
        const svc = await exists(() => c.core.readNamespacedService({ name: 'iris', namespace: ns }));
        const dep = await exists(() => c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns }));
        return pods.length === 0 && !svc && !dep;
      },
      { timeoutMs: 120_000, intervalMs: 1_000, description: 'pods, Deployment and Service of iris gone' },
    );
  });
});
