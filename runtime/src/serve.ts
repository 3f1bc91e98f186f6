/**
 * `serve`: listen at once (live, not ready), load the model on the worker pool, warm every
 * worker up, then report ready. SIGTERM: not ready, keep serving for the drain delay, stop
 * accepting, finish in-flight requests, exit 0.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.ts';
import { makeKeyCheck } from './auth.ts';
import type { ServeConfig } from './config.ts';
import { cpuLimit, defaultIntraOpThreads, defaultWorkers } from './cpu.ts';
import type { Tensor } from './datatypes.ts';
import { errorMessage, EXIT_MODEL_LOAD_FAILED, ModelLoadError } from './errors.ts';
import { handleInference } from './inference.ts';
import type { Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { buildModelSpec, warmupShape, type ModelSpec } from './model.ts';
import { WorkerPool } from './pool.ts';
import { matchInference } from './routes.ts';
import { Scheduler } from './scheduler.ts';
import { ServerState } from './state.ts';
import { v2ResponsePrefix } from './v2.ts';
import { product } from './codec.ts';

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

export interface RunningServer {
  server: Server;
  state: ServerState;
  /** resolves with the exit code once the process should exit */
  done: Promise<number>;
}

export async function serve(config: ServeConfig, log: Logger): Promise<RunningServer> {
  const state = new ServerState(config.modelName, config.modelVersion);
  const metrics = new Metrics(config.modelName, config.modelVersion);
  const checkKey = makeKeyCheck(config.apiKey);
  const app = createApp({ state, metrics, checkKey, log });
  const hot = { state, metrics, checkKey, maxBodyBytes: config.maxBodyBytes, log };

  const server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 66_000, requestTimeout: 300_000 }, (req, res) => {
    if (req.method === 'POST') {
      const route = matchInference(req.url ?? '/');
      if (route) {
        handleInference(hot, route, req, res);
        return;
      }
    }
    app(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (resolveDone = r));
  let pool: WorkerPool | undefined;
  let loading: Promise<void> = Promise.resolve();

  const stop = async (signal: string) => {
    if (state.phase === 'draining' || state.phase === 'stopping') return;
    const wasReady = state.model !== undefined;
    state.phase = 'draining';
    metrics.setReady(false);
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
    apiKey: config.apiKey ? 'required' : 'off',
  });

  const fail = async (err: unknown) => {
    state.phase = 'failed';
    const message = `cannot serve model: ${errorMessage(err)}`;
    log.error(message, { modelPath: config.modelPath });
    await writeFile(config.terminationLogPath, `${message}\n`).catch(() => undefined); // not in Kubernetes
    server.close();
    server.closeAllConnections();
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
      const cpus = cpuLimit();
      const workers = config.workers > 0 ? config.workers : defaultWorkers(cpus);
      const intraOpThreads = config.intraOpThreads > 0 ? config.intraOpThreads : defaultIntraOpThreads(cpus, workers);
      pool = new WorkerPool(workers, { modelPath: config.modelPath, intraOpThreads }, log);
      const meta = await pool.start();
      const model = buildModelSpec(config.modelName, config.modelVersion, meta.inputs, meta.outputs);
      // warm up every worker (all idle now, so each run lands on a different one)
      const warm: Promise<unknown>[] = [];
      for (let i = 0; i < workers; i++) warm.push(pool.run(warmupFeeds(model), undefined));
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
      state.model = model;
      state.phase = 'ready';
      metrics.setReady(true);
      log.info('ready', {
        port,
        model: model.name,
        version: model.version,
        workers,
        cpuLimit: cpus,
        intraOpThreads,
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
