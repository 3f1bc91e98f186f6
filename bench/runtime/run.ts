/**
 * Runtime benchmark: `npm run bench:runtime`. One run on this machine, the same iris model,
 * the same load generator (autocannon, in this process) and the same concurrency levels for:
 *   - the Modelship runtime, batching off and on, and batching on over HTTPS (TLS 1.3, P-256 certificate
 *     made at run time by openssl; keep-alive connections, so the handshake is paid once per connection)
 *   - a raw node:http server doing the same onnxruntime work (raw-server.ts)
 *   - the in-process session.run() batch-1 loop, no HTTP (session-loop.ts)
 *   - Flask + pickled scikit-learn model under gunicorn (one worker per core) and Flask's server
 *   - MLServer + mlserver-sklearn serving the same scikit-learn model over V2
 * Rounds are interleaved (every server once per round, order rotated) and the medians of the
 * rounds are reported. Environment: BENCH_DURATION (s per cell, 5), BENCH_RUNS (3),
 * BENCH_CONCURRENCY (1,8,32,64), MODELSHIP_BENCH_VENV (~/.cache/modelship/bench-venv),
 * BENCH_ONLY (comma-separated server ids, for quick checks).
 * Writes bench/runtime/results/latest.{json,md} and prints the tables.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  copyFileSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@modelship/devcluster/ports';
import { TestCa } from '../../test/tls/certs.ts';
import { httpsCall } from '../../test/tls/client.ts';

interface AutocannonResult {
  requests: { average: number; total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
interface AutocannonInstance {
  on(event: 'response', fn: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): void;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;
const requireCjs = createRequire(import.meta.url);
const autocannon = requireCjs('autocannon') as Autocannon;

/**
 * autocannon 9 mishandles servers that close the connection after every response (gunicorn's
 * sync worker, Flask's own server): it writes the next request into the closing socket, then
 * reconnects and sends another, so the lost request's start time stays queued and every later
 * latency is measured from it (seconds), and Werkzeug's server stalls it completely. Patch its
 * client: after a response that says `Connection: close`, open a new connection for the next
 * request, as any HTTP client does. Keep-alive servers are not affected.
 */
function patchAutocannonForConnectionClose(): void {
  interface Client {
    emit(ev: string, ...args: unknown[]): boolean;
    _doRequest(): void;
    _destroyConnection(): void;
    _connect(): void;
    __close?: boolean;
  }
  const Client = requireCjs('autocannon/lib/httpClient.js') as { prototype: Client };
  const emit = Client.prototype.emit;
  Client.prototype.emit = function (this: Client, ev: string, ...args: unknown[]) {
    if (ev === 'headers') this.__close = (args[0] as { shouldKeepAlive?: boolean } | undefined)?.shouldKeepAlive === false;
    return emit.call(this, ev, ...args);
  };
  const doRequest = Client.prototype._doRequest;
  Client.prototype._doRequest = function (this: Client) {
    if (this.__close) {
      this.__close = false;
      this._destroyConnection();
      this._connect(); // sends the request on the new connection
      return;
    }
    doRequest.call(this);
  };
}
patchAutocannonForConnectionClose();

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const NODE = process.execPath;
const MODEL = join(ROOT, 'examples', 'models', 'iris', 'model.onnx');
const JOBLIB = join(ROOT, 'examples', 'models', 'iris', 'model.joblib');
const DURATION = Number(process.env['BENCH_DURATION'] ?? '5');
const RUNS = Number(process.env['BENCH_RUNS'] ?? '3');
const CONCURRENCY = (process.env['BENCH_CONCURRENCY'] ?? '1,8,32,64').split(',').map(Number);
const ONLY = process.env['BENCH_ONLY']?.split(',');
const VENV = process.env['MODELSHIP_BENCH_VENV'] ?? join(homedir(), '.cache', 'modelship', 'bench-venv');
const CORES = availableParallelism();
const ROW = [5.1, 3.5, 1.4, 0.2];

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function ensureVenv(): void {
  const req = join(HERE, 'requirements.txt');
  const want = createHash('sha256').update(readFileSync(req)).digest('hex');
  const marker = join(VENV, '.modelship-requirements.sha256');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === want) return;
  log(`creating Python venv ${VENV} (flask, gunicorn, mlserver, mlserver-sklearn, scikit-learn, tritonclient from PyPI)`);
  mkdirSync(dirname(VENV), { recursive: true });
  if (!existsSync(join(VENV, 'bin', 'python')))
    execFileSync(process.env['PYTHON'] ?? 'python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
  execFileSync(join(VENV, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '-r', req], { stdio: 'inherit' });
  writeFileSync(marker, want);
}

interface Peer {
  id: string;
  label: string;
  command: string;
  url: string;
  readyUrl: string;
  body: string;
  proc?: ChildProcess;
  start: () => ChildProcess;
  check: (json: Record<string, unknown>) => boolean;
  /** https:// peers: the CA their certificate chains to */
  ca?: string;
}

/** GET (no body) or POST to a peer, http or https (verified with the peer's CA). */
function call(p: Peer, url: string, body?: string): Promise<{ status: number; text: string }> {
  if (!p.ca) {
    const init = body === undefined ? {} : { method: 'POST', body, headers: { 'content-type': 'application/json' } };
    return fetch(url, init).then(async (r) => ({ status: r.status, text: await r.text() }));
  }
  return httpsCall(url, { ca: p.ca }, body === undefined ? {} : { body });
}

const v2Body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: ROW }] });
const v2Label = (j: Record<string, unknown>) => {
  const outs = j['outputs'] as { name: string; data: number[] }[];
  return outs.some((o) => (o.name === 'label' || o.name === 'predict') && o.data[0] === 0) && outs.length === 2;
};

/**
 * `stdoutFile`: the server's stdout goes to this file rather than /dev/null, as a container's does to
 * its log file (the runtime's access log is measured with the cost of writing it somewhere).
 */
function spawnPeer(cmd: string, args: string[], env: Record<string, string> = {}, cwd = ROOT, stdoutFile?: string): ChildProcess {
  const stdout = stdoutFile === undefined ? 'ignore' : openSync(stdoutFile, 'w');
  // own process group, so the whole tree (gunicorn/mlserver workers) is stopped by its id
  const p = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', stdout, 'pipe'], detached: true });
  if (typeof stdout === 'number') closeSync(stdout);
  let err = '';
  p.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  p.on('exit', (code, signal) => {
    if (!stopping) log(`${cmd} ${args.join(' ')} exited early (${code ?? signal}): ${err}`);
  });
  return p;
}

async function makePeers(): Promise<Peer[]> {
  const peers: Peer[] = [];
  // the runtime's stdout (log lines, access log) goes to a file, as a pod's goes to its container log
  const runtimeLogs = mkdtempSync(join(tmpdir(), 'modelship-bench-runtime-'));
  cleanups.push(() => {
    for (const f of readdirSync(runtimeLogs)) log(`${f}: ${statSync(join(runtimeLogs, f)).size} bytes of stdout`);
    rmSync(runtimeLogs, { recursive: true, force: true });
  });
  const ca = new TestCa('modelship-bench-ca');
  cleanups.push(() => ca.cleanup());
  const pair = ca.issue({ cn: 'localhost', ips: ['127.0.0.1'] });
  const runtime = (id: string, label: string, batch: number, extra: string[] = [], tls = false) => {
    const port = portFor[id] as number;
    const args = [
      'runtime/src/main.ts',
      'serve',
      '--model-path',
      'examples/models/iris/model.onnx',
      '--model-name',
      'iris',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--max-batch-size',
      String(batch),
      '--drain-delay-seconds',
      '0',
      '--log-level',
      'warn',
      ...extra,
    ];
    peers.push({
      id,
      label,
      command: `node ${args.join(' ')}`,
      url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/v2/models/iris/infer`,
      readyUrl: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/v2/health/ready`,
      body: v2Body,
      start: () => spawnPeer(NODE, args, {}, ROOT, join(runtimeLogs, `${id}.log`)),
      check: v2Label,
      ...(tls ? { ca: ca.ca.cert } : {}),
    });
  };
  const ids = [
    'runtime-batch-off',
    'runtime-batch-on',
    'runtime-access-log-on',
    'runtime-access-log-1in100',
    'runtime-https',
    'raw-node-http',
    'gunicorn-flask',
    'gunicorn-gthread',
    'flask-dev',
    'mlserver',
  ];
  const portFor: Record<string, number> = {};
  for (const id of ids) portFor[id] = await freePort();
  runtime('runtime-batch-off', 'Modelship runtime, batching off', 1);
  runtime('runtime-batch-on', 'Modelship runtime, batching on (max 32, delay 0)', 32);
  // the access log's cost against runtime-batch-on (same defaults, access log off)
  runtime('runtime-access-log-on', 'Modelship runtime, batching on, access log on (every request)', 32, ['--access-log', 'on']);
  runtime('runtime-access-log-1in100', 'Modelship runtime, batching on, access log 1/100', 32, ['--access-log', '1/100']);
  // TLS's cost against runtime-batch-on (same settings, plain HTTP)
  runtime(
    'runtime-https',
    'Modelship runtime, batching on, HTTPS',
    32,
    ['--tls-cert-file', pair.certFile, '--tls-key-file', pair.keyFile],
    true,
  );
  {
    const port = portFor['raw-node-http'] as number;
    const args = ['bench/runtime/raw-server.ts', 'examples/models/iris/model.onnx', String(port)];
    peers.push({
      id: 'raw-node-http',
      label: 'raw node:http + session.run (main thread)',
      command: `node ${args.join(' ')}`,
      url: `http://127.0.0.1:${port}/v2/models/iris/infer`,
      readyUrl: '',
      body: v2Body,
      start: () => spawnPeer(NODE, args),
      check: v2Label,
    });
  }
  const flaskBody = JSON.stringify({ instances: [ROW] });
  const flaskCheck = (j: Record<string, unknown>) => (j['predictions'] as number[])[0] === 0 && Array.isArray(j['probabilities']);
  {
    const port = portFor['gunicorn-flask'] as number;
    // gunicorn's default sync worker: one request per connection (Connection: close)
    const args = ['-w', String(CORES), '-b', `127.0.0.1:${port}`, '--chdir', HERE, '--log-level', 'warning', 'flask_app:app'];
    peers.push({
      id: 'gunicorn-flask',
      label: `gunicorn (${CORES} sync workers) + Flask + pickle`,
      command: `MODEL_PATH=examples/models/iris/model.joblib gunicorn ${args.join(' ')}`,
      url: `http://127.0.0.1:${port}/predict`,
      readyUrl: `http://127.0.0.1:${port}/health`,
      body: flaskBody,
      start: () => spawnPeer(join(VENV, 'bin', 'gunicorn'), args, { MODEL_PATH: JOBLIB }),
      check: flaskCheck,
    });
  }
  {
    const port = portFor['gunicorn-gthread'] as number;
    // gthread worker: keeps connections alive
    const args = [
      '-w',
      String(CORES),
      '-k',
      'gthread',
      '--threads',
      '4',
      '-b',
      `127.0.0.1:${port}`,
      '--chdir',
      HERE,
      '--log-level',
      'warning',
      'flask_app:app',
    ];
    peers.push({
      id: 'gunicorn-gthread',
      label: `gunicorn (${CORES} gthread workers × 4 threads, keep-alive) + Flask + pickle`,
      command: `MODEL_PATH=examples/models/iris/model.joblib gunicorn ${args.join(' ')}`,
      url: `http://127.0.0.1:${port}/predict`,
      readyUrl: `http://127.0.0.1:${port}/health`,
      body: flaskBody,
      start: () => spawnPeer(join(VENV, 'bin', 'gunicorn'), args, { MODEL_PATH: JOBLIB }),
      check: flaskCheck,
    });
  }
  {
    const port = portFor['flask-dev'] as number;
    const args = [join(HERE, 'flask_app.py'), String(port)];
    peers.push({
      id: 'flask-dev',
      label: "Flask's own server (threaded) + pickle",
      command: `MODEL_PATH=examples/models/iris/model.joblib python bench/runtime/flask_app.py ${port}`,
      url: `http://127.0.0.1:${port}/predict`,
      readyUrl: `http://127.0.0.1:${port}/health`,
      body: flaskBody,
      start: () => spawnPeer(join(VENV, 'bin', 'python'), args, { MODEL_PATH: JOBLIB }),
      check: flaskCheck,
    });
  }
  {
    const port = portFor['mlserver'] as number;
    const dir = mkdtempSync(join(tmpdir(), 'modelship-mlserver-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const modelDir = join(dir, 'iris');
    mkdirSync(modelDir);
    copyFileSync(JOBLIB, join(modelDir, 'model.joblib'));
    writeFileSync(
      join(modelDir, 'model-settings.json'),
      JSON.stringify({ name: 'iris', implementation: 'mlserver_sklearn.SKLearnModel', parameters: { uri: './model.joblib' } }),
    );
    writeFileSync(
      join(dir, 'settings.json'),
      JSON.stringify({ http_port: port, grpc_port: await freePort(), metrics_port: await freePort() }),
    );
    const body = JSON.stringify({
      inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: ROW }],
      outputs: [{ name: 'predict' }, { name: 'predict_proba' }],
    });
    peers.push({
      id: 'mlserver',
      label: 'MLServer + mlserver-sklearn (defaults)',
      command: `mlserver start <dir with settings.json and iris/model-settings.json>`,
      url: `http://127.0.0.1:${port}/v2/models/iris/infer`,
      readyUrl: `http://127.0.0.1:${port}/v2/models/iris/ready`,
      body,
      start: () => spawnPeer(join(VENV, 'bin', 'mlserver'), ['start', dir], {}, dir),
      check: v2Label,
    });
  }
  return ONLY ? peers.filter((p) => ONLY.includes(p.id)) : peers;
}

let stopping = false;
const cleanups: (() => void)[] = [];

async function waitReady(p: Peer): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      if (p.readyUrl) {
        if ((await call(p, p.readyUrl)).status === 200) return;
      } else {
        if ((await call(p, p.url, p.body)).status === 200) return;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${p.id} not ready after 120 s`);
    if (p.proc?.exitCode !== null && p.proc?.exitCode !== undefined) throw new Error(`${p.id} exited with ${p.proc.exitCode}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Cell {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function load(p: Peer, connections: number, seconds: number): Promise<Cell> {
  return new Promise((resolve, reject) => {
    const lat: number[] = [];
    const inst = autocannon(
      {
        url: p.url,
        method: 'POST',
        body: p.body,
        headers: { 'content-type': 'application/json' },
        connections,
        duration: seconds,
        ...(p.ca ? { tlsOptions: { ca: p.ca } } : {}),
      },
      (err, res) => {
        if (err) {
          reject(err);
          return;
        }
        lat.sort((a, b) => a - b);
        const q = (x: number) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))] ?? NaN;
        resolve({ rps: res.requests.total / seconds, p50: q(0.5), p99: q(0.99), errors: res.errors + res.timeouts + res.non2xx });
      },
    );
    inst.on('response', (_c, status, _b, ms) => {
      if (status === 200) lat.push(ms);
    });
  });
}

function sessionLoop(seconds: number): Cell {
  const out = execFileSync(NODE, [join(HERE, 'session-loop.ts'), MODEL, String(seconds)], { cwd: ROOT, encoding: 'utf8' });
  const r = JSON.parse(out) as { runsPerSec: number; p50Ms: number; p99Ms: number };
  return { rps: r.runsPerSec, p50: r.p50Ms, p99: r.p99Ms, errors: 0 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

function stopAll(peers: Peer[]): void {
  stopping = true;
  for (const p of peers) {
    if (p.proc?.pid && p.proc.exitCode === null) {
      try {
        process.kill(-p.proc.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
  setTimeout(() => {
    for (const p of peers) {
      if (p.proc?.pid && p.proc.exitCode === null) {
        try {
          process.kill(-p.proc.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }, 3000).unref();
  for (const c of cleanups) c();
}

async function main(): Promise<void> {
  const needPython = !ONLY || ONLY.some((id) => ['gunicorn-flask', 'gunicorn-gthread', 'flask-dev', 'mlserver'].includes(id));
  if (needPython) ensureVenv();
  const peers = await makePeers();
  process.on('SIGINT', () => {
    stopAll(peers);
    process.exit(130);
  });
  try {
    for (const p of peers) p.proc = p.start();
    for (const p of peers) {
      await waitReady(p);
      const r = await call(p, p.url, p.body);
      const j = JSON.parse(r.text) as Record<string, unknown>;
      if (r.status !== 200 || !p.check(j)) throw new Error(`${p.id} answered ${r.status} ${JSON.stringify(j)}`);
      log(`${p.id} ready and correct`);
    }
    for (const p of peers) await load(p, 8, 2); // warm-up
    const cells = new Map<string, Cell[]>();
    const loop: Cell[] = [];
    for (let round = 0; round < RUNS; round++) {
      loop.push(sessionLoop(DURATION));
      const order = peers.map((_, i) => peers[(i + round) % peers.length] as Peer);
      for (const c of CONCURRENCY) {
        for (const p of order) {
          const cell = await load(p, c, DURATION);
          const key = `${p.id}|${c}`;
          cells.set(key, [...(cells.get(key) ?? []), cell]);
          log(
            `round ${round + 1}/${RUNS} c=${c} ${p.id}: ${cell.rps.toFixed(0)} req/s p50 ${cell.p50.toFixed(2)} ms p99 ${cell.p99.toFixed(2)} ms${cell.errors ? ` errors ${cell.errors}` : ''}`,
          );
        }
      }
    }
    report(peers, cells, loop);
  } finally {
    stopAll(peers);
  }
}

function report(peers: Peer[], cells: Map<string, Cell[]>, loop: Cell[]): void {
  const med = (id: string, c: number): Cell => {
    const xs = cells.get(`${id}|${c}`) ?? [];
    return {
      rps: median(xs.map((x) => x.rps)),
      p50: median(xs.map((x) => x.p50)),
      p99: median(xs.map((x) => x.p99)),
      errors: xs.reduce((a, x) => a + x.errors, 0),
    };
  };
  const best = (id: string): { c: number; cell: Cell } => {
    let b = { c: 0, cell: { rps: 0, p50: 0, p99: 0, errors: 0 } };
    for (const c of CONCURRENCY) {
      const m = med(id, c);
      if (m.rps > b.cell.rps) b = { c, cell: m };
    }
    return b;
  };
  const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
  const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
  const lines: string[] = [];
  const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
  lines.push(
    `Machine: ${CORES} CPUs (${cpuModel}), Node ${process.version}; load generator autocannon in the same machine; ${RUNS} interleaved rounds x ${DURATION} s per cell, medians; latency in ms (client-side, exact, 2xx only).`,
  );
  lines.push('');
  lines.push(`| server | ${CONCURRENCY.map((c) => `c=${c} req/s | p50 | p99`).join(' | ')} | best req/s (c) |`);
  lines.push(`|---|${CONCURRENCY.map(() => '---:|---:|---:').join('|')}|---:|`);
  for (const p of peers) {
    const row = CONCURRENCY.map((c) => {
      const m = med(p.id, c);
      return `${f0(m.rps)}${m.errors ? ` (${m.errors} err)` : ''} | ${f2(m.p50)} | ${f2(m.p99)}`;
    });
    const b = best(p.id);
    lines.push(`| ${p.label} | ${row.join(' | ')} | **${f0(b.cell.rps)}** (${b.c}) |`);
  }
  const lm = { rps: median(loop.map((x) => x.rps)), p50: median(loop.map((x) => x.p50)), p99: median(loop.map((x) => x.p99)) };
  lines.push(
    `| in-process session.run loop, batch 1, no HTTP (1 thread) | ${CONCURRENCY.map(() => '– | – | –').join(' | ')} | **${f0(lm.rps)}** runs/s (p50 ${lm.p50.toFixed(3)} ms, p99 ${lm.p99.toFixed(3)} ms) |`,
  );
  lines.push('');
  const has = (id: string) => peers.some((p) => p.id === id);
  const rt = [
    has('runtime-batch-on') ? best('runtime-batch-on') : undefined,
    has('runtime-batch-off') ? best('runtime-batch-off') : undefined,
  ].filter((x) => x !== undefined);
  const rtBest = rt.reduce(
    (a, b) => (b.cell.rps > a.cell.rps ? b : a),
    rt[0] ?? { c: 0, cell: { rps: NaN, p50: NaN, p99: NaN, errors: 0 } },
  );
  const ratio = (id: string, target: number, what: string) => {
    if (!has(id)) return;
    const b = best(id);
    const r = rtBest.cell.rps / b.cell.rps;
    lines.push(
      `| runtime best / ${what} best | ${f0(rtBest.cell.rps)} / ${f0(b.cell.rps)} | **${r.toFixed(2)}x** | ≥ ${target}x | ${r >= target ? 'met' : 'NOT met'} |`,
    );
  };
  lines.push('| ratio | req/s | ratio | target | |');
  lines.push('|---|---:|---:|---:|---|');
  ratio('raw-node-http', 0.9, 'raw node:http');
  ratio('gunicorn-flask', 5, 'gunicorn+Flask (sync)');
  ratio('gunicorn-gthread', 5, 'gunicorn+Flask (gthread)');
  ratio('flask-dev', 5, 'Flask dev server');
  ratio('mlserver', 3, 'MLServer');
  if (has('runtime-batch-on')) {
    const b = best('runtime-batch-on');
    const r = b.cell.rps / lm.rps;
    lines.push(
      `| runtime batching on, rows/s (1 row per request) / session.run batch-1 loop | ${f0(b.cell.rps)} / ${f0(lm.rps)} | **${r.toFixed(2)}x** | ≥ 1x | ${r >= 1 ? 'met' : 'NOT met'} |`,
    );
  }
  if (has('raw-node-http')) {
    for (const id of ['runtime-batch-off', 'runtime-batch-on']) {
      if (!has(id)) continue;
      const d = med(id, 1).p99 - med('raw-node-http', 1).p99;
      lines.push(
        `| p99 at c=1: ${id} − raw node:http | ${f2(med(id, 1).p99)} − ${f2(med('raw-node-http', 1).p99)} ms | **${d >= 0 ? '+' : ''}${d.toFixed(2)} ms** | ≤ +1 ms | ${d <= 1 ? 'met' : 'NOT met'} |`,
      );
    }
  }
  lines.push('');
  lines.push('Commands (ports chosen at random):');
  for (const p of peers) lines.push(`- ${p.id}: \`${p.command}\``);
  lines.push(`- session.run loop: \`node bench/runtime/session-loop.ts examples/models/iris/model.onnx ${DURATION}\``);
  lines.push(
    `- load: autocannon (in bench/runtime/run.ts) \`{ method: 'POST', connections: c, duration: ${DURATION} }\` with a one-row iris request in each server's own format`,
  );
  const md = lines.join('\n');
  const outDir = join(HERE, 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.md'), `${md}\n`);
  writeFileSync(
    join(outDir, 'latest.json'),
    `${JSON.stringify({ date: new Date().toISOString(), cores: CORES, cpu: cpuModel, node: process.version, duration: DURATION, runs: RUNS, concurrency: CONCURRENCY, cells: Object.fromEntries(cells), sessionLoop: loop }, null, 1)}\n`,
  );
  try {
    // keep the committed results in the repository's format
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'prettier', 'bin', 'prettier.cjs'), '--write', join(outDir, 'latest.json'), join(outDir, 'latest.md')],
      { stdio: 'ignore' },
    );
  } catch {
    // formatting is cosmetic
  }
  process.stdout.write(`${md}\n`);
}

main().catch((err: unknown) => {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
