// Runtime faults on the real node (issue 9, fault campaign), 2 replicas under 50 predictions a
// second through the Service the whole time; each fault hits one pod while the other keeps serving:
//   - one inference worker thread ends (made to exit through the Node.js inspector: faults.ts
//     exitWorkerThread): the pool starts a new one, the container is not restarted;
//   - the `serve` process is SIGKILLed from the host: kubelet restarts the container;
//   - the `serve` container is OOM-killed: its memory cgroup limit is lowered from the host to its
//     usage + 32 MiB, then three 16 MB binary requests go to that pod; the kernel kills it, kubelet
//     reports OOMKilled and restarts it.
// Each prints the recovery time and the failed requests out of those sent meanwhile.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { containerLog } from '@modelship/devcluster/container-log';
import { irisBinaryBody, postBinary } from '@modelship/devcluster/iris-binary';
import { describeLoad, exitWorkerThread, hostContainer, modelPods, seconds, squeezeMemory, irisUnderLoad } from './faults.ts';
import { post } from '@modelship/devcluster/http-post';
import { restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import type { Load, LoadResult } from './load.ts';

const RUNTIME_PORT = 8080;

describe('e2e faults: a worker thread, the serve process and an OOM kill under load', { timeout: 900_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let load: Load | undefined;

  const pods = async () => (await modelPods(c, ns, 'iris')).filter((p) => !p.metadata?.deletionTimestamp);
  const serveStatus = (p: V1Pod) => p.status?.containerStatuses?.find((s) => s.name === 'serve');
  const readPod = (name: string) => c.core.readNamespacedPod({ name, namespace: ns });
  const podReady = (p: V1Pod) => p.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True';

  /** Waits for the pod to be Ready with `restarts` restarts of serve; returns it. */
  const recovered = (name: string, restarts: number) =>
    waitFor(
      async () => {
        const p = await readPod(name);
        const s = serveStatus(p);
        if (s?.restartCount !== restarts) throw new Error(`serve restartCount ${s?.restartCount}, want ${restarts}`);
        return podReady(p) && s.ready ? p : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200, description: `pod ${name} Ready after ${restarts} restart(s)` },
    );

  /** Both pods Ready and answering directly, then 3 s of load without a failure. */
  const steady = async (t: TestContext) => {
    const list = await pods();
    assert.equal(list.length, 2);
    for (const p of list) {
      await waitFor(async () => podReady(await readPod(p.metadata!.name!)), { timeoutMs: 60_000, description: 'pod Ready' });
    }
    const before = load!.snapshot();
    await new Promise((r) => setTimeout(r, 3_000));
    const now = load!.snapshot();
    t.diagnostic(`steady: ${now.sent - before.sent} requests in 3 s after recovery, ${now.failed - before.failed} failed`);
    assert.equal(now.failed - before.failed, 0, now.failures.slice(-5).join('; '));
  };

  const window = (from: LoadResult, to: LoadResult) => `${to.failed - from.failed} failed of ${to.sent - from.sent} requests`;

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-faults-rt');
    op = await startE2eOperator(cluster, ns);
    load = await irisUnderLoad(c, ns, cluster.modelServerUrl, 840);
  });

  after(async () => {
    const result = await load?.stop();
    if (result) process.stderr.write(`faults-runtime load: ${describeLoad(result)}\n`);
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('an inference worker thread exits: a new one starts, the container keeps running, the pod keeps answering', async (t) => {
    const [victim] = await pods();
    const name = victim!.metadata!.name!;
    const hc = hostContainer(victim!, 'serve');
    const from = load!.snapshot();
    const report = await exitWorkerThread(hc.pids[0]!);
    const exitedAt = Date.now();
    t.diagnostic(`${name}: ${report}`);
    const log = await waitFor(
      async () => {
        const text = containerLog(victim!, 'serve');
        return /inference worker exited/.test(text) ? text : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'the runtime to log the worker exit' },
    );
    assert.match(log, /"code":70/, 'the exit code of the worker thread is logged');
    // a new worker answers on this very pod
    const podUrl = `http://${victim!.status?.podIP}:${RUNTIME_PORT}`;
    await waitFor(
      async () =>
        (
          await post(`${podUrl}/v2/models/iris/infer`, {
            inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [6.3, 3.3, 6.0, 2.5] }],
          })
        ).status === 200,
      { timeoutMs: 30_000, intervalMs: 100, description: 'the pod to answer with a new worker' },
    );
    t.diagnostic(`${name} answers again ${seconds(Date.now() - exitedAt)} after the worker exit`);
    const p = await recovered(name, 0);
    assert.equal(serveStatus(p)?.restartCount, 0, 'the container was not restarted');
    t.diagnostic(`worker exit: ${window(from, load!.snapshot())} through the Service meanwhile`);
    await steady(t);
  });

  it('the serve process is SIGKILLed from the host: kubelet restarts it, the other pod keeps serving', async (t) => {
    const [, victim] = await pods();
    const name = victim!.metadata!.name!;
    const hc = hostContainer(victim!, 'serve');
    const from = load!.snapshot();
    process.kill(hc.pids[0]!, 'SIGKILL');
    const killedAt = Date.now();
    const p = await recovered(name, 1);
    const recoveryMs = Date.now() - killedAt;
    const last = serveStatus(p)?.lastState?.terminated;
    assert.equal(last?.exitCode, 137, JSON.stringify(last));
    const to = load!.snapshot();
    t.diagnostic(`SIGKILL of ${name}'s serve (pid ${hc.pids[0]}): Ready again after ${seconds(recoveryMs)}; ${window(from, to)}`);
    assert.ok(to.ok > from.ok, 'the Service kept answering');
    await steady(t);
  });

  it('the serve container is OOM-killed: kubelet reports OOMKilled and restarts it, the other pod keeps serving', async (t) => {
    const [victim] = await pods();
    const name = victim!.metadata!.name!;
    const restarts = serveStatus(victim!)?.restartCount ?? 0;
    const hc = hostContainer(victim!, 'serve');
    const { usage, limit } = squeezeMemory(hc, 32 * 1024 * 1024);
    t.diagnostic(
      `${name}: memory cgroup limit lowered from the host to ${(limit / 2 ** 20).toFixed(0)} MiB (usage ${(usage / 2 ** 20).toFixed(0)} MiB)`,
    );
    const from = load!.snapshot();
    const { body, headerLength } = irisBinaryBody(1_000_000);
    const url = `http://${victim!.status?.podIP}:${RUNTIME_PORT}/v2/models/iris/infer`;
    const startedAt = Date.now();
    const replies = await Promise.allSettled([1, 2, 3].map(() => postBinary(url, body, headerLength)));
    t.diagnostic(
      `3 × 16 MB requests to ${name}: ${replies.map((r) => (r.status === 'fulfilled' ? `HTTP ${r.value.status}` : (r.reason as Error).message)).join(', ')}`,
    );
    const p = await recovered(name, restarts + 1);
    const recoveryMs = Date.now() - startedAt;
    const last = serveStatus(p)?.lastState?.terminated;
    assert.equal(last?.reason, 'OOMKilled', JSON.stringify(last));
    const to = load!.snapshot();
    t.diagnostic(`OOM kill of ${name}: Ready again ${seconds(recoveryMs)} after the requests; ${window(from, to)}`);
    assert.ok(to.ok > from.ok, 'the Service kept answering');
    await steady(t);
    const result = await load!.stop();
    load = undefined;
    t.diagnostic(`whole test: ${describeLoad(result)}`);
  });
});
