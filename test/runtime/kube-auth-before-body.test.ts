/**
 * runtime/README ("Kubernetes authorization"): a request is reviewed before it is dispatched, so a
 * refused inference never reads its body. An unauthenticated client declaring a 50 MB body and
 * sending none is answered at once — 401 without a token, 503 (fail closed) when the review cannot
 * reach the API server — instead of the runtime waiting for the body. The API server here is a
 * closed port: no review can pass, which is all this test needs.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestCa } from '@modelship/devcluster/test-ca';
import { startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';

let ca: TestCa;
let rt: Runtime;

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

before(async () => {
  ca = new TestCa();
  const tokenFile = join(ca.dir, 'runtime-token');
  writeFileSync(tokenFile, 'the-runtime-own-token\n');
  rt = await startRuntime({
    model: 'iris',
    args: [
      '--auth-mode',
      'kubernetes',
      '--auth-namespace',
      'ml',
      '--auth-resource-name',
      'iris',
      '--kube-api-url',
      `https://127.0.0.1:${await closedPort()}`,
      '--kube-ca-file',
      ca.ca.certFile,
      '--kube-token-file',
      tokenFile,
      '--auth-review-timeout-ms',
      '2000',
    ],
  });
});

after(async () => {
  await rt?.stop();
  ca?.cleanup();
});

/** POST headers declaring a large body, then nothing: the status line and how long it took. */
function headersOnly(authorization: string | undefined): Promise<{ status: number; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect(rt.port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer within 8 s: the runtime waited for the body'));
    }, 8_000);
    socket.on('data', (c) => {
      text += c.toString();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ status: Number(m[1]), ms: performance.now() - start });
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(
      'POST /v2/models/iris/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 50000000\r\n' +
        (authorization ? `authorization: ${authorization}\r\n` : '') +
        '\r\n',
    );
  });
}

test('no token: 401 before any body byte', async () => {
  const r = await headersOnly(undefined);
  assert.equal(r.status, 401);
  assert.ok(r.ms < 3_000, `${r.ms.toFixed(0)} ms`);
});

test('a token the API server cannot review: 503 (fail closed) before any body byte', async () => {
  const r = await headersOnly('Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln');
  assert.equal(r.status, 503);
  assert.ok(r.ms < 5_000, `${r.ms.toFixed(0)} ms`);
});
