import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '@modelship/devcluster/wait';
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts';
import { clients, createMd, createNamespace, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';

const LEASE_ARGS = ['--leader-elect', 'true', '--lease-duration', '6s', '--renew-deadline', '4s', '--retry-period', '1s'];
const RENEW_DEADLINE_MS = 4000;
const RETRY_PERIOD_MS = 1000;
/** Time a loaded 2-core machine may add to a renew attempt and the process exit. */
const SLACK_MS = 3000;

/** Hands the Lease to an identity that is not running, as another leader (or a person) would. */
async function takeLease(c: Clients, namespace: string, holder: string): Promise<void> {
  const lease = await c.coordination.readNamespacedLease({ name: 'modelship-operator', namespace });
  const now = `${new Date().toISOString().slice(0, -1)}000Z`;
  lease.spec = { ...lease.spec, holderIdentity: holder, renewTime: now as never, acquireTime: now as never };
  await c.coordination.replaceNamespacedLease({ name: 'modelship-operator', namespace, body: lease });
}

/** The exit code, or 'running' if the process is still alive after `ms`. */
async function exitWithin(op: OperatorProcess, ms: number): Promise<number | null | 'running'> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([op.exited, new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), ms)))]);
  clearTimeout(timer);
  return result;
}

async function readyz(op: OperatorProcess): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${op.port}/readyz`, { signal: AbortSignal.timeout(2000) });
    return `${res.status} ${(await res.text()).trim()}`;
  } catch (err) {
    return `unreachable (${(err as Error).message})`;
  }
}

describe('leader election on a Lease', () => {
  let c: Clients;
  let ns: string;
  const ops: OperatorProcess[] = [];

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'leader');
  });
  const extraNamespaces: string[] = [];
  const ownNamespace = async (prefix: string) => {
    const name = await createNamespace(c, prefix);
    extraNamespaces.push(name);
    return name;
  };
  after(async () => {
    await Promise.all(ops.map((o) => o.stop()));
    for (const name of [ns, ...extraNamespaces]) await c?.core.deleteNamespace({ name }).catch(() => undefined);
  });

  test('two instances: only the Lease holder reconciles; stopping it lets the other take over', async () => {
    const args = [...LEASE_ARGS, '--leader-election-namespace', ns];
    const a = await startOperator({ namespace: ns, identity: 'op-a', args });
    ops.push(a);
    await waitFor(async () => (await a.metric('modelship_leader')) === 1, { description: 'op-a leads' });
    const b = await startOperator({ namespace: ns, identity: 'op-b', args });
    ops.push(b);

    await createMd(c, ns, 'first', { model: { version: '1', uri: 'https://m.example.com/1.onnx' } });
    await waitFor(() => c.apps.readNamespacedDeployment({ name: 'first', namespace: ns }).catch(() => undefined), {
      description: 'Deployment first',
    });
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok((await a.metric('modelship_reconcile_total')) > 0, 'the leader reconciled');
    assert.equal(await b.metric('modelship_reconcile_total'), 0, 'the standby never reconciled');
    assert.equal(await b.metric('modelship_leader'), 0);
    assert.equal(await b.metric('modelship_api_writes_total', { resource: 'deployments' }), 0);
    const lease = await c.coordination.readNamespacedLease({ name: 'modelship-operator', namespace: ns });
    assert.equal(lease.spec?.holderIdentity, 'op-a');

    // Graceful stop releases the Lease: the standby takes over within a retry period or two.
    const stoppedAt = Date.now();
    assert.equal(await a.stop('SIGTERM'), 0);
    await waitFor(async () => (await b.metric('modelship_leader')) === 1, {
      timeoutMs: 30_000,
      intervalMs: 100,
      description: 'op-b leads',
    });
    const gracefulFailoverMs = Date.now() - stoppedAt;
    await createMd(c, ns, 'second', { model: { version: '1', uri: 'https://m.example.com/1.onnx' } });
    await waitFor(() => c.apps.readNamespacedDeployment({ name: 'second', namespace: ns }).catch(() => undefined), {
      description: 'Deployment second (by op-b)',
    });
    assert.equal((await c.coordination.readNamespacedLease({ name: 'modelship-operator', namespace: ns })).spec?.holderIdentity, 'op-b');

    // A crash (SIGKILL) cannot release the Lease: a new instance waits out the lease duration.
    const cStart = await startOperator({ namespace: ns, identity: 'op-c', args });
    ops.push(cStart);
    const killedAt = Date.now();
    await b.stop('SIGKILL');
    await waitFor(async () => (await cStart.metric('modelship_leader')) === 1, {
      timeoutMs: 60_000,
      intervalMs: 100,
      description: 'op-c leads after op-b crashed',
    });
    const crashFailoverMs = Date.now() - killedAt;
    assert.ok(crashFailoverMs >= 4000, `took over only after the lease expired (${crashFailoverMs} ms)`);
    process.stdout.write(
      `# leader failover: graceful ${gracefulFailoverMs} ms, after SIGKILL ${crashFailoverMs} ms (lease 6 s, retry 1 s)\n`,
    );
  });

  test('a leader whose Lease is taken exits non-zero within the renew deadline; the standby takes over and reconciles', async () => {
    const leaseNs = await ownNamespace('lease-taken');
    const args = [...LEASE_ARGS, '--leader-election-namespace', leaseNs];
    const a = await startOperator({ namespace: leaseNs, identity: 'taken-a', args });
    ops.push(a);
    await waitFor(async () => (await a.metric('modelship_leader')) === 1, { description: 'taken-a leads' });
    const b = await startOperator({ namespace: leaseNs, identity: 'taken-b', args });
    ops.push(b);
    await createMd(c, leaseNs, 'takeover', { model: { version: '1', uri: 'https://m.example.com/1.onnx' }, replicas: 1 });
    await waitFor(() => c.apps.readNamespacedDeployment({ name: 'takeover', namespace: leaseNs }).catch(() => undefined), {
      description: 'Deployment takeover (by taken-a)',
    });

    const takenAt = Date.now();
    await takeLease(c, leaseNs, 'intruder');
    const code = await exitWithin(a, RENEW_DEADLINE_MS + SLACK_MS);
    const exitMs = Date.now() - takenAt;
    // Before the fix the process logged "lost leadership" and "shutting down" and stayed up,
    // answering /readyz 200 "standing by", and ignored SIGTERM.
    assert.notEqual(code, 'running', `taken-a still running ${exitMs} ms after its Lease was taken; /readyz: ${await readyz(a)}`);
    assert.equal(code, 1, 'a lost Lease is a failure exit, so Kubernetes restarts the container');
    assert.ok(
      a.logs().some((l) => l.message === 'lost leadership'),
      'the reason is logged',
    );

    // The intruder never renews: taken-b takes over once the Lease expires (6 s after it was taken).
    await waitFor(async () => (await b.metric('modelship_leader')) === 1, {
      timeoutMs: 30_000,
      intervalMs: 100,
      description: 'taken-b leads',
    });
    const failoverMs = Date.now() - takenAt;
    await patchMd(c, leaseNs, 'takeover', { spec: { replicas: 3 } });
    await waitFor(async () => (await c.apps.readNamespacedDeployment({ name: 'takeover', namespace: leaseNs })).spec?.replicas === 3, {
      description: 'taken-b reconciles the replicas change',
      timeoutMs: 30_000,
    });
    const reconciledMs = Date.now() - takenAt;
    assert.ok((await b.metric('modelship_reconcile_total')) > 0);
    assert.equal(
      (await c.coordination.readNamespacedLease({ name: 'modelship-operator', namespace: leaseNs })).spec?.holderIdentity,
      'taken-b',
    );
    process.stdout.write(
      `# Lease taken: leader exited (code ${code}) after ${exitMs} ms; standby leading after ${failoverMs} ms, ` +
        `change reconciled after ${reconciledMs} ms (lease 6 s, renew deadline 4 s, retry 1 s)\n`,
    );
  });

  test('a single leader whose Lease is taken exits non-zero (and SIGTERM is never needed)', async () => {
    const leaseNs = await ownNamespace('lease-single');
    const solo = await startOperator({
      namespace: leaseNs,
      identity: 'solo',
      args: [...LEASE_ARGS, '--leader-election-namespace', leaseNs],
    });
    ops.push(solo);
    await waitFor(async () => (await solo.metric('modelship_leader')) === 1, { description: 'solo leads' });
    const takenAt = Date.now();
    await takeLease(c, leaseNs, 'someone-else');
    const code = await exitWithin(solo, RETRY_PERIOD_MS + SLACK_MS);
    const exitMs = Date.now() - takenAt;
    assert.notEqual(code, 'running', `solo still running ${exitMs} ms after its Lease was taken; /readyz: ${await readyz(solo)}`);
    assert.equal(code, 1);
    process.stdout.write(`# single leader, Lease taken: exited (code ${code}) after ${exitMs} ms (retry period 1 s)\n`);
  });

  test('a leader cut off from the API server (renewals hang) exits non-zero at the renew deadline', async () => {
    const leaseNs = await ownNamespace('lease-cut');
    let proxy: FaultProxy | undefined;
    try {
      proxy = await startFaultProxy(c.kc, 'leader-cut');
      const cut = await startOperator({
        namespace: leaseNs,
        identity: 'cut-off',
        kubeconfig: proxy.kubeconfig,
        args: [...LEASE_ARGS, '--leader-election-namespace', leaseNs],
      });
      ops.push(cut);
      await waitFor(async () => (await cut.metric('modelship_leader')) === 1, { description: 'cut-off leads' });
      const cutAt = Date.now();
      proxy.blackhole();
      const code = await exitWithin(cut, RENEW_DEADLINE_MS + RETRY_PERIOD_MS + SLACK_MS);
      const exitMs = Date.now() - cutAt;
      assert.notEqual(code, 'running', `cut-off still running ${exitMs} ms after the API server became unreachable`);
      assert.equal(code, 1);
      assert.ok(
        cut.logs().some((l) => l.message === 'lost leadership' && String(l.reason).includes('renew deadline')),
        'lost for the renew deadline',
      );
      process.stdout.write(`# leader cut off from the API server: exited (code ${code}) after ${exitMs} ms (renew deadline 4 s)\n`);
    } finally {
      await proxy?.close();
    }
  });
});
