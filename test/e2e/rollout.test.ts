// Rollouts and rollbacks on the real node under steady load: 50 requests/s from this process to the
// Service's ClusterIP (kube-proxy iptables → pod IPs) the whole time, while the version changes twice
// (both Succeeded), then a version with a wrong sha256 and one whose file is not a valid ONNX model
// are rolled back automatically. Zero failed requests throughout; the time from the first failure
// signal (the pod's container terminating with an error) to the rollback is reported.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import { repoRoot } from '@modelship/devcluster/binaries';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, condition, createMd, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { exampleIris, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import { irisServiceUrl } from './faults.ts';
import { startLoad, type Load } from './load.ts';

const RATE = 50;
const BAD_SHA = 'ab'.repeat(32);
const brokenSha = readFileSync(join(repoRoot, 'examples/models/broken/model.onnx.sha256'), 'utf8').split(/\s+/)[0]!;
const irisSha = readFileSync(join(repoRoot, 'examples/models/iris/model.onnx.sha256'), 'utf8').split(/\s+/)[0]!;

describe('e2e: rollouts and automatic rollback under steady load', { timeout: 900_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let load: Load | undefined;

  const pods = async (): Promise<V1Pod[]> =>
    (await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=iris' })).items;

  /**
   * Serving `version` on every pod (old ones fully gone), no rollout under way; Ready too unless the
   * spec asks for another version (after a rollback Ready is False: the desired version is not served).
   */
  const settledOn = (version: string, opts: { ready?: boolean } = {}, timeoutMs = 240_000) =>
    waitFor(
      async () => {
        const md = await getMd(c, ns, 'iris');
        const list = await pods();
        const state = JSON.stringify({
          ready: condition(md, 'Ready')?.status,
          current: md.status?.currentVersion,
          updating: md.status?.updatingVersion,
          failed: md.status?.failedVersion,
          pods: list.map(
            (p) =>
              `${p.metadata?.name} v${p.metadata?.labels?.['modelship.dev/model-version']} ${p.status?.phase}${p.metadata?.deletionTimestamp ? ' deleting' : ''}`,
          ),
        });
        if ((opts.ready ?? true) && condition(md, 'Ready')?.status !== 'True') throw new Error(state);
        if (md.status?.currentVersion !== version || md.status?.updatingVersion) throw new Error(state);
        const ok =
          list.length === 2 &&
          list.every((p) => p.metadata?.labels?.['modelship.dev/model-version'] === version && !p.metadata?.deletionTimestamp);
        if (!ok) throw new Error(state);
        return md;
      },
      { timeoutMs, intervalMs: 1_000, description: `iris settled on version ${version}` },
    );

  const assertNoFailures = (t: TestContext, what: string) => {
    const s = load!.snapshot();
    t.diagnostic(`${what}: ${s.sent} requests, ${s.ok} ok, ${s.failed} failed, by version ${JSON.stringify(s.byVersion)}`);
    assert.equal(s.failed, 0, `failed requests during ${what}: ${s.failures.join('; ')}`);
  };

  /** When the named container last terminated with an error (ISO time), if it did. */
  const failedAt = (statuses: V1ContainerStatus[] | undefined, name: string): string | undefined => {
    const s = statuses?.find((x) => x.name === name);
    const term = s?.state?.terminated ?? s?.lastState?.terminated;
    if (!term || term.exitCode === 0) return undefined;
    return term.finishedAt instanceof Date ? term.finishedAt.toISOString() : String(term.finishedAt);
  };

  /** Waits for the rollback of `version`; returns ms from the first failed container (pod status) to it. */
  const rolledBack = async (version: string, signal: (p: V1Pod) => string | undefined) => {
    let firstFailure: number | undefined;
    const md = await waitFor(
      async () => {
        for (const p of await pods()) {
          const at = signal(p);
          if (at && (firstFailure === undefined || Date.parse(at) < firstFailure)) firstFailure = Date.parse(at);
        }
        const got = await getMd(c, ns, 'iris');
        return got.status?.failedVersion === version && condition(got, 'Degraded')?.status === 'True' ? got : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 500, description: `rollback of version ${version}` },
    );
    const entry = md.status?.history?.find((h) => h.version === version);
    const rollbackAt = entry?.finishedAt ? Date.parse(entry.finishedAt) : Date.now();
    return { md, entry, ms: firstFailure === undefined ? undefined : rollbackAt - firstFailure };
  };

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-rollout');
    op = await startE2eOperator(cluster, ns);
    const md = exampleIris(cluster.modelServerUrl);
    md.spec.replicas = 2;
    await createMd(c, ns, 'iris', md.spec);
    await settledOn('1');
    const url = await irisServiceUrl(c, ns);
    load = startLoad({
      url,
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [6.3, 3.3, 6.0, 2.5] }] }),
      rate: RATE,
      maxSeconds: 840,
      check: (status, body) => {
        if (status !== 200) return `HTTP ${status} ${body.slice(0, 200)}`;
        const label = (JSON.parse(body) as { outputs: Array<{ name: string; data: number[] }> }).outputs.find((o) => o.name === 'label')
          ?.data[0];
        return Number(label) === 2 ? undefined : `wrong label ${label}`;
      },
      version: (body) => (JSON.parse(body) as { model_version?: string }).model_version,
    });
  });

  after(async () => {
    await load?.stop();
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('two version changes under load: zero failed requests, both rollouts Succeeded', async (t) => {
    for (const version of ['2', '3']) {
      const t0 = Date.now();
      await patchMd(c, ns, 'iris', { spec: { model: { version } } });
      await settledOn(version);
      t.diagnostic(`rollout to version ${version} settled in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }
    const md: ModelDeployment = await getMd(c, ns, 'iris');
    for (const version of ['2', '3']) {
      assert.equal(md.status?.history?.find((h) => h.version === version)?.outcome, 'Succeeded', JSON.stringify(md.status?.history));
    }
    assertNoFailures(t, 'two rollouts');
    assert.ok((load!.snapshot().byVersion['3'] ?? 0) > 0, 'version 3 answered');
  });

  it('a wrong sha256 is rolled back automatically with zero failed requests', async (t) => {
    await patchMd(c, ns, 'iris', { spec: { model: { version: '4', sha256: BAD_SHA } } });
    const { md, entry, ms } = await rolledBack('4', (p) => failedAt(p.status?.initContainerStatuses, 'fetch'));
    assert.equal(md.status?.currentVersion, '3');
    assert.equal(entry?.outcome, 'RolledBack', JSON.stringify(md.status?.history));
    assert.equal(condition(md, 'Degraded')?.reason, 'RolledBack');
    assert.match(condition(md, 'Degraded')?.message ?? '', /sha256|checksum/i);
    t.diagnostic(
      `wrong sha256: ${condition(md, 'Degraded')?.message}; first failure signal → rollback ${ms === undefined ? '?' : `${(ms / 1000).toFixed(1)}s`}`,
    );
    await settledOn('3', { ready: false });
    assertNoFailures(t, 'wrong-sha256 rollback');
  });

  it('a file that is not a valid ONNX model is rolled back automatically with zero failed requests', async (t) => {
    await patchMd(c, ns, 'iris', {
      spec: { model: { version: '5', uri: `${cluster.modelServerUrl}/broken/model.onnx`, sha256: brokenSha } },
    });
    const { md, entry, ms } = await rolledBack('5', (p) => failedAt(p.status?.containerStatuses, 'serve'));
    assert.equal(md.status?.currentVersion, '3');
    assert.equal(entry?.outcome, 'RolledBack', JSON.stringify(md.status?.history));
    assert.equal(condition(md, 'Degraded')?.reason, 'RolledBack');
    // one exit with the runtime's model-load exit code is enough: no waiting for a crash loop
    assert.match(condition(md, 'Degraded')?.message ?? '', /model load failed: cannot serve model: .*Protobuf parsing failed/);
    t.diagnostic(
      `invalid ONNX: ${condition(md, 'Degraded')?.message}; first failure signal → rollback ${ms === undefined ? '?' : `${(ms / 1000).toFixed(1)}s`}`,
    );
    await settledOn('3', { ready: false });
    assertNoFailures(t, 'invalid-model rollback');
    // back to the good model under a new version: the spec change lifts the failed state
    await patchMd(c, ns, 'iris', { spec: { model: { version: '6', uri: `${cluster.modelServerUrl}/iris/model.onnx`, sha256: irisSha } } });
    const final = await settledOn('6');
    assert.notEqual(condition(final, 'Degraded')?.status, 'True');
    const result = await load!.stop();
    load = undefined;
    t.diagnostic(`whole test: ${result.sent} requests in ${result.seconds.toFixed(0)}s, ${result.failed} failed`);
    assert.equal(result.failed, 0, result.failures.join('; '));
  });
});
