/**
 * The real WorkerPool (real worker threads, real onnxruntime, the iris model) in this process:
 * a worker that ends is replaced; its request gets a clean 503 + Retry-After through the real
 * Scheduler; a replacement that cannot load is retried with capped exponential backoff until it can.
 * Workers are ended through the pool's own API (endWorker), the path the run timeout takes.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import winston from 'winston';
import type { Tensor } from '../../runtime/src/tensor/datatypes.ts';
import { HttpError, WorkerLostError } from '../../runtime/src/errors.ts';
import { respawnDelayMs, WorkerPool } from '../../runtime/src/execution/pool.ts';
import { Scheduler } from '../../runtime/src/execution/scheduler.ts';
import { modelPath } from '@modelship/devcluster/runtime-process';

interface Captured {
  message: string;
  [k: string]: unknown;
}

function capturingLogger(): { log: winston.Logger; lines: Captured[] } {
  const lines: Captured[] = [];
  const log = winston.createLogger({
    level: 'debug',
    transports: [
      new (class extends winston.transports.Stream {
        constructor() {
          super({ stream: process.stderr });
        }
        override log(info: Captured, next: () => void): void {
          lines.push(info);
          next();
        }
      })(),
    ],
  });
  return { log, lines };
}

const feeds = (rows: number): Map<string, Tensor> => {
  const data = new Float32Array(rows * 4).fill(1.5);
  return new Map([['input', { type: 'float32', dims: [rows, 4], data }]]);
};

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - t0;
}

test('respawn backoff: immediate first, then doubling from the base, capped', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 10, 100].map((f) => respawnDelayMs(f, 100, 1000)),
    [0, 100, 200, 400, 800, 1000, 1000, 1000],
  );
});

test('a worker that ends is replaced; live drops to size - 1 meanwhile', async (t) => {
  const { log } = capturingLogger();
  const pool = new WorkerPool(2, { modelPath: modelPath('iris'), intraOpThreads: 1 }, log);
  try {
    await pool.start();
    assert.equal(pool.live, 2);
    const ended = pool.endWorker(0, 'test: worker ended');
    assert.equal(pool.live, 1, 'out of rotation at once');
    await ended;
    const ms = await until('the replacement', () => pool.live === 2);
    t.diagnostic(`replacement worker loaded ${ms} ms after the old one ended`);
    assert.equal(pool.restarts, 1);
    const r = await pool.run(feeds(2), undefined);
    assert.deepEqual(r.outputs.get('label')?.dims, [2]);
  } finally {
    await pool.close();
  }
});

test('a request on a worker that ends gets 503 with Retry-After (not 500), the next one is served', async () => {
  const { log } = capturingLogger();
  const pool = new WorkerPool(1, { modelPath: modelPath('iris'), intraOpThreads: 1 }, log);
  try {
    await pool.start();
    const hooks = { queueSeconds() {}, computeSeconds() {}, batchRows() {}, queueDepth() {} };
    const scheduler = new Scheduler(
      { inputNames: ['input'], maxBatchSize: 1, maxBatchDelayUs: 0, maxQueueSize: 10, timeoutMs: 30_000, batchable: true },
      pool,
      hooks,
    );
    // a long real run (1,000,000 rows), and the worker running it ends meanwhile
    const job = scheduler.submit(feeds(1_000_000), 1_000_000, undefined);
    await new Promise((r) => setTimeout(r, 20));
    void pool.endWorker(0, 'test: worker ended during the run');
    await assert.rejects(job, (e: unknown) => {
      assert.ok(e instanceof HttpError, String(e));
      assert.equal(e.status, 503);
      assert.equal(e.retryAfterSeconds, 1);
      assert.match(e.message, /inference failed: test: worker ended during the run; retry/);
      return true;
    });
    const next = await scheduler.submit(feeds(1), 1, undefined);
    assert.deepEqual(next.outputs.get('label')?.dims, [1]);
    scheduler.close();
  } finally {
    await pool.close();
  }
});

test('the pool itself rejects runs of a worker that ends with WorkerLostError', async () => {
  const { log } = capturingLogger();
  const pool = new WorkerPool(1, { modelPath: modelPath('iris'), intraOpThreads: 1 }, log);
  try {
    await pool.start();
    const run = pool.run(feeds(1_000_000), undefined);
    void pool.endWorker(0, 'gone');
    await assert.rejects(run, (e: unknown) => e instanceof WorkerLostError && e.message === 'gone' && !e.timedOut);
  } finally {
    await pool.close();
  }
});

test('a replacement that cannot load is retried with growing delays until it can', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-pool-'));
  const file = join(dir, 'model.onnx');
  copyFileSync(modelPath('iris'), file);
  const { log, lines } = capturingLogger();
  const pool = new WorkerPool(1, { modelPath: file, intraOpThreads: 1 }, log, { respawnBaseMs: 40, respawnMaxMs: 160 });
  try {
    await pool.start();
    renameSync(file, `${file}.away`);
    await pool.endWorker(0, 'test: worker ended');
    const retries = () => lines.filter((l) => l.message === 'cannot start a replacement inference worker; retrying');
    await until('four failed replacements', () => retries().length >= 4);
    assert.equal(pool.live, 0);
    assert.deepEqual(
      retries()
        .slice(0, 4)
        .map((l) => l['retryInMs']),
      [40, 80, 160, 160],
    );
    renameSync(`${file}.away`, file);
    await until('the replacement once the model is back', () => pool.live === 1);
    assert.ok(lines.some((l) => l.message === 'inference worker replaced'));
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a retired worker still inside its run past stuckAfterMs counts as stuck until its run returns and the thread ends', async () => {
  const { log } = capturingLogger();
  const pool = new WorkerPool(1, { modelPath: modelPath('iris'), intraOpThreads: 1 }, log, { runTimeoutMs: 10, stuckAfterMs: 30 });
  try {
    await pool.start();
    const run = pool.run(feeds(1_000_000), undefined);
    await assert.rejects(run, (e: unknown) => e instanceof WorkerLostError && e.timedOut);
    assert.equal(pool.stuck, 0, 'not stuck right after the timeout');
    await until('the retired run to count as stuck', () => pool.stuck === 1, 2000);
    await until('the stuck run to return', () => pool.stuck === 0);
    // the replacement was started at the timeout; on a busy machine it may still be loading
    await until('the replacement worker to be live', () => pool.live === 1);
  } finally {
    await pool.close();
  }
});
