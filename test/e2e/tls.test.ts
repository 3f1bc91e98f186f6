// End to end, HTTPS on a real node: a ModelDeployment with spec.service.tls from a kubernetes.io/tls
// Secret goes Ready behind HTTPS probes; V2 and V1 calls over HTTPS through the Service ClusterIP,
// the chain and the Service name verified with the test CA; the Secret rotated to a new key pair
// under load is served within a stated time with 0 failed requests and no restart; the API key
// Secret rotated (two keys valid in between) without a restart; mTLS refuses a client without a
// certificate and serves one with a certificate from the CA.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, condition, getMd, patchMd, waitForMd, type Clients } from '@modelship/devcluster/kube-clients';
import { TestCa, type KeyPair } from '@modelship/devcluster/test-ca';
import { httpsCall, type TlsClientOptions } from '@modelship/devcluster/https-call';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { curl } from '@modelship/devcluster/http-post';
import {
  assertIrisOutputs,
  createAndWaitReady,
  exampleIris,
  expected,
  restrictedNamespace,
  startE2eOperator,
} from '@modelship/devcluster/iris';
import { startLoad } from './load.ts';

const NAME = 'secure';
/** The dev kubelet syncs pods every 10 s, so a Secret update reaches the files in about 10-20 s; the runtime polls every 1 s. */
const ROTATION_BOUND_MS = 60_000;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const fp = (p: KeyPair) => new X509Certificate(p.cert).fingerprint256;

describe('e2e: HTTPS, certificate and API key rotation, mTLS', { timeout: 900_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let ca: TestCa;
  let pairA: KeyPair;
  let pairB: KeyPair;
  let host = '';
  let base = '';
  let tls: TlsClientOptions;
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });
  const infer = (key: string, extra: Partial<TlsClientOptions> = {}) =>
    httpsCall(
      `${base}/v2/models/iris/infer`,
      { ...tls, ...extra },
      { body: JSON.stringify({ inputs: expected.inputs }), headers: auth(key) },
    );
  /** The ModelDeployment's pods; `terminating` too when asked. */
  const pods = async (terminating = false): Promise<V1Pod[]> =>
    (await c.core.listNamespacedPod({ namespace: ns, labelSelector: `app.kubernetes.io/instance=${NAME}` })).items.filter(
      (p) => terminating || !p.metadata?.deletionTimestamp,
    );
  const restarts = (ps: V1Pod[]) => ps.reduce((n, p) => n + (p.status?.containerStatuses?.reduce((m, s) => m + s.restartCount, 0) ?? 0), 0);
  const setSecret = (name: string, type: string, data: Record<string, string>) =>
    c.core.replaceNamespacedSecret({ name, namespace: ns, body: { metadata: { name }, type, data } });

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-tls');
    op = await startE2eOperator(cluster, ns);
    ca = new TestCa();
    host = `${NAME}.${ns}.svc`;
    pairA = ca.issue({ cn: host, dns: [host, `${host}.cluster.local`] });
    pairB = ca.issue({ cn: host, dns: [host, `${host}.cluster.local`] });
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'secure-tls' },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': b64(pairA.cert), 'tls.key': b64(pairA.key) },
      },
    });
    await c.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'secure-keys' }, data: { keys: b64('key-one\n') } } });
  });

  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
    ca?.cleanup();
  });

  it('Ready behind HTTPS probes; status.url is https://', async () => {
    const md = exampleIris(cluster.modelServerUrl);
    md.metadata.name = NAME;
    (md.spec['model'] as Record<string, unknown>)['name'] = 'iris';
    md.spec['service'] = { tls: { secretName: 'secure-tls' } };
    md.spec['runtime'] = { apiKeySecretRef: { name: 'secure-keys', key: 'keys' } };
    const ready = await createAndWaitReady(c, ns, md);
    assert.equal(ready.status?.url, `https://${host}.cluster.local:80/v2/models/iris`);
    const pod = (await pods())[0];
    assert.equal(pod?.spec?.containers[0]?.readinessProbe?.httpGet?.scheme, 'HTTPS');
    const svc = await c.core.readNamespacedService({ name: NAME, namespace: ns });
    assert.equal(svc.spec?.ports?.[0]?.appProtocol, 'https');
    base = `https://${svc.spec?.clusterIP}:80`;
    tls = { ca: ca.ca.cert, servername: host };
  });

  it('V2 over HTTPS with the chain and the Service name verified; V1 with curl --cacert; plain HTTP refused', async () => {
    const r = await waitFor(async () => infer('key-one').catch(() => undefined), { timeoutMs: 30_000, description: 'V2 over HTTPS' });
    assert.equal(r.status, 200, r.text);
    assertIrisOutputs(r.text);
    assert.equal(r.fingerprint256, fp(pairA));
    const caFile = join(ca.dir, 'client-ca-copy.crt');
    writeFileSync(caFile, ca.ca.cert);
    const ip = new URL(base).hostname;
    const v1 = await curl([
      '--cacert',
      caFile,
      '--resolve',
      `${host}:80:${ip}`,
      '-H',
      'Authorization: Bearer key-one',
      '-d',
      '{"instances": [[5.1, 3.5, 1.4, 0.2]]}',
      `https://${host}:80/v1/models/iris:predict`,
    ]);
    assert.match(v1, /"predictions"/);
    await assert.rejects(curl(['-d', '{}', `http://${ip}:80/v2/models/iris/infer`]));
    await assert.rejects(infer('key-one', { servername: 'someone-else.example' }), /altnames|Hostname/i);
  });

  it('the TLS Secret rotated under load: new certificate within the bound, 0 failed requests, no restart', async () => {
    const before = await pods();
    const seen: { fingerprint: string; at: number }[] = [];
    const load = startLoad({
      url: `${base}/v2/models/iris/infer`,
      body: JSON.stringify({ inputs: expected.inputs }),
      rate: 20,
      maxSeconds: 120,
      freshConnections: true,
      headers: auth('key-one'),
      tls,
      onCertificate: (f) => {
        if (seen.at(-1)?.fingerprint !== f) seen.push({ fingerprint: f, at: Date.now() });
      },
      check: (status, body) => (status === 200 ? undefined : `HTTP ${status} ${body.slice(0, 200)}`),
    });
    await sleep(3000);
    const rotatedAt = Date.now();
    await setSecret('secure-tls', 'kubernetes.io/tls', { 'tls.crt': b64(pairB.cert), 'tls.key': b64(pairB.key) });
    await waitFor(async () => seen.some((s) => s.fingerprint === fp(pairB)) || undefined, {
      timeoutMs: ROTATION_BOUND_MS,
      description: 'the new certificate served',
    });
    const tookMs = (seen.find((s) => s.fingerprint === fp(pairB))?.at ?? 0) - rotatedAt;
    await sleep(3000);
    const result = await load.stop();
    process.stderr.write(`tls rotation: new certificate after ${tookMs} ms; ${result.ok} ok, ${result.failed} failed of ${result.sent}\n`);
    assert.equal(result.failed, 0, result.failures.join('\n'));
    assert.ok(result.ok > 100, `${result.ok} requests answered`);
    assert.ok(tookMs < ROTATION_BOUND_MS, `${tookMs} ms`);
    // after the switch, every new handshake gets the new certificate
    assert.equal(seen.at(-1)?.fingerprint, fp(pairB));
    const after = await pods();
    assert.deepEqual(
      after.map((p) => p.metadata?.uid),
      before.map((p) => p.metadata?.uid),
      'the same pods',
    );
    assert.equal(restarts(after), 0);
  });

  it('the API key Secret rotated: both keys valid in between, then only the new one; no restart', async () => {
    assert.equal((await infer('key-two')).status, 401);
    await setSecret('secure-keys', 'Opaque', { keys: b64('key-one\nkey-two\n') });
    await waitFor(async () => (await infer('key-two')).status === 200 || undefined, {
      timeoutMs: ROTATION_BOUND_MS,
      description: 'key-two valid',
    });
    assert.equal((await infer('key-one')).status, 200);
    await setSecret('secure-keys', 'Opaque', { keys: b64('key-two\n') });
    await waitFor(async () => (await infer('key-one')).status === 401 || undefined, {
      timeoutMs: ROTATION_BOUND_MS,
      description: 'key-one refused',
    });
    assert.equal((await infer('key-two')).status, 200);
    assert.equal(restarts(await pods()), 0);
  });

  it('mTLS: without a client certificate refused (401), with one from the CA served', async () => {
    await c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'callers-ca' }, data: { 'ca.crt': ca.ca.cert } } });
    await patchMd(c, ns, NAME, { spec: { service: { tls: { secretName: 'secure-tls', clientCA: { configMapName: 'callers-ca' } } } } });
    // the pods roll to the template with the client CA; once the old pod is gone (it serves through
    // its drain delay), every pod asks for a certificate
    await waitFor(
      async () => {
        const ps = await pods(true);
        const rolled = ps.length > 0 && ps.every((p) => p.spec?.volumes?.some((v) => v.name === 'client-ca'));
        const ready = ps.every((p) => p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
        return (rolled && ready) || undefined;
      },
      { timeoutMs: 240_000, description: 'pods with the client CA ready' },
    );
    await waitForMd(c, ns, NAME, 'Ready', (m) => condition(m, 'Ready')?.status === 'True', 120_000);
    const refused = await infer('key-two');
    assert.equal(refused.status, 401);
    assert.match(refused.json()['error'] as string, /client certificate is required/);
    const client = ca.issue({ cn: 'caller', client: true });
    const served = await infer('key-two', { cert: client.cert, key: client.key });
    assert.equal(served.status, 200, served.text);
    assertIrisOutputs(served.text);
    const md = await getMd(c, ns, NAME);
    assert.doesNotMatch(JSON.stringify(md.status), /BEGIN|PRIVATE/);
  });
});
