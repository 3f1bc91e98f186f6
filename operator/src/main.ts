// First: V8's memory settings must be in place before the rest is loaded.
import './v8-flags.ts';
import { getHeapStatistics } from 'node:v8';
import { parseConfig, usage } from './config.ts';
import { ConfigError } from './errors.ts';
import { Controller } from './controller/controller.ts';
import { startOpsServer } from './http/server.ts';
import { checkHeapLimit } from './heap-limit.ts';
import { KubeClients, loadKubeConfig } from './kube/clients.ts';
import { LeaderElector } from './leader/lease.ts';
import { createLogger } from './log.ts';
import { OperatorMetrics } from './metrics.ts';
import { Shutdown } from './shutdown.ts';
import { startCustomMetrics } from './custom-metrics/start.ts';

/** After losing the Lease, in-flight reconciles get this long before the process exits regardless. */
const LOST_LEADERSHIP_EXIT_MS = 2000;

async function main(): Promise<number> {
  let cfg;
  try {
    cfg = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`modelship-operator: ${err.message}\n\n${usage()}`);
      return 2;
    }
    throw err;
  }
  if (cfg === 'help') {
    process.stdout.write(usage());
    return 0;
  }

  const log = createLogger(cfg.logLevel, { identity: cfg.leaderElection.identity });
  const kc = loadKubeConfig(cfg.kubeconfig);
  const server = kc.getCurrentCluster()?.server;
  log.info('starting', {
    apiServer: server,
    namespace: cfg.watchNamespace ?? '(all)',
    leaderElection: cfg.leaderElection.enabled,
    runtimeImage: cfg.runtime.image,
  });
  const memory = checkHeapLimit({ constrainedBytes: process.constrainedMemory(), heapSizeLimitBytes: getHeapStatistics().heap_size_limit });
  if (memory.warning) log.warn(memory.warning, { containerLimitMiB: memory.containerLimitMiB, heapLimitMiB: memory.heapLimitMiB });
  else log.info('memory limits', { containerLimitMiB: memory.containerLimitMiB ?? '(none)', heapLimitMiB: memory.heapLimitMiB });

  const metrics = new OperatorMetrics();
  const clients = new KubeClients(kc, metrics);
  const controller = new Controller(kc, clients, cfg, log, metrics);
  const elector = cfg.leaderElection.enabled ? new LeaderElector(cfg.leaderElection, clients, log) : undefined;

  const ops = await startOpsServer(
    cfg.httpBindAddress,
    cfg.httpPort,
    {
      live: () => ({ ok: true, detail: 'alive' }),
      ready: () => {
        if (shutdown.inProgress) return { ok: false, detail: 'shutting down' };
        if (elector && !elector.isLeader) return { ok: true, detail: 'standing by for the leader Lease' };
        if (!controller.synced) return { ok: false, detail: 'caches not synced yet' };
        if (!controller.healthy) return { ok: false, detail: 'a watch is restarting' };
        return { ok: true, detail: 'caches synced' };
      },
    },
    metrics.registry,
  );
  log.info('ops endpoints listening', { port: ops.port, paths: ['/healthz', '/readyz', '/metrics'] });
  const customMetrics = cfg.customMetrics ? await startCustomMetrics(cfg.customMetrics, clients.core, log) : undefined;

  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (resolveDone = r));
  // Declared after the ops server (its steps close it); /readyz cannot run before this line.
  const shutdown = new Shutdown({
    log,
    exit: resolveDone,
    steps: async () => {
      metrics.isLeader.set(0);
      await controller.stop();
      await elector?.stop();
      await customMetrics?.stop();
      ops.closeAllConnections();
      await new Promise<void>((r) => ops.close(() => r()));
    },
  });
  process.on('SIGTERM', () => shutdown.signal('SIGTERM', cfg.shutdownTimeoutMs));
  process.on('SIGINT', () => shutdown.signal('SIGINT', cfg.shutdownTimeoutMs));

  if (elector) {
    elector.run({
      onStartedLeading: async () => {
        metrics.isLeader.set(1);
        try {
          await controller.start();
        } catch (err) {
          log.error('cannot start the controller', { error: (err as Error)?.message ?? String(err) });
          shutdown.begin('controller failed to start', 1, cfg.shutdownTimeoutMs);
        }
      },
      // A replica that lost the Lease may hold stale state and another replica may already be
      // acting: exit quickly (in-flight reconciles get a short grace) and restart clean.
      onStoppedLeading: (reason) => shutdown.begin(`lost leadership: ${reason}`, 1, LOST_LEADERSHIP_EXIT_MS),
    });
  } else {
    metrics.isLeader.set(1);
    await controller.start();
  }
  const exitCode = await done;
  log.info('stopped', { exitCode });
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `${JSON.stringify({ level: 'error', message: 'operator crashed', error: (err as Error)?.message ?? String(err) })}\n`,
    );
    process.exit(1);
  },
);
