/**
 * Soak benchmark: `npm run bench:soak`. Starts the real runtime on iris (default flags: workers and
 * batching as a pod gets them), measures its maximum throughput with a short closed-loop autocannon
 * run (BENCH_SOAK_MAX_SECONDS, 15 s, BENCH_SOAK_CONNECTIONS, 64), then holds a fixed rate of
 * BENCH_SOAK_FRACTION (0.8) of that maximum for BENCH_SOAK_SECONDS (600 s) with autocannon's
 * overallRate. Records: the runtime's RSS every 10 s (/proc/<pid>/status VmRSS), every non-200
 * answer and client error, the latency p50/p99 of the first and the last minute (from the
 * send of each request; autocannon paces by rate, so latencies are those of a paced client), and
 * whether the process is still serving at the end. Writes bench/soak/results/latest.json (as the
 * other benchmarks do), prints a summary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@modelship/devcluster/ports';

interface AutocannonResult {
  requests: { total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats?: Record<string, { count: number }>;
}
interface AutocannonInstance {
  on(event: 'response', fn: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): void;
  stop(): void;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const SOAK_SECONDS = num('BENCH_SOAK_SECONDS', 600);
const MAX_SECONDS = num('BENCH_SOAK_MAX_SECONDS', 15);
const CONNECTIONS = num('BENCH_SOAK_CONNECTIONS', 64);
const FRACTION = num('BENCH_SOAK_FRACTION', 0.8);
const RSS_EVERY_MS = 10_000;
const WINDOW_MS = Math.min(60_000, (SOAK_SECONDS * 1000) / 4);
const BODY = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });

function log(msg: string): void {
  process.stderr.write(`[soak] ${msg}\n`);
}

function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : undefined;
  } catch {
    return undefined;
  }
}

async function startRuntime(port: number): Promise<ChildProcess> {
  const args = ['runtime/src/main.ts', 'serve', '--model-path', 'examples/models/iris/model.onnx', '--model-name', 'iris'];
  args.push('--host', '127.0.0.1', '--port', String(port), '--drain-delay-seconds', '0', '--log-level', 'warn');
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`runtime exited with ${proc.exitCode} before it was ready`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).status === 200) return proc;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('runtime not ready within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

interface Load {
  total: number;
  rps: number;
  statuses: Record<string, number>;
  clientErrors: number;
  timeouts: number;
  /** [ms since start, latency ms] of every 200 */
  samples: Float64Array;
  sampleCount: number;
}

function run(url: string, seconds: number, rate: number | undefined): Promise<Load> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let samples = new Float64Array(1 << 20);
    let n = 0;
    const statuses: Record<string, number> = {};
    const inst = autocannon(
      {
        url,
        method: 'POST',
        body: BODY,
        headers: { 'content-type': 'application/json' },
        connections: CONNECTIONS,
        duration: seconds,
        timeout: 10,
        ...(rate ? { overallRate: rate } : {}),
      },
      (err, res) => {
        if (err) {
          reject(err);
          return;
        }
        resolve({
          total: res.requests.total,
          rps: res.requests.total / seconds,
          statuses,
          clientErrors: res.errors,
          timeouts: res.timeouts,
          samples,
          sampleCount: n,
        });
      },
    );
    inst.on('response', (_c, status, _b, ms) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status !== 200) return;
      if (2 * n + 2 > samples.length) {
        const bigger = new Float64Array(samples.length * 2);
        bigger.set(samples);
        samples = bigger;
      }
      samples[2 * n] = performance.now() - start;
      samples[2 * n + 1] = ms;
      n++;
    });
  });
}

function windowStats(load: Load, fromMs: number, toMs: number): { requests: number; p50: number; p99: number; max: number } {
  const lat: number[] = [];
  for (let i = 0; i < load.sampleCount; i++) {
    const t = load.samples[2 * i] as number;
    if (t >= fromMs && t < toMs) lat.push(load.samples[2 * i + 1] as number);
  }
  lat.sort((a, b) => a - b);
  return { requests: lat.length, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: lat[lat.length - 1] ?? NaN };
}

async function main(): Promise<void> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/v2/models/iris/infer`;
  const proc = await startRuntime(port);
  const pid = proc.pid as number;
  try {
    const rssStart = rssMiB(pid);
    log(`runtime pid ${pid} ready, RSS ${rssStart} MiB; measuring the maximum: ${CONNECTIONS} connections, ${MAX_SECONDS} s`);
    await run(url, 3, undefined); // warm-up
    const max = await run(url, MAX_SECONDS, undefined);
    const rate = Math.max(1, Math.round(max.rps * FRACTION));
    log(
      `maximum ${max.rps.toFixed(0)} req/s (non-200: ${max.total - (max.statuses['200'] ?? 0)}); soak at ${rate} req/s for ${SOAK_SECONDS} s`,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const rss: { t: number; mib: number | undefined }[] = [{ t: 0, mib: rssMiB(pid) }];
    const t0 = Date.now();
    const timer = setInterval(() => {
      const sample = { t: Math.round((Date.now() - t0) / 1000), mib: rssMiB(pid) };
      rss.push(sample);
      log(`t=${sample.t}s RSS ${sample.mib} MiB`);
    }, RSS_EVERY_MS);
    const soak = await run(url, SOAK_SECONDS, rate);
    clearInterval(timer);
    rss.push({ t: Math.round((Date.now() - t0) / 1000), mib: rssMiB(pid) });
    const alive = proc.exitCode === null && proc.signalCode === null;
    const ready = alive ? (await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).status : 0;
    const first = windowStats(soak, 0, WINDOW_MS);
    const last = windowStats(soak, SOAK_SECONDS * 1000 - WINDOW_MS, SOAK_SECONDS * 1000 + 1);
    const ok = soak.statuses['200'] ?? 0;
    const mibs = rss.map((r) => r.mib).filter((m): m is number => m !== undefined);
    const result = {
      date: new Date().toISOString(),
      machine: {
        cores: availableParallelism(),
        cpu: cpus()[0]?.model ?? 'unknown',
        loadavgAtEnd: loadavg().map((l) => Number(l.toFixed(2))),
      },
      node: process.version,
      runtime: 'iris, default serve flags (workers, batching), log level warn',
      maxThroughput: { connections: CONNECTIONS, seconds: MAX_SECONDS, rps: Math.round(max.rps), statuses: max.statuses },
      soak: {
        seconds: SOAK_SECONDS,
        targetRps: rate,
        fraction: FRACTION,
        connections: CONNECTIONS,
        achievedRps: Math.round(soak.rps),
        requests: soak.total,
        ok,
        statuses: soak.statuses,
        non200: soak.total - ok,
        clientErrors: soak.clientErrors,
        timeouts: soak.timeouts,
        windowSeconds: WINDOW_MS / 1000,
        firstWindow: first,
        lastWindow: last,
        p99DriftMs: last.p99 - first.p99,
      },
      rss: {
        startMiB: rssStart,
        soakStartMiB: mibs[0],
        endMiB: mibs[mibs.length - 1],
        maxMiB: Math.max(...mibs),
        growthMiB: Number(((mibs[mibs.length - 1] ?? 0) - (mibs[0] ?? 0)).toFixed(1)),
        samples: rss,
      },
      aliveAtEnd: alive,
      readyStatusAtEnd: ready,
    };
    const dir = join(HERE, 'results');
    mkdirSync(dir, { recursive: true });
    const text = `${JSON.stringify(result, null, 2)}\n`;
    writeFileSync(join(dir, 'latest.json'), text);
    const f = (x: number) => x.toFixed(1);
    process.stdout.write(
      [
        `soak: max ${result.maxThroughput.rps} req/s (${CONNECTIONS} connections, ${MAX_SECONDS} s); ${SOAK_SECONDS} s at ${rate} req/s target, ${result.soak.achievedRps} achieved`,
        `requests ${soak.total}, 200: ${ok}, non-200: ${soak.total - ok} ${JSON.stringify(soak.statuses)}, client errors ${soak.clientErrors}, timeouts ${soak.timeouts}`,
        `latency first ${WINDOW_MS / 1000} s: p50 ${f(first.p50)} ms p99 ${f(first.p99)} ms; last ${WINDOW_MS / 1000} s: p50 ${f(last.p50)} ms p99 ${f(last.p99)} ms (p99 drift ${f(last.p99 - first.p99)} ms)`,
        `RSS: ${result.rss.soakStartMiB} MiB at soak start -> ${result.rss.endMiB} MiB at end (max ${result.rss.maxMiB}, growth ${result.rss.growthMiB} MiB); alive ${alive}, /v2/health/ready ${ready}`,
        `results: bench/soak/results/latest.json`,
        '',
      ].join('\n'),
    );
    if (!alive || soak.total - ok + soak.clientErrors + soak.timeouts > 0) process.exitCode = 1;
  } finally {
    if (proc.exitCode === null) proc.kill('SIGTERM');
  }
}

await main();
