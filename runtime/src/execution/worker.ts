/**
 * Inference worker thread: owns one onnxruntime InferenceSession (run() blocks the thread that
 * calls it, so it must not be the HTTP thread). Messages: see pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import type { Tensor } from '../tensor/datatypes.ts';
import { ORT_ENV_LOG_LEVEL, RUN_OPTIONS, sessionOptions } from './ort-options.ts';
import { createReclaimer } from './reclaim.ts';
import type { RunRequest, WorkerData, WorkerMessage } from './pool.ts';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');
const data = workerData as WorkerData;

function send(msg: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

/** Output buffers a tensor owns whole move to the main thread instead of being copied there. */
function ownedBuffers(outputs: Record<string, Tensor>): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  for (const t of Object.values(outputs)) {
    if (Array.isArray(t.data)) continue;
    const buf = t.data.buffer;
    if (buf instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.byteLength === buf.byteLength && !list.includes(buf))
      list.push(buf);
  }
  return list;
}

/**
 * onnxruntime-node 1.30 on Node >= 24: the Tensor constructor turns float16 Uint16Array data into
 * a Float16Array (the global exists), which the native binding then rejects ("not enough space:
 * expected 4, got 0"). Hand it the raw half-float bits as a Uint16Array again.
 */
function toOrt(t: Tensor): ort.Tensor {
  const tensor = new ort.Tensor(t.type, t.data as never, t.dims);
  if (t.type === 'float16' && t.data instanceof Uint16Array) (tensor as unknown as { cpuData: unknown }).cpuData = t.data;
  return tensor;
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  try {
    // before the first session: the binding reads it once per thread, for onnxruntime's default logger
    ort.env.logLevel = ORT_ENV_LOG_LEVEL;
    const options = sessionOptions(data.intraOpThreads);
    session = data.modelBytes
      ? await ort.InferenceSession.create(data.modelBytes, options)
      : await ort.InferenceSession.create(data.modelPath, options);
  } catch (err) {
    send({ type: 'error', message: `cannot load model ${data.modelPath}: ${(err as Error).message}` });
    return;
  }
  const meta = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
    list.map((m) => (m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] } : { name: m.name, isTensor: false }));
  send({ type: 'ready', inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) });

  // this thread's copies of a large request's inputs and outputs are garbage once it is answered
  const reclaim = createReclaimer();
  port!.on('message', async (msg: RunRequest) => {
    const t0 = performance.now();
    let bytes = 0;
    try {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(msg.feeds)) {
        feeds[name] = toOrt(t);
        if (!Array.isArray(t.data)) bytes += t.data.byteLength;
      }
      const result = msg.fetches ? await session.run(feeds, msg.fetches, RUN_OPTIONS) : await session.run(feeds, RUN_OPTIONS);
      const outputs: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(result)) {
        let out = t.data as Tensor['data'];
        // float16 comes back as a Float16Array where the global exists (Node 24); the rest of the
        // runtime carries half floats as their raw bits
        if (t.type === 'float16' && !(out instanceof Uint16Array) && !Array.isArray(out))
          out = new Uint16Array(out.buffer, out.byteOffset, out.length);
        outputs[name] = { type: t.type as Tensor['type'], dims: [...t.dims], data: out };
      }
      const reply = { type: 'result' as const, id: msg.id, outputs, computeMs: performance.now() - t0 };
      try {
        send(reply, ownedBuffers(outputs));
      } catch {
        send(reply); // a buffer onnxruntime will not let go of: copied
      }
    } catch (err) {
      send({ type: 'result', id: msg.id, error: (err as Error).message, computeMs: performance.now() - t0 });
    }
    reclaim(bytes);
  });
}

void main();
