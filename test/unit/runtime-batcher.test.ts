import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchKey, concatInputs, splitOutputs, takeBatch } from '../../runtime/src/execution/batcher.ts';
import type { Tensor } from '../../runtime/src/tensor/datatypes.ts';
import { HttpError } from '../../runtime/src/errors.ts';
import type { RunResult } from '../../runtime/src/execution/pool.ts';
import { Scheduler, type Executor, type SchedulerHooks } from '../../runtime/src/execution/scheduler.ts';

const q = (rows: number, key = 'k', solo = false, id = 0) => ({ rows, key, solo, id });

test('takeBatch: FIFO prefix up to maxRows', () => {
  const queue = [q(2, 'k', false, 1), q(3, 'k', false, 2), q(4, 'k', false, 3)];
  assert.deepEqual(
    takeBatch(queue, 5).map((x) => x.id),
    [1, 2],
  );
  assert.deepEqual(
    queue.map((x) => x.id),
    [3],
  );
});

test('takeBatch: skips incompatible keys and solo requests but keeps their order', () => {
  const queue = [q(1, 'a', false, 1), q(1, 'b', false, 2), q(1, 'a', false, 3), q(1, 'a', true, 4), q(1, 'a', false, 5)];
  assert.deepEqual(
    takeBatch(queue, 10).map((x) => x.id),
    [1, 3, 5],
  );
  assert.deepEqual(
    queue.map((x) => x.id),
    [2, 4],
  );
  assert.deepEqual(
    takeBatch(queue, 10).map((x) => x.id),
    [2],
  );
  assert.deepEqual(
    takeBatch(queue, 10).map((x) => x.id),
    [4],
  );
  assert.deepEqual(takeBatch([], 10), []);
});

test('takeBatch: a request larger than maxRows runs alone; maxRows 1 = no batching', () => {
  const queue = [q(50, 'k', false, 1), q(1, 'k', false, 2), q(1, 'k', false, 3)];
  assert.deepEqual(
    takeBatch(queue, 32).map((x) => x.id),
    [1],
  );
  assert.deepEqual(
    takeBatch(queue, 1).map((x) => x.id),
    [2],
  );
});

test('batchKey: the non-batch dimensions of every input', () => {
  const t = (dims: number[]): Tensor => ({ type: 'float32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) });
  const k1 = batchKey(
    ['a', 'b'],
    new Map([
      ['a', t([2, 4])],
      ['b', t([2, 3, 5])],
    ]),
  );
  const k2 = batchKey(
    ['a', 'b'],
    new Map([
      ['a', t([7, 4])],
      ['b', t([7, 3, 5])],
    ]),
  );
  const k3 = batchKey(
    ['a', 'b'],
    new Map([
      ['a', t([7, 4])],
      ['b', t([7, 5, 3])],
    ]),
  );
  assert.equal(k1, k2);
  assert.notEqual(k1, k3);
});

test('concatInputs + splitOutputs round-trip by rows', () => {
  const a = new Map<string, Tensor>([
    ['x', { type: 'float32', dims: [1, 2], data: Float32Array.from([1, 2]) }],
    ['s', { type: 'string', dims: [1], data: ['p'] }],
  ]);
  const b = new Map<string, Tensor>([
    ['x', { type: 'float32', dims: [2, 2], data: Float32Array.from([3, 4, 5, 6]) }],
    ['s', { type: 'string', dims: [2], data: ['q', 'r'] }],
  ]);
  const c = concatInputs(['x', 's'], [a, b]);
  assert.deepEqual(c.get('x')!.dims, [3, 2]);
  assert.deepEqual(Array.from(c.get('x')!.data as Float32Array), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(c.get('s')!.data, ['p', 'q', 'r']);
  const parts = splitOutputs(new Map([['y', { type: 'int64', dims: [3], data: BigInt64Array.from([7n, 8n, 9n]) }]]), [1, 2])!;
  assert.deepEqual(
    parts.map((p) => [p.get('y')!.dims, Array.from(p.get('y')!.data as BigInt64Array)]),
    [
      [[1], [7n]],
      [[2], [8n, 9n]],
    ],
  );
  assert.equal(
    splitOutputs(new Map([['y', { type: 'float32', dims: [1], data: Float32Array.from([1]) }]]), [1, 2]),
    undefined,
    'output without the batch dimension',
  );
});

/** A fake worker pool: records each run, answers when told to. */
class FakeExec implements Executor {
  onIdle: () => void = () => {};
  runs: { feeds: Map<string, Tensor>; resolve: (r: RunResult) => void; reject: (e: Error) => void }[] = [];
  busy = 0;
  readonly workers: number;
  constructor(workers: number) {
    this.workers = workers;
  }
  hasIdle(): boolean {
    return this.busy < this.workers;
  }
  run(feeds: Map<string, Tensor>): Promise<RunResult> {
    this.busy++;
    return new Promise((resolve, reject) => {
      this.runs.push({
        feeds,
        resolve: (r) => {
          this.busy--;
          resolve(r);
          queueMicrotask(() => this.onIdle());
        },
        reject: (e) => {
          this.busy--;
          reject(e);
          queueMicrotask(() => this.onIdle());
        },
      });
    });
  }
  /** answer a run: y = 2 * x, one row per input row */
  answer(i: number): void {
    const run = this.runs[i]!;
    const x = run.feeds.get('x')!;
    run.resolve({
      outputs: new Map([['y', { type: 'float32', dims: [...x.dims], data: (x.data as Float32Array).map((v) => v * 2) }]]),
      computeMs: 0.01,
    });
  }
}

const hooks = (): SchedulerHooks & { batches: number[] } => {
  const batches: number[] = [];
  return { batches, queueSeconds: () => {}, computeSeconds: () => {}, batchRows: (n) => batches.push(n), queueDepth: () => {} };
};
const input = (...v: number[]) => new Map<string, Tensor>([['x', { type: 'float32', dims: [v.length, 1], data: Float32Array.from(v) }]]);
const opts = { inputNames: ['x'], maxBatchSize: 8, maxBatchDelayUs: 0, maxQueueSize: 100, timeoutMs: 10_000, batchable: true };
const tick = () => new Promise((r) => setImmediate(r));

test('Scheduler: requests queued while the worker is busy are run as one batch and split back', async () => {
  const exec = new FakeExec(1);
  const h = hooks();
  const s = new Scheduler(opts, exec, h);
  const p1 = s.submit(input(1), 1, undefined);
  const p2 = s.submit(input(2, 3), 2, undefined);
  const p3 = s.submit(input(4), 1, undefined);
  assert.equal(exec.runs.length, 1, 'first request went straight to the idle worker');
  exec.answer(0);
  await tick();
  assert.equal(exec.runs.length, 2);
  assert.deepEqual(Array.from(exec.runs[1]!.feeds.get('x')!.data as Float32Array), [2, 3, 4]);
  exec.answer(1);
  const [r1, r2, r3] = await Promise.all([p1, p2, p3]);
  assert.deepEqual(Array.from(r1.outputs.get('y')!.data as Float32Array), [2]);
  assert.deepEqual(Array.from(r2.outputs.get('y')!.data as Float32Array), [4, 6]);
  assert.deepEqual(Array.from(r3.outputs.get('y')!.data as Float32Array), [8]);
  assert.deepEqual(h.batches, [1, 3]);
  s.close();
});

test('Scheduler: batching off runs every request alone', async () => {
  const exec = new FakeExec(1);
  const h = hooks();
  const s = new Scheduler({ ...opts, maxBatchSize: 1 }, exec, h);
  const ps = [s.submit(input(1), 1, undefined), s.submit(input(2), 1, undefined), s.submit(input(3), 1, undefined)];
  for (let i = 0; i < 3; i++) {
    await tick();
    exec.answer(i);
  }
  await Promise.all(ps);
  assert.deepEqual(h.batches, [1, 1, 1]);
  s.close();
});

test('Scheduler: a failing batch is retried request by request, only the bad one fails', async () => {
  const exec = new FakeExec(1);
  const s = new Scheduler(opts, exec, hooks());
  const p0 = s.submit(input(0), 1, undefined);
  const good = s.submit(input(1), 1, undefined);
  const bad = s.submit(input(-1), 1, undefined);
  exec.answer(0);
  await p0;
  await tick();
  exec.runs[1]!.reject(new Error('boom'));
  await tick();
  await tick();
  assert.equal(exec.runs.length, 3, 'retried alone');
  exec.answer(2);
  await tick();
  await tick();
  exec.runs[3]!.reject(new Error('negative input'));
  assert.deepEqual(Array.from((await good).outputs.get('y')!.data as Float32Array), [2]);
  await assert.rejects(
    bad,
    (e: unknown) => e instanceof HttpError && e.status === 500 && /inference failed: negative input/.test(e.message),
  );
  s.close();
});

test('Scheduler: full queue -> 429, deadline -> 504', async () => {
  const exec = new FakeExec(1);
  const s = new Scheduler({ ...opts, maxQueueSize: 1, timeoutMs: 30 }, exec, hooks());
  // Handlers are attached at once: on a loaded machine the 30 ms deadlines can pass before the
  // first assertion finishes, and an unobserved rejection would fail the test by itself.
  const running = assert.rejects(s.submit(input(1), 1, undefined), (e: unknown) => e instanceof HttpError && e.status === 504); // taken by the worker
  const queued = assert.rejects(
    s.submit(input(2), 1, undefined),
    (e: unknown) => e instanceof HttpError && e.status === 504 && /waiting in the queue/.test(e.message),
  ); // waits
  await assert.rejects(s.submit(input(3), 1, undefined), (e: unknown) => e instanceof HttpError && e.status === 429);
  await queued;
  await running;
  exec.answer(0); // a late answer is ignored
  s.close();
});

test('Scheduler: max batch delay waits for more requests, up to the delay', async () => {
  const exec = new FakeExec(1);
  const h = hooks();
  const s = new Scheduler({ ...opts, maxBatchDelayUs: 20_000 }, exec, h);
  const a = s.submit(input(1), 1, undefined);
  assert.equal(exec.runs.length, 0, 'waits for the batch to fill');
  const b = s.submit(input(2), 1, undefined);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(exec.runs.length, 1);
  exec.answer(0);
  await Promise.all([a, b]);
  assert.deepEqual(h.batches, [2]);
  // a full batch does not wait
  const full = Array.from({ length: 8 }, (_, i) => s.submit(input(i), 1, undefined));
  await tick();
  assert.equal(exec.runs.length, 2);
  exec.answer(1);
  await Promise.all(full);
  s.close();
});
