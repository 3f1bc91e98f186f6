// Operator faults on the real node, under 50 predictions a second through the Service the whole
// time (issue 9, fault campaign):
//   1. SIGKILL the operator in the middle of a rollout: a new instance converges the rollout, no
//      rollout appears twice in status.history, no request fails.
//   2. Two replicas on one Lease; the Lease is taken away from the leader (its holder patched to
//      another identity): the leader exits within the renew deadline, the standby takes the Lease
//      and reconciles the next change. Failover times are printed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { assertHistoryUnique, describeLoad, modelPods, seconds, settledOn, irisUnderLoad } from './faults.ts';
import { restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import type { Load } from './load.ts';

// short Lease timings so the failover is quick to observe (defaults 15s / 10s / 2s)
const LEASE = { durationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 1_000 };
const LEASE_ARGS = [
  '--leader-elect',
  'true',
  '--lease-duration',
  `${LEASE.durationMs / 1000}s`,
  '--renew-deadline',
  `${LEASE.renewDeadlineMs / 1000}s`,
  '--retry-period',
  `${LEASE.retryPeriodMs / 1000}s`,
];
/** process shutdown after leadership is lost (informers stopped, HTTP closed) */
const EXIT_SLACK_MS = 5_000;

describe('e2e faults: the operator killed mid-rollout, the Lease taken away', { timeout: 900_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  const operators: OperatorProcess[] = [];
  let load: Load | undefined;

  const startOp = async (opts: { identity?: string; args?: string[] } = {}) => {
    const op = await startE2eOperator(cluster, ns, opts);
    operators.push(op);
    return op;
  };

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-faults-op');
    await startOp();
    load = await irisUnderLoad(c, ns, cluster.modelServerUrl, 840);
  });

  after(async () => {
    await load?.stop();
    for (const op of operators) await op.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('SIGKILL of the operator mid-rollout: a new instance converges it, history has no duplicates, 0 failed requests', async (t) => {
    const first = operators[0]!;
    await patchMd(c, ns, 'iris', { spec: { model: { version: '2' } } });
    // mid-rollout: the operator has started it and a new pod exists while an old one still serves
    const mid = await waitFor(
      async () => {
        const md = await getMd(c, ns, 'iris');
        const versions = (await modelPods(c, ns, 'iris')).map((p) => p.metadata?.labels?.['modelship.dev/model-version']);
        return md.status?.updatingVersion === '2' && versions.includes('2') && versions.includes('1') ? versions : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 200, description: 'the rollout to version 2 to be under way' },
    );
    const killedAt = Date.now();
    assert.equal(await first.stop('SIGKILL'), null, 'the operator was killed, not exited');
    t.diagnostic(`operator SIGKILLed mid-rollout (pods by version: ${mid.join(', ')})`);

    await startOp();
    const startedAt = Date.now();
    const md = await settledOn(c, ns, 'iris', '2');
    t.diagnostic(
      `a new operator converged the rollout ${seconds(Date.now() - startedAt)} after its start (${seconds(Date.now() - killedAt)} after the kill)`,
    );
    assertHistoryUnique(md);
    assert.deepEqual(
      md.status?.history?.map((h) => [h.version, h.outcome]),
      [
        ['2', 'Succeeded'],
        ['1', 'Succeeded'],
      ],
    );
    const s = load!.snapshot();
    t.diagnostic(`load so far: ${describeLoad(s)}`);
    assert.equal(s.failed, 0, s.failures.join('; '));
  });

  it('the Lease taken from the leader: it exits within the renew deadline, the standby takes over and reconciles', async (t) => {
    // replace the single operator by two replicas electing a leader on a Lease in the namespace
    await operators.pop()!.stop();
    const a = await startOp({ identity: 'faults-op-a', args: [...LEASE_ARGS, '--leader-election-namespace', ns] });
    const b = await startOp({ identity: 'faults-op-b', args: [...LEASE_ARGS, '--leader-election-namespace', ns] });
    const readLease = () => c.coordination.readNamespacedLease({ name: 'modelship-operator', namespace: ns });
    const first = await waitFor(
      async () => {
        const holder = (await readLease()).spec?.holderIdentity;
        return holder === a.identity || holder === b.identity ? holder : undefined;
      },
      { timeoutMs: 60_000, description: 'one replica to hold the Lease' },
    );
    const [leader, standby] = first === a.identity ? [a, b] : [b, a];

    const lease = await readLease();
    lease.spec = { ...lease.spec, holderIdentity: 'fault-injector' };
    await c.coordination.replaceNamespacedLease({ name: 'modelship-operator', namespace: ns, body: lease });
    const takenAt = Date.now();

    const exitBound = LEASE.renewDeadlineMs + LEASE.retryPeriodMs + EXIT_SLACK_MS;
    const code = await Promise.race([leader.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), exitBound + 10_000))]);
    const exitMs = Date.now() - takenAt;
    assert.notEqual(code, 'running', `the leader that lost its Lease was still running ${seconds(exitMs)} later (a zombie)`);
    t.diagnostic(`the leader that lost its Lease exited (code ${code}) ${seconds(exitMs)} after the Lease was taken`);
    assert.ok(exitMs <= exitBound, `exited after ${seconds(exitMs)}, bound renew deadline + retry period + ${seconds(EXIT_SLACK_MS)}`);

    await waitFor(async () => (await readLease()).spec?.holderIdentity === standby.identity, {
      timeoutMs: LEASE.durationMs + 20_000,
      intervalMs: 100,
      description: `the standby ${standby.identity} to take the Lease`,
    });
    const takeoverMs = Date.now() - takenAt;
    t.diagnostic(
      `failover: the standby holds the Lease ${seconds(takeoverMs)} after it was taken (lease duration ${seconds(LEASE.durationMs)})`,
    );
    assert.ok(takeoverMs <= LEASE.durationMs + 2 * LEASE.retryPeriodMs + EXIT_SLACK_MS, `takeover after ${seconds(takeoverMs)}`);

    await patchMd(c, ns, 'iris', { spec: { model: { version: '3' } } });
    const md = await settledOn(c, ns, 'iris', '3');
    t.diagnostic(`the new leader rolled out version 3; ${seconds(Date.now() - takenAt)} from the Lease being taken to version 3 serving`);
    assertHistoryUnique(md);
    assert.equal(md.status?.history?.[0]?.outcome, 'Succeeded');
    const result = await load!.stop();
    load = undefined;
    t.diagnostic(`whole test: ${describeLoad(result)}`);
    assert.equal(result.failed, 0, result.failures.join('; '));
  });
});
