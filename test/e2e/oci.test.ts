// oci:// end to end: a real registry (distribution, htpasswd Basic auth) on the node's bridge
// gateway, iris pushed into it with the real ORAS CLI; a ModelDeployment on
// oci://<registry>/models/iris:1 with a kubernetes.io/dockerconfigjson Secret goes Ready and serves
// iris. Version 2 with a Secret holding a wrong password, then version 3 naming a Secret that does
// not exist: each fails as FetchFailed with one clear reason and is rolled back while version 1
// keeps serving under load; version 4, pinned by the manifest digest, then rolls out (0 failed
// requests throughout). No credential appears in the Deployment, the
// ModelDeployment, the namespace's events, the operator's logs or the fetch container's log.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GATEWAY_IP } from '@modelship/devcluster/network';
import { orasPush, resolveOras, startRegistry, type OciRegistry } from '@modelship/devcluster/oci-registry';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, condition, createMd, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { repoRoot } from '@modelship/devcluster/binaries';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { containerLog } from '@modelship/devcluster/container-log';
import { describeLoad, irisServiceUrl, modelPods, seconds, settledOn, startIrisLoad } from './faults.ts';
import { restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import type { Load } from './load.ts';

const USER = { username: 'puller', password: 'e2e-pw-91d3c7f0' };
const WRONG_PASSWORD = 'e2e-wrong-pw-4a6b';
const dockerConfig = (host: string, password: string): string =>
  JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${USER.username}:${password}`).toString('base64') } } });

describe('e2e: a model from an OCI registry (oci://)', { timeout: 600_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let registry: OciRegistry | undefined;
  let load: Load | undefined;
  let dir = '';
  let uri = '';
  let digest = '';

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-oci');
    dir = mkdtempSync(join(tmpdir(), 'modelship-e2e-oci-'));
    const log = (line: string) => process.stderr.write(`oci: ${line}\n`);
    let oras: string;
    [oras, registry, op] = await Promise.all([
      resolveOras(log),
      startRegistry({ dir, address: GATEWAY_IP, user: USER, log }),
      startE2eOperator(cluster, ns),
    ]);
    mkdirSync(join(dir, 'push'));
    copyFileSync(join(repoRoot, 'examples/models/iris/model.onnx'), join(dir, 'push', 'model.onnx'));
    digest = await orasPush({
      oras,
      dir,
      reference: `${registry.host}/models/iris:1`,
      files: [{ path: join(dir, 'push', 'model.onnx'), mediaType: 'application/vnd.onnx' }],
      user: USER,
    });
    uri = `oci://${registry.host}/models/iris:1`;
    for (const [name, password] of [
      ['regcred', USER.password],
      ['badcred', WRONG_PASSWORD],
    ] as const) {
      await c.core.createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: { name },
          type: 'kubernetes.io/dockerconfigjson',
          stringData: { '.dockerconfigjson': dockerConfig(registry.host, password) },
        },
      });
    }
  });

  after(async () => {
    await load?.stop();
    await op?.stop();
    await registry?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
    await cluster?.stop();
  });

  it('oci:// with a dockerconfigjson Secret → Ready, serving iris', async (t) => {
    const started = Date.now();
    await createMd(c, ns, 'iris', {
      model: { version: '1', uri, plainHTTP: true, credentialsSecretRef: { name: 'regcred' } },
      replicas: 2,
    });
    await settledOn(c, ns, 'iris', '1');
    t.diagnostic(`create → Ready on 2 pods in ${seconds(Date.now() - started)}`);
    const pods = await modelPods(c, ns, 'iris');
    const fetchLog = containerLog(pods[0]!, 'fetch');
    assert.match(fetchLog, /model fetched/);
    load = startIrisLoad(await irisServiceUrl(c, ns), { maxSeconds: 400 });
  });

  async function rolledBack(version: string): Promise<{ reason?: string; message?: string }> {
    const md = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'iris');
        return m.status?.failedVersion === version && condition(m, 'Degraded')?.status === 'True' ? m : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 250, description: `the rollback of version ${version}` },
    );
    const entry = md.status?.history?.find((h) => h.version === version);
    assert.equal(entry?.outcome, 'RolledBack');
    assert.equal(entry?.reason, 'FetchFailed');
    assert.equal(md.status?.currentVersion, '1');
    await settledOn(c, ns, 'iris', '1', { ready: false });
    return { reason: entry?.reason, message: condition(md, 'Degraded')?.message };
  }

  it('version 2 with a Secret holding a wrong password: FetchFailed naming the refusal, rolled back', async (t) => {
    await patchMd(c, ns, 'iris', { spec: { model: { version: '2', credentialsSecretRef: { name: 'badcred' } } } });
    const r = await rolledBack('2');
    t.diagnostic(`${r.reason}: ${r.message}`);
    assert.match(
      r.message ?? '',
      /model fetch failed: .*cannot pull oci:\/\/.*\/models\/iris:1: the registry refused the credentials \(HTTP 401\)/,
    );
  });

  it('version 3 naming a Secret that does not exist: FetchFailed naming the missing file and the field, rolled back', async (t) => {
    await patchMd(c, ns, 'iris', { spec: { model: { version: '3', credentialsSecretRef: { name: 'no-such-secret' } } } });
    const r = await rolledBack('3');
    t.diagnostic(`${r.reason}: ${r.message}`);
    assert.match(
      r.message ?? '',
      /cannot read the registry credentials file .*\.dockerconfigjson: ENOENT .*spec\.model\.credentialsSecretRef/,
    );
  });

  it('version 4, pinned by its manifest digest, rolls out under load', async (t) => {
    const started = Date.now();
    const pinned = `oci://${registry!.host}/models/iris@${digest}`;
    await patchMd(c, ns, 'iris', { spec: { model: { version: '4', uri: pinned, credentialsSecretRef: { name: 'regcred' } } } });
    const md = await settledOn(c, ns, 'iris', '4');
    t.diagnostic(`version 4 (${pinned}) settled in ${seconds(Date.now() - started)}`);
    assert.equal(md.status?.currentVersion, '4');
    assert.equal(md.status?.history?.[0]?.uri, pinned);
    const pods = await modelPods(c, ns, 'iris');
    assert.match(containerLog(pods[0]!, 'fetch'), /model fetched/);
  });

  it('versions 1 and 4 kept serving (0 failed requests), and no credential is in the Deployment, the MD, events or logs', async (t) => {
    const result = await load!.stop();
    load = undefined;
    t.diagnostic(describeLoad(result));
    assert.equal(result.failed, 0, result.failures.join('; '));
    assert.ok(result.ok > 0);

    const secrets = [
      USER.password,
      WRONG_PASSWORD,
      Buffer.from(`${USER.username}:${USER.password}`).toString('base64'),
      Buffer.from(`${USER.username}:${WRONG_PASSWORD}`).toString('base64'),
    ];
    const deployment = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns });
    const events = await c.core.listNamespacedEvent({ namespace: ns });
    const md = await getMd(c, ns, 'iris');
    const fetchLogs = (await modelPods(c, ns, 'iris')).map((p) => containerLog(p, 'fetch')).join('\n');
    const places: Record<string, string> = {
      Deployment: JSON.stringify(deployment),
      ModelDeployment: JSON.stringify(md),
      events: JSON.stringify(events.items),
      'operator logs': JSON.stringify(op.logs()),
      'fetch logs': fetchLogs,
    };
    for (const [where, text] of Object.entries(places)) {
      for (const s of secrets) assert.equal(text.includes(s), false, `a credential is in the ${where}`);
    }
    // the Secret reaches fetch as a mounted file only
    const fetch = deployment.spec?.template.spec?.initContainers?.[0];
    assert.equal(JSON.stringify(fetch?.env ?? []).includes('regcred'), false);
    assert.equal(
      deployment.spec?.template.spec?.containers[0]?.volumeMounts?.some((m) => m.name === 'model-credentials'),
      false,
      'the serving container does not mount the Secret',
    );
  });
});
