// The canary analysis's metrics scraper on the real cluster: the runtime's /metrics of every pod read
// through the API server's pod proxy (API server → kubelet → pod port 9090), with the harness's admin
// kubeconfig. Exactly the inference requests sent through the Service are counted (metadata calls
// are not), summed over the pods, 4xx apart; a pod that does not exist is reported, not thrown.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { PodProxyScraper } from '../../operator/src/analysis/scrape.ts';
import { windowBetween } from '../../operator/src/analysis/window.ts';
import { shareConnections } from '../../operator/src/kube/clients.ts';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, condition, createMd, getMd, kubeConfig, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { irisServiceUrl } from './faults.ts';
import { exampleIris, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';

describe('e2e: pod-proxy metrics scraper', { timeout: 400_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-scrape');
    op = await startE2eOperator(cluster, ns);
    const md = exampleIris(cluster.modelServerUrl);
    md.spec.replicas = 2;
    await createMd(c, ns, 'iris', md.spec);
    await waitFor(
      async () => {
        const m = await getMd(c, ns, 'iris');
        return condition(m, 'Ready')?.status === 'True' && m.status?.readyReplicas === 2;
      },
      { timeoutMs: 240_000, intervalMs: 1_000, description: 'iris Ready with 2 pods' },
    );
  });

  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('counts exactly the requests sent, per pod uid, through the pod proxy', async (t) => {
    const kc = kubeConfig();
    shareConnections(kc);
    const scraper = new PodProxyScraper(kc);
    // before the first read: kube-proxy programs a new Service's rules a moment after it exists
    // (a request sent earlier is refused: ECONNREFUSED in one clean-clone run); the probe's own
    // prediction lands before the window starts
    const url = await irisServiceUrl(c, ns);
    const pods: V1Pod[] = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=iris' })).items;
    const refs = pods.map((p) => ({ name: p.metadata!.name!, uid: p.metadata!.uid! }));
    assert.equal(refs.length, 2);
    const first = await scraper.scrape(ns, refs);
    assert.deepEqual(first.failures, []);
    assert.deepEqual(Object.keys(first.snapshot.pods).sort(), refs.map((r) => r.uid).sort());

    const good = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [6.3, 3.3, 6.0, 2.5] }] });
    const bad = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      // a new connection per request, so kube-proxy spreads them over both pods
      const res = await fetch(url, {
        method: 'POST',
        body: i % 8 === 0 ? bad : good,
        headers: { 'content-type': 'application/json', connection: 'close' },
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    assert.deepEqual([...new Set(statuses)].sort(), [200, 400]);
    // metadata calls are not predictions: counted apart (kind="metadata"), not in the window
    for (let i = 0; i < 10; i++) {
      const res = await fetch(url.replace(/\/infer$/, ''), { headers: { connection: 'close' } });
      await res.arrayBuffer();
      assert.equal(res.status, 200);
    }
    const second = await scraper.scrape(ns, [...refs, { name: 'no-such-pod', uid: 'x' }]);
    assert.equal(second.failures.length, 1);
    assert.match(second.failures[0]!, /^pod no-such-pod: HTTP 404 from the pod proxy: pods "no-such-pod" not found$/);
    const w = windowBetween(first.snapshot, second.snapshot);
    t.diagnostic(`window: ${JSON.stringify(w)}; per pod: ${refs.map((r) => second.snapshot.pods[r.uid]?.requests).join(', ')}`);
    assert.equal(w.requests, 40);
    assert.equal(w.clientErrors, 5);
    assert.equal(w.serverErrors, 0);
    assert.ok(w.p99Ms !== undefined && w.p99Ms > 0 && w.p99Ms <= 10_000, String(w.p99Ms));
  });
});
