// Runs the real operator (operator/src/main.ts) as a child process against a dev cluster (tests, bench/).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@modelship/devcluster/wait';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../operator/src/main.ts');

export interface OperatorProcess {
  pid: number;
  port: number;
  identity: string;
  logs: () => Array<Record<string, unknown>>;
  /** Sum of a counter or gauge from /metrics, over all label sets matching `labels`. */
  metric: (name: string, labels?: Record<string, string>) => Promise<number>;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startOperator(opts: {
  /** Namespace to watch; `null` watches all namespaces (the operator's default). */
  namespace: string | null;
  identity?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Node flags Node refuses in NODE_OPTIONS, e.g. `--cpu-prof` (bench:operator --profile-dir). */
  nodeArgs?: string[];
  /** Run with this kubeconfig (e.g. a user with only the chart's RBAC) instead of $KUBECONFIG. */
  kubeconfig?: string;
}): Promise<OperatorProcess> {
  const identity = opts.identity ?? `op-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const scope = opts.namespace === null ? [] : ['--namespace', opts.namespace];
  const kubeconfig = opts.kubeconfig ? ['--kubeconfig', opts.kubeconfig] : [];
  const child = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      MAIN,
      ...scope,
      ...kubeconfig,
      '--http-port',
      '0',
      '--http-bind-address',
      '127.0.0.1',
      '--log-level',
      'debug',
      '--leader-identity',
      identity,
      '--runtime-image',
      'modelship/runtime:test',
      ...(opts.args ?? []),
    ],
    { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  const lines: Array<Record<string, unknown>> = [];
  const logFile = path.join(process.env.MODELSHIP_TEST_CP_DIR ?? os.tmpdir(), `operator-${identity}.log`);
  const logStream = fs.createWriteStream(logFile, { flags: 'a' });
  let stderr = '';
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    logStream.write(chunk);
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ message: line });
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    logStream.write(chunk);
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );

  const port = await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`operator exited ${child.exitCode}: ${stderr}`);
      const l = lines.find((e) => e.message === 'ops endpoints listening');
      return l ? (l.port as number) : undefined;
    },
    { timeoutMs: 30_000, description: 'operator ops endpoint' },
  );

  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (!m || m[1] !== name) continue;
      const labelText = m[2] ?? '';
      if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(m[3]);
    }
    return sum;
  };

  return {
    pid: child.pid as number,
    port,
    identity,
    logs: () => lines,
    metric,
    exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
