/**
 * `fetch` against a real HTTP server on loopback (good and bad checksum, 404, oversized,
 * retry after 503, file://), and `serve` refusing a corrupt or mismatching model.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { EXIT_MODEL_LOAD_FAILED } from '../../runtime/src/errors.ts';
import { modelPath, request, spawnRuntime, startRuntime } from '@modelship/devcluster/runtime-process';
import { selfSignedPair } from '@modelship/devcluster/test-ca';

const IRIS = readFileSync(modelPath('iris'));
const IRIS_SHA = createHash('sha256').update(IRIS).digest('hex');
let server: Server;
let base = '';
const hits = new Map<string, number>();
let dir = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'modelship-fetch-'));
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === '/iris/model.onnx') {
      res.writeHead(200, { 'content-length': IRIS.length });
      res.end(IRIS);
    } else if (path === '/big/model.onnx') {
      res.writeHead(200, { 'content-length': 5000 });
      res.end(Buffer.alloc(5000, 1));
    } else if (path === '/big-chunked/model.onnx') {
      // no Content-Length: the limit must be enforced while streaming
      res.writeHead(200);
      res.write(Buffer.alloc(3000, 1));
      res.end(Buffer.alloc(3000, 1));
    } else if (path === '/flaky/model.onnx' && hits.get(path) === 1) {
      res.writeHead(503);
      res.end('try later');
    } else if (path === '/flaky/model.onnx') {
      res.end(IRIS);
    } else if (path === '/redirect/model.onnx') {
      res.writeHead(302, { location: '/iris/model.onnx' });
      res.end();
    } else if (path === '/loop/model.onnx') {
      res.writeHead(301, { location: '/loop/model.onnx' });
      res.end();
    } else if (path === '/to-file/model.onnx') {
      res.writeHead(302, { location: 'file:///etc/passwd' });
      res.end();
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function runFetch(
  uri: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string; dest: string; termLog: string }> {
  const dest = join(mkdtempSync(join(dir, 'case-')), 'models', 'model.onnx');
  const termLog = join(dir, `termination-${Math.random().toString(36).slice(2)}.log`);
  const p = spawnRuntime(['fetch'], {
    MODELSHIP_MODEL_URI: uri,
    MODELSHIP_MODEL_PATH: dest,
    MODELSHIP_TERMINATION_LOG: termLog,
    MODELSHIP_FETCH_BACKOFF_MS: '10',
    ...env,
  });
  const code = await p.exited;
  return { code, output: p.output(), dest, termLog };
}

function noLeftovers(dest: string): void {
  const folder = join(dest, '..');
  if (existsSync(folder))
    assert.deepEqual(
      readdirSync(folder).filter((f) => f.includes('.part')),
      [],
      'no temporary file left',
    );
}

test('fetch with the right sha256 writes the model and exits 0', async () => {
  const r = await runFetch(`${base}/iris/model.onnx`, { MODELSHIP_MODEL_SHA256: IRIS_SHA });
  assert.equal(r.code, 0, r.output);
  assert.deepEqual(readFileSync(r.dest), IRIS);
  assert.match(r.output, /"verified":true/);
  noLeftovers(r.dest);
});

test('fetch with a wrong sha256 fails with one clear line, writes nothing', async () => {
  const wrong = 'b'.repeat(64);
  const r = await runFetch(`${base}/iris/model.onnx`, { MODELSHIP_MODEL_SHA256: wrong });
  assert.equal(r.code, 1);
  assert.match(r.output, new RegExp(`sha256 mismatch for .*: got ${IRIS_SHA}, expected ${wrong}`));
  assert.equal(
    r.output
      .trim()
      .split('\n')
      .filter((l) => l.includes('"level":"error"')).length,
    1,
    'exactly one error line',
  );
  assert.equal(existsSync(r.dest), false);
  noLeftovers(r.dest);
  const termination = readFileSync(r.termLog, 'utf8');
  assert.match(termination, /sha256 mismatch/, 'Kubernetes termination message written');
  // the operator prefixes "model fetch failed: "; a second "fetch failed: " here read twice in the status
  assert.doesNotMatch(termination, /^fetch failed/);
});

test('fetch of a 404 URL fails without retrying', async () => {
  const r = await runFetch(`${base}/missing/model.onnx`);
  assert.equal(r.code, 1);
  assert.match(r.output, /HTTP 404 Not Found/);
  assert.equal(hits.get('/missing/model.onnx'), 1, 'a 404 is not retried');
  assert.equal(existsSync(r.dest), false);
});

test('fetch of an oversized file fails (declared length and streamed)', async () => {
  const a = await runFetch(`${base}/big/model.onnx`, { MODELSHIP_FETCH_MAX_BYTES: '4096' });
  assert.equal(a.code, 1);
  assert.match(a.output, /5000 bytes, larger than the limit of 4096 bytes/);
  assert.equal(existsSync(a.dest), false);
  const b = await runFetch(`${base}/big-chunked/model.onnx`, { MODELSHIP_FETCH_MAX_BYTES: '4096' });
  assert.equal(b.code, 1);
  assert.match(b.output, /larger than the limit of 4096 bytes/);
  assert.equal(existsSync(b.dest), false);
  noLeftovers(b.dest);
});

test('fetch retries a 503 with backoff, then succeeds', async () => {
  const r = await runFetch(`${base}/flaky/model.onnx`, { MODELSHIP_MODEL_SHA256: IRIS_SHA });
  assert.equal(r.code, 0, r.output);
  assert.equal(hits.get('/flaky/model.onnx'), 2);
  assert.match(r.output, /retrying/);
  assert.deepEqual(readFileSync(r.dest), IRIS);
});

test('fetch of an unreachable host fails after the retries', async () => {
  // a port that was just free: nothing listens there
  const tmp = createServer();
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
  const port = (tmp.address() as AddressInfo).port;
  await new Promise((r) => tmp.close(r));
  const r = await runFetch(`http://127.0.0.1:${port}/model.onnx`, { MODELSHIP_FETCH_RETRIES: '2' });
  assert.equal(r.code, 1);
  assert.match(r.output, /ECONNREFUSED/);
  assert.equal((r.output.match(/retrying/g) ?? []).length, 2);
});

test('fetch copies file:// and fails clearly on a missing file', async () => {
  const ok = await runFetch(pathToFileURL(modelPath('iris')).href, { MODELSHIP_MODEL_SHA256: IRIS_SHA });
  assert.equal(ok.code, 0, ok.output);
  assert.deepEqual(readFileSync(ok.dest), IRIS);
  const missing = await runFetch(pathToFileURL(join(dir, 'nope.onnx')).href);
  assert.equal(missing.code, 1);
  assert.match(missing.output, /cannot read .*nope.onnx: ENOENT/);
});

test('fetch rejects bad configuration with exit code 2', async () => {
  const r = await runFetch('ftp://example/model.onnx');
  assert.equal(r.code, 2);
  assert.match(r.output, /must start with http:\/\/, https:\/\/, file:\/\/, pvc:\/\/, oci:\/\/ or s3:\/\//);
  const s = await runFetch(`${base}/iris/model.onnx`, { MODELSHIP_MODEL_SHA256: 'xyz' });
  assert.equal(s.code, 2);
  assert.match(s.output, /must be 64 hex characters/);
});

async function neverReady(args: string[], pattern: RegExp): Promise<void> {
  const terminationLog = join(dir, `termination-${Math.random().toString(36).slice(2)}.log`);
  const p = spawnRuntime([
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--model-name',
    'm',
    '--termination-log',
    terminationLog,
    ...args,
  ]);
  let readySeen = false;
  let exited = false;
  void p.exited.then(() => (exited = true));
  const deadline = Date.now() + 20_000;
  while (!exited && Date.now() < deadline) {
    const port = p.logs.find((l) => l.message === 'listening')?.['port'];
    if (port) {
      try {
        if ((await request(`http://127.0.0.1:${port}/v2/health/ready`)).status === 200) readySeen = true;
      } catch {
        // closed while exiting
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const code = await p.exited;
  assert.equal(code, EXIT_MODEL_LOAD_FAILED, 'serve exits with the model-load exit code');
  assert.match(readFileSync(terminationLog, 'utf8'), pattern, 'the failure is the termination message');
  assert.equal(readySeen, false, 'never reported ready');
  assert.match(p.output(), pattern);
  assert.equal(
    p.logs.some((l) => l.message === 'ready'),
    false,
  );
}

test('serve exits non-zero and is never ready with a corrupt model', async () => {
  await neverReady(
    ['--model-path', modelPath('broken')],
    /cannot serve model: cannot load model .*broken\/model.onnx: .*Protobuf parsing failed/,
  );
});

test('serve exits non-zero and is never ready when the sha256 does not match', async () => {
  await neverReady(['--model-path', modelPath('iris'), '--model-sha256', 'c'.repeat(64)], /sha256 of .* is [0-9a-f]{64}, expected c{64}/);
});

test('serve exits non-zero when the model file is missing', async () => {
  await neverReady(['--model-path', join(dir, 'absent.onnx')], /model file .*absent.onnx does not exist/);
});

test('serve accepts the right sha256', async () => {
  const rt = await startRuntime({ model: 'iris', args: ['--model-sha256', IRIS_SHA] });
  assert.equal((await request(`${rt.url}/v2/health/ready`)).status, 200);
  assert.equal(await rt.stop(), 0);
});

test('fetch follows an http redirect, refuses a redirect loop and a redirect to file:', async () => {
  const ok = await runFetch(`${base}/redirect/model.onnx`, { MODELSHIP_MODEL_SHA256: IRIS_SHA });
  assert.equal(ok.code, 0, ok.output);
  assert.deepEqual(readFileSync(ok.dest), IRIS);
  const loop = await runFetch(`${base}/loop/model.onnx`);
  assert.equal(loop.code, 1);
  assert.match(loop.output, /cannot download .*\/loop\/model.onnx: more than 5 redirects/);
  const file = await runFetch(`${base}/to-file/model.onnx`);
  assert.equal(file.code, 1);
  assert.match(file.output, /refusing a redirect to a file: URL/);
  assert.equal(existsSync(file.dest), false);
});

test('fetch refuses a redirect from https to http (issue 9), follows https to https', async () => {
  // a real TLS server on loopback with a throwaway self-signed certificate the fetch process trusts
  const tls = mkdtempSync(join(dir, 'tls-'));
  const pair = selfSignedPair(tls, 'server', '127.0.0.1', ['IP:127.0.0.1']);
  const secure = createHttpsServer({ key: pair.key, cert: pair.cert }, (req, res) => {
    if (req.url === '/downgrade/model.onnx') {
      res.writeHead(302, { location: `${base}/downgraded/model.onnx?token=secret` });
      res.end();
    } else if (req.url === '/upgrade-ok/model.onnx') {
      res.writeHead(307, { location: '/iris/model.onnx' });
      res.end();
    } else if (req.url === '/iris/model.onnx') {
      res.end(IRIS);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
  const https = `https://127.0.0.1:${(secure.address() as AddressInfo).port}`;
  try {
    const env = { NODE_EXTRA_CA_CERTS: pair.certFile, MODELSHIP_FETCH_RETRIES: '2' };
    const down = await runFetch(`${https}/downgrade/model.onnx`, env);
    assert.equal(down.code, 1, down.output);
    assert.match(
      down.output,
      /cannot download https:\/\/127\.0\.0\.1:\d+\/downgrade\/model\.onnx: refusing a redirect from https to http \(http:\/\/127\.0\.0\.1:\d+\/downgraded\/model\.onnx\?<redacted>\)/,
    );
    assert.doesNotMatch(down.output, /secret/, 'the redirect target query is redacted');
    assert.doesNotMatch(down.output, /retrying/, 'a refused redirect is not retried');
    assert.equal(hits.get('/downgraded/model.onnx?token=secret'), undefined, 'the http URL was never requested');
    assert.equal(existsSync(down.dest), false);
    noLeftovers(down.dest);
    const up = await runFetch(`${https}/upgrade-ok/model.onnx`, { ...env, MODELSHIP_MODEL_SHA256: IRIS_SHA });
    assert.equal(up.code, 0, up.output);
    assert.deepEqual(readFileSync(up.dest), IRIS);
  } finally {
    await new Promise((r) => secure.close(r));
  }
});

test('pvc:// copies from the claim and refuses any escape of the claim root (issue 9)', async () => {
  const root = mkdtempSync(join(dir, 'pvc-'));
  mkdirSync(join(root, 'claim', 'sub'), { recursive: true });
  mkdirSync(join(root, 'other'), { recursive: true });
  writeFileSync(join(root, 'claim', 'sub', 'model file.onnx'), IRIS);
  writeFileSync(join(root, 'other', 'model.onnx'), IRIS);
  writeFileSync(join(root, 'outside.onnx'), IRIS);
  symlinkSync(join(root, 'other', 'model.onnx'), join(root, 'claim', 'link.onnx'));
  symlinkSync(join(root, 'claim', 'sub', 'model file.onnx'), join(root, 'claim', 'inner-link.onnx'));
  const env = { MODELSHIP_PVC_ROOT: root };
  for (const ok of ['pvc://claim/sub/model%20file.onnx', 'pvc://claim/./sub//model%20file.onnx', 'pvc://claim/inner-link.onnx']) {
    const r = await runFetch(ok, { ...env, MODELSHIP_MODEL_SHA256: IRIS_SHA });
    assert.equal(r.code, 0, `${ok}: ${r.output}`);
    assert.deepEqual(readFileSync(r.dest), IRIS);
  }
  const refused: [string, RegExp][] = [
    ['pvc://../outside.onnx', /pvc URI must be pvc:\/\/<claim>\/<path>|claim must be a PersistentVolumeClaim name/],
    ['pvc://../other/model.onnx', /claim must be a PersistentVolumeClaim name .*got \\"\.\.\\"/],
    ['pvc://%2e%2e/other/model.onnx', /claim must be a PersistentVolumeClaim name .*got \\"%2e%2e\\"/],
    ['pvc://./claim/sub/model%20file.onnx', /claim must be a PersistentVolumeClaim name .*got \\"\.\\"/],
    ['pvc://Claim/sub/model.onnx', /claim must be a PersistentVolumeClaim name/],
    ['pvc://claim/../other/model.onnx', /must stay inside the claim/],
    ['pvc://claim/sub/../../other/model.onnx', /must stay inside the claim/],
    ['pvc://claim/%2e%2e/other/model.onnx', /must stay inside the claim/],
    ['pvc://claim/%2E%2E/%2E%2E/outside.onnx', /must stay inside the claim/],
    ['pvc://claim/sub%2f..%2f..%2fother/model.onnx', /must stay inside the claim/],
    ['pvc://claim/a%00b.onnx', /must stay inside the claim/],
    ['pvc://claim/%E0%A4%A.onnx', /malformed percent-escape/],
    ['pvc://claim/link.onnx', /must stay inside the claim: .*link\.onnx resolves to .*other\/model\.onnx, outside/],
  ];
  for (const [uri, pattern] of refused) {
    const r = await runFetch(uri, env);
    assert.equal(r.code, 1, `${uri}: ${r.output}`);
    assert.match(r.output, pattern, uri);
    assert.equal(existsSync(r.dest), false, `${uri}: nothing written`);
  }
});
