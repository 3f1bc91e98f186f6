import { parseConfig, usage } from './config.ts';
import { ConfigError } from './errors.ts';
import { Controller } from './controller/controller.ts';
import { startOpsServer } from './http/server.ts';
import { KubeClients, loadKubeConfig } from './kube/clients.ts';
import { LeaderElector } from './leader/lease.ts';
import { createLogger } from './log.ts';
import { OperatorMetrics } from './metrics.ts';

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
        if (elector && !elector.isLeader) return { ok: true, detail: 'standing by for the leader Lease' };
        if (!controller.synced) return { ok: false, detail: 'caches not synced yet' };
        if (!controller.healthy) return { ok: false, detail: 'a watch is restarting' };
        return { ok: true, detail: 'caches synced' };
      },
    },
    metrics.registry,
  );
  log.info('ops endpoints listening', { port: ops.port, paths: ['/healthz', '/readyz', '/metrics'] });

  let exitCode = 0;
  let shuttingDown = false;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));
  const shutdown = async (reason: string, code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    exitCode = code;
    log.info('shutting down', { reason });
    await controller.stop();
    await elector?.stop();
    metrics.isLeader.set(0);
    await new Promise<void>((r) => ops.close(() => r()));
    resolveDone();
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));

  if (elector) {
    elector.run({
      onStartedLeading: async () => {
        metrics.isLeader.set(1);
        await controller.start();
      },
      // A replica that lost the Lease may hold stale state; exit and let Kubernetes restart it clean.
      onStoppedLeading: () => shutdown('lost leadership', 1),
    });
  } else {
    metrics.isLeader.set(1);
    await controller.start();
  }
  await done;
  log.info('stopped');
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
