/**
 * `fetch` of oci:// models from a hostile registry on loopback (the real registry in
 * fetch-oci.test.ts never misbehaves): a manifest, a token response or an error body that never
 * ends is cut at its limit (a few MiB read, not the stream), a redirect loop stops after 5 hops, a
 * WWW-Authenticate header with thousands of params is parsed in linear time. And what the real
 * registry there (htpasswd Basic, filesystem storage) cannot show: the Bearer token flow, and a
 * blob redirected to storage on another host gets no Authorization.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { modelPath, spawnRuntime } from '@modelship/devcluster/runtime-process';

let server: Server;
let storage: Server;
let host = '';
let storageHost = '';
const IRIS = readFileSync(modelPath('iris'));
const IRIS_DIGEST = `sha256:${createHash('sha256').update(IRIS).digest('hex')}`;
const TOKEN = 'tok-5d1e-not-in-logs';
const USER = { username: 'puller', password: 'pw-81aa-not-in-logs' };
/** the Authorization header (or "none") of each request to the token service and to blob storage */
const seen: { token?: string; tokenQuery?: string; storage?: string } = {};
let dir = '';
/** bytes each endless answer wrote before the client hung up */
const sent = new Map<string, number>();

/** Writes 64 KiB chunks (no Content-Length) until the client goes away. */
function endless(res: ServerResponse, key: string, status = 200, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let n = 0;
  const pump = () => {
    while (!res.destroyed) {
      n += chunk.length;
      sent.set(key, n);
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
  };
  res.on('close', () => sent.set(key, n));
  res.write('{"layers": [');
  pump();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'modelship-oci-hostile-'));
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/v2/endless/manifests/v1') return endless(res, 'manifest');
    if (path === '/v2/endless-error/manifests/v1') return endless(res, 'error', 404);
    if (path === '/v2/endless-token/manifests/v1') {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="hostile"` });
      return void res.end();
    }
    if (path === '/token') return endless(res, 'token');
    if (path === '/v2/loop/manifests/v1') {
      res.writeHead(307, { location: '/v2/loop/manifests/v1' });
      return void res.end();
    }
    if (path.startsWith('/v2/bearer/') && req.headers.authorization !== `Bearer ${TOKEN}`) {
      const challenge = `Bearer realm="http://${host}/auth",service="hostile",scope="repository:bearer:pull"`;
      res.writeHead(401, { 'www-authenticate': challenge });
      return void res.end();
    }
    if (path === '/auth') {
      seen.token = req.headers.authorization ?? 'none';
      seen.tokenQuery = new URL(req.url ?? '/', 'http://x').search;
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ token: TOKEN }));
    }
    if (path === '/v2/bearer/manifests/v1') {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      const layer = { mediaType: 'application/vnd.onnx', digest: IRIS_DIGEST, size: IRIS.length };
      return void res.end(JSON.stringify({ schemaVersion: 2, layers: [layer] }));
    }
    if (path === `/v2/bearer/blobs/${IRIS_DIGEST}`) {
      res.writeHead(307, { location: `http://${storageHost}/store/iris?signature=s` });
      return void res.end();
    }
    if (path === '/v2/many-params/manifests/v1') {
      const params = Array.from({ length: 1500 }, (_, i) => `p${i}="v"`).join(',');
      res.writeHead(401, { 'www-authenticate': `Bearer ${params}` });
      return void res.end();
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  // blob storage on another loopback address: another host for the redirect
  storage = createServer((req, res) => {
    seen.storage = req.headers.authorization ?? 'none';
    res.writeHead(200, { 'content-length': IRIS.length });
    res.end(IRIS);
  });
  await new Promise<void>((r) => storage.listen(0, '127.0.0.2', r));
  storageHost = `127.0.0.2:${(storage.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => storage.close(r))]);
  rmSync(dir, { recursive: true, force: true });
});

async function runFetch(
  repository: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string; ms: number; dest: string }> {
  const started = Date.now();
  const dest = join(mkdtempSync(join(dir, 'case-')), 'model.onnx');
  const p = spawnRuntime(['fetch'], {
    MODELSHIP_MODEL_URI: `oci://${host}/${repository}:v1`,
    MODELSHIP_MODEL_PATH: dest,
    MODELSHIP_TERMINATION_LOG: join(dir, 'termination.log'),
    MODELSHIP_OCI_PLAIN_HTTP: 'true',
    MODELSHIP_FETCH_TIMEOUT_SECONDS: '60',
    MODELSHIP_FETCH_RETRIES: '0',
    ...env,
  });
  const code = await p.exited;
  return { code, output: p.output(), ms: Date.now() - started, dest };
}

// the client stops reading at its limit; what the server got out before it noticed is the limit
// plus socket buffers, far below what 60 s of an endless loopback stream would be
const READ_AT_MOST = 64 * 1024 * 1024;

test('a manifest that never ends is refused at 4 MiB, not read until the timeout', async () => {
  const r = await runFetch('endless');
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /the manifest of oci:\/\/.*\/endless:v1 is larger than the limit of 4194304 bytes/);
  assert.ok(r.ms < 30_000, `${r.ms} ms`);
  assert.ok((sent.get('manifest') ?? 0) < READ_AT_MOST, `${sent.get('manifest')} bytes sent`);
});

test('a token response that never ends is refused at its limit', async () => {
  const r = await runFetch('endless-token');
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /the token response of .* is larger than the limit of 1048576 bytes/);
  assert.ok(r.ms < 30_000, `${r.ms} ms`);
  assert.ok((sent.get('token') ?? 0) < READ_AT_MOST, `${sent.get('token')} bytes sent`);
});

test('an error body that never ends: the status is reported, the body read only up to its limit', async () => {
  const r = await runFetch('endless-error');
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /tag \\"v1\\" not found \(HTTP 404\)/);
  assert.ok(r.ms < 30_000, `${r.ms} ms`);
  assert.ok((sent.get('error') ?? 0) < READ_AT_MOST, `${sent.get('error')} bytes sent`);
});

test('a registry redirect loop stops after 5 redirects', async () => {
  const r = await runFetch('loop');
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /cannot pull oci:\/\/.*\/loop:v1: more than 5 redirects/);
});

test('a Bearer challenge with 1,500 params and no realm: refused in one line', async () => {
  const r = await runFetch('many-params');
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /asked for a Bearer token without saying where to get it \(no realm\)/);
  assert.ok(r.ms < 30_000, `${r.ms} ms`);
});

test('the Bearer token flow with Basic credentials; the blob redirected to another host gets no Authorization', async () => {
  const authFile = join(dir, 'config.json');
  const auth = Buffer.from(`${USER.username}:${USER.password}`).toString('base64');
  writeFileSync(authFile, JSON.stringify({ auths: { [host]: { auth } } }));
  const r = await runFetch('bearer', { MODELSHIP_REGISTRY_AUTH_FILE: authFile });
  assert.equal(r.code, 0, r.output);
  assert.deepEqual(readFileSync(r.dest), IRIS);
  assert.equal(seen.token, `Basic ${auth}`, 'the token service got the Basic credentials');
  assert.equal(seen.tokenQuery, '?service=hostile&scope=repository%3Abearer%3Apull');
  assert.equal(seen.storage, 'none', "the registry's token is not sent to blob storage on another host");
  assert.doesNotMatch(r.output, new RegExp(`${TOKEN}|${USER.password}|${auth}`), 'no credential in the logs');
});
