/**
 * Benchmark peer: the leanest Node server doing the same onnxruntime work as the runtime's
 * V2 /infer: raw node:http, JSON.parse, a Float32Array from `data`, session.run() on the main
 * thread, the same V2 JSON response. No validation, metrics, batching or worker threads.
 * usage: node bench/runtime/raw-server.ts <model.onnx> <port>
 */
import { createServer } from 'node:http';
import ort from 'onnxruntime-node';

const [modelPath, portArg] = process.argv.slice(2);
if (!modelPath || !portArg) throw new Error('usage: raw-server.ts <model.onnx> <port>');
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        id?: string;
        inputs: { name: string; shape: number[]; data: number[] }[];
      };
      const feeds: Record<string, ort.Tensor> = {};
      for (const i of body.inputs) feeds[i.name] = new ort.Tensor('float32', Float32Array.from(i.data.flat(Infinity) as number[]), i.shape);
      const out = await session.run(feeds);
      const outputs = Object.entries(out).map(([name, t]) => ({
        name,
        datatype: t.type === 'int64' ? 'INT64' : 'FP32',
        shape: t.dims,
        data: Array.from(t.data as Float32Array, Number),
      }));
      const json = JSON.stringify({ model_name: 'iris', model_version: '1', id: body.id, outputs });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
      res.end(json);
    } catch (err) {
      const json = JSON.stringify({ error: (err as Error).message });
      res.writeHead(400, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
      res.end(json);
    }
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write(`listening ${portArg}\n`));
process.on('SIGTERM', () => process.exit(0));
