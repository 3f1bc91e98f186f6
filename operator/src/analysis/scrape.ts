/**
 * Reads each pod's runtime metrics through the API server's pod proxy
 * (GET /api/v1/namespaces/{ns}/pods/{name}:{port}/proxy/metrics; RBAC: get pods/proxy), so the operator
 * needs no route to pod IPs. Requests go through the kubeconfig's authentication and the one shared
 * undici dispatcher (kube/clients.ts shareConnections), so they reuse the API server connections.
 *
 * A pod's answer is untrusted: each pod gets a deadline for the whole exchange, its body is read up to a
 * byte cap and then dropped, and only a few pods are asked at once. A pod that fails is reported in
 * `failures` and left out of the snapshot; nothing is thrown.
 */
import { type KubeConfig, RequestContext, HttpMethod } from '@kubernetes/client-node';
import { request, type Dispatcher } from 'undici';
import { DEFAULT_METRICS_PORT, HTTP_PATH } from '../../../contract/runtime-contract.ts';
import { forEachBounded, readCapped } from '../http/bounded.ts';
import { parsePrometheusText } from './prometheus-text.ts';
import type { MetricsScraper, PodRef, PodSample, ScrapeResult } from './types.ts';

export interface PodProxyScraperOptions {
  /** Deadline per pod for the whole request, headers and body. */
  timeoutMs: number;
  /** A body larger than this is dropped and the pod reported. The runtime's is about 10 KiB. */
  maxBodyBytes: number;
  /** Pods asked at the same time. */
  concurrency: number;
  /** The runtime's metrics port in the pods (contract: DEFAULT_METRICS_PORT). */
  port: number;
  now: () => number;
}

export const SCRAPE_DEFAULTS: PodProxyScraperOptions = {
  timeoutMs: 2_000,
  maxBodyBytes: 1024 * 1024,
  concurrency: 8,
  port: DEFAULT_METRICS_PORT,
  now: Date.now,
};

/** What went wrong with one pod; the message is meant for logs and status. */
class PodScrapeError extends Error {
  override name = 'PodScrapeError';
}

export class PodProxyScraper implements MetricsScraper {
  private readonly kc: KubeConfig;
  private readonly opts: PodProxyScraperOptions;

  constructor(kc: KubeConfig, opts: Partial<PodProxyScraperOptions> = {}) {
    this.kc = kc;
    this.opts = { ...SCRAPE_DEFAULTS, ...opts };
  }

  async scrape(namespace: string, pods: readonly PodRef[]): Promise<ScrapeResult> {
    const takenAtMs = this.opts.now();
    const samples: Record<string, PodSample> = {};
    const failures: string[] = [];
    await forEachBounded(pods, this.opts.concurrency, async (pod) => {
      try {
        samples[pod.uid] = await this.scrapePod(namespace, pod.name);
      } catch (err) {
        failures.push(`pod ${pod.name}: ${err instanceof PodScrapeError ? err.message : describe(err)}`);
      }
    });
    return { snapshot: { takenAtMs, pods: samples }, failures };
  }

  private async scrapePod(namespace: string, name: string): Promise<PodSample> {
    const server = this.kc.getCurrentCluster()?.server;
    if (!server) throw new PodScrapeError('the kubeconfig has no current cluster');
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}:${this.opts.port}/proxy${HTTP_PATH.metrics}`;
    const ctx = new RequestContext(`${withoutTrailingSlashes(server)}${path}`, HttpMethod.GET);
    await this.kc.applySecurityAuthentication(ctx);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.opts.timeoutMs);
    try {
      const res = await request(ctx.getUrl(), {
        method: 'GET',
        headers: { ...ctx.getHeaders(), accept: 'text/plain' },
        dispatcher: ctx.getDispatcher() as Dispatcher | undefined,
        signal: abort.signal,
      });
      const body = await readCapped(res.body, this.opts.maxBodyBytes, abort);
      if (!body) throw new PodScrapeError(`the metrics answer is larger than ${this.opts.maxBodyBytes} bytes`);
      if (res.statusCode !== 200) {
        throw new PodScrapeError(`HTTP ${res.statusCode} from the pod proxy: ${statusMessage(body)}`);
      }
      const parsed = parsePrometheusText(body.toString('utf8'));
      if (!parsed.isRuntimeExposition) throw new PodScrapeError(`the answer on port ${this.opts.port} is not the runtime's metrics`);
      if (parsed.truncated) throw new PodScrapeError('the metrics text has too many lines');
      return parsed.sample;
    } catch (err) {
      if (abort.signal.aborted && !(err instanceof PodScrapeError)) {
        throw new PodScrapeError(`no complete answer within ${this.opts.timeoutMs} ms`);
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The message of a Kubernetes Status body, or the start of whatever the body is. */
function statusMessage(body: Buffer): string {
  const text = body.subarray(0, 2048).toString('utf8');
  try {
    const status = JSON.parse(text) as { message?: unknown };
    if (typeof status.message === 'string') return status.message.slice(0, 300);
  } catch {
    /* not a Status object */
  }
  return text.slice(0, 300).trim() || '(empty body)';
}

function describe(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return typeof e?.code === 'string' ? `${message} (${e.code})` : message;
}

function withoutTrailingSlashes(url: string): string {
  let end = url.length;
  while (end > 0 && url[end - 1] === '/') end--;
  return url.slice(0, end);
}
