/**
 * `serve`: listen at once (live, not ready), load the model on the worker pool, warm every
 * worker up, then report ready. SIGTERM: not ready, keep serving for the drain delay, stop
 * accepting, finish in-flight requests, exit 0.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { dirname, join } from 'node:path';
import { access, constants, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { ServeConfig } from './config.ts';
import { ConfigError, errorMessage, EXIT_MODEL_LOAD_FAILED, ModelLoadError, WorkerLostError } from './errors.ts';
import { MemoryBudget } from './execution/budget.ts';
import { createReclaimer } from './execution/reclaim.ts';
import { cpuLimit, defaultIntraOpThreads, defaultPoolShape } from './execution/cpu.ts';
import { defaultInflightBudget, memoryLimit } from './execution/memory.ts';
import { WorkerPool } from './execution/pool.ts';
import { Scheduler } from './execution/scheduler.ts';
import { AccessLog } from './http/access-log.ts';
import { KeyFileDigests } from './http/api-keys.ts';
import { makeKeyCheck } from './http/auth.ts';
import { Forwarder, type ForwardTls } from './http/forward.ts';
import { readMountedFile, type MountedFilePoller } from './http/mounted-file.ts';
import { reloadKeyFile, reloadTls } from './http/reload.ts';
import { materialOf, readTlsFiles, type TlsMaterial } from './http/tls.ts';
import { Metrics } from './http/metrics.ts';
import { listenHttp } from './http/server.ts';
import { ServerState } from './http/state.ts';
import { kubeAuthGate } from './kube-auth/setup.ts';
import type { Logger } from './logger.ts';
import { product } from './tensor/codec.ts';
import type { Tensor } from './tensor/datatypes.ts';
import { prepareModelFile } from './onnx/model-file.ts';
import { buildModelSpec, warmupShape, type ModelSpec } from './tensor/model.ts';
import { v2ResponsePrefix } from './tensor/v2.ts';

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

/** The TLS files as read at start, checked; a bad pair is a configuration error (exit 2). */
async function startTls(config: ServeConfig): Promise<{ material: TlsMaterial; contents: Buffer[] } | undefined> {
  if (!config.tls) return undefined;
  const files = config.tls;
  try {
    const contents = await readTlsFiles(files);
    return { material: materialOf(files, contents), contents };
  } catch (err) {
    throw new ConfigError(`TLS (${files.certFile}, ${files.keyFile}): ${errorMessage(err)}`);
  }
}

/** Forwarding over https trusts the CA next to the serving pair (cert-manager writes ca.crt there) and, with mTLS, shows that pair. */
function forwardTls(config: ServeConfig, tls: TlsMaterial | undefined): ForwardTls | undefined {
  if (!config.tls || !tls) return undefined;
  const caFile = join(dirname(config.tls.certFile), 'ca.crt');
  return {
    ca: existsSync(caFile) ? readFileSync(caFile) : undefined,
    clientCert: tls.clientCa ? { cert: tls.cert, key: tls.key } : undefined,
  };
}

async function startKeyFile(config: ServeConfig): Promise<{ keys: KeyFileDigests; content: Buffer } | undefined> {
  if (config.apiKeyFile === undefined) return undefined;
  let content: Buffer;
  try {
    content = await readMountedFile(config.apiKeyFile);
  } catch (err) {
    throw new ConfigError(`cannot read the API key file: ${errorMessage(err)}`);
  }
  return { keys: new KeyFileDigests(config.apiKeyFile, content.toString('utf8')), content };
}

export async function serve(config: ServeConfig, log: Logger): Promise<RunningServer> {
  const state = new ServerState(config.modelName, config.modelVersion);
  const metrics = new Metrics(config.modelName, config.modelVersion);
  metrics.readiness = () => state.ready;
  const tls = await startTls(config);
  const kubeAuth = config.kubeAuth ? kubeAuthGate(config.kubeAuth, log).gate : undefined;
  const keyFile = kubeAuth ? undefined : await startKeyFile(config);
  const checkKey = kubeAuth ? kubeAuth.check : makeKeyCheck(keyFile?.keys ?? config.apiKey);

  const cpus = cpuLimit();
  let modelBytes = 0;
  try {
    modelBytes = statSync(config.modelPath).size;
  } catch {
    // reported by the model load below
  }
  const shape = defaultPoolShape(cpus, modelBytes);
  const workers = config.workers > 0 ? config.workers : shape.workers;
  const intraOpThreads =
    config.intraOpThreads > 0 ? config.intraOpThreads : config.workers > 0 ? defaultIntraOpThreads(cpus, workers) : shape.intraOpThreads;
  const memLimit = memoryLimit();
  const budgetBytes = config.maxInflightBytes > 0 ? config.maxInflightBytes : defaultInflightBudget(memLimit, modelBytes, workers);
  const budget = new MemoryBudget(budgetBytes, metrics.budgetHooks, createReclaimer());
  metrics.setBudgetLimit(budgetBytes);
  // forwards in flight are capped like queued requests: each holds a connection both ways, not a body
  const forwarder = new Forwarder(config.requestTimeoutMs, config.maxQueueSize, forwardTls(config, tls?.material));
  const pin = { modelName: config.modelName, modelVersion: config.modelVersion, routes: config.versionRoutes };
  const hot = {
    state,
    metrics,
    checkKey,
    maxBodyBytes: config.maxBodyBytes,
    bodyIdleTimeoutMs: config.bodyIdleTimeoutMs,
    budget,
    log,
    accessLog: new AccessLog(config.accessLog),
    forwarder,
    pin,
    kubeAuth,
  };

  const { server, metricsServer, port, metricsPort } = await listenHttp(config, hot, tls?.material);
  const pollers: MountedFilePoller[] = [];
  if (tls && config.tls) {
    const reloaded = (material: TlsMaterial) => forwarder.setTls(forwardTls(config, material));
    pollers.push(reloadTls(server as HttpsServer, config.tls, tls.contents, log, reloaded));
  }
  if (keyFile) pollers.push(reloadKeyFile(keyFile.keys, keyFile.content, log));
  const stopPollers = () => pollers.forEach((p) => p.stop());
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
    stopPollers();
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
    forwarder.close();
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
  log.info('listening', {
    host: config.host,
    port,
    model: config.modelName,
    version: config.modelVersion,
    apiKey: keyFile ? `required (${keyFile.keys.count} keys from ${config.apiKeyFile})` : config.apiKey !== undefined ? 'required' : 'off',
    tls: tls ? { ...tls.material.summary, mtls: tls.material.clientCa !== undefined } : 'off',
    metricsPort,
    maxInflightBytes: budgetBytes,
    memoryLimitBytes: memLimit ?? 'none',
    maxConnections: config.maxConnections,
    headersTimeoutMs: config.headersTimeoutMs,
    requestReceiveTimeoutMs: config.requestReceiveTimeoutMs,
    bodyIdleTimeoutMs: config.bodyIdleTimeoutMs,
    versionRoutes: Object.fromEntries(config.versionRoutes),
    accessLog: config.accessLog.mode === 'sampled' ? `1/${config.accessLog.every}` : config.accessLog.mode,
  });

  const fail = async (err: unknown) => {
    state.phase = 'failed';
    stopPollers();
    const message = `cannot serve model: ${errorMessage(err)}`;
    log.error(message, { modelPath: config.modelPath });
    await writeFile(config.terminationLogPath, `${message}\n`).catch(() => undefined); // not in Kubernetes
    server.close();
    server.closeAllConnections();
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    forwarder.close();
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
      const prepared = await prepareModelFile(config.modelPath);
      if (prepared.bytes)
        log.info('removed the ZipMap of a scikit-learn classifier: its probabilities are served as a tensor', {
          outputs: [...prepared.classLabels.keys()],
        });
      const runTimeoutMs = config.runTimeoutMs > 0 ? config.runTimeoutMs : config.requestTimeoutMs;
      const source = prepared.bytes ? { modelPath: config.modelPath, modelBytes: prepared.bytes } : { modelPath: config.modelPath };
      pool = new WorkerPool(workers, { ...source, intraOpThreads }, log, {
        runTimeoutMs,
        onWorkerLost: () => metrics.workerRestarted(),
      });
      const running = pool;
      const meta = await pool.start();
      const model = buildModelSpec(config.modelName, config.modelVersion, meta.inputs, meta.outputs, prepared.classLabels);
      // warm up every worker (all idle now, so each run lands on a different one)
      const warm: Promise<unknown>[] = [];
      // no run timeout here: a model slower than it would never become ready
      for (let i = 0; i < workers; i++) warm.push(pool.run(warmupFeeds(model), undefined, 0));
      const warmed = await Promise.allSettled(warm);
      const lost = warmed.find((r) => r.status === 'rejected' && r.reason instanceof WorkerLostError);
      if (lost) throw new ModelLoadError(`warm-up inference failed: ${errorMessage((lost as PromiseRejectedResult).reason)}`);
      const refused = warmed.find((r) => r.status === 'rejected');
      // zeros and empty strings are not a valid input of every model (a one-hot encoder refuses a
      // category it has not seen): the model loaded and runs, so it serves; a crash above does not
      if (refused) {
        log.warn('the warm-up run was refused by the model (its inputs were zeros and empty strings); serving anyway', {
          error: errorMessage((refused as PromiseRejectedResult).reason),
        });
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
