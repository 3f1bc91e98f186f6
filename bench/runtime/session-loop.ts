/**
 * Benchmark ceiling: the in-process onnxruntime loop with no HTTP. For each intra-op thread count and each
 * batch size, sequential `await session.run()` on the same input (the request's row repeated to the batch
 * size) for <seconds> (at least 3 runs); prints one JSON line: every cell's rows/s, runs/s, p50/p99 per run,
 * and the best cell (the compute ceiling for that model on this machine).
 * usage: node bench/runtime/session-loop.ts <model.onnx> <seconds> [request.json] [batches] [threads]
 *   request.json: a one-row V2 request (default: the iris row); batches: comma-separated (default 1);
 *   threads: comma-separated intra-op thread counts (default 1)
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import type { LoopCell } from './report.ts';

const [modelPath, secondsArg, requestPath, batchesArg, threadsArg] = process.argv.slice(2);
if (!modelPath) throw new Error('usage: session-loop.ts <model.onnx> <seconds> [request.json] [batches] [threads]');
const seconds = Number(secondsArg ?? '5');
const input: { name: string; shape: number[]; data: number[] } = requestPath
  ? (JSON.parse(readFileSync(requestPath, 'utf8')) as { inputs: { name: string; shape: number[]; data: number[] }[] }).inputs[0]!
  : { name: 'input', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] };
const batches = (batchesArg || '1').split(',').map(Number);
const threads = (threadsArg || '1').split(',').map(Number);

function feedsFor(batch: number): Record<string, ort.Tensor> {
  const row = Float32Array.from(input.data);
  const data = new Float32Array(row.length * batch);
  for (let b = 0; b < batch; b++) data.set(row, b * row.length);
  return { [input.name]: new ort.Tensor('float32', data, [batch, ...input.shape.slice(1)]) };
}

async function measure(session: ort.InferenceSession, t: number, batch: number): Promise<LoopCell> {
  const feeds = feedsFor(batch);
  // warm-up: a tenth of the cell's time, at least 2 runs
  const warmEnd = performance.now() + seconds * 100;
  for (let i = 0; i < 2 || performance.now() < warmEnd; i++) await session.run(feeds);
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  while (lat.length < 3 || performance.now() < end) {
    const s = performance.now();
    await session.run(feeds);
    lat.push(performance.now() - s);
  }
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  return { threads: t, batch, rowsPerSec: (lat.length * batch) / elapsed, runsPerSec: lat.length / elapsed, p50Ms: q(0.5), p99Ms: q(0.99) };
}

const cells: LoopCell[] = [];
for (const t of threads) {
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: t, interOpNumThreads: 1, executionMode: 'sequential' });
  for (const b of batches) cells.push(await measure(session, t, b));
  await session.release();
}
const best = cells.reduce((a, c) => (c.rowsPerSec > a.rowsPerSec ? c : a));
const first = cells[0]!;
// runsPerSec/p50Ms/p99Ms: the first cell (batch 1, 1 thread by default), as before
process.stdout.write(`${JSON.stringify({ runsPerSec: first.runsPerSec, p50Ms: first.p50Ms, p99Ms: first.p99Ms, best, cells })}\n`);
