/**
 * The runtime's CPU time per answered request, for variants of its flags: the figure that decides
 * a per-request cost (the access log's) on a shared, noisy machine, where req/s swings several-fold
 * between rounds but the CPU a process spends per request moves much less (BENCHMARKS.md, issue 16).
 *
 * Each variant is the iris runtime with batching off (with batching, how many requests share a run,
 * and so the CPU per request, depends on the machine's load) plus its own flags, its stdout written
 * to a file as a container's is. Per round and variant: start it, send WARMUP
 * requests, read the process's CPU time (utime + stime of /proc/<pid>/stat), send REQUESTS more with
 * autocannon at CONNECTIONS, read it again, stop it. Variants alternate, the order rotating per
 * round; medians over the rounds are printed as a markdown table, with each round's figures.
 *
 * usage: node bench/runtime/cpu-per-request.ts
 * env: CPU_BENCH_ROUNDS (5), CPU_BENCH_REQUESTS (20000), CPU_BENCH_WARMUP (3000), CPU_BENCH_CONNECTIONS (8),
 *      CPU_BENCH_BASELINE_ROOT: a checkout of another commit whose runtime is measured as variant "baseline",
 *      CPU_BENCH_ONLY: comma-separated parts of variant names to keep (e.g. "off,1/100")
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@modelship/devcluster/ports';

type Autocannon = (
  opts: Record<string, unknown>,
  cb: (err: Error | null, r: { requests: { total: number }; non2xx: number; errors: number; timeouts: number }) => void,
) => unknown;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROUNDS = Number(process.env['CPU_BENCH_ROUNDS'] ?? '5');
const REQUESTS = Number(process.env['CPU_BENCH_REQUESTS'] ?? '20000');
const WARMUP = Number(process.env['CPU_BENCH_WARMUP'] ?? '3000');
const CONNECTIONS = Number(process.env['CPU_BENCH_CONNECTIONS'] ?? '8');
const BASELINE = process.env['CPU_BENCH_BASELINE_ROOT'];
const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const BODY = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });

interface Variant {
  id: string;
  root: string;
  flags: string[];
}
const ONLY = process.env['CPU_BENCH_ONLY']?.split(',');
const allVariants: Variant[] = [
  { id: 'access log off (default)', root: ROOT, flags: [] },
  { id: 'access log 1/100', root: ROOT, flags: ['--access-log', '1/100'] },
  { id: 'access log on', root: ROOT, flags: ['--access-log', 'on'] },
  ...(BASELINE ? [{ id: 'baseline (CPU_BENCH_BASELINE_ROOT)', root: BASELINE, flags: [] }] : []),
];
const variants = ONLY ? allVariants.filter((v) => ONLY.some((o) => v.id.includes(o))) : allVariants;

const log = (m: string) => process.stderr.write(`[cpu-bench] ${m}\n`);

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
}

function load(url: string, amount: number): Promise<number> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, method: 'POST', body: BODY, headers: { 'content-type': 'application/json' }, connections: CONNECTIONS, amount },
      (err, r) => {
        if (err) reject(err);
        else if (r.non2xx + r.errors + r.timeouts > 0) reject(new Error(`${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`));
        else resolve(r.requests.total);
      },
    );
  });
}

async function measure(v: Variant, dir: string, round: number): Promise<{ usPerRequest: number; rps: number; logBytes: number }> {
  const port = await freePort();
  const logFile = join(dir, `${round}-${v.id.replace(/\W+/g, '-')}.log`);
  const out = openSync(logFile, 'w');
  const args = ['runtime/src/main.ts', 'serve', '--model-path', join(ROOT, 'examples/models/iris/model.onnx'), '--model-name', 'iris'];
  args.push(
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--drain-delay-seconds',
    '0',
    '--log-level',
    'warn',
    '--max-batch-size',
    '1',
    ...v.flags,
  );
  const proc: ChildProcess = spawn(process.execPath, args, { cwd: v.root, stdio: ['ignore', out, 'inherit'] });
  closeSync(out);
  running = proc;
  try {
    const ready = `http://127.0.0.1:${port}/v2/health/ready`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (
        (await fetch(ready)
          .then((r) => r.status)
          .catch(() => 0)) === 200
      )
        break;
      if (Date.now() > deadline) throw new Error(`${v.id} not ready`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = `http://127.0.0.1:${port}/v2/models/iris/infer`;
    await load(url, WARMUP);
    const pid = proc.pid as number;
    const c0 = cpuSeconds(pid);
    const t0 = performance.now();
    const n = await load(url, REQUESTS);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(pid) - c0;
    return { usPerRequest: (cpu / n) * 1e6, rps: n / seconds, logBytes: statSync(logFile).size };
  } finally {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
}

/** the runtime being measured: stopped with this script on Ctrl-C */
let running: ChildProcess | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (running?.exitCode === null) running.kill('SIGKILL');
    process.exit(130);
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const dir = mkdtempSync(join(tmpdir(), 'modelship-cpu-bench-'));
const results = new Map<string, { usPerRequest: number; rps: number; logBytes: number }[]>(variants.map((v) => [v.id, []]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length] as Variant);
    for (const v of order) {
      const r = await measure(v, dir, round);
      results.get(v.id)?.push(r);
      log(
        `round ${round + 1}/${ROUNDS} ${v.id}: ${r.usPerRequest.toFixed(1)} µs CPU/request, ${Math.round(r.rps)} req/s, ${r.logBytes} bytes of stdout`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const base = median((results.get(variants[0]!.id) ?? []).map((r) => r.usPerRequest));
process.stdout.write(
  `${ROUNDS} rounds, ${REQUESTS} requests each after ${WARMUP} warm-up, ${CONNECTIONS} connections; medians (each round in brackets)\n\n`,
);
process.stdout.write(
  '| variant | process CPU µs/request | vs default | req/s (loaded machine) | stdout bytes/request |\n|---|---:|---:|---:|---:|\n',
);
for (const v of variants) {
  const rs = results.get(v.id) ?? [];
  const us = median(rs.map((r) => r.usPerRequest));
  const rounds = rs.map((r) => r.usPerRequest.toFixed(0)).join(', ');
  process.stdout.write(
    `| ${v.id} | ${us.toFixed(1)} (${rounds}) | ${(((us - base) / base) * 100).toFixed(1)}% | ${Math.round(median(rs.map((r) => r.rps)))} | ${(median(rs.map((r) => r.logBytes)) / (REQUESTS + WARMUP)).toFixed(1)} |\n`,
  );
}
