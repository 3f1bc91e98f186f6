/**
 * Memory and lone-request latency of the runtime on the model ladder (bench/ladder.ts):
 * `node bench/runtime/ladder-footprint.ts`. For each model and pool shape, the runtime is started
 * with the runtime image's malloc settings and flags (MALLOC_MMAP_THRESHOLD_=131072,
 * MALLOC_ARENA_MAX=2, --expose-gc; runtime/Dockerfile), answers 4 concurrent one-row requests, and
 * its RSS (VmRSS), peak RSS (VmHWM) and PSS (/proc/<pid>/smaps_rollup) are read. Then, with the
 * default pool, latency at concurrency 1 (autocannon, one connection) with batching off and on.
 * Environment: LADDER_MODELS (iris,mlp,resnet18,big), LADDER_WORKERS (pool sizes, 0 = default:
 * 0,2,3), LADDER_LATENCY_SECONDS (5; 0 skips), LADDER_ROUNDS (3, interleaved, medians and min-max).
 * Prints markdown tables.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ensureLadder, ROOT, TINY_RUNG, type LadderModel, type LadderName } from '../ladder.ts';

interface AutocannonResult {
  requests: { total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Autocannon = (
  opts: Record<string, unknown>,
  cb: (err: Error | null, r: AutocannonResult) => void,
) => { on(ev: 'response', fn: (c: unknown, status: number, bytes: number, ms: number) => void): void };
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const NAMES = (process.env['LADDER_MODELS'] ?? 'iris,mlp,resnet18,big').split(',');
const WORKERS = (process.env['LADDER_WORKERS'] ?? '0,2,3').split(',').map(Number);
const SECONDS = Number(process.env['LADDER_LATENCY_SECONDS'] ?? '5');
const ROUNDS = Number(process.env['LADDER_ROUNDS'] ?? '3');
const IRIS_REQUEST = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] });

interface Server {
  proc: ChildProcess;
  port: number;
  ready: Record<string, unknown>;
}

async function start(model: LadderModel, args: string[]): Promise<Server> {
  const main = join(ROOT, 'runtime', 'src', 'main.ts');
  const serveArgs = ['serve', '--model-path', join(model.dir, 'model.onnx'), '--model-name', model.name];
  const local = ['--host', '127.0.0.1', '--port', '0', '--drain-delay-seconds', '0'];
  const proc = spawn(process.execPath, ['--expose-gc', main, ...serveArgs, ...local, ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_ARENA_MAX: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.resume();
  return new Promise((resolve, reject) => {
    let buf = '';
    let port = 0;
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${model.name} ${args.join(' ')}: not ready in 120 s`));
    }, 120_000);
    proc.on('exit', (code) => reject(new Error(`${model.name} ${args.join(' ')}: exited with ${code}`)));
    proc.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        let l: Record<string, unknown>;
        try {
          l = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (l['message'] === 'listening') port = l['port'] as number;
        if (l['message'] === 'ready') {
          clearTimeout(timer);
          resolve({ proc, port, ready: l });
        }
      }
    });
  });
}

async function stop(s: Server): Promise<void> {
  const exited = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGTERM');
  await exited;
}

function requestBody(model: LadderModel): string {
  return model.name === 'iris' ? IRIS_REQUEST : readFileSync(join(model.dir, 'request.json'), 'utf8');
}

async function infer(s: Server, model: LadderModel, body: string): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${s.port}/v2/models/${model.name}/infer`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
  });
  if (r.status !== 200) throw new Error(`${model.name}: ${r.status} ${await r.text()}`);
  await r.arrayBuffer();
}

const mb = (kib: number): number => Math.round(kib / 1024);
function memory(pid: number): { rss: number; hwm: number; pss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (re: RegExp, text: string) => Number(re.exec(text)?.[1] ?? NaN);
  return {
    rss: mb(kib(/VmRSS:\s+(\d+)/, status)),
    hwm: mb(kib(/VmHWM:\s+(\d+)/, status)),
    pss: mb(kib(/Pss:\s+(\d+)/, readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))),
  };
}

function latency(s: Server, model: LadderModel, body: string): Promise<{ rps: number; p50: number; p99: number }> {
  return new Promise((resolve, reject) => {
    const lat: number[] = [];
    const inst = autocannon(
      {
        url: `http://127.0.0.1:${s.port}/v2/models/${model.name}/infer`,
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
        connections: 1,
        duration: SECONDS,
      },
      (err, res) => {
        if (err) return reject(err);
        if (res.errors + res.timeouts + res.non2xx > 0) return reject(new Error(`${model.name}: errors in the latency run`));
        lat.sort((a, b) => a - b);
        const q = (x: number) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))] ?? NaN;
        resolve({ rps: res.requests.total / SECONDS, p50: q(0.5), p99: q(0.99) });
      },
    );
    inst.on('response', (_c, status, _b, ms) => {
      if (status === 200) lat.push(ms);
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const spread = (xs: number[], digits: number): string =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

const generated = NAMES.filter((n) => n !== 'iris') as LadderName[];
const models = [...(NAMES.includes('iris') ? [TINY_RUNG] : []), ...(generated.length ? await ensureLadder(generated) : [])];

const rows: string[] = [];
for (const model of models) {
  const body = requestBody(model);
  const size = statSync(join(model.dir, 'model.onnx')).size / 1e6;
  for (const w of WORKERS) {
    const s = await start(model, ['--workers', String(w)]);
    try {
      await Promise.all(Array.from({ length: 4 }, () => infer(s, model, body)));
      const m = memory(s.proc.pid!);
      const shape = `${String(s.ready['workers'])} × ${String(s.ready['intraOpThreads'])}${w === 0 ? ' (default)' : ''}`;
      rows.push(`| ${model.name} | ${size.toFixed(1)} | ${shape} | ${m.rss} | ${m.pss} | ${m.hwm} |`);
      process.stderr.write(`${rows[rows.length - 1]}\n`);
    } finally {
      await stop(s);
    }
  }
}
process.stdout.write(
  `RSS after 4 concurrent one-row requests, image malloc settings (MB = 2^20 bytes; model size in 10^6 bytes)\n\n` +
    `| model | model MB | workers × intra-op threads | RSS | PSS | peak RSS |\n|---|---:|---|---:|---:|---:|\n${rows.join('\n')}\n\n`,
);

if (SECONDS > 0) {
  const lat: string[] = [];
  for (const model of models.filter((m) => m.name !== 'big')) {
    const body = requestBody(model);
    const servers = {
      off: await start(model, ['--max-batch-size', '1']),
      on: await start(model, []),
    };
    try {
      const got: Record<string, { rps: number[]; p50: number[]; p99: number[] }> = {};
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const);
        for (const k of order) {
          const s = servers[k];
          await infer(s, model, body);
          const r = await latency(s, model, body);
          const g = (got[k] ??= { rps: [], p50: [], p99: [] });
          g.rps.push(r.rps);
          g.p50.push(r.p50);
          g.p99.push(r.p99);
        }
      }
      for (const k of ['off', 'on'] as const) {
        const g = got[k]!;
        lat.push(`| ${model.name} | ${k} | ${spread(g.rps, 0)} | ${spread(g.p50, 2)} | ${spread(g.p99, 2)} |`);
        process.stderr.write(`${lat[lat.length - 1]}\n`);
      }
    } finally {
      await Promise.all([stop(servers.off), stop(servers.on)]);
    }
  }
  process.stdout.write(
    `Concurrency 1, default pool, ${ROUNDS} interleaved rounds × ${SECONDS} s: median (min–max); batching on = the defaults (max 32, delay 0)\n\n` +
      `| model | batching | req/s | p50 ms | p99 ms |\n|---|---|---:|---:|---:|\n${lat.join('\n')}\n`,
  );
}
