// s3:// end to end: a real S3-compatible server (SeaweedFS's S3 gateway with signed requests, built
// from its Go module) on the node's bridge gateway, iris uploaded into it with the AWS SDK under two
// keys; a ModelDeployment on s3://models/iris/1/model.onnx with spec.model.s3.endpoint and an
// Opaque Secret (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) goes Ready and serves iris's expected
// outputs; version 2 (the second object) rolls out under load; version 3 with a Secret holding a
// wrong secret key fails as FetchFailed with "access denied (check credentials)" and is rolled back
// while version 2 keeps serving: 0 failed requests throughout. No secret value appears in the
// Deployment, the ModelDeployment, the namespace's events, the operator's logs or the fetch logs.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GATEWAY_IP } from '@modelship/devcluster/network';
import { adminAndReader, startS3Server, type S3Server } from '@modelship/devcluster/s3-server';
import { waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, condition, createMd, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { repoRoot } from '@modelship/devcluster/binaries';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { containerLog } from '@modelship/devcluster/container-log';
import { describeLoad, irisServiceUrl, modelPods, seconds, settledOn, startIrisLoad } from './faults.ts';
import { post } from '@modelship/devcluster/http-post';
import { assertIrisOutputs, expected, restrictedNamespace, startE2eOperator } from '@modelship/devcluster/iris';
import type { Load } from './load.ts';

const { admin: ADMIN, reader: READER } = adminAndReader('models');
const WRONG_SECRET = 'e2e-wrong-secret-93ad5e';
const IRIS = readFileSync(join(repoRoot, 'examples/models/iris/model.onnx'));
const IRIS_SHA = createHash('sha256').update(IRIS).digest('hex');

describe('e2e: a model from an S3-compatible store (s3://)', { timeout: 600_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let s3: S3Server | undefined;
  let load: Load | undefined;
  let dir = '';

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-s3');
    dir = mkdtempSync(join(tmpdir(), 'modelship-e2e-s3-'));
    const log = (line: string) => process.stderr.write(`s3: ${line}\n`);
    [s3, op] = await Promise.all([
      startS3Server({ dir, address: GATEWAY_IP, identities: [ADMIN, READER], log }),
      startE2eOperator(cluster, ns),
    ]);
    await s3.createBucket('models');
    await s3.putObject('models', 'iris/1/model.onnx', IRIS);
    await s3.putObject('models', 'iris/2/model.onnx', IRIS);
    for (const [name, secret] of [
      ['s3cred', READER.secretAccessKey],
      ['s3bad', WRONG_SECRET],
    ] as const) {
      await c.core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name }, type: 'Opaque', stringData: { AWS_ACCESS_KEY_ID: READER.accessKeyId, AWS_SECRET_ACCESS_KEY: secret } },
      });
    }
  });

  after(async () => {
    await load?.stop();
    await op?.stop();
    await s3?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
    await cluster?.stop();
  });

  it('s3:// with an endpoint and a credentials Secret → Ready, serving iris with the expected outputs', async (t) => {
    const started = Date.now();
    await createMd(c, ns, 'iris', {
      model: {
        version: '1',
        uri: 's3://models/iris/1/model.onnx',
        sha256: IRIS_SHA,
        s3: { endpoint: s3!.endpoint },
        credentialsSecretRef: { name: 's3cred' },
      },
      replicas: 2,
    });
    await settledOn(c, ns, 'iris', '1');
    t.diagnostic(`create → Ready on 2 pods in ${seconds(Date.now() - started)}`);
    const pods = await modelPods(c, ns, 'iris');
    assert.match(containerLog(pods[0]!, 'fetch'), /model fetched.*"verified":true/);
    const url = await irisServiceUrl(c, ns);
    const res = await post(url, { inputs: expected.inputs });
    assert.equal(res.status, 200, res.body);
    assertIrisOutputs(res.body);
    load = startIrisLoad(url, { maxSeconds: 400 });
  });

  it('version 2 (the second object) rolls out under load', async (t) => {
    const started = Date.now();
    await patchMd(c, ns, 'iris', { spec: { model: { version: '2', uri: 's3://models/iris/2/model.onnx' } } });
    const md = await settledOn(c, ns, 'iris', '2');
    t.diagnostic(`version 2 settled in ${seconds(Date.now() - started)}`);
    assert.equal(md.status?.history?.[0]?.uri, 's3://models/iris/2/model.onnx');
    assert.deepEqual(md.status?.history?.[0]?.s3, { endpoint: s3!.endpoint });
  });

  it('version 3 with a Secret holding a wrong secret key: FetchFailed "access denied (check credentials)", rolled back', async (t) => {
    await patchMd(c, ns, 'iris', { spec: { model: { version: '3', credentialsSecretRef: { name: 's3bad' } } } });
    const md = await waitFor(
      async () => {
        const m = await getMd(c, ns, 'iris');
        return m.status?.failedVersion === '3' && condition(m, 'Degraded')?.status === 'True' ? m : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 250, description: 'the rollback of version 3' },
    );
    const entry = md.status?.history?.find((h) => h.version === '3');
    assert.equal(entry?.outcome, 'RolledBack');
    assert.equal(entry?.reason, 'FetchFailed');
    assert.equal(md.status?.currentVersion, '2');
    const message = condition(md, 'Degraded')?.message ?? '';
    t.diagnostic(`${entry?.reason}: ${message}`);
    assert.match(
      message,
      /model fetch failed: .*s3:\/\/models\/iris\/2\/model.onnx: access denied \(check credentials\): SignatureDoesNotMatch/,
    );
    await settledOn(c, ns, 'iris', '2', { ready: false });
  });

  it('version 2 kept serving (0 failed requests), and no secret is in the Deployment, the MD, events or logs', async (t) => {
    const result = await load!.stop();
    load = undefined;
    t.diagnostic(describeLoad(result));
    assert.equal(result.failed, 0, result.failures.join('; '));
    assert.ok(result.ok > 0);
    assert.ok((result.byVersion['1'] ?? 0) > 0 && (result.byVersion['2'] ?? 0) > 0, JSON.stringify(result.byVersion));

    const secrets = [READER.secretAccessKey, WRONG_SECRET, ADMIN.secretAccessKey];
    const deployment = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns });
    const events = await c.core.listNamespacedEvent({ namespace: ns });
    const md = await getMd(c, ns, 'iris');
    const pods = await modelPods(c, ns, 'iris');
    const podLogs = pods.map((p) => `${containerLog(p, 'fetch')}\n${containerLog(p, 'serve')}`).join('\n');
    const places: Record<string, string> = {
      Deployment: JSON.stringify(deployment),
      ModelDeployment: JSON.stringify(md),
      events: JSON.stringify(events.items),
      'operator logs': JSON.stringify(op.logs()),
      'pod logs': podLogs,
    };
    for (const [where, text] of Object.entries(places)) {
      for (const s of secrets) assert.equal(text.includes(s), false, `a secret is in the ${where}`);
    }
    // the Secret reaches fetch as mounted files only: no env value, no secretKeyRef, not in the serving container
    const spec = deployment.spec?.template.spec;
    const fetch = spec?.initContainers?.[0];
    const env = Object.fromEntries((fetch?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env['MODELSHIP_S3_CREDENTIALS_DIR'], '/var/run/modelship/model-credentials');
    assert.equal(env['MODELSHIP_S3_ENDPOINT'], s3!.endpoint);
    for (const ctr of [fetch, ...(spec?.containers ?? [])])
      assert.equal(JSON.stringify(ctr?.env ?? []).includes('secretKeyRef'), false, `${ctr?.name}: no env from a Secret`);
    assert.equal(
      spec?.containers[0]?.volumeMounts?.some((m) => m.name === 'model-credentials'),
      false,
      'the serving container does not mount the Secret',
    );
  });
});
