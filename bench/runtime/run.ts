/**
 * Runtime benchmark: `npm run bench:runtime`. One run on this machine, per model of the ladder (iris, the
 * tiny rung in examples/models; mlp and resnet18 built once by examples/ladder/make-ladder.sh and cached),
 * the same load generator (autocannon, in this process), the same request (the model's one-row tensor,
 * V2 JSON or the server's own format) and the same concurrency levels for:
 *   - the Modelship runtime: batching off, defaults (batching on), a tuned setting (larger models); on iris
 *     also with the access log and over HTTPS (TLS 1.3, P-256 certificate made at run time by openssl)
 *   - a raw node:http server doing the same onnxruntime work (raw-server.ts)
 *   - ONNX Runtime Python + FastAPI on uvicorn (ort_fastapi.py), BentoML with adaptive batching
 *     (bentoml_service.py), Ray Serve with @serve.batch (rayserve_app.py): venv from requirements-onnx.txt
 *   - iris only: Flask + pickled scikit-learn model under gunicorn and Flask's server, MLServer +
 *     mlserver-sklearn (venv from requirements.txt)
 *   - the in-process session.run() loop over batch sizes 1..64 and 1 / all CPUs' intra-op threads, no HTTP
 *     (session-loop.ts): the compute ceiling
 * Each server is checked to answer the reference request correctly (the model's expected.json) before it
 * is measured; RSS is summed over each server's process tree. Rounds are interleaved (every server once
 * per round, order rotated) and the medians and min–max of the rounds are reported. Environment:
 * BENCH_MODELS (iris,mlp,resnet18), BENCH_DURATION (s per cell; default 2 / 3 / 5 by model), BENCH_RUNS (3),
 * BENCH_CONCURRENCY (1,8,32,64), BENCH_ONLY (comma-separated server ids, `session-loop` for the loop),
 * BENCH_TUNED_ARGS, BENCH_LOOP_DURATION, MODELSHIP_BENCH_VENV (~/.cache/modelship/bench-venv),
 * MODELSHIP_BENCH_ONNX_VENV (~/.cache/modelship/bench-onnx-venv).
 * Writes bench/runtime/results/latest.{json,md} and prints the tables and the total time.
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
import { availableParallelism, cpus, homedir, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { freePort } from '@modelship/devcluster/ports';
import { DEFAULTS } from '../../contract/runtime-contract.ts';
import { TestCa } from '@modelship/devcluster/test-ca';
import { httpsCall } from '@modelship/devcluster/https-call';
import { type BenchModel, concatenatedMatches, loadModels, v2Matches } from './models.ts';
import { type Cell, type LoopCell, type ModelResult, type PeerInfo, type Rss, report } from './report.ts';
import { processTree, treeRssMiB } from './rss.ts';

interface AutocannonResult {
  requests: { average: number; total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
interface AutocannonInstance {
  stop(): void;
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
const RUNS = Number(process.env['BENCH_RUNS'] ?? '3');
const CONCURRENCY = (process.env['BENCH_CONCURRENCY'] ?? '1,8,32,64').split(',').map(Number);
const ONLY = process.env['BENCH_ONLY']?.split(',');
const MODELS = (process.env['BENCH_MODELS'] ?? 'iris,mlp,resnet18').split(',');
const VENV = process.env['MODELSHIP_BENCH_VENV'] ?? join(homedir(), '.cache', 'modelship', 'bench-venv');
const ONNX_VENV = process.env['MODELSHIP_BENCH_ONNX_VENV'] ?? join(homedir(), '.cache', 'modelship', 'bench-onnx-venv');
const CORES = availableParallelism();
/**
 * seconds per cell (after the ramp to steady state): BENCH_DURATION, else 2 s for iris (thousands of answers
 * per cell), 3 s for mlp, 5 s for resnet18 (one batched run of 32 images takes a second or more here)
 */
const durationFor = (model: string): number => Number(process.env['BENCH_DURATION'] ?? { iris: '2', mlp: '3' }[model] ?? '5');
/** seconds per (threads, batch) cell of the session.run loop */
const loopSecondsFor = (model: string): number => Number(process.env['BENCH_LOOP_DURATION'] ?? (model === 'iris' ? '0.3' : '0.5'));
const LOOP_BATCHES = '1,2,4,8,16,32,64';
const LOOP_THREADS = [...new Set([1, CORES])].join(',');
/**
 * This runtime's tuned setting per model on this machine (2 CPUs), from a short sweep of --workers and
 * --intra-op-threads (BENCHMARKS.md): for the larger models one worker whose onnxruntime session uses both
 * CPUs (the main thread's HTTP work per request is small next to a run). iris is HTTP-bound: the defaults
 * are its tuned setting, so no separate server. BENCH_TUNED_ARGS overrides (every model).
 */
const TUNED: Record<string, string[]> = {
  mlp: ['--workers', '1', '--intra-op-threads', String(CORES)],
  resnet18: ['--workers', '1', '--intra-op-threads', String(CORES)],
};
const tunedArgs = (model: string): string[] | undefined => process.env['BENCH_TUNED_ARGS']?.split(' ').filter(Boolean) ?? TUNED[model];
const PYTHON_SKLEARN = ['gunicorn-flask', 'gunicorn-gthread', 'flask-dev', 'mlserver'];
const PYTHON_ONNX = ['ort-fastapi', 'bentoml', 'rayserve'];

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** Runs a command to its end (output to this process's stderr); rejects on a non-zero exit. */
function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}

/** A venv outside the repository from a pinned requirements file, rebuilt when the file changes. */
async function ensureVenv(venv: string, requirements: string, what: string): Promise<void> {
  const req = join(HERE, requirements);
  const want = createHash('sha256').update(readFileSync(req)).digest('hex');
  const marker = join(venv, '.modelship-requirements.sha256');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === want) return;
  const t0 = Date.now();
  log(`creating Python venv ${venv} (${what} from PyPI, pinned in bench/runtime/${requirements})`);
  mkdirSync(dirname(venv), { recursive: true });
  if (!existsSync(join(venv, 'bin', 'python'))) await run(process.env['PYTHON'] ?? 'python3', ['-m', 'venv', venv]);
  await run(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '-r', req]);
  writeFileSync(marker, want);
  log(`venv ${venv} ready in ${Math.round((Date.now() - t0) / 1000)} s`);
}

interface Peer extends PeerInfo {
  url: string;
  readyUrl: string;
  body: string;
  proc?: ChildProcess;
  start: () => ChildProcess;
  check: (json: unknown) => boolean;
  /** https:// peers: the CA their certificate chains to */
  ca?: string;
}

/** GET (no body) or POST to a peer, http or https (verified with the peer's CA). */
function call(p: Peer, url: string, body?: string): Promise<{ status: number; text: string }> {
  if (!p.ca) {
    const init = body === undefined ? {} : { method: 'POST', body, headers: { 'content-type': 'application/json' } };
    return fetch(url, { ...init, signal: AbortSignal.timeout(120_000) }).then(async (r) => ({ status: r.status, text: await r.text() }));
  }
  return httpsCall(url, { ca: p.ca }, body === undefined ? {} : { body });
}

/** The iris check of the scikit-learn peers (their own output names): label 0 and two outputs. */
const sklearnV2Label = (j: unknown) => {
  const outs = (j as Record<string, unknown>)['outputs'] as { name: string; data: number[] }[];
  return outs.some((o) => (o.name === 'label' || o.name === 'predict') && o.data[0] === 0) && outs.length === 2;
};

/** `data` (row-major) as nested arrays of `shape`, as a JSON client of a numpy API sends a tensor. */
function nest(data: number[], shape: number[]): unknown {
  if (shape.length <= 1) return data;
  const [n, ...rest] = shape as [number, ...number[]];
  const size = data.length / n;
  return Array.from({ length: n }, (_, i) => nest(data.slice(i * size, (i + 1) * size), rest));
}

/**
 * `stdoutFile`: the server's stdout goes to this file rather than /dev/null, as a container's does to
 * its log file (the runtime's access log is measured with the cost of writing it somewhere).
 */
function spawnPeer(cmd: string, args: string[], env: Record<string, string> = {}, cwd = ROOT, stdoutFile?: string): ChildProcess {
  const stdout = stdoutFile === undefined ? 'ignore' : openSync(stdoutFile, 'w');
  // own process group, so the whole tree (gunicorn/mlserver/uvicorn workers, Ray's processes) is found and stopped
  const p = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', stdout, 'pipe'], detached: true });
  if (typeof stdout === 'number') closeSync(stdout);
  let err = '';
  p.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  p.on('exit', (code, signal) => {
    if (!stopping.has(p)) log(`${cmd} ${args.join(' ')} exited early (${code ?? signal}): ${err}`);
  });
  return p;
}

interface Shared {
  ca: TestCa;
  pair: { certFile: string; keyFile: string };
  runtimeLogs: string;
}

async function makePeers(m: BenchModel, shared: Shared): Promise<Peer[]> {
  const peers: Peer[] = [];
  const iris = m.name === 'iris';
  const relModel = m.modelPath.startsWith(ROOT) ? m.modelPath.slice(ROOT.length + 1) : 'MODEL';
  const v2Check = (j: unknown) => v2Matches(m, j as Record<string, unknown>);
  const runtime = async (id: string, label: string, extra: string[], tls = false) => {
    const port = await freePort();
    const args = [
      'runtime/src/main.ts',
      'serve',
      '--model-path',
      m.modelPath,
      '--model-name',
      m.name,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--drain-delay-seconds',
      '0',
      '--log-level',
      'warn',
      ...extra,
    ];
    const scheme = tls ? 'https' : 'http';
    peers.push({
      id,
      label,
      kind: 'runtime',
      command: `node ${args
        .join(' ')
        .replace(m.modelPath, relModel)
        .replace(String(port), 'P')
        .replace(shared.pair.certFile, 'CERT')
        .replace(shared.pair.keyFile, 'KEY')}`,
      url: `${scheme}://127.0.0.1:${port}/v2/models/${m.name}/infer`,
      readyUrl: `${scheme}://127.0.0.1:${port}/v2/health/ready`,
      body: m.v2Body,
      start: () => spawnPeer(NODE, args, {}, ROOT, join(shared.runtimeLogs, `${m.name}-${id}.log`)),
      check: v2Check,
      ...(tls ? { ca: shared.ca.ca.cert } : {}),
    });
  };
  await runtime('runtime-batch-off', 'Modelship runtime, batching off', ['--max-batch-size', '1']);
  await runtime(
    'runtime-batch-on',
    `Modelship runtime, defaults (batching on: max ${DEFAULTS.maxBatchSize} rows, delay ${DEFAULTS.maxBatchDelayUs} µs; pool from the CPU count)`,
    [],
  );
  const tuned = tunedArgs(m.name);
  if (tuned) await runtime('runtime-tuned', `Modelship runtime, tuned: \`${tuned.join(' ')}\``, tuned);
  if (iris) {
    // the access log's cost against runtime-batch-on (same defaults, access log off)
    await runtime('runtime-access-log-on', 'Modelship runtime, defaults, access log on (every request)', ['--access-log', 'on']);
    await runtime('runtime-access-log-1in100', 'Modelship runtime, defaults, access log 1/100', ['--access-log', '1/100']);
    // TLS's cost against runtime-batch-on (same settings, plain HTTP)
    await runtime(
      'runtime-https',
      'Modelship runtime, defaults, HTTPS',
      ['--tls-cert-file', shared.pair.certFile, '--tls-key-file', shared.pair.keyFile],
      true,
    );
  }
  {
    const port = await freePort();
    const args = ['bench/runtime/raw-server.ts', m.modelPath, String(port)];
    peers.push({
      id: 'raw-node-http',
      label: 'raw node:http + session.run (main thread)',
      kind: 'node',
      command: `node bench/runtime/raw-server.ts ${relModel} P`,
      url: `http://127.0.0.1:${port}/v2/models/${m.name}/infer`,
      readyUrl: '',
      body: m.v2Body,
      start: () => spawnPeer(NODE, args),
      check: v2Check,
    });
  }
  if (iris && m.joblib) await addSklearnPeers(peers, m.joblib, m.input.data);
  const onnxEnv = { MODEL_PATH: m.modelPath, ORT_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' };
  {
    const port = await freePort();
    const args = [
      'ort_fastapi:app',
      '--app-dir',
      HERE,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--workers',
      String(CORES),
      '--log-level',
      'warning',
      '--no-access-log',
    ];
    peers.push({
      id: 'ort-fastapi',
      label: `ONNX Runtime Python + FastAPI, uvicorn (${CORES} workers, 1 intra-op thread each)`,
      kind: 'python',
      command: `MODEL_PATH=${relModel} ORT_THREADS=1 uvicorn ${args.join(' ').replace(HERE, 'bench/runtime').replace(String(port), 'P')}`,
      url: `http://127.0.0.1:${port}/v2/models/${m.name}/infer`,
      readyUrl: `http://127.0.0.1:${port}/v2/health/ready`,
      body: m.v2Body,
      start: () => spawnPeer(join(ONNX_VENV, 'bin', 'uvicorn'), args, onnxEnv),
      check: v2Check,
    });
  }
  {
    const port = await freePort();
    const home = mkdtempSync(join(tmpdir(), 'modelship-bentoml-'));
    cleanups.push(() => rmSync(home, { recursive: true, force: true }));
    const args = ['serve', 'bentoml_service:OnnxModel', '--working-dir', HERE, '--host', '127.0.0.1', '--port', String(port)];
    const env = { ...onnxEnv, BENTO_WORKERS: String(CORES), BENTOML_HOME: home, BENTOML_DO_NOT_TRACK: 'True' };
    peers.push({
      id: 'bentoml',
      label: `BentoML, adaptive batching on (max 32 rows, ${CORES} workers, 1 intra-op thread each)`,
      kind: 'python',
      command: `MODEL_PATH=${relModel} BENTO_WORKERS=${CORES} ORT_THREADS=1 BENTOML_DO_NOT_TRACK=True bentoml serve bentoml_service:OnnxModel --working-dir bench/runtime --host 127.0.0.1 --port P`,
      url: `http://127.0.0.1:${port}/infer`,
      readyUrl: `http://127.0.0.1:${port}/readyz`,
      body: JSON.stringify({ input: nest(m.input.data, m.input.shape) }),
      start: () => spawnPeer(join(ONNX_VENV, 'bin', 'bentoml'), args, env),
      check: (j) => concatenatedMatches(m, j),
    });
  }
  {
    const port = await freePort();
    const tmp = mkdtempSync(join(tmpdir(), 'mray-'));
    cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
    const args = [join(HERE, 'rayserve_app.py'), m.modelPath, String(port), m.name];
    const env = { ...onnxEnv, RAY_REPLICAS: String(CORES), RAY_TMPDIR: tmp, RAY_USAGE_STATS_ENABLED: '0' };
    peers.push({
      id: 'rayserve',
      label: `Ray Serve, @serve.batch (max 32 rows, wait ≤ 1 ms, ${CORES} replicas, 1 intra-op thread each)`,
      kind: 'python',
      command: `RAY_REPLICAS=${CORES} ORT_THREADS=1 RAY_USAGE_STATS_ENABLED=0 python bench/runtime/rayserve_app.py ${relModel} P ${m.name}`,
      url: `http://127.0.0.1:${port}/v2/models/${m.name}/infer`,
      readyUrl: '',
      body: m.v2Body,
      start: () => spawnPeer(join(ONNX_VENV, 'bin', 'python'), args, env),
      check: v2Check,
    });
  }
  return ONLY ? peers.filter((p) => ONLY.includes(p.id)) : peers;
}

/** The scikit-learn peers of the iris model (the hand-written Flask service, MLServer). */
async function addSklearnPeers(peers: Peer[], joblib: string, row: number[]): Promise<void> {
  const flaskBody = JSON.stringify({ instances: [row] });
  const flaskCheck = (j: unknown) => {
    const o = j as Record<string, unknown>;
    return (o['predictions'] as number[])[0] === 0 && Array.isArray(o['probabilities']);
  };
  const gunicorn = async (id: string, label: string, extra: string[]) => {
    const port = await freePort();
    const args = ['-w', String(CORES), ...extra, '-b', `127.0.0.1:${port}`, '--chdir', HERE, '--log-level', 'warning', 'flask_app:app'];
    peers.push({
      id,
      label,
      kind: 'python',
      command: `MODEL_PATH=examples/models/iris/model.joblib gunicorn ${args.join(' ').replace(HERE, 'bench/runtime').replace(`:${port}`, ':P')}`,
      url: `http://127.0.0.1:${port}/predict`,
      readyUrl: `http://127.0.0.1:${port}/health`,
      body: flaskBody,
      start: () => spawnPeer(join(VENV, 'bin', 'gunicorn'), args, { MODEL_PATH: joblib, PYTHONDONTWRITEBYTECODE: '1' }),
      check: flaskCheck,
    });
  };
  // gunicorn's default sync worker: one request per connection (Connection: close)
  await gunicorn('gunicorn-flask', `gunicorn (${CORES} sync workers) + Flask + pickle`, []);
  // gthread worker: keeps connections alive
  await gunicorn('gunicorn-gthread', `gunicorn (${CORES} gthread workers × 4 threads, keep-alive) + Flask + pickle`, [
    '-k',
    'gthread',
    '--threads',
    '4',
  ]);
  {
    const port = await freePort();
    const args = [join(HERE, 'flask_app.py'), String(port)];
    peers.push({
      id: 'flask-dev',
      label: "Flask's own server (threaded) + pickle",
      kind: 'python',
      command: `MODEL_PATH=examples/models/iris/model.joblib python bench/runtime/flask_app.py P`,
      url: `http://127.0.0.1:${port}/predict`,
      readyUrl: `http://127.0.0.1:${port}/health`,
      body: flaskBody,
      start: () => spawnPeer(join(VENV, 'bin', 'python'), args, { MODEL_PATH: joblib, PYTHONDONTWRITEBYTECODE: '1' }),
      check: flaskCheck,
    });
  }
  {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'modelship-mlserver-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const modelDir = join(dir, 'iris');
    mkdirSync(modelDir);
    copyFileSync(joblib, join(modelDir, 'model.joblib'));
    writeFileSync(
      join(modelDir, 'model-settings.json'),
      JSON.stringify({ name: 'iris', implementation: 'mlserver_sklearn.SKLearnModel', parameters: { uri: './model.joblib' } }),
    );
    writeFileSync(
      join(dir, 'settings.json'),
      JSON.stringify({ http_port: port, grpc_port: await freePort(), metrics_port: await freePort() }),
    );
    const body = JSON.stringify({
      inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: row }],
      outputs: [{ name: 'predict' }, { name: 'predict_proba' }],
    });
    peers.push({
      id: 'mlserver',
      label: 'MLServer + mlserver-sklearn (defaults)',
      kind: 'python',
      command: `mlserver start <dir with settings.json and iris/model-settings.json>`,
      url: `http://127.0.0.1:${port}/v2/models/iris/infer`,
      readyUrl: `http://127.0.0.1:${port}/v2/models/iris/ready`,
      body,
      start: () => spawnPeer(join(VENV, 'bin', 'mlserver'), ['start', dir], {}, dir),
      check: sklearnV2Label,
    });
  }
}

const stopping = new Set<ChildProcess>();
const cleanups: (() => void)[] = [];

async function waitReady(p: Peer): Promise<void> {
  const deadline = Date.now() + 180_000;
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
    if (Date.now() > deadline) throw new Error(`${p.id} not ready after 180 s`);
    if (p.proc?.exitCode !== null && p.proc?.exitCode !== undefined) throw new Error(`${p.id} exited with ${p.proc.exitCode}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** longest wait for a cell's steady state (every connection answered once) before it is measured anyway */
const RAMP_CAP_S = 60;

/**
 * One cell: `connections` keep-alive connections sending the request back to back. The cell is measured
 * from the moment every connection has had its first answer (steady state: on resnet18 at c=64 the first
 * answers take seconds, which a fixed window would count as idle time) for `seconds`; req/s and the
 * latencies are of the 2xx answers completed in that window.
 */
function load(p: Peer, connections: number, seconds: number): Promise<Cell> {
  return new Promise((resolve, reject) => {
    const lat: number[] = [];
    let answered = 0;
    let from = Infinity;
    let to = Infinity;
    const inst = autocannon(
      {
        url: p.url,
        method: 'POST',
        body: p.body,
        headers: { 'content-type': 'application/json' },
        connections,
        duration: RAMP_CAP_S + seconds,
        timeout: 120,
        ...(p.ca ? { tlsOptions: { ca: p.ca } } : {}),
      },
      (err, res) => {
        if (err) {
          reject(err);
          return;
        }
        const window = Number.isFinite(from) ? (Math.min(to, performance.now()) - from) / 1000 : seconds;
        lat.sort((a, b) => a - b);
        const q = (x: number) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))] ?? NaN;
        resolve({ rps: lat.length / window, p50: q(0.5), p99: q(0.99), errors: res.errors + res.timeouts + res.non2xx });
      },
    );
    inst.on('response', (_c, status, _b, ms) => {
      const now = performance.now();
      if (now >= from && now <= to && status === 200) lat.push(ms);
      if (++answered === connections) {
        from = now;
        to = now + seconds * 1000;
        setTimeout(() => inst.stop(), seconds * 1000);
      }
    });
  });
}

/**
 * autocannon stops at the end of a cell with requests still queued in the server (a second or more of
 * work on resnet18 at c=64); one more request waits behind them, so the next cell starts on an idle server.
 */
async function drain(p: Peer): Promise<void> {
  try {
    await call(p, p.url, p.body);
  } catch (err) {
    log(`${p.id}: drain request failed: ${(err as Error).message}`);
  }
}

function sessionLoop(m: BenchModel, requestFile: string): LoopCell[] {
  const out = execFileSync(
    NODE,
    [join(HERE, 'session-loop.ts'), m.modelPath, String(loopSecondsFor(m.name)), requestFile, LOOP_BATCHES, LOOP_THREADS],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  return (JSON.parse(out) as { cells: LoopCell[] }).cells;
}

/** SIGTERM each peer's process group, wait for its whole tree to exit, SIGKILL what is left (by pid). */
async function stopPeers(peers: Peer[]): Promise<void> {
  const trees = new Map<Peer, number[]>();
  for (const p of peers) {
    const pid = p.proc?.pid;
    if (!pid || p.proc?.exitCode !== null) continue;
    stopping.add(p.proc);
    trees.set(p, processTree(pid));
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return existsSync(`/proc/${pid}/stat`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && [...trees.values()].some((t) => t.some(alive))) await new Promise((r) => setTimeout(r, 200));
  for (const [p, tree] of trees) {
    const left = tree.filter(alive);
    if (left.length) log(`${p.id}: ${left.length} process(es) still up 20 s after SIGTERM, SIGKILL`);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

function stopAllNow(peers: Peer[]): void {
  for (const p of peers) {
    if (p.proc?.pid && p.proc.exitCode === null) {
      stopping.add(p.proc);
      for (const pid of processTree(p.proc.pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}

/** Every server of one model: start, check, warm up, then RUNS interleaved rounds; stopped at the end. */
async function benchModel(m: BenchModel, shared: Shared, live: Peer[]): Promise<ModelResult> {
  const duration = durationFor(m.name);
  const peers = await makePeers(m, shared);
  live.push(...peers);
  const requestFile = join(shared.runtimeLogs, `${m.name}-request.json`);
  writeFileSync(requestFile, m.v2Body);
  const cells: Record<string, Cell[]> = {};
  const rss: Record<string, Rss> = {};
  const loops: LoopCell[][] = [];
  try {
    // one at a time: several Python servers starting at once on 2 CPUs take minutes
    for (const p of peers) {
      const t0 = Date.now();
      p.proc = p.start();
      await waitReady(p);
      const r = await call(p, p.url, p.body);
      let j: unknown;
      try {
        j = JSON.parse(r.text);
      } catch {
        j = r.text;
      }
      if (r.status !== 200 || !p.check(j)) throw new Error(`${m.name}/${p.id} answered ${r.status} ${r.text.slice(0, 300)}`);
      const s = treeRssMiB(p.proc.pid as number);
      rss[p.id] = { idleMiB: s.mib, peakMiB: s.mib, processes: s.processes };
      log(
        `${m.name}/${p.id} ready and correct in ${((Date.now() - t0) / 1000).toFixed(1)} s, RSS ${s.mib.toFixed(0)} MiB in ${s.processes} process(es)`,
      );
    }
    for (const p of peers) {
      await load(p, 8, 2); // warm-up
      await drain(p);
    }
    for (let round = 0; round < RUNS; round++) {
      if (!ONLY || ONLY.includes('session-loop')) loops.push(sessionLoop(m, requestFile));
      const order = peers.map((_, i) => peers[(i + round) % peers.length] as Peer);
      for (const c of CONCURRENCY) {
        for (const p of order) {
          const cell = await load(p, c, duration);
          await drain(p);
          const s = treeRssMiB(p.proc?.pid as number);
          const r = rss[p.id] as Rss;
          if (s.mib > r.peakMiB) rss[p.id] = { ...r, peakMiB: s.mib, processes: Math.max(r.processes, s.processes) };
          (cells[`${p.id}|${c}`] ??= []).push(cell);
          log(
            `${m.name} round ${round + 1}/${RUNS} c=${c} ${p.id}: ${cell.rps.toFixed(0)} req/s p50 ${cell.p50.toFixed(2)} ms p99 ${cell.p99.toFixed(2)} ms${cell.errors ? ` errors ${cell.errors}` : ''}`,
          );
        }
      }
    }
  } finally {
    await stopPeers(peers);
  }
  return {
    name: m.name,
    bytes: m.bytes,
    duration,
    peers: peers.map(({ id, label, kind, command }) => ({ id, label, kind, command })),
    cells,
    rss,
    loops,
  };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const wants = (ids: string[]) => !ONLY || ONLY.some((id) => ids.includes(id));
  // first use: both venvs and the ladder models are built side by side (minutes each, mostly downloads)
  const [models] = await Promise.all([
    loadModels(MODELS, log),
    MODELS.includes('iris') && wants(PYTHON_SKLEARN)
      ? ensureVenv(VENV, 'requirements.txt', 'flask, gunicorn, mlserver, mlserver-sklearn, scikit-learn, tritonclient')
      : undefined,
    wants(PYTHON_ONNX) ? ensureVenv(ONNX_VENV, 'requirements-onnx.txt', 'onnxruntime, fastapi, uvicorn, bentoml, ray[serve]') : undefined,
  ]);
  const runtimeLogs = mkdtempSync(join(tmpdir(), 'modelship-bench-runtime-'));
  cleanups.push(() => {
    for (const f of readdirSync(runtimeLogs)) if (f.endsWith('.log')) log(`${f}: ${statSync(join(runtimeLogs, f)).size} bytes of stdout`);
    rmSync(runtimeLogs, { recursive: true, force: true });
  });
  const ca = new TestCa('modelship-bench-ca');
  cleanups.push(() => ca.cleanup());
  const shared: Shared = { ca, pair: ca.issue({ cn: 'localhost', ips: ['127.0.0.1'] }), runtimeLogs };
  const live: Peer[] = [];
  process.on('SIGINT', () => {
    stopAllNow(live);
    for (const c of cleanups) c();
    process.exit(130);
  });
  const results: ModelResult[] = [];
  const loadAverages: number[] = [];
  try {
    for (const m of models) {
      loadAverages.push(loadavg()[0] as number);
      log(`model ${m.name}: ${m.modelPath} (${(m.bytes / 1e6).toFixed(1)} MB)`);
      results.push(await benchModel(m, shared, live));
    }
  } finally {
    for (const c of cleanups) c();
  }
  loadAverages.push(loadavg()[0] as number);
  const md = report({
    cores: CORES,
    cpu: cpus()[0]?.model ?? 'unknown CPU',
    node: process.version,
    runs: RUNS,
    concurrency: CONCURRENCY,
    models: results,
    loadAverages,
    totalSeconds: (Date.now() - t0) / 1000,
  });
  const outDir = join(HERE, 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.md'), `${md}\n`);
  writeFileSync(
    join(outDir, 'latest.json'),
    `${JSON.stringify({ date: new Date().toISOString(), cores: CORES, cpu: cpus()[0]?.model, node: process.version, runs: RUNS, concurrency: CONCURRENCY, loadAverages, totalSeconds: (Date.now() - t0) / 1000, models: results }, null, 1)}\n`,
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
  log(`total time ${Math.round((Date.now() - t0) / 1000)} s`);
}

main().catch((err: unknown) => {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
