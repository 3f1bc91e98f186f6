/**
 * Batching on and off give identical outputs; batching really coalesces concurrent requests;
 * a full queue answers 429; a request past its deadline answers 504.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { post, request, startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';

let off: Runtime;
let on: Runtime;
before(async () => {
  [off, on] = await Promise.all([
    startRuntime({ model: 'iris', args: ['--max-batch-size', '1'] }),
    // a 20 ms queue delay makes the concurrent requests below land in shared batches
    startRuntime({ model: 'iris', args: ['--max-batch-size', '64', '--max-batch-delay-us', '20000'] }),
  ]);
});
after(async () => {
  await Promise.all([off?.stop(), on?.stop()]);
});

function rows(i: number): number[][] {
  const n = 1 + (i % 3);
  return Array.from({ length: n }, (_, r) => [
    4.3 + ((i * 7 + r) % 36) / 10,
    2 + ((i + r) % 24) / 10,
    1 + ((i * 3 + r) % 59) / 10,
    0.1 + ((i + 2 * r) % 24) / 10,
  ]);
}

async function runAll(rt: Runtime): Promise<{ label: number[]; probabilities: number[] }[]> {
  return Promise.all(
    Array.from({ length: 48 }, async (_, i) => {
      const data = rows(i);
      const r = await post(`${rt.url}/v2/models/iris/infer`, {
        id: String(i),
        inputs: [{ name: 'input', shape: [data.length, 4], datatype: 'FP32', data }],
      });
      assert.equal(r.status, 200, r.text);
      const body = r.json() as { id: string; outputs: { name: string; shape: number[]; data: number[] }[] };
      assert.equal(body.id, String(i), 'each reply belongs to its request');
      const get = (n: string) => body.outputs.find((o) => o.name === n)!;
      assert.deepEqual(get('label').shape, [data.length]);
      return { label: get('label').data, probabilities: get('probabilities').data };
    }),
  );
}

async function batchStats(rt: Runtime): Promise<{ sum: number; count: number }> {
  const text = (await request(`${rt.url}/metrics`)).text;
  const sum = Number(/modelship_batch_size_sum\{[^}]*\} (\S+)/.exec(text)?.[1]);
  const count = Number(/modelship_batch_size_count\{[^}]*\} (\S+)/.exec(text)?.[1]);
  return { sum, count };
}

test('batching on and off give identical outputs for the same concurrent requests', async () => {
  const [a, b] = await Promise.all([runAll(off), runAll(on)]);
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual(b[i]!.label, a[i]!.label, `labels of request ${i}`);
    const pa = a[i]!.probabilities;
    const pb = b[i]!.probabilities;
    for (let k = 0; k < pa.length; k++) assert.ok(Math.abs(pa[k]! - pb[k]!) < 1e-6, `probabilities of request ${i}: ${pa[k]} vs ${pb[k]}`);
  }
  const offStats = await batchStats(off);
  const onStats = await batchStats(on);
  // off: one run per request (warm-up excluded from the histogram) -> runs == requests
  assert.equal(offStats.count, 48);
  // on: fewer runs than requests, several rows per run
  assert.ok(onStats.count < 48 / 2, `batching should coalesce: ${onStats.count} runs for 48 requests`);
  assert.equal(onStats.sum, offStats.sum, 'same number of rows computed');
});

test('a full queue answers 429 and the queued requests still complete', async () => {
  // one worker, 1 s batching window, queue of 2: the first two wait, the third is refused
  const rt = await startRuntime({
    model: 'iris',
    args: ['--max-batch-size', '64', '--max-batch-delay-us', '1000000', '--max-queue-size', '2'],
  });
  try {
    const body = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] };
    const first = [post(`${rt.url}/v2/models/iris/infer`, body), post(`${rt.url}/v2/models/iris/infer`, body)];
    await new Promise((r) => setTimeout(r, 200));
    const third = await post(`${rt.url}/v2/models/iris/infer`, body);
    assert.equal(third.status, 429);
    assert.match(third.json()['error'] as string, /queue is full \(2 requests waiting\)/);
    for (const r of await Promise.all(first)) assert.equal(r.status, 200);
  } finally {
    await rt.stop();
  }
});

test('a request past its deadline answers 504', async () => {
  const rt = await startRuntime({
    model: 'iris',
    args: ['--max-batch-size', '64', '--max-batch-delay-us', '2000000', '--request-timeout-ms', '100'],
  });
  try {
    const r = await post(`${rt.url}/v2/models/iris/infer`, {
      inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
    });
    assert.equal(r.status, 504);
    assert.match(r.json()['error'] as string, /timed out after 100 ms/);
    assert.equal((await request(`${rt.url}/v2/health/ready`)).status, 200);
  } finally {
    await rt.stop();
  }
});

test('models without a dynamic batch dimension are never batched', async () => {
  const rt = await startRuntime({ model: 'fixed-shape', args: ['--max-batch-size', '64', '--max-batch-delay-us', '20000'] });
  try {
    const data = Array.from({ length: 12 }, (_, i) => i / 2);
    const replies = await Promise.all(
      Array.from({ length: 8 }, () =>
        post(`${rt.url}/v2/models/fixed-shape/infer`, { inputs: [{ name: 'matrix', shape: [3, 4], datatype: 'FP32', data }] }),
      ),
    );
    for (const r of replies) assert.equal(r.status, 200, r.text);
    const stats = await batchStats(rt);
    assert.equal(stats.count, 8);
    assert.match(rt.logs.find((l) => l.message === 'ready')?.['batching'] as string, /off/);
  } finally {
    await rt.stop();
  }
});
