/**
 * Inference worker thread: owns one onnxruntime InferenceSession (run() blocks the thread that
 * calls it, so it must not be the HTTP thread). Messages: see pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import type { Tensor } from './datatypes.ts';
import type { RunRequest, WorkerData, WorkerMessage } from './pool.ts';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');
const data = workerData as WorkerData;

function send(msg: WorkerMessage): void {
  port!.postMessage(msg);
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(data.modelPath, {
      executionProviders: ['cpu'],
      intraOpNumThreads: data.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  } catch (err) {
    send({ type: 'error', message: `cannot load model ${data.modelPath}: ${(err as Error).message}` });
    return;
  }
  const meta = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
    list.map((m) => (m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] } : { name: m.name, isTensor: false }));
  send({ type: 'ready', inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) });

  port!.on('message', async (msg: RunRequest) => {
    const t0 = performance.now();
    try {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = new ort.Tensor(t.type, t.data as never, t.dims);
      const result = msg.fetches ? await session.run(feeds, msg.fetches) : await session.run(feeds);
      const outputs: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(result)) {
        outputs[name] = { type: t.type as Tensor['type'], dims: [...t.dims], data: t.data as Tensor['data'] };
      }
      send({ type: 'result', id: msg.id, outputs, computeMs: performance.now() - t0 });
    } catch (err) {
      send({ type: 'result', id: msg.id, error: (err as Error).message, computeMs: performance.now() - t0 });
    }
  });
}

void main();
