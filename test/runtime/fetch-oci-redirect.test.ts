/**
 * `fetch` of an oci:// model whose blob GET the registry redirects to another host, as registries
 * backed by object storage do (distribution with S3, ECR, GHCR). The registry's Authorization must
 * reach the registry only, never the storage host. The real registry in fetch-oci.test.ts stores
 * blobs on disk and never redirects, so the registry here is a minimal one on loopback speaking
 * the three requests fetch makes (manifest with Basic auth, blob → 307); the storage host is
 * another port, which is another host for the header rule.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { modelPath, spawnRuntime } from '@modelship/devcluster/runtime-process';

const IRIS = readFileSync(modelPath('iris'));
const DIGEST = `sha256:${createHash('sha256').update(IRIS).digest('hex')}`;
const BASIC = `Basic ${Buffer.from('puller:pw-redirect-test').toString('base64')}`;
const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: `sha256:${'4'.repeat(64)}`, size: 2 },
  layers: [
    {
      mediaType: 'application/vnd.onnx',
      digest: DIGEST,
      size: IRIS.length,
      annotations: { 'org.opencontainers.image.title': 'model.onnx' },
    },
  ],
});

let dir = '';
let registry: Server;
let storage: Server;
const seenByRegistry: { url: string; headers: IncomingHttpHeaders }[] = [];
const seenByStorage: { url: string; headers: IncomingHttpHeaders }[] = [];

const listen = async (s: Server) => {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(s.address() as AddressInfo).port}`;
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'modelship-oci-redirect-'));
  storage = createServer((req, res) => {
    seenByStorage.push({ url: req.url ?? '', headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(IRIS);
  });
  const storageHost = await listen(storage);
  registry = createServer((req, res) => {
    seenByRegistry.push({ url: req.url ?? '', headers: req.headers });
    if (req.headers.authorization !== BASIC) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' }).end();
    } else if (req.url === '/v2/models/iris/manifests/v1') {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(MANIFEST);
    } else if (req.url === `/v2/models/iris/blobs/${DIGEST}`) {
      res.writeHead(307, { location: `http://${storageHost}/bucket/blob?X-Amz-Signature=abc` }).end();
    } else {
      res.writeHead(404).end();
    }
  });
  const registryHost = await listen(registry);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [registryHost]: { auth: BASIC.slice('Basic '.length) } } }));
  writeFileSync(join(dir, 'registry'), registryHost);
});

after(() => {
  for (const s of [registry, storage]) {
    s?.closeAllConnections();
    s?.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

test("a blob redirected to another host is fetched without the registry's Authorization", async () => {
  const dest = join(dir, 'models', 'model.onnx');
  const p = spawnRuntime(['fetch'], {
    MODELSHIP_MODEL_URI: `oci://${readFileSync(join(dir, 'registry'), 'utf8')}/models/iris:v1`,
    MODELSHIP_MODEL_PATH: dest,
    MODELSHIP_TERMINATION_LOG: join(dir, 'termination.log'),
    MODELSHIP_FETCH_BACKOFF_MS: '10',
    MODELSHIP_OCI_PLAIN_HTTP: 'true',
    MODELSHIP_REGISTRY_AUTH_FILE: join(dir, 'config.json'),
  });
  const code = await p.exited;
  assert.equal(code, 0, p.output());
  assert.ok(readFileSync(dest).equals(IRIS), 'the fetched file is the model');
  // the registry got the credentials (so there was an Authorization to leak) ...
  assert.ok(
    seenByRegistry.some((r) => r.url === `/v2/models/iris/blobs/${DIGEST}` && r.headers.authorization === BASIC),
    JSON.stringify(seenByRegistry.map((r) => r.url)),
  );
  // ... and the storage host did not
  assert.equal(seenByStorage.length, 1);
  assert.equal(seenByStorage[0]?.url, '/bucket/blob?X-Amz-Signature=abc');
  assert.equal(seenByStorage[0]?.headers.authorization, undefined);
});
