import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../harness/wait.ts';
import { clients, createMd, createNamespace, type Clients } from './kube.ts';
import { startOperator, type OperatorProcess } from './operator-process.ts';

const LEASE_ARGS = ['--leader-elect', 'true', '--lease-duration', '6s', '--renew-deadline', '4s', '--retry-period', '1s'];

describe('leader election on a Lease', () => {
  let c: Clients;
  let ns: string;
  const ops: OperatorProcess[] = [];

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'leader');
  });
  after(async () => {
    await Promise.all(ops.map((o) => o.stop()));
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
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
});
