/** Starts the custom.metrics.k8s.io listener from the operator's configuration (the I/O edge). */
import { readFile } from 'node:fs/promises';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { CustomMetricsConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { BASE_PATH } from './api.ts';
import { CustomMetricsServer } from './server.ts';

export async function startCustomMetrics(cfg: CustomMetricsConfig, core: CoreV1Api, log: Logger): Promise<CustomMetricsServer> {
  const [certPem, keyPem] = await Promise.all(
    [cfg.certFile, cfg.keyFile].map((f) =>
      readFile(f, 'utf8').catch((err: Error) => {
        throw new ConfigError(`custom metrics: cannot read ${f}: ${err.message}`);
      }),
    ),
  );
  const server = new CustomMetricsServer({ core, log, certPem: certPem!, keyPem: keyPem!, bindAddress: cfg.bindAddress, port: cfg.port });
  const port = await server.start();
  log.info('custom metrics API listening', { port, path: BASE_PATH });
  return server;
}
