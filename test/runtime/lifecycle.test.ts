/**
 * SIGTERM under load: the runtime turns not-ready, keeps serving through the drain delay, stops
 * accepting, answers every request it had accepted (including ones still queued), exits 0.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { request, startRuntime } from '@modelship/devcluster/runtime-process';

const BODY = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });

interface Outcome {
  status?: number;
  error?: string;
  startedAt: number;
}

/** One request on a fresh connection; resolves with the status or the socket error code. */
function once(port: number): Promise<Outcome> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/v2/models/iris/infer',
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, startedAt }));
        res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message, startedAt }));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message, startedAt }));
    req.end(BODY);
  });
}

test('SIGTERM during load drops no accepted request and exits 0', async () => {
  // 2 s drain delay; a 150 ms batching window keeps requests queued at the moment the server
  // stops accepting, so "finish in-flight requests" is really exercised
  const rt = await startRuntime({
    model: 'iris',
    args: ['--drain-delay-seconds', '2', '--max-batch-size', '1000', '--max-batch-delay-us', '150000', '--shutdown-timeout-seconds', '10'],
  });
  const outcomes: Outcome[] = [];
  let stopLoad = false;
  const clients = Array.from({ length: 8 }, async () => {
    while (!stopLoad) {
      const o = await once(rt.port);
      outcomes.push(o);
      if (o.error === 'ECONNREFUSED') break;
    }
  });
  await new Promise((r) => setTimeout(r, 400));
  const sigtermAt = Date.now();
  rt.proc.kill('SIGTERM');

  // during the drain delay: not ready, but inference still served
  await new Promise((r) => setTimeout(r, 200));
  const ready = await request(`${rt.url}/v2/health/ready`);
  assert.equal(ready.status, 503);
  assert.match(ready.json()['error'] as string, /shutting down/);
  const live = await request(`${rt.url}/v2/health/live`);
  assert.equal(live.status, 200);

  const code = await rt.exited;
  stopLoad = true;
  await Promise.all(clients);

  assert.equal(code, 0, rt.output());
  const served = outcomes.filter((o) => o.status !== undefined);
  const failed = outcomes.filter((o) => o.error !== undefined);
  assert.ok(served.length > 20, `load actually ran (${served.length} served)`);
  assert.ok(
    served.every((o) => o.status === 200),
    `every accepted request answered 200: ${JSON.stringify(served.filter((o) => o.status !== 200).slice(0, 3))}`,
  );
  assert.ok(
    served.some((o) => o.startedAt > sigtermAt + 1000),
    'requests sent during the drain delay were served',
  );
  // the only failures allowed: connections refused after the server stopped accepting, and
  // connections reset by the kernel when the listener closed (their handshake completed in the
  // listen backlog, so the runtime never accepted them: seen 1 in 5 runs on a loaded machine), both
  // only at the end of the drain delay (with a margin for a loaded machine)
  assert.deepEqual(
    [...new Set(failed.map((o) => o.error))].filter((e) => e !== 'ECONNREFUSED' && e !== 'ECONNRESET'),
    [],
    'no other failure (hang-up, timeout) of any request',
  );
  assert.ok(
    failed.every((o) => o.startedAt >= sigtermAt + 1500),
    'nothing refused or reset before the drain delay ended',
  );
  const messages = rt.logs.map((l) => l.message);
  assert.ok(messages.includes('shutdown: not ready, draining'));
  assert.ok(messages.includes('shutdown: done'));
  assert.equal(rt.logs.find((l) => l.message === 'shutdown: done')?.['forced'], false);
});

test('SIGTERM while the model is still loading exits at once with 0', async () => {
  const rt = await startRuntime({ model: 'iris', args: ['--drain-delay-seconds', '30'], waitFor: 'listening' });
  rt.proc.kill('SIGTERM');
  const t0 = Date.now();
  assert.equal(await rt.exited, 0);
  assert.ok(Date.now() - t0 < 5000, 'no drain delay when never ready');
});

test('during the drain delay responses carry Connection: close, so keep-alive clients reconnect elsewhere', async () => {
  const rt = await startRuntime({ model: 'iris', args: ['--drain-delay-seconds', '3', '--shutdown-timeout-seconds', '5'] });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const post = () =>
    new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: rt.port,
          path: '/v2/models/iris/infer',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
        },
      );
      req.on('error', reject);
      req.end(BODY);
    });
  try {
    const before = await post();
    assert.deepEqual(before, { status: 200, connection: 'keep-alive' });
    rt.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const during = await post();
    assert.deepEqual(during, { status: 200, connection: 'close' });
    assert.equal(await rt.exited, 0);
  } finally {
    agent.destroy();
    await rt.stop();
  }
});

test('SIGTERM with --metrics-port and the resource limits: metrics stay served through the drain, accepted requests answered, exit 0', async () => {
  const rt = await startRuntime({
    model: 'iris',
    args: ['--metrics-port', '0', '--drain-delay-seconds', '1', '--max-connections', '64', '--headers-timeout-ms', '1000'],
  });
  const metricsPort = rt.logs.find((l) => l.message === 'listening')?.['metricsPort'] as number;
  try {
    assert.equal((await request(`${rt.url}/v2/models/iris/infer`, { body: BODY })).status, 200);
    rt.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const during = await request(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(during.status, 200);
    assert.match(during.text, /modelship_ready 0/);
    assert.equal((await request(`${rt.url}/v2/models/iris/infer`, { body: BODY })).status, 200, 'still serving in the drain delay');
    assert.equal(await rt.exited, 0);
    assert.equal(rt.logs.find((l) => l.message === 'shutdown: done')?.['forced'], false);
  } finally {
    await rt.stop();
  }
});

test('a connection accepted just before the runtime stops accepting still gets its request answered', async () => {
  // the runtime closes idle keep-alive connections the moment it stops accepting: a connection it
  // accepted but whose request has not arrived yet must not count as idle
  const rt = await startRuntime({ model: 'iris', args: ['--drain-delay-seconds', '0', '--shutdown-timeout-seconds', '10'] });
  const socket = net.connect(rt.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<string>((resolve) => {
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
  await new Promise((r) => setTimeout(r, 200)); // let the server accept it

  rt.proc.kill('SIGTERM');
  const deadline = Date.now() + 5000;
  while (!rt.logs.some((l) => l.message.startsWith('shutdown: no longer accepting')) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  socket.write(
    `POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\nConnection: close\r\n\r\n${BODY}`,
  );
  const answer = await ended;
  assert.match(answer, /^HTTP\/1\.1 200 /, `answered, not reset: ${answer.slice(0, 80) || '(nothing)'}`);
  assert.equal(await rt.exited, 0, rt.output());
});
