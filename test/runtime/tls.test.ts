/**
 * HTTPS in the real runtime process: the chain verifies with the test CA, TLS < 1.2 is refused,
 * the key pair is reloaded from a kubelet-style Secret volume under load without one failed request
 * or a restart, a bad new pair is refused and the old one kept, mTLS refuses clients without a
 * certificate from the CA (health probes excepted), and API keys rotate from a key file.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { TestCa, type KeyPair } from '@modelship/devcluster/test-ca';
import { httpsCall } from '@modelship/devcluster/https-call';
import { SecretVolume } from '../tls/secret-volume.ts';
import { expected, spawnRuntime, startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';

const iris = expected('iris');
const body = JSON.stringify({ inputs: iris.inputs });
const fp = (p: KeyPair) => new X509Certificate(p.cert).fingerprint256;
const https = (rt: Runtime) => rt.url.replace('http://', 'https://').replace('127.0.0.1', 'localhost');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
  return Date.now() - start;
}

let ca: TestCa;
let pairA: KeyPair;
let pairB: KeyPair;
before(() => {
  ca = new TestCa();
  pairA = ca.issue({ cn: 'localhost', dns: ['localhost'], ips: ['127.0.0.1'] });
  pairB = ca.issue({ cn: 'localhost', dns: ['localhost'], ips: ['127.0.0.1'] });
});
after(() => ca?.cleanup());

const tlsArgs = (vol: SecretVolume, clientCa?: SecretVolume) => [
  '--tls-cert-file',
  vol.path('tls.crt'),
  '--tls-key-file',
  vol.path('tls.key'),
  ...(clientCa ? ['--tls-client-ca-file', clientCa.path('ca.crt')] : []),
];

describe('HTTPS with reload', () => {
  let vol: SecretVolume;
  let rt: Runtime;
  before(async () => {
    vol = new SecretVolume({ 'tls.crt': pairA.cert, 'tls.key': pairA.key });
    rt = await startRuntime({ model: 'iris', args: tlsArgs(vol) });
  });
  after(async () => {
    await rt?.stop();
    vol?.cleanup();
  });

  test('V2 inference over HTTPS, the chain verified with the CA; the log names the certificate, never the key', async () => {
    const r = await httpsCall(`${https(rt)}/v2/models/iris/infer`, { ca: ca.ca.cert }, { body });
    assert.equal(r.status, 200, r.text);
    const out = (r.json()['outputs'] as { name: string; data: number[] }[]).find((o) => o.name === 'label');
    assert.deepEqual(out?.data, iris.outputs.find((o) => o.name === 'label')?.data);
    assert.equal(r.fingerprint256, fp(pairA));
    const listening = rt.logs.find((l) => l.message === 'listening');
    assert.equal((listening?.['tls'] as { fingerprint256: string }).fingerprint256, fp(pairA));
    assert.doesNotMatch(rt.output(), /PRIVATE KEY|BEGIN CERTIFICATE/);
  });

  test('a client that does not trust the CA, plain HTTP, and TLS 1.1 are all refused', async () => {
    const other = new TestCa('other-ca');
    try {
      await assert.rejects(httpsCall(`${https(rt)}/v2/health/live`, { ca: other.ca.cert }), /self-signed|unable to verify|UNABLE_TO/i);
    } finally {
      other.cleanup();
    }
    const plain = await fetch(`${rt.url}/v2/health/live`).then(
      (r) => r.status,
      () => 'failed',
    );
    assert.notEqual(plain, 200);
    await assert.rejects(httpsCall(`${https(rt)}/v2/health/live`, { ca: ca.ca.cert, maxVersion: 'TLSv1.1' }), /version|protocol/i);
  });

  test('the key pair is swapped under load: 0 failed requests, open connections kept, no restart; a bad pair is refused', async () => {
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });
    let failures = 0;
    let ok = 0;
    let running = true;
    const seenOnKept = new Set<string>();
    const loop = async (fresh: boolean) => {
      while (running) {
        try {
          const r = await httpsCall(
            `${https(rt)}/v2/models/iris/infer`,
            { ca: ca.ca.cert, ...(fresh ? {} : { agent: keepAlive }) },
            { body },
          );
          if (r.status === 200) ok++;
          else failures++;
          if (!fresh) seenOnKept.add(r.fingerprint256);
        } catch {
          failures++;
        }
      }
    };
    const loops = [loop(false), loop(false), loop(true), loop(true)];
    try {
      await sleep(300);
      vol.update({ 'tls.crt': pairB.cert, 'tls.key': pairB.key });
      const took = await until(
        'new certificate served',
        async () => (await httpsCall(`${https(rt)}/v2/health/live`, { ca: ca.ca.cert })).fingerprint256 === fp(pairB),
        5000,
      );
      assert.ok(took < 3000, `picked up in ${took} ms`);
      await sleep(300);
    } finally {
      running = false;
      await Promise.all(loops);
      keepAlive.destroy();
    }
    assert.equal(failures, 0, `${failures} failed of ${ok + failures}`);
    assert.ok(ok > 20, `${ok} requests`);
    // the kept-alive connections were opened with pair A and went on serving on it
    assert.ok(seenOnKept.has(fp(pairA)));
    assert.equal(rt.proc.exitCode, null);
    assert.ok(rt.logs.some((l) => l.message === 'TLS certificate reloaded' && l['fingerprint256'] === fp(pairB)));

    // a mismatched pair (B's certificate, A's key) and an expired pair: refused, B stays
    const expired = ca.issue({ cn: 'localhost', dns: ['localhost'], expired: true });
    for (const [files, reason] of [
      [{ 'tls.crt': pairB.cert, 'tls.key': pairA.key }, /does not match/],
      [{ 'tls.crt': expired.cert, 'tls.key': expired.key }, /expired/],
    ] as const) {
      const before = rt.logs.length;
      vol.update(files);
      await until('reload refused', () => rt.logs.slice(before).some((l) => l.message.startsWith('TLS reload refused')), 5000);
      const line = rt.logs.slice(before).find((l) => l.message.startsWith('TLS reload refused'));
      assert.equal(line?.level, 'error');
      assert.match(line?.['reason'] as string, reason);
      const r = await httpsCall(`${https(rt)}/v2/models/iris/infer`, { ca: ca.ca.cert }, { body });
      assert.equal(r.status, 200);
      assert.equal(r.fingerprint256, fp(pairB));
    }
    assert.doesNotMatch(rt.output(), /PRIVATE KEY|BEGIN CERTIFICATE/);
  });
});

describe('mTLS', () => {
  let vol: SecretVolume;
  let caVol: SecretVolume;
  let rt: Runtime;
  let client: KeyPair;
  before(async () => {
    vol = new SecretVolume({ 'tls.crt': pairA.cert, 'tls.key': pairA.key });
    caVol = new SecretVolume({ 'ca.crt': ca.ca.cert });
    client = ca.issue({ cn: 'caller', client: true });
    rt = await startRuntime({ model: 'iris', args: tlsArgs(vol, caVol) });
  });
  after(async () => {
    await rt?.stop();
    vol?.cleanup();
    caVol?.cleanup();
  });

  test('no client certificate: 401 naming mTLS, logged with the reason; the health probes stay open', async () => {
    const r = await httpsCall(`${https(rt)}/v2/models/iris/infer`, { ca: ca.ca.cert }, { body });
    assert.equal(r.status, 401);
    assert.match(r.json()['error'] as string, /client certificate is required/);
    // The log line comes through the runtime's stdout pipe, which a loaded machine may deliver after the response.
    await until(
      'refusal logged',
      () => rt.logs.some((l) => l.message === 'client certificate refused' && l['reason'] === 'no certificate'),
      5000,
    );
    for (const path of ['/v2/health/live', '/v2/health/ready'])
      assert.equal((await httpsCall(`${https(rt)}${path}`, { ca: ca.ca.cert })).status, 200, path);
    assert.equal((await httpsCall(`${https(rt)}/v2/models/iris`, { ca: ca.ca.cert })).status, 401);
  });

  test('a client certificate from another CA: 403; from the CA: served', async () => {
    const other = new TestCa('other-ca');
    try {
      const stranger = other.issue({ cn: 'stranger', client: true });
      const r = await httpsCall(`${https(rt)}/v2/models/iris/infer`, { ca: ca.ca.cert, cert: stranger.cert, key: stranger.key }, { body });
      assert.equal(r.status, 403);
      assert.match(r.json()['error'] as string, /client certificate is not accepted/);
    } finally {
      other.cleanup();
    }
    const r = await httpsCall(`${https(rt)}/v2/models/iris/infer`, { ca: ca.ca.cert, cert: client.cert, key: client.key }, { body });
    assert.equal(r.status, 200, r.text);
    assert.doesNotMatch(rt.output(), /BEGIN CERTIFICATE/);
  });
});

describe('API key rotation from a key file', () => {
  let keys: SecretVolume;
  let rt: Runtime;
  const v1 = JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] });
  before(async () => {
    keys = new SecretVolume({ keys: 'old-key\n' });
    rt = await startRuntime({ model: 'iris', args: ['--api-key-file', keys.path('keys')] });
  });
  after(async () => {
    await rt?.stop();
    keys?.cleanup();
  });
  const status = async (key: string) =>
    (await fetch(`${rt.url}/v1/models/iris:predict`, { method: 'POST', body: v1, headers: { authorization: `Bearer ${key}` } })).status;

  test('old key, then old and new both valid, then only the new one; an empty file keeps the keys in use', async () => {
    assert.equal(await status('old-key'), 200);
    assert.equal(await status('new-key'), 401);
    keys.update({ keys: 'old-key\n  new-key  \n\n' });
    await until('new key valid', async () => (await status('new-key')) === 200, 5000);
    assert.equal(await status('old-key'), 200);
    keys.update({ keys: 'new-key\n' });
    await until('old key refused', async () => (await status('old-key')) === 401, 5000);
    assert.equal(await status('new-key'), 200);
    const before = rt.logs.length;
    keys.update({ keys: '\n \n' });
    await until('empty file refused', () => rt.logs.slice(before).some((l) => l.message.startsWith('API key reload refused')), 5000);
    assert.equal(await status('new-key'), 200);
    assert.equal(await status(''), 401);
    assert.equal(rt.proc.exitCode, null);
    assert.doesNotMatch(rt.output(), /old-key|new-key/);
  });
});

test('a bad pair at start (expired; TLS files without the key) is a configuration error: exit 2 naming it', async () => {
  const expired = ca.issue({ cn: 'localhost', expired: true });
  const vol = new SecretVolume({ 'tls.crt': expired.cert, 'tls.key': expired.key });
  try {
    const { exited, output } = spawnRuntime(['serve', '--model-path', 'x.onnx', '--port', '0', '--host', '127.0.0.1', ...tlsArgs(vol)]);
    assert.equal(await exited, 2);
    assert.match(output(), /invalid configuration: TLS .*expired/);
    const half = spawnRuntime(['serve', '--model-path', 'x.onnx', '--tls-cert-file', vol.path('tls.crt')]);
    assert.equal(await half.exited, 2);
    assert.match(half.output(), /--tls-cert-file \(MODELSHIP_TLS_CERT_FILE\) and --tls-key-file .* go together/);
  } finally {
    vol.cleanup();
  }
});

describe('A/B pinning over HTTPS', () => {
  let v1: Runtime;
  let v2: Runtime;
  let vol: SecretVolume;
  before(async () => {
    // the TLS Secret as cert-manager writes it: the CA next to the pair, which the forwarder trusts
    vol = new SecretVolume({ 'tls.crt': pairA.cert, 'tls.key': pairA.key, 'ca.crt': ca.ca.cert });
    v2 = await startRuntime({ model: 'iris', version: '2', args: tlsArgs(vol) });
    v1 = await startRuntime({ model: 'iris', version: '1', args: [...tlsArgs(vol), '--version-routes', `2=https://localhost:${v2.port}`] });
  });
  after(async () => {
    await Promise.all([v1?.stop(), v2?.stop()]);
    vol?.cleanup();
  });

  test('a request pinned to the other version is forwarded over https, its certificate verified with ca.crt', async () => {
    const r = await httpsCall(`${https(v1)}/v2/models/iris/infer`, { ca: ca.ca.cert }, { body, headers: { 'modelship-version': '2' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json()['model_version'], '2');
  });
});

describe('A/B pinning over HTTPS across a CA rotation', () => {
  let ca2: TestCa;
  let v1: Runtime;
  let v2: Runtime;
  let vol1: SecretVolume;
  let vol2: SecretVolume;
  before(async () => {
    ca2 = new TestCa('rotated-ca');
    vol1 = new SecretVolume({ 'tls.crt': pairA.cert, 'tls.key': pairA.key, 'ca.crt': ca.ca.cert });
    vol2 = new SecretVolume({ 'tls.crt': pairA.cert, 'tls.key': pairA.key, 'ca.crt': ca.ca.cert });
    v2 = await startRuntime({ model: 'iris', version: '2', args: tlsArgs(vol2) });
    v1 = await startRuntime({
      model: 'iris',
      version: '1',
      args: [...tlsArgs(vol1), '--version-routes', `2=https://localhost:${v2.port}`],
    });
  });
  after(async () => {
    await Promise.all([v1?.stop(), v2?.stop()]);
    vol1?.cleanup();
    vol2?.cleanup();
    ca2?.cleanup();
  });

  test('after both Secrets move to a new CA, the forwarder trusts the new ca.crt (re-read with the reloaded pair)', async () => {
    const pinned = (trust: string) =>
      httpsCall(`${https(v1)}/v2/models/iris/infer`, { ca: trust }, { body, headers: { 'modelship-version': '2' } });
    assert.equal((await pinned(ca.ca.cert)).status, 200);
    const rotated = ca2.issue({ cn: 'localhost', dns: ['localhost'], ips: ['127.0.0.1'] });
    const files = { 'tls.crt': rotated.cert, 'tls.key': rotated.key, 'ca.crt': ca2.ca.cert };
    vol2.update(files);
    vol1.update(files);
    for (const rt of [v1, v2]) await until('reloaded', () => rt.logs.some((l) => l.message === 'TLS certificate reloaded'), 5000);
    // concurrent, so the forwarder opens new connections (a kept-alive one was verified before the rotation)
    for (const r of await Promise.all([1, 2, 3, 4].map(() => pinned(ca2.ca.cert)))) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json()['model_version'], '2');
    }
  });
});
