// `kubectl modelship` against a real API server with the operator running (no kubelet: the test
// marks pods ready or failed, as operator-rollout.test.ts does). Every command runs through the
// real kubectl binary, which finds the plugin on the PATH where `npm run plugin:install` linked it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { waitFor } from '@modelship/devcluster/wait';
import { clients, createMd, createNamespace, getMd, patchMd, type Clients, waitForMd } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import { markFetchFailed, markReady, podsOf } from './pods.ts';
import { assertOneLineError, installPlugin, show, type Plugin } from './kubectl-plugin-run.ts';

const SHA1 = '1'.repeat(64);
const SHA2 = '2'.repeat(64);
const uri = (v: string) => `https://models.example.com/iris/${v}/model.onnx`;
const HASH = 'modelship.dev/template-hash';

const notReady = (p: { status?: { conditions?: Array<{ type: string; status: string }> } }) =>
  !p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');

/** Plays the kubelet: marks every pod of `name` that is not ready yet ready, until `done` holds. */
async function readyUntil<T>(c: Clients, ns: string, name: string, done: (md: ModelDeployment) => T | undefined, what: string): Promise<T> {
  return waitFor(
    async () => {
      await markReady(c, (await podsOf(c, ns, name)).filter(notReady));
      return done(await getMd(c, ns, name));
    },
    { description: what, intervalMs: 300, timeoutMs: 90_000 },
  );
}

/** The pods of the Deployment `name`'s current template once it runs `version`. */
async function podsOfVersion(c: Clients, ns: string, name: string, version: string) {
  return waitFor(
    async () => {
      const d = await c.apps.readNamespacedDeployment({ name, namespace: ns });
      const env = d.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'MODELSHIP_MODEL_VERSION')?.value;
      if (env !== version) return undefined;
      const pods = await podsOf(c, ns, name, d.spec?.template.metadata?.annotations?.[HASH]);
      return pods.length > 0 ? pods : undefined;
    },
    { description: `pods of ${name} version ${version}` },
  );
}

describe('kubectl modelship on a real API server', () => {
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let plugin: Plugin;
  const mp = (args: string[], opts?: Parameters<Plugin['run']>[1]) => plugin.run([...args, '-n', ns], opts);

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'plugin');
    op = await startOperator({ namespace: ns });
    plugin = await installPlugin();
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
    await plugin?.remove();
  });

  test('installed by plugin:install, found by kubectl on the PATH: version, --help, a usage error exits 2', async () => {
    const version = await plugin.run(['version']);
    assert.equal(version.code, 0, show(version));
    assert.equal(version.stdout, 'kubectl-modelship 0.1.0\n');
    const help = await plugin.run(['--help']);
    assert.equal(help.code, 0, show(help));
    assert.match(help.stdout, /^Usage: kubectl modelship COMMAND \[NAME\] \[flags\]$/m);
    assert.match(help.stdout, /^ {2}undo NAME \[--to-version V\] \[-y\|--yes\]$/m);
    assertOneLineError(await plugin.run(['rollback', 'iris']), /^error: unknown command "rollback"; commands: status, history, undo/, 2);
  });

  test('after an automatic rollback: status and history say so, status --watch exits 1, undo --to-version 1 --yes restores version 1', async () => {
    await createMd(c, ns, 'iris', { model: { version: '1', uri: uri('1'), sha256: SHA1 }, replicas: 1 });
    await readyUntil(c, ns, 'iris', (m) => (m.status?.currentVersion === '1' ? m : undefined), 'version 1 serving');
    await patchMd(c, ns, 'iris', { spec: { model: { version: '2', uri: uri('2'), sha256: SHA2 } } });
    await markFetchFailed(c, await podsOfVersion(c, ns, 'iris', '2'), `fetch: sha256 mismatch: expected ${SHA2}, got ${'c'.repeat(64)}`);
    await waitForMd(c, ns, 'iris', 'version 2 rolled back', (m) => m.status?.history?.[0]?.outcome === 'RolledBack');

    const status = await mp(['status', 'iris']);
    assert.equal(status.code, 0, show(status));
    const lines = status.stdout.split('\n');
    for (const line of ['Name:       iris', `Namespace:  ${ns}`, `Desired:    2  ${uri('2')}`, 'Current:    1', 'Failed:     2'])
      assert.ok(lines.includes(line), `${line} in\n${status.stdout}`);
    assert.ok(
      lines.some((l) => /^ {2}Degraded +True +RolledBack +\d+s +version 2 failed: model fetch failed: fetch: sha256 mismatch/.test(l)),
      status.stdout,
    );
    assert.ok(
      lines.some((l) => /^ {2}2 +RolledBack +\d+s +\d+s +2{12} +FetchFailed$/.test(l)),
      status.stdout,
    );
    assert.ok(lines.includes(`URL:        http://iris.${ns}.svc.cluster.local/v2/models/iris`), status.stdout);

    const json = await mp(['status', 'iris', '-o', 'json']);
    assert.equal(json.code, 0, show(json));
    assert.equal((JSON.parse(json.stdout) as ModelDeployment).status?.failedVersion, '2');

    const watch = await mp(['status', 'iris', '--watch', '--timeout', '30s']);
    assertOneLineError(watch, /^error: rollout of version 2 failed: RolledBack: version 2 failed: model fetch failed/);
    assert.match(watch.stdout, /^Failed: {5}2$/m);

    const history = await mp(['history', 'iris']);
    assert.equal(history.code, 0, show(history));
    assert.match(history.stdout, /^VERSION +OUTCOME +STARTED +FINISHED +SHA256 +REASON$/m);
    assert.match(history.stdout, /^1 +Succeeded +\d+s +\d+s +1{12} +\S+$/m);
    assert.match(history.stdout, /^undo can restore: version 1 \(kubectl modelship undo iris --to-version V\)$/m);
    const yaml = loadYaml((await mp(['history', 'iris', '-o', 'yaml'])).stdout) as Array<{ version: string; outcome: string }>;
    assert.deepEqual(
      yaml.map((h) => [h.version, h.outcome]),
      [
        ['2', 'RolledBack'],
        ['1', 'Succeeded'],
      ],
    );

    // refused: nothing changes
    const before = (await getMd(c, ns, 'iris')).metadata.resourceVersion;
    assertOneLineError(
      await mp(['undo', 'iris', '--to-version', '9', '--yes']),
      /^error: version "9" is not in the history of iris; versions there: 2, 1$/,
    );
    assertOneLineError(await mp(['undo', 'iris', '--to-version', '2', '--yes']), /^error: version 2 of iris never rolled out successfully/);
    const noTty = await mp(['undo', 'iris', '--to-version', '1']);
    assertOneLineError(noTty, /^error: not changing iris without confirmation: stdin is not a terminal; pass --yes$/, 2);
    assert.match(noTty.stdout, /^\+ {3}version: "1"$/m, 'the diff is shown before refusing');
    assertOneLineError(
      await mp(['promote', 'iris']),
      /^error: nothing to promote on iris: its rollout strategy is RollingUpdate, not Canary/,
    );
    const declined = await plugin.runOnTerminal(['undo', 'iris', '-n', ns], 'n\n');
    assert.equal(declined.code, 1, show(declined));
    assert.match(declined.stdout, /^\+ {3}version: "1"\r?$/m, 'on a terminal: the diff, then the question');
    assert.match(declined.stdout, /Apply this change\? \[y\/N\] /);
    assert.match(declined.stdout, /^error: not confirmed: nothing changed\r?$/m);
    assert.equal((await getMd(c, ns, 'iris')).metadata.resourceVersion, before, 'nothing changed');

    const startedV1 = (await getMd(c, ns, 'iris')).status?.history?.find((h) => h.version === '1')?.startedAt;
    const undo = await mp(['undo', 'iris', '--to-version', '1', '--yes']);
    assert.equal(undo.code, 0, show(undo));
    assert.equal(
      undo.stdout,
      [
        `modeldeployment.modelship.dev/iris: roll back to version 1 (Succeeded, started ${startedV1})`,
        '  spec.model:',
        '-   version: "2"',
        '+   version: "1"',
        `-   uri: ${uri('2')}`,
        `+   uri: ${uri('1')}`,
        `-   sha256: ${SHA2}`,
        `+   sha256: ${SHA1}`,
        'modeldeployment.modelship.dev/iris spec.model set to version 1; the operator rolls it out (kubectl modelship status iris --watch)',
        '',
      ].join('\n'),
    );
    const md = await getMd(c, ns, 'iris');
    assert.deepEqual(md.spec.model, { version: '1', uri: uri('1'), sha256: SHA1, format: 'onnx' });

    let marking = true;
    const marker = (async () => {
      while (marking) {
        await markReady(c, (await podsOf(c, ns, 'iris')).filter(notReady)).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const good = await mp(['status', 'iris', '--watch', '--timeout', '60s', '--interval', '1s']).finally(() => (marking = false));
    await marker;
    assert.equal(good.code, 0, show(good));
    assert.match(good.stdout, /^version 1 is serving: version 1 is serving$/m);
    const after = await getMd(c, ns, 'iris');
    assert.equal(after.status?.currentVersion, '1');
    assert.equal(after.status?.failedVersion, undefined);
  });

  test('canary controls: pause, resume, promote and abort patch the spec the operator acts on', async () => {
    const canarySpec = { strategy: 'Canary', canary: { steps: [{ weight: 50, pause: '1h' }], analysis: { interval: '5s' } } };
    await createMd(c, ns, 'cm', { model: { version: '1', uri: uri('1') }, replicas: 2, rollout: canarySpec });
    await readyUntil(c, ns, 'cm', (m) => (m.status?.currentVersion === '1' ? m : undefined), 'cm version 1 serving');
    assertOneLineError(await mp(['pause', 'cm']), /^error: nothing to pause on cm: no canary of version 1 is in progress$/);

    await patchMd(c, ns, 'cm', { spec: { model: { version: '2', uri: uri('2') } } });
    await waitForMd(c, ns, 'cm', 'canary of 2', (m) => m.status?.canary?.version === '2' && m.status.canary.phase === 'Progressing');

    const pause = await mp(['pause', 'cm']);
    assert.equal(pause.code, 0, show(pause));
    assert.equal(pause.stdout, 'modeldeployment.modelship.dev/cm canary of version 2 paused at step 1 (spec.rollout.paused=true)\n');
    await waitForMd(c, ns, 'cm', 'canary paused', (m) => m.status?.canary?.phase === 'Paused');
    assertOneLineError(await mp(['pause', 'cm']), /^error: cm is already paused/);
    const status = await mp(['status', 'cm']);
    assert.match(status.stdout, /^Canary: {5}version 2 Paused, step 1 of 1, weight 50% \(effective \d+%\)/m, show(status));
    assert.match(status.stdout, /^ {2}TRACK +VERSION +READY +REQUESTS +5XX +4XX +P99$/m);

    const resume = await mp(['resume', 'cm']);
    assert.equal(resume.code, 0, show(resume));
    assert.equal((await getMd(c, ns, 'cm')).spec.rollout?.paused, undefined);
    await waitForMd(c, ns, 'cm', 'canary resumed', (m) => m.status?.canary?.phase === 'Progressing');
    assertOneLineError(await mp(['resume', 'cm']), /^error: cm is not paused/);

    const promote = await mp(['promote', 'cm']);
    assert.equal(promote.code, 0, show(promote));
    assert.equal(promote.stdout, 'modeldeployment.modelship.dev/cm canary of version 2 promoted (spec.rollout.promoteVersion=2)\n');
    assert.equal((await getMd(c, ns, 'cm')).spec.rollout?.promoteVersion, '2');
    await readyUntil(c, ns, 'cm', (m) => (m.status?.canary?.phase === 'Succeeded' ? m : undefined), 'canary promoted');
    assertOneLineError(await mp(['promote', 'cm']), /^error: nothing to promote on cm: the canary of version 2 is Succeeded$/);

    await patchMd(c, ns, 'cm', { spec: { model: { version: '3', uri: uri('3') } } });
    await waitForMd(c, ns, 'cm', 'canary of 3', (m) => m.status?.canary?.version === '3' && m.status.canary.phase === 'Progressing');
    const abort = await mp(['abort', 'cm']);
    assert.equal(abort.code, 0, show(abort));
    assert.match(abort.stdout, /canary of version 3 aborted \(spec.rollout.abortVersion=3\): all traffic back to version 2/);
    const aborted = await waitForMd(c, ns, 'cm', 'canary aborted', (m) => m.status?.canary?.phase === 'Aborted');
    assert.equal(aborted.status?.currentVersion, '2');
    assertOneLineError(await mp(['abort', 'cm']), /^error: nothing to abort on cm: the canary of version 3 is Aborted$/);
    const watch = await mp(['status', 'cm', '--watch', '--timeout', '20s']);
    assertOneLineError(
      watch,
      /^error: rollout of version 3 failed: CanaryAborted: canary of version 3 aborted by spec.rollout.abortVersion/,
    );
  });

  test('bad input: one line on stderr, non-zero exit, nothing changed', async () => {
    await waitForMd(c, ns, 'iris', 'iris exists', (m) => m.status?.currentVersion === '1');
    const before = (await getMd(c, ns, 'iris')).metadata.resourceVersion;
    assertOneLineError(
      await mp(['status', 'nope']),
      new RegExp(`^error: modeldeployment.modelship.dev "nope" not found in namespace "${ns}"$`),
    );
    assertOneLineError(await mp(['undo', 'nope', '--yes']), /^error: modeldeployment.modelship.dev "nope" not found/);
    assertOneLineError(await plugin.run(['status', 'iris', '-n', 'no-such-namespace']), /not found in namespace "no-such-namespace"/);

    // no permission: a ServiceAccount without any RBAC, impersonated as kubectl --as does
    const sa = `system:serviceaccount:${ns}:nobody`;
    for (const args of [
      ['status', 'iris'],
      ['undo', 'iris', '--to-version', '1', '--yes'],
      ['promote', 'iris'],
    ])
      assertOneLineError(
        await mp([...args, '--as', sa]),
        new RegExp(`^error: modeldeployments.modelship.dev "iris" is forbidden: User "${sa}" cannot get resource "modeldeployments"`),
      );

    // kubeconfig resolution
    assertOneLineError(await mp(['status', 'iris', '--context', 'nope']), /^error: context "nope" is not in the kubeconfig \(contexts: /);
    assertOneLineError(await mp(['status', 'iris', '--kubeconfig', '/nonexistent']), /^error: --kubeconfig \/nonexistent: no such file$/);
    assertOneLineError(
      await mp(['status', 'iris'], { env: { KUBECONFIG: '/nonexistent' } }),
      /^error: KUBECONFIG=\/nonexistent: no such file$/,
    );
    const explicit = await plugin.run(['status', 'iris', '-n', ns, '--kubeconfig', process.env.KUBECONFIG as string], {
      env: { KUBECONFIG: '/nonexistent' },
    });
    assert.equal(explicit.code, 0, show(explicit));

    // predict: a request file that is not JSON; a Service with no endpoint (no kubelet here)
    const file = join(plugin.dir, 'request.json');
    await writeFile(file, 'inputs: [1, 2]\n');
    assertOneLineError(await mp(['predict', 'iris', '-f', file]), /^error: .*request.json is not JSON: /);
    assertOneLineError(
      await mp(['predict', 'iris', '-f', join(plugin.dir, 'missing.json')]),
      /^error: cannot read .*missing.json: ENOENT$/,
    );
    assertOneLineError(await mp(['predict', 'iris', '--instances', '[[1,2']), /^error: --instances is not JSON/, 2);
    assertOneLineError(await mp(['predict', 'iris', '--instances', '[[6.3,3.3,6.0,2.5]]', '--v1']), /^error: HTTP 503: /);

    // logs: no pods of that version
    assertOneLineError(
      await mp(['logs', 'iris', '--version', '9']),
      new RegExp(`^error: iris has no pods of version 9 in namespace ${ns}$`),
    );

    assert.equal((await getMd(c, ns, 'iris')).metadata.resourceVersion, before, 'nothing changed');
  });
});
