// kube-apiserver restarted in the middle of a rollout (issue 9, fault campaign): the harness's
// API server is stopped by its PID (SIGTERM; SIGKILL 10 s later, as its graceful shutdown waits up
// to 60 s for open watches), kept down 5 s and started again with the same command line. The operator's
// informers reconnect and the rollout completes (Ready with the new version); predictions through
// the Service keep working while the API server is down (kube-proxy's rules stay in place).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { restartApiserver } from '@modelship/devcluster/kube-apiserver';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { assertHistoryUnique, describeLoad, modelPods, seconds, settledOn, irisUnderLoad } from './faults.ts';
import { restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import type { Load } from './load.ts';

/** How long the API server stays down: longer than a watch reconnect's first backoff steps. */
const DOWN_MS = 5_000;

describe('e2e faults: kube-apiserver restarted during a rollout', { timeout: 600_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let load: Load | undefined;

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-faults-api');
    op = await startE2eOperator(cluster, ns);
    load = await irisUnderLoad(c, ns, cluster.modelServerUrl, 500);
  });

  after(async () => {
    await load?.stop();
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('the operator recovers and completes the rollout; requests through the Service keep working', async (t) => {
    await patchMd(c, ns, 'iris', { spec: { model: { version: '2' } } });
    await waitFor(
      async () => {
        const md = await getMd(c, ns, 'iris');
        const pods = await modelPods(c, ns, 'iris');
        return md.status?.updatingVersion === '2' && pods.some((p) => p.metadata?.labels?.['modelship.dev/model-version'] === '2');
      },
      { timeoutMs: 120_000, intervalMs: 200, description: 'the rollout to version 2 to be under way' },
    );
    const before = load!.snapshot();
    const r = await restartApiserver(cluster.cpDir, { downMs: DOWN_MS });
    const upAt = Date.now();
    const during = load!.snapshot();
    t.diagnostic(
      `kube-apiserver pid ${r.oldPid} stopped in ${seconds(r.stopMs)}, down ${seconds(DOWN_MS)}, pid ${r.newPid} ready in ${seconds(r.startMs)}: ` +
        `unreachable for ${seconds(r.downMs)}; ` +
        `${during.sent - before.sent} requests meanwhile, ${during.failed - before.failed} failed`,
    );
    assert.equal(op.logs().filter((l) => l.message === 'ops endpoints listening').length, 1, 'the operator process kept running');

    const md = await settledOn(c, ns, 'iris', '2');
    t.diagnostic(`rollout to version 2 completed ${seconds(Date.now() - upAt)} after the API server was back`);
    assertHistoryUnique(md);
    assert.equal(md.status?.history?.[0]?.outcome, 'Succeeded');

    // the operator still reacts to changes after the restart (its watches were re-established)
    const t1 = Date.now();
    await patchMd(c, ns, 'iris', { spec: { model: { version: '3' } } });
    await settledOn(c, ns, 'iris', '3');
    t.diagnostic(`a further rollout to version 3 took ${seconds(Date.now() - t1)}`);

    const result = await load!.stop();
    load = undefined;
    t.diagnostic(`whole test: ${describeLoad(result)}`);
    assert.equal(result.failed, 0, result.failures.join('; '));
  });
});
