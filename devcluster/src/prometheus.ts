// Prometheus and promtool for the tests: built from their Go module by
// devcluster/build/prometheus.sh (cached, once per machine), Prometheus started on loopback with a
// generated configuration (its HTTP API is what the tests use), and promtool run as a command.

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { repoRoot, runBuildScript } from './binaries.ts';
import { freePort } from './ports.ts';
import { assertRunning, runCaptured, spawnStandalone, tail, type CommandResult, type Proc } from './processes.ts';
import { waitFor } from './wait.ts';

export const prometheusBuildScript = join(repoRoot, 'devcluster/build/prometheus.sh');

export interface PrometheusBinaries {
  prometheus: string;
  promtool: string;
}

/** Absolute paths of prometheus and promtool, building them if needed (prometheus.sh serialises with flock). */
export async function resolvePrometheus(log: (line: string) => void = () => {}): Promise<PrometheusBinaries> {
  const prometheus = await runBuildScript(prometheusBuildScript, 'prometheus', log);
  return { prometheus, promtool: join(dirname(prometheus), 'promtool') };
}

/** Runs promtool with `args` (in `cwd`, where relative rule files are looked up). */
export async function runPromtool(args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  const { promtool } = await resolvePrometheus();
  return runCaptured(promtool, args, { cwd: opts.cwd ?? repoRoot, timeoutMs: opts.timeoutMs });
}

/** One series of an instant query's answer. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface PrometheusServer {
  proc: Proc;
  /** http://127.0.0.1:<port> */
  url: string;
  configPath: string;
  /**
   * Instant query at `time` (Unix seconds; default now); throws with Prometheus's error for a bad
   * expression. Two queries at the same `time` see the same data.
   */
  query(expr: string, time?: number): Promise<Sample[]>;
  /** The scrape targets Prometheus has discovered and kept (GET /api/v1/targets, active ones). */
  targets(): Promise<ActiveTarget[]>;
  stop(): Promise<void>;
}

export interface ActiveTarget {
  labels: Record<string, string>;
  scrapePool: string;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

export interface PrometheusOptions {
  /** The configuration file's text (YAML). */
  config: string;
  /** Where the configuration, the TSDB and (unless `spawn` is given) the log go. */
  dir: string;
  bin?: string;
  log?: (line: string) => void;
  timeoutMs?: number;
}

interface ApiAnswer<T> {
  status: 'success' | 'error';
  data?: T;
  error?: string;
  errorType?: string;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as ApiAnswer<T>;
  if (body.status !== 'success' || body.data === undefined) {
    throw new Error(`Prometheus ${url} answered ${res.status}: ${body.errorType ?? ''} ${body.error ?? ''}`.trim());
  }
  return body.data;
}

/** Starts Prometheus on a free loopback port with `config` and returns once /-/ready answers 200. */
export async function startPrometheus(o: PrometheusOptions): Promise<PrometheusServer> {
  const log = o.log ?? (() => {});
  const started = Date.now();
  const bin = o.bin ?? (await resolvePrometheus(log)).prometheus;
  const port = await freePort();
  await mkdir(o.dir, { recursive: true });
  const configPath = join(o.dir, 'prometheus.yml');
  await writeFile(configPath, o.config);
  const url = `http://127.0.0.1:${port}`;
  const args = [
    `--config.file=${configPath}`,
    `--storage.tsdb.path=${join(o.dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1h',
    '--log.format=json',
  ];
  const { proc, stop } = spawnStandalone('prometheus', bin, args, join(o.dir, 'prometheus.log'));
  try {
    await waitFor(
      async () => {
        assertRunning(proc);
        const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) });
        return res.status === 200;
      },
      { timeoutMs: o.timeoutMs ?? 60_000, intervalMs: 250, description: `Prometheus on ${url} to be ready` },
    );
  } catch (err) {
    const logText = await tail(proc.logPath);
    await stop().catch(() => {});
    throw new Error(`${(err as Error).message}\n${proc.logPath} ends with:\n${logText}`, { cause: err });
  }
  log(`prometheus ready on ${url} in ${((Date.now() - started) / 1000).toFixed(1)}s (pid ${proc.pid})`);
  return {
    proc,
    url,
    configPath,
    async query(expr: string, time?: number): Promise<Sample[]> {
      const at = time === undefined ? '' : `&time=${time}`;
      const data = await api<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
        `${url}/api/v1/query?query=${encodeURIComponent(expr)}${at}`,
      );
      if (data.resultType !== 'vector') throw new Error(`expected a vector from ${expr}, got ${data.resultType}`);
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async targets(): Promise<ActiveTarget[]> {
      const data = await api<{ activeTargets: ActiveTarget[] }>(`${url}/api/v1/targets?state=active`);
      return data.activeTargets;
    },
    stop,
  };
}
