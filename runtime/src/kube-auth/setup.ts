/** kubernetes mode, assembled from the configuration: the CA read once, the API client, the authorizer and its gate. */
import { readFileSync } from 'node:fs';
import type { KubeAuthConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { KubeAuthorizer } from './authorizer.ts';
import { kubeApi } from './kube-api.ts';
import { requestGate, type RequestGate } from './request-gate.ts';

/** review calls to the API server at once, and queued behind them (more: 503 at once) */
export const MAX_CONCURRENT_REVIEWS = 16;
export const MAX_WAITING_REVIEWS = 1024;

export function kubeAuthGate(config: KubeAuthConfig, log: Logger): { gate: RequestGate; authorizer: KubeAuthorizer } {
  let caPem: string;
  try {
    caPem = readFileSync(config.caFile, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the API server's CA ${config.caFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`${config.caFile} holds no PEM certificate`);
  const api = kubeApi({ url: config.apiUrl, tokenFile: config.tokenFile, caPem, timeoutMs: config.reviewTimeoutMs });
  const authorizer = new KubeAuthorizer(
    {
      audience: config.audience,
      namespace: config.namespace,
      name: config.name,
      allowTtlMs: config.allowTtlMs,
      denyTtlMs: config.denyTtlMs,
      maxEntries: config.maxEntries,
      maxConcurrentReviews: MAX_CONCURRENT_REVIEWS,
      maxWaitingReviews: MAX_WAITING_REVIEWS,
    },
    api,
    log,
  );
  log.info('kubernetes authorization on', {
    apiServer: config.apiUrl,
    audience: config.audience,
    resource: `modeldeployments/predict ${config.namespace}/${config.name}`,
  });
  return { gate: requestGate(authorizer), authorizer };
}
