/**
 * The cost of kubernetes auth mode (runtime/src/kube-auth/): `node bench/runtime/kube-auth.ts`.
 * Starts a real control plane (etcd + kube-apiserver, devcluster), a ServiceAccount for the
 * runtime (bound to system:auth-delegator) and a caller (bound to a predict role), then the real
 * runtime process on iris three times: no auth; kubernetes mode with the decision cache warm (one
 * caller token, so every request after the first is a cache hit); and kubernetes mode with the
 * cache off (--auth-cache-allow-seconds 0: every request waits for a TokenReview and a
 * SubjectAccessReview, identical concurrent ones sharing one). Rounds are interleaved and the
 * medians reported. Environment: BENCH_DURATION (s per cell, 5), BENCH_RUNS (3),
 * BENCH_CONCURRENCY (1,8,32). Prints a markdown table.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane } from '@modelship/devcluster/controlplane';
import { expected, ROOT, startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';

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

const DURATION = Number(process.env['BENCH_DURATION'] ?? 5);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const CONCURRENCY = (process.env['BENCH_CONCURRENCY'] ?? '1,8,32').split(',').map(Number);

interface Cell {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function load(url: string, headers: Record<string, string>, connections: number): Promise<Cell> {
  const body = JSON.stringify({ inputs: expected('iris').inputs });
  return new Promise((resolve, reject) => {
    const lat: number[] = [];
    const inst = autocannon(
      { url, method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, connections, duration: DURATION },
      (err, r) => {
        if (err) return reject(err);
        lat.sort((a, b) => a - b);
        const q = (x: number) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))] ?? NaN;
        resolve({ rps: r.requests.total / DURATION, p50: q(0.5), p99: q(0.99), errors: r.errors + r.timeouts + r.non2xx });
      },
    );
    inst.on('response', (_c, status, _b, ms) => {
      if (status === 200) lat.push(ms);
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  // the CRDs: kubectl create role checks that modeldeployments/predict is a served resource
  const cp = await startControlPlane({ crdDir: join(ROOT, 'crds'), log: (l) => process.stderr.write(`cp: ${l}\n`) });
  const dir = mkdtempSync(join(tmpdir(), 'modelship-bench-kauth-'));
  const runtimes: Runtime[] = [];
  try {
    const k = async (args: string[]) => {
      const r = await cp.kubectl(args);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    await k(['create', 'namespace', 'bench']);
    await k(['create', 'serviceaccount', 'runtime', '-n', 'bench']);
    await k(['create', 'serviceaccount', 'caller', '-n', 'bench']);
    await k(['create', 'clusterrolebinding', 'bench-runtime', '--clusterrole=system:auth-delegator', '--serviceaccount=bench:runtime']);
    await k(['create', 'role', 'predictor', '-n', 'bench', '--verb=create,get', '--resource=modeldeployments.modelship.dev/predict']);
    await k(['create', 'rolebinding', 'caller', '-n', 'bench', '--role=predictor', '--serviceaccount=bench:caller']);
    writeFileSync(join(dir, 'token'), await k(['create', 'token', 'runtime', '-n', 'bench', '--duration', '2h']));
    const caller = await k(['create', 'token', 'caller', '-n', 'bench', '--duration', '2h', '--audience', 'modelship.dev']);
    const kube = (extra: string[]) => [
      '--auth-mode',
      'kubernetes',
      '--auth-namespace',
      'bench',
      '--auth-resource-name',
      'iris',
      '--kube-api-url',
      cp.server,
      '--kube-token-file',
      join(dir, 'token'),
      '--kube-ca-file',
      cp.caCertPath,
      ...extra,
    ];
    const peers = [
      { id: 'no auth', args: [] as string[], headers: {} as Record<string, string> },
      { id: 'kubernetes, cache warm', args: kube([]), headers: { authorization: `Bearer ${caller}` } },
      { id: 'kubernetes, cache off', args: kube(['--auth-cache-allow-seconds', '0']), headers: { authorization: `Bearer ${caller}` } },
    ];
    const started = [];
    for (const p of peers) {
      const rt = await startRuntime({ model: 'iris', name: 'iris', args: p.args });
      runtimes.push(rt);
      started.push({ ...p, url: `${rt.url}/v2/models/iris/infer` });
    }
    for (const p of started) await load(p.url, p.headers, 1); // warm-up (and the first review)
    const cells = new Map<string, Cell[]>();
    for (let round = 0; round < RUNS; round++) {
      for (const c of CONCURRENCY) {
        for (let i = 0; i < started.length; i++) {
          const p = started[(i + round) % started.length]!;
          const cell = await load(p.url, p.headers, c);
          process.stderr.write(
            `round ${round + 1}/${RUNS} c=${c} ${p.id}: ${cell.rps.toFixed(0)} req/s p99 ${cell.p99.toFixed(2)} ms${cell.errors ? ` errors ${cell.errors}` : ''}\n`,
          );
          const key = `${p.id}|${c}`;
          cells.set(key, [...(cells.get(key) ?? []), cell]);
        }
      }
    }
    const f = (x: number, d: number) => x.toFixed(d);
    const lines = [
      `kubernetes auth mode vs no auth, iris, 1 worker, ${RUNS} rounds x ${DURATION} s, medians; ${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), API server on the same machine`,
      '',
      `| runtime | ${CONCURRENCY.map((c) => `c=${c} req/s | p99 ms`).join(' | ')} |`,
      `|---|${CONCURRENCY.map(() => '---:|---:').join('|')}|`,
    ];
    for (const p of started) {
      const row = CONCURRENCY.map((c) => {
        const xs = cells.get(`${p.id}|${c}`) ?? [];
        const errors = xs.reduce((a, x) => a + x.errors, 0);
        return `${f(median(xs.map((x) => x.rps)), 0)}${errors ? ` (${errors} err)` : ''} | ${f(median(xs.map((x) => x.p99)), 2)}`;
      });
      lines.push(`| ${p.id} | ${row.join(' | ')} |`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await Promise.all(runtimes.map((r) => r.stop()));
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
