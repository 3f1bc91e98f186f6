/**
 * Benchmark ceiling: the in-process onnxruntime loop with no HTTP. One thread, batch 1,
 * sequential `await session.run()` on the same input for <seconds>; prints one JSON line.
 * usage: node bench/runtime/session-loop.ts <model.onnx> <seconds>
 */
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';

const [modelPath, secondsArg] = process.argv.slice(2);
if (!modelPath) throw new Error('usage: session-loop.ts <model.onnx> <seconds>');
const seconds = Number(secondsArg ?? '5');
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
const feeds = { input: new ort.Tensor('float32', Float32Array.from([5.1, 3.5, 1.4, 0.2]), [1, 4]) };
for (let i = 0; i < 1000; i++) await session.run(feeds);
const lat: number[] = [];
const end = performance.now() + seconds * 1000;
const t0 = performance.now();
while (performance.now() < end) {
  const s = performance.now();
  await session.run(feeds);
  lat.push(performance.now() - s);
}
const elapsed = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
process.stdout.write(`${JSON.stringify({ runsPerSec: lat.length / elapsed, p50Ms: q(0.5), p99Ms: q(0.99) })}\n`);
