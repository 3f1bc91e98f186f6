/**
 * Reads runtime pods' /metrics directly at the pod IP (the operator runs in the cluster network,
 * or in tests on the node's host), with a deadline per pod, a byte cap on the body and a bound on
 * pods read at once: a stalled or hostile pod costs at most the deadline and is left out.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { request } from 'undici';
import { CONTAINER, HTTP_PATH, INFERENCE_PORT } from '../../../contract/runtime-contract.ts';
import { readCapped } from '../http/bounded.ts';
import { parseLoadCounters, type LoadCounters } from './sample.ts';

export interface ScrapeLimits {
  timeoutMs: number;
  maxBodyBytes: number;
  concurrency: number;
}

export const SCRAPE_LIMITS: ScrapeLimits = { timeoutMs: 2_000, maxBodyBytes: 1024 * 1024, concurrency: 16 };

/** The runtime's metrics address in a pod: the serve container's `metrics` port, else its `http` port. */
export function metricsUrl(pod: V1Pod): string | undefined {
  const ip = pod.status?.podIP;
  if (!ip) return undefined;
  const serve = pod.spec?.containers.find((c) => c.name === CONTAINER.serve);
  const ports = serve?.ports ?? [];
  const port =
    ports.find((p) => p.name === 'metrics')?.containerPort ?? ports.find((p) => p.name === 'http')?.containerPort ?? INFERENCE_PORT;
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return `http://${host}:${port}${HTTP_PATH.metrics}`;
}

export type PodReading = { ok: true; counters: LoadCounters } | { ok: false; reason: string };

export async function readPod(url: string, limits: ScrapeLimits): Promise<PodReading> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), limits.timeoutMs);
  try {
    const res = await request(url, { method: 'GET', headers: { accept: 'text/plain' }, signal: abort.signal });
    const body = await readCapped(res.body, limits.maxBodyBytes, abort);
    if (!body) return { ok: false, reason: `metrics answer larger than ${limits.maxBodyBytes} bytes` };
    if (res.statusCode !== 200) return { ok: false, reason: `HTTP ${res.statusCode}` };
    const counters = parseLoadCounters(body.toString('utf8'));
    return counters ? { ok: true, counters } : { ok: false, reason: 'not the runtime metrics' };
  } catch (err) {
    return { ok: false, reason: abort.signal.aborted ? `no complete answer within ${limits.timeoutMs} ms` : (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * At most one read per key at a time: a caller asking for a key whose read is under way waits for
 * that read instead of starting another (HPAs whose selectors overlap, synced at the same moment).
 */
export class SharedReads {
  private readonly running = new Map<string, Promise<void>>();

  run(key: string, read: () => Promise<void>): Promise<void> {
    const existing = this.running.get(key);
    if (existing) return existing;
    const started = read().finally(() => this.running.delete(key));
    this.running.set(key, started);
    return started;
  }
}
