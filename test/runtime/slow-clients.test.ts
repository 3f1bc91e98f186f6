/**
 * Slow and greedy clients against the real runtime process (issue 9): headers dribbled byte by
 * byte, a body dribbled or stalled, more connections than --max-connections. Each is cut off
 * within its timeout while a normal client keeps being served.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { post, request, startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';

const BODY = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] };

let rt: Runtime;
before(async () => {
  rt = await startRuntime({
    model: 'iris',
    args: ['--headers-timeout-ms', '1000', '--body-idle-timeout-ms', '1000', '--request-receive-timeout-ms', '3000'],
  });
});
after(async () => {
  await rt?.stop();
});

interface Cut {
  /** ms from connecting to the server closing the connection */
  afterMs: number;
  /** what the server wrote before closing */
  received: string;
}

/** Connect, then `write` on a timer until the server closes the connection (or `giveUpMs`). */
function dribble(port: number, first: string, next: () => string, everyMs: number, giveUpMs = 15_000): Promise<Cut> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let timer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server never closed the slow connection (${giveUpMs} ms); received ${JSON.stringify(received)}`));
    }, giveUpMs);
    socket.on('connect', () => {
      socket.write(first);
      if (everyMs > 0) timer = setInterval(() => socket.writable && socket.write(next()), everyMs);
    });
    socket.on('data', (d) => (received += d.toString()));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ afterMs: Date.now() - t0, received });
    });
  });
}

/** A normal client keeps being served while `slow` runs. */
async function servedMeanwhile(slow: Promise<Cut>): Promise<Cut> {
  let served = 0;
  let stop = false;
  const load = (async () => {
    while (!stop) {
      const r = await post(`${rt.url}/v2/models/iris/infer`, BODY);
      assert.equal(r.status, 200, r.text);
      served++;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const cut = await slow;
  stop = true;
  await load;
  assert.ok(served >= 5, `normal requests were served meanwhile (${served})`);
  return cut;
}

test('headers dribbled one line every 200 ms: cut off after --headers-timeout-ms (1 s) with 408', async (t) => {
  let n = 0;
  const cut = await servedMeanwhile(
    dribble(rt.port, 'POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\n', () => `X-Slow-${n++}: a\r\n`, 200),
  );
  t.diagnostic(`cut ${cut.afterMs} ms after connecting`);
  assert.ok(cut.afterMs >= 900 && cut.afterMs < 2500, `cut after ${cut.afterMs} ms`);
  assert.match(cut.received, /^HTTP\/1\.1 408/);
});

test('a body dribbled one byte every 200 ms: cut off by --request-receive-timeout-ms (3 s)', async (t) => {
  const head = 'POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n';
  const cut = await servedMeanwhile(dribble(rt.port, head, () => ' ', 200));
  t.diagnostic(`cut ${cut.afterMs} ms after connecting`);
  assert.ok(cut.afterMs >= 2900 && cut.afterMs < 4500, `cut after ${cut.afterMs} ms`);
  assert.match(cut.received, /^HTTP\/1\.1 408/);
});

test('a body that stops: 408 {"error"} after --body-idle-timeout-ms (1 s), connection closed', async (t) => {
  const head =
    'POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inputs": [';
  const cut = await servedMeanwhile(dribble(rt.port, head, () => '', 0));
  t.diagnostic(`cut ${cut.afterMs} ms after connecting`);
  assert.ok(cut.afterMs >= 900 && cut.afterMs < 2500, `cut after ${cut.afterMs} ms`);
  assert.match(cut.received, /^HTTP\/1\.1 408/);
  assert.match(cut.received, /\{"error":"the request body stalled: no bytes for 1000 ms"\}/);
});

test('--max-connections: connections beyond the cap are closed at once; freed slots serve again', async () => {
  const capped = await startRuntime({ model: 'iris', args: ['--max-connections', '2'] });
  const open = (): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const s = net.connect(capped.port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
  const held: net.Socket[] = [];
  try {
    held.push(await open(), await open());
    const t0 = Date.now();
    const third = await dribble(capped.port, 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n', () => '', 0, 5000);
    assert.ok(Date.now() - t0 < 1000, `the third connection was closed at once (${third.afterMs} ms)`);
    assert.equal(third.received, '', 'and got no answer');
    for (const s of held.splice(0)) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const r = await request(`${capped.url}/v2/health/live`);
    assert.equal(r.status, 200);
  } finally {
    for (const s of held) s.destroy();
    await capped.stop();
  }
});

test('an idle keep-alive connection is not mistaken for a slow client: reused after more than the headers timeout', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const call = () =>
    new Promise<{ status: number; port: number }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: rt.port,
          path: '/v2/models/iris/infer',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, port: req.socket?.localPort ?? 0 }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(BODY));
    });
  try {
    const first = await call();
    await new Promise((r) => setTimeout(r, 1800)); // headers timeout 1 s, checked every 250 ms
    const second = await call();
    assert.deepEqual([first.status, second.status], [200, 200]);
    assert.equal(second.port, first.port, 'same connection');
  } finally {
    agent.destroy();
  }
});
