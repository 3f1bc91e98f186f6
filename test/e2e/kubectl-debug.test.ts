// End to end on the real single-node cluster: the debugging commands a user reaches for first —
// `kubectl logs`, `kubectl exec`, `kubectl port-forward` — against a running iris pod. Each goes
// API server → kubelet (the API server dials the node's InternalIP with its kubelet client
// certificate) → containerd's CRI streaming server.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { attachControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { createAndWaitReady, exampleIris, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';

const INFERENCE_PORT = 8080;

/** Resolves once `child` has exited (at once if it already has). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

describe('e2e: kubectl logs / exec / port-forward reach an iris pod', { timeout: 420_000 }, () => {
  let cluster: E2eCluster;
  let cp: ControlPlane;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let pod = '';
  let portForward: ChildProcess | undefined;

  before(async () => {
    cluster = await getE2eCluster();
    cp = attachControlPlane(cluster.cpDir);
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-kubectl');
    op = await startE2eOperator(cluster, ns);
    await createAndWaitReady(c, ns, exampleIris(cluster.modelServerUrl));
    const pods = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=iris' })).items;
    assert.equal(pods.length, 1);
    pod = pods[0]!.metadata!.name!;
  });

  after(async () => {
    if (portForward?.pid !== undefined && portForward.exitCode === null && portForward.signalCode === null) {
      process.kill(portForward.pid, 'SIGKILL');
      await exited(portForward);
    }
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('kubectl logs <pod> -c serve shows the runtime’s JSON "listening" and "ready" lines', async () => {
    const r = await cp.kubectl(['-n', ns, 'logs', pod, '-c', 'serve'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, `kubectl logs failed: ${r.stderr}`);
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level?: string; message?: string; port?: number; model?: string });
    const listening = lines.find((l) => l.message === 'listening');
    assert.ok(listening, `no "listening" line in:\n${r.stdout}`);
    assert.equal(listening.level, 'info');
    assert.equal(listening.port, INFERENCE_PORT);
    assert.equal(listening.model, 'iris');
    assert.ok(
      lines.some((l) => l.message === 'ready'),
      `no "ready" line in:\n${r.stdout}`,
    );
  });

  it('kubectl exec <pod> -c serve -- node -e … runs in the container (Node 24)', async () => {
    const r = await cp.kubectl(['-n', ns, 'exec', pod, '-c', 'serve', '--', 'node', '-e', 'console.log(process.version)'], {
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, `kubectl exec failed: ${r.stderr}`);
    assert.match(r.stdout.trim(), /^v24\.\d+\.\d+$/);
  });

  it('kubectl port-forward pod/<pod> :8080 → GET /v2/health/ready on loopback answers 200', async () => {
    // `:8080`: kubectl picks a free local port and prints it, so no other process can take it first
    const child = spawn(
      cp.binaries.kubectl,
      [`--kubeconfig=${cluster.kubeconfigPath}`, '-n', ns, 'port-forward', '--address=127.0.0.1', `pod/${pod}`, `:${INFERENCE_PORT}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    portForward = child;
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const listening = new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${INFERENCE_PORT}`);
    const localPort = await new Promise<number>((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`kubectl port-forward printed no port in 20 s: ${stdout}${stderr}`)), 20_000);
      child.stdout!.setEncoding('utf8').on('data', (s: string) => {
        stdout += s;
        const m = listening.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`kubectl port-forward exited (${code}): ${stderr}`));
      });
    });
    const res = await fetch(`http://127.0.0.1:${localPort}/v2/health/ready`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200, await res.text());
    assert.doesNotMatch(stderr, /error/i, stderr);

    process.kill(child.pid!, 'SIGTERM');
    await exited(child);
    await assert.rejects(
      fetch(`http://127.0.0.1:${localPort}/v2/health/ready`, { signal: AbortSignal.timeout(5_000) }),
      'the forward is gone once kubectl port-forward is stopped',
    );
  });
});
