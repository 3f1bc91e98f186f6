// A small static HTTP server for model files, run on the node (the pod bridge's gateway address)
// so the runtime's `fetch` init container downloads real files over real HTTP.
//   node devcluster/src/model-server.ts --root examples/models --host 10.244.0.1 --port 0
// prints `listening http://HOST:PORT` once ready. GET and HEAD only; paths never leave the root.
// --bytes-per-second N sends bodies at about that rate and prints `sending PATH` when a body starts
// (fault tests kill the server in the middle of a download).

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { Readable } from 'node:stream';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { httpGet } from './http.ts';
import { freePorts } from './ports.ts';
import type { Session } from './processes.ts';

export interface ModelServer {
  url: string;
  server: Server;
  /** Requests served, by path (for tests that check a download really happened). */
  hits: Map<string, number>;
  close(): Promise<void>;
}

/** The file in chunks of at most `bytesPerSecond / 10`, one chunk per 100 ms. */
async function* throttled(file: string, bytesPerSecond: number): AsyncGenerator<Buffer> {
  const chunk = Math.max(1, Math.floor(bytesPerSecond / 10));
  for await (const data of createReadStream(file, { highWaterMark: chunk }) as AsyncIterable<Buffer>) {
    yield data;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startModelServer(opts: {
  root: string;
  host: string;
  port?: number;
  bytesPerSecond?: number;
  onSend?: (path: string) => void;
}): Promise<ModelServer> {
  const root = resolve(opts.root);
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      let path: string;
      try {
        path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      } catch {
        res.writeHead(400).end();
        return;
      }
      const file = resolve(root, `.${path}`);
      if (!file.startsWith(root + sep)) {
        res.writeHead(404).end();
        return;
      }
      try {
        const st = await stat(file);
        if (!st.isFile()) throw new Error('not a file');
        hits.set(path, (hits.get(path) ?? 0) + 1);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size });
        if (req.method === 'HEAD') res.end();
        else {
          opts.onSend?.(path);
          (opts.bytesPerSecond ? Readable.from(throttled(file, opts.bytesPerSecond)) : createReadStream(file)).pipe(res);
        }
      } catch {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    })();
  });
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host, () => resolvePromise());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('unexpected address');
  return {
    url: `http://${opts.host}:${addr.port}`,
    server,
    hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The cluster's model server: this file as a child process of the session, on host:<free port>. */
export async function startModelServerProcess(session: Session, o: { root: string; host: string }): Promise<{ url: string }> {
  const [port] = await freePorts(1);
  const args = [fileURLToPath(import.meta.url), '--root', o.root, '--host', o.host, '--port', String(port)];
  const proc = await session.spawn('model-server', process.execPath, args);
  const url = `http://${o.host}:${port}`;
  await session.waitHealthy(proc, 'the model server', async () => (await httpGet(`${url}/`)).status === 404, 30_000);
  return { url };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      root: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      'bytes-per-second': { type: 'string' },
    },
  });
  if (!values.root) {
    process.stderr.write('usage: model-server.ts --root DIR [--host H] [--port P]\n');
    process.exit(2);
  }
  const rate = values['bytes-per-second'];
  const s = await startModelServer({
    root: values.root,
    host: values.host,
    port: Number(values.port),
    ...(rate ? { bytesPerSecond: Number(rate), onSend: (path: string) => process.stdout.write(`sending ${path}\n`) } : {}),
  });
  process.stdout.write(`listening ${s.url}\n`);
  const stop = () => void s.close().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
