// `kubectl modelship` on the real node, through the real kubectl binary (the plugin linked onto the
// PATH by `npm run plugin:install`'s script): a bad version rolled back by the operator, then
// `undo --to-version 1 --yes` bringing version 1 back; `status --watch` exiting 1 on the failed
// rollout and 0 on good ones; `predict` through the API server's service proxy (V2 and V1) with
// the iris outputs checked; `logs`; `promote` and `abort` driving a canary that would otherwise
// wait 10 minutes at its step.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, condition, createMd, getMd, patchMd, waitForMd, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { assertIrisOutputs, exampleIris, expected, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import { IRIS_LABEL, IRIS_ROW } from '@modelship/devcluster/iris-binary';
import { settledOn } from './faults.ts';
import { assertOneLineError, installPlugin, show, type Plugin } from '../integration/kubectl-plugin-run.ts';

const BAD_SHA = 'ab'.repeat(32);

describe('e2e: kubectl modelship', { timeout: 600_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let plugin: Plugin;
  let good: { uri: string; sha256: string };
  const mp = (args: string[], opts?: Parameters<Plugin['run']>[1]) => plugin.run([...args, '-n', ns], opts);

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-plugin');
    op = await startE2eOperator(cluster, ns);
    plugin = await installPlugin();
    const md = exampleIris(cluster.modelServerUrl);
    md.spec.replicas = 1;
    good = md.spec.model as { uri: string; sha256: string };
    await createMd(c, ns, 'iris', md.spec);
    await settledOn(c, ns, 'iris', '1', { replicas: 1 });
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
    await plugin?.remove();
  });

  it('a bad version is rolled back automatically (status --watch exits 1); undo --to-version 1 --yes brings 1 back (status --watch exits 0)', async () => {
    await patchMd(c, ns, 'iris', { spec: { model: { version: '2', uri: good.uri, sha256: BAD_SHA } } });
    const failed = await mp(['status', 'iris', '--watch', '--timeout', '150s'], { timeoutMs: 170_000 });
    assertOneLineError(failed, /^error: rollout of version 2 failed: RolledBack: version 2 failed: /);
    const md = await getMd(c, ns, 'iris');
    assert.equal(md.status?.failedVersion, '2');
    assert.equal(md.status?.currentVersion, '1');
    assert.equal(md.status?.history?.[0]?.outcome, 'RolledBack');

    const history = await mp(['history', 'iris']);
    assert.equal(history.code, 0, show(history));
    assert.match(history.stdout, /^undo can restore: version 1 /m);

    const undo = await mp(['undo', 'iris', '--to-version', '1', '--yes']);
    assert.equal(undo.code, 0, show(undo));
    assert.match(undo.stdout, /^\+ {3}version: "1"$/m);
    assert.match(undo.stdout, new RegExp(`^- {3}sha256: ${BAD_SHA}$`, 'm'));
    assert.equal((await getMd(c, ns, 'iris')).spec.model.version, '1', 'version 1 is the desired version again');

    const watch = await mp(['status', 'iris', '--watch', '--timeout', '120s'], { timeoutMs: 140_000 });
    assert.equal(watch.code, 0, show(watch));
    assert.match(watch.stdout, /^version 1 is serving: /m);
    const status = await mp(['status', 'iris']);
    assert.equal(status.code, 0, show(status));
    for (const line of [`Desired:    1  ${good.uri}`, 'Current:    1'])
      assert.ok(status.stdout.split('\n').includes(line), `${line} in\n${status.stdout}`);
    assert.match(status.stdout, /^ {2}Ready +True +Ready +\S+ +version 1 is serving$/m);
    assert.doesNotMatch(status.stdout, /^Failed:/m, 'failedVersion cleared by the spec change');
  });

  it('predict answers through the service proxy, V2 and V1, with the iris outputs', async () => {
    const request = JSON.stringify({ inputs: expected.inputs });
    const v2 = await mp(['predict', 'iris', '-f', '-'], { input: request });
    assert.equal(v2.code, 0, show(v2));
    assertIrisOutputs(v2.stdout);

    const rows = await mp(['predict', 'iris', '--instances', JSON.stringify([IRIS_ROW])]);
    assert.equal(rows.code, 0, show(rows));
    const answer = JSON.parse(rows.stdout) as { model_version: string; outputs: Array<{ name: string; data: number[] }> };
    assert.equal(answer.model_version, '1');
    assert.deepEqual(answer.outputs.find((o) => o.name === 'label')?.data, [IRIS_LABEL]);

    const v1 = await mp(['predict', 'iris', '--v1', '--instances', JSON.stringify([IRIS_ROW, [5.1, 3.5, 1.4, 0.2]])]);
    assert.equal(v1.code, 0, show(v1));
    const predictions = (JSON.parse(v1.stdout) as { predictions: Array<{ label: number; probabilities: number[] }> }).predictions;
    assert.deepEqual(
      predictions.map((p) => p.label),
      [IRIS_LABEL, 0],
    );
    for (const p of predictions) assert.ok(Math.abs(p.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4);

    assertOneLineError(
      await mp(['predict', 'iris', '-f', '-'], {
        input: '{"inputs": [{"name": "nope", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}',
      }),
      /^error: HTTP 400: unknown input "nope": model iris has inputs "input"$/,
    );
  });

  it('logs shows the runtime pods’ log, by version', async () => {
    const logs = await mp(['logs', 'iris', '--version', '1']);
    assert.equal(logs.code, 0, show(logs));
    assert.match(logs.stdout, /"message":"listening"/);
    assert.match(logs.stdout, /"message":"ready"/);
    assertOneLineError(await mp(['logs', 'iris', '--version', '2']), /^error: iris has no pods of version 2 in namespace /);
    // --follow streams until stopped (here: killed after 5 s); the last line is there at once
    const follow = await mp(['logs', 'iris', '--follow', '--tail', '1'], { timeoutMs: 5_000 });
    assert.equal(follow.code, 128, `still following when killed: ${show(follow)}`);
    assert.equal(follow.stdout.split('\n').filter(Boolean).length, 1, show(follow));
  });

  it('promote and abort drive a canary that would wait 10 minutes at its step', async () => {
    await patchMd(c, ns, 'iris', {
      spec: { rollout: { strategy: 'Canary', canary: { steps: [{ weight: 50, pause: '10m' }], analysis: { interval: '5s' } } } },
    });
    await patchMd(c, ns, 'iris', { spec: { model: { version: '2', uri: good.uri, sha256: good.sha256 } } });
    await waitForMd(
      c,
      ns,
      'iris',
      'canary of version 2 with its pod ready',
      (m) => m.status?.canary?.version === '2' && m.status.canary.phase === 'Progressing' && (m.status.canary.canaryReplicas ?? 0) >= 1,
      180_000,
    );
    const status = await mp(['status', 'iris']);
    assert.match(status.stdout, /^Canary: {5}version 2 Progressing, step 1 of 1, weight 50% \(effective 50%\)/m, show(status));
    assert.match(status.stdout, /^ {2}canary +2 +1 /m);

    const promote = await mp(['promote', 'iris']);
    assert.equal(promote.code, 0, show(promote));
    const promoted = await mp(['status', 'iris', '--watch', '--timeout', '150s'], { timeoutMs: 170_000 });
    assert.equal(promoted.code, 0, show(promoted));
    assert.match(promoted.stdout, /^version 2 is serving: /m);
    const md = await getMd(c, ns, 'iris');
    assert.equal(md.status?.canary?.phase, 'Succeeded');
    assert.equal(md.status?.currentVersion, '2');
    assert.equal(condition(md, 'Ready')?.status, 'True');

    await patchMd(c, ns, 'iris', { spec: { model: { version: '3', uri: good.uri, sha256: good.sha256 } } });
    await waitForMd(
      c,
      ns,
      'iris',
      'canary of version 3',
      (m) => m.status?.canary?.version === '3' && m.status.canary.phase === 'Progressing',
      60_000,
    );
    const abort = await mp(['abort', 'iris']);
    assert.equal(abort.code, 0, show(abort));
    const aborted = await mp(['status', 'iris', '--watch', '--timeout', '60s'], { timeoutMs: 80_000 });
    assertOneLineError(
      aborted,
      /^error: rollout of version 3 failed: CanaryAborted: canary of version 3 aborted by spec.rollout.abortVersion/,
    );
    assertOneLineError(await mp(['promote', 'iris']), /^error: nothing to promote on iris: the canary of version 3 is Aborted$/);
    // the stable version still answers
    await waitFor(
      async () => {
        const r = await mp(['predict', 'iris', '--instances', JSON.stringify([IRIS_ROW])]);
        return r.code === 0 && (JSON.parse(r.stdout) as { model_version: string }).model_version === '2';
      },
      { timeoutMs: 60_000, intervalMs: 1_000, description: 'version 2 answering after the abort' },
    );
  });
});
