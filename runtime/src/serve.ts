/**
 * `serve`: listen at once (live, not ready), load the model on the worker pool, warm every
 * worker up, then report ready. SIGTERM: not ready, keep serving for the drain delay, stop
 * accepting, finish in-flight requests, exit 0.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { access, constants, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HTTP_PATH } from '../../contract/runtime-contract.ts';
import { createApp } from './http/app.ts';
import { makeKeyCheck } from './http/auth.ts';
import { MemoryBudget } from './execution/budget.ts';
import type { ServeConfig } from './config.ts';
import { cpuLimit, defaultIntraOpThreads, defaultWorkers } from './execution/cpu.ts';
import type { Tensor } from './tensor/datatypes.ts';
import { errorMessage, EXIT_MODEL_LOAD_FAILED, ModelLoadError } from './errors.ts';
import { errorBody, handleInference, sendJson } from './http/inference.ts';
import type { Logger } from './logger.ts';
import { defaultInflightBudget, memoryLimit } from './execution/memory.ts';
import { Metrics } from './http/metrics.ts';
import { buildModelSpec, warmupShape, type ModelSpec } from './tensor/model.ts';
import { WorkerPool } from './execution/pool.ts';
import { matchInference } from './http/routes.ts';
import { Scheduler } from './execution/scheduler.ts';
import { ServerState } from './http/state.ts';
import { v2ResponsePrefix } from './tensor/v2.ts';
import { product } from './tensor/codec.ts';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function warmupFeeds(model: ModelSpec): Map<string, Tensor> {
  const feeds = new Map<string, Tensor>();
  for (const spec of model.inputs) {
    const dims = warmupShape(spec);
    feeds.set(spec.name, { type: spec.info.ort, dims, data: spec.info.create(product(dims)) });
  }
  return feeds;
}

/** Node checks the header and request receive timeouts this often (its default is 30 s). */
function checkingIntervalMs(config: ServeConfig): number {
  return Math.max(50, Math.min(1000, Math.floor(config.headersTimeoutMs / 4)));
}

/** A server with the slow-client limits: connection cap, header and whole-request receive timeouts. */
function limitedServer(config: ServeConfig, handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestReceiveTimeoutMs,
      connectionsCheckingInterval: checkingIntervalMs(config),
    },
    handler,
  );
  server.maxConnections = config.maxConnections;
  return server;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

const pathOf = (url: string | undefined): string => {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? u : u.slice(0, q);
};

/** /metrics as express would route it (case-insensitive, trailing slash allowed). */
const isMetricsPath = (url: string | undefined): boolean => pathOf(url).replace(/\/+$/, '').toLowerCase() === HTTP_PATH.metrics;

export interface RunningServer {
  server: Server;
  state: ServerState;
  /** resolves with the exit code once the process should exit */
  done: Promise<number>;
}

export async function serve(config: ServeConfig, log: Logger): Promise<RunningServer> {
  const state = new ServerState(config.modelName, config.modelVersion);
  const metrics = new Metrics(config.modelName, config.modelVersion);
  metrics.readiness = () => state.ready;
  const checkKey = makeKeyCheck(config.apiKey);
  const app = createApp({ state, metrics, checkKey, log });

  const cpus = cpuLimit();
  const workers = config.workers > 0 ? config.workers : defaultWorkers(cpus);
  const intraOpThreads = config.intraOpThreads > 0 ? config.intraOpThreads : defaultIntraOpThreads(cpus, workers);
  const memLimit = memoryLimit();
  let modelBytes = 0;
  try {
    modelBytes = statSync(config.modelPath).size;
  } catch {
    // reported by the model load below
  }
  const budgetBytes = config.maxInflightBytes > 0 ? config.maxInflightBytes : defaultInflightBudget(memLimit, modelBytes, workers);
  const budget = new MemoryBudget(budgetBytes, metrics.budgetHooks);
  metrics.setBudgetLimit(budgetBytes);
  const hot = { state, metrics, checkKey, maxBodyBytes: config.maxBodyBytes, bodyIdleTimeoutMs: config.bodyIdleTimeoutMs, budget, log };

  const metricsApart = config.metricsPort !== undefined;
  const serveMetrics = (res: ServerResponse) => {
    metrics.text().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': metrics.contentType });
        res.end(text);
      },
      (err: unknown) => sendJson(res, 500, errorBody(`cannot collect metrics: ${errorMessage(err)}`), false),
    );
  };
  const server = limitedServer(config, (req, res) => {
    if (req.method === 'POST') {
      const route = matchInference(req.url ?? '/');
      if (route) {
        handleInference(hot, route, req, res);
        return;
      }
    }
    // metrics on their own port: not here, so a NetworkPolicy can admit only the scraper there
    if (metricsApart && isMetricsPath(req.url)) {
      sendJson(res, 404, errorBody(`no route ${req.method ?? 'GET'} /metrics: metrics are served on port ${metricsPort}`), state.closing);
      return;
    }
    app(req, res);
  });
  let metricsServer: Server | undefined;
  let metricsPort: number | undefined;
  if (metricsApart) {
    metricsServer = limitedServer(config, (req, res) => {
      if (req.method === 'GET' && isMetricsPath(req.url)) serveMetrics(res);
      else sendJson(res, 404, errorBody(`no route ${req.method ?? 'GET'} ${pathOf(req.url)}: this port serves only GET /metrics`), false);
    });
    await listen(metricsServer, config.metricsPort as number, config.host);
    metricsPort = (metricsServer.address() as AddressInfo).port;
  }
  await listen(server, config.port, config.host);
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (resolveDone = r));
  let pool: WorkerPool | undefined;
  let loading: Promise<void> = Promise.resolve();

  const stop = async (signal: string) => {
    if (state.phase === 'draining' || state.phase === 'stopping') return;
    const wasReady = state.model !== undefined;
    state.phase = 'draining';
    log.info('shutdown: not ready, draining', { signal, drainDelaySeconds: wasReady ? config.drainDelaySeconds : 0 });
    if (wasReady && config.drainDelaySeconds > 0) await new Promise((r) => setTimeout(r, config.drainDelaySeconds * 1000));
    state.phase = 'stopping';
    log.info('shutdown: no longer accepting connections; finishing in-flight requests');
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    const idleSweep = setInterval(() => server.closeIdleConnections(), 50);
    let forced = false;
    const timeout = new Promise<void>((r) =>
      setTimeout(() => {
        forced = true;
        r();
      }, config.shutdownTimeoutSeconds * 1000).unref(),
    );
    await Promise.race([closed, timeout]);
    clearInterval(idleSweep);
    if (forced) {
      log.warn('shutdown: timeout reached with requests still in flight; closing connections', {
        shutdownTimeoutSeconds: config.shutdownTimeoutSeconds,
      });
      server.closeAllConnections();
    }
    state.scheduler?.close();
    // Terminating a worker while onnxruntime is still creating its session can abort the whole
    // process; let an unfinished load settle first (bounded by the shutdown timeout).
    await Promise.race([loading.catch(() => undefined), timeout]);
    await pool?.close();
    // metrics stay scrapeable through the drain; closed last
    if (metricsServer) {
      const metricsClosed = new Promise<void>((r) => metricsServer.close(() => r()));
      metricsServer.closeAllConnections();
      await metricsClosed;
    }
    log.info('shutdown: done', { forced });
    resolveDone(forced ? 1 : 0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  // only now: whoever reads "listening" may signal us at once, and must not meet the default action
  const port = (server.address() as AddressInfo).port;
  log.info('listening', {
    host: config.host,
    port,
    model: config.modelName,
    version: config.modelVersion,
    apiKey: config.apiKey !== undefined ? 'required' : 'off',
    metricsPort: metricsPort ?? port,
    maxInflightBytes: budgetBytes,
    memoryLimitBytes: memLimit ?? 'none',
    maxConnections: config.maxConnections,
    headersTimeoutMs: config.headersTimeoutMs,
    requestReceiveTimeoutMs: config.requestReceiveTimeoutMs,
    bodyIdleTimeoutMs: config.bodyIdleTimeoutMs,
  });

  const fail = async (err: unknown) => {
    state.phase = 'failed';
    const message = `cannot serve model: ${errorMessage(err)}`;
    log.error(message, { modelPath: config.modelPath });
    await writeFile(config.terminationLogPath, `${message}\n`).catch(() => undefined); // not in Kubernetes
    server.close();
    server.closeAllConnections();
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    await pool?.close();
    // only a model that cannot load is certain to fail again; anything else may be transient
    resolveDone(err instanceof ModelLoadError ? EXIT_MODEL_LOAD_FAILED : 1);
  };

  loading = (async () => {
    try {
      try {
        await access(config.modelPath, constants.R_OK);
      } catch {
        throw new ModelLoadError(`model file ${config.modelPath} does not exist or is not readable`);
      }
      if (config.modelSha256) {
        const got = await sha256File(config.modelPath);
        if (got !== config.modelSha256) throw new ModelLoadError(`sha256 of ${config.modelPath} is ${got}, expected ${config.modelSha256}`);
      }
      const runTimeoutMs = config.runTimeoutMs > 0 ? config.runTimeoutMs : config.requestTimeoutMs;
      pool = new WorkerPool(workers, { modelPath: config.modelPath, intraOpThreads }, log, {
        runTimeoutMs,
        onWorkerLost: () => metrics.workerRestarted(),
      });
      const running = pool;
      const meta = await pool.start();
      const model = buildModelSpec(config.modelName, config.modelVersion, meta.inputs, meta.outputs);
      // warm up every worker (all idle now, so each run lands on a different one)
      const warm: Promise<unknown>[] = [];
      // no run timeout here: a model slower than it would never become ready
      for (let i = 0; i < workers; i++) warm.push(pool.run(warmupFeeds(model), undefined, 0));
      try {
        await Promise.all(warm);
      } catch (err) {
        throw new ModelLoadError(`warm-up inference failed: ${errorMessage(err)}`);
      }
      if (state.phase !== 'loading') return;
      state.scheduler = new Scheduler(
        {
          inputNames: model.inputs.map((i) => i.name),
          maxBatchSize: config.maxBatchSize,
          maxBatchDelayUs: config.maxBatchDelayUs,
          maxQueueSize: config.maxQueueSize,
          timeoutMs: config.requestTimeoutMs,
          batchable: model.batchable,
        },
        pool,
        metrics.hooks,
      );
      state.v2Prefix = v2ResponsePrefix(model);
      state.workers = () => ({ live: running.live, size: running.size, stuck: running.stuck });
      metrics.liveWorkers = () => running.live;
      state.model = model;
      state.phase = 'ready';
      log.info('ready', {
        port,
        model: model.name,
        version: model.version,
        workers,
        cpuLimit: cpus,
        intraOpThreads,
        runTimeoutMs,
        batching:
          model.batchable && config.maxBatchSize > 1
            ? { maxBatchSize: config.maxBatchSize, maxBatchDelayUs: config.maxBatchDelayUs }
            : 'off',
        inputs: model.inputs.map((i) => `${i.name} ${i.datatype} [${i.shape.join(',')}]`),
        outputs: model.outputs.map((o) => `${o.name} ${o.datatype} [${o.shape.join(',')}]`),
      });
    } catch (err) {
      await fail(err);
    }
  })();

  return { server, state, done };
}
