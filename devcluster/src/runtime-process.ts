/**
 * Test helpers: start the real runtime process (`node runtime/src/main.ts serve ...`) on
 * 127.0.0.1 with a free port, wait for its "ready" log line, talk to it, stop it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MAIN = join(ROOT, 'runtime', 'src', 'main.ts');
export const modelPath = (name: string): string => join(ROOT, 'examples', 'models', name, 'model.onnx');

export interface ExpectedTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}
export interface Expected {
  inputs: ExpectedTensor[];
  outputs: ExpectedTensor[];
}
export const expected = (name: string): Expected =>
  JSON.parse(readFileSync(join(ROOT, 'examples', 'models', name, 'expected.json'), 'utf8')) as Expected;

export interface LogLine {
  level: string;
  message: string;
  [k: string]: unknown;
}

export interface Runtime {
  url: string;
  port: number;
  proc: ChildProcess;
  logs: LogLine[];
  output: () => string;
  exited: Promise<number | null>;
  stop: () => Promise<number | null>;
}

export interface StartOptions {
  model?: string;
  modelPath?: string;
  name?: string;
  version?: string;
  args?: string[];
  env?: Record<string, string>;
  /** wait for "ready" (default) or only for "listening" */
  waitFor?: 'ready' | 'listening';
  timeoutMs?: number;
}

/** Spawn any runtime command with Node 24 (this process's node) and collect its output. */
export function spawnRuntime(
  args: string[],
  env: Record<string, string> = {},
): { proc: ChildProcess; output: () => string; logs: LogLine[]; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [MAIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const logs: LogLine[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    out += text;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line
      }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, output: () => out, logs, exited };
}

export async function startRuntime(opts: StartOptions): Promise<Runtime> {
  const name = opts.name ?? opts.model ?? 'iris';
  const args = [
    'serve',
    '--model-path',
    opts.modelPath ?? modelPath(opts.model ?? 'iris'),
    '--model-name',
    name,
    '--model-version',
    opts.version ?? '1',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--workers',
    '1',
    '--drain-delay-seconds',
    '0',
    ...(opts.args ?? []),
  ];
  const { proc, output, logs, exited } = spawnRuntime(args, opts.env);
  const want = opts.waitFor ?? 'ready';
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let port = 0;
  for (;;) {
    const listening = logs.find((l) => l.message === 'listening');
    if (listening) port = listening['port'] as number;
    if (port && (want === 'listening' || logs.some((l) => l.message === 'ready'))) break;
    const code = proc.exitCode;
    if (code !== null) throw new Error(`runtime exited with ${code} before ${want}:\n${output()}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`runtime not ${want} in time:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return { url: `http://127.0.0.1:${port}`, port, proc, logs, output, exited, stop };
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: Buffer;
  json: () => Record<string, unknown>;
}

export async function request(
  url: string,
  init: { method?: string; body?: string | Uint8Array; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const res = await fetch(url, {
    method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
    body: init.body,
    headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  const buf = Buffer.from(await res.arrayBuffer());
  const text = buf.toString('latin1');
  return {
    status: res.status,
    headers: res.headers,
    text,
    body: buf,
    json: () => JSON.parse(buf.toString('utf8')) as Record<string, unknown>,
  };
}

export const post = (url: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> =>
  request(url, { body: typeof body === 'string' ? body : JSON.stringify(body), headers });

/** Numbers equal within a relative/absolute tolerance (float32 vs scikit-learn's float64). */
export function assertClose(actual: readonly number[], wanted: readonly number[], tol = 1e-4, what = 'values'): void {
  if (actual.length !== wanted.length) throw new Error(`${what}: length ${actual.length} != ${wanted.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const w = wanted[i] as number;
    if (!(Math.abs(a - w) <= tol * Math.max(1, Math.abs(w)))) throw new Error(`${what}[${i}]: got ${a}, expected ${w} (tolerance ${tol})`);
  }
}

/** A V2 binary request for iris with `rows` rows of FP32 (built directly: large bodies). */
export function irisBinary(rows: number): { body: Buffer; headers: Record<string, string> } {
  const data = new Float32Array(rows * 4);
  for (let i = 0; i < data.length; i++) data[i] = [5.1, 3.5, 1.4, 0.2][i % 4] as number;
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', shape: [rows, 4], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }],
      outputs: [{ name: 'label', parameters: { binary_data: true } }],
    }),
  );
  return {
    body: Buffer.concat([header, Buffer.from(data.buffer)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

/** The value of a Prometheus sample (the first series of `name`), NaN when absent. */
export function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Serve the model file with the real runtime and check iris's expected outputs (a fetched model is the right one). */
export async function assertServesIris(modelPath: string): Promise<void> {
  const rt = await startRuntime({ modelPath });
  try {
    const exp = expected('iris');
    const res = await post(`${rt.url}/v2/models/iris/infer`, { inputs: exp.inputs });
    assert.equal(res.status, 200, res.text);
    const outs = res.json()['outputs'] as { name: string; data: number[] }[];
    for (const want of exp.outputs) assertClose(outs.find((o) => o.name === want.name)?.data ?? [], want.data, 1e-5, want.name);
  } finally {
    await rt.stop();
  }
}
