/**
 * Where a phase's time goes: the writes of one phase from the API server's audit log, by verb and
 * resource — count per ModelDeployment and the API server's own time per request (received →
 * response complete) — and the operator's reconcile durations (its histogram's buckets).
 */
import type { AuditEvent } from '@modelship/devcluster/audit';

export interface RequestStats {
  perModel: number;
  /** Server-side milliseconds: median and 90th percentile */
  p50Ms: number;
  p90Ms: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The audit events' writes by "verb resource[/subresource]" (apply = patch with the apply content type: counted as patch). */
export function requestBreakdown(
  events: readonly (AuditEvent & { stageTimestamp?: string })[],
  models: number,
): Record<string, RequestStats> {
  const byKind = new Map<string, number[]>();
  for (const e of events) {
    const r = e.objectRef;
    const key = `${e.verb} ${r?.resource ?? '?'}${r?.subresource ? `/${r.subresource}` : ''}`;
    const ms = e.stageTimestamp && e.requestReceivedTimestamp ? Date.parse(e.stageTimestamp) - Date.parse(e.requestReceivedTimestamp) : NaN;
    byKind.set(key, [...(byKind.get(key) ?? []), ms]);
  }
  const out: Record<string, RequestStats> = {};
  for (const [key, ms] of [...byKind].sort((a, b) => b[1].length - a[1].length)) {
    const sorted = ms.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
    out[key] = { perModel: round(ms.length / models, 2), p50Ms: quantile(sorted, 0.5), p90Ms: quantile(sorted, 0.9) };
  }
  return out;
}

export const formatBreakdown = (b: Record<string, RequestStats>) =>
  Object.entries(b)
    .map(([k, s]) => `${k} ${s.perModel}/MD (server p50 ${s.p50Ms} ms, p90 ${s.p90Ms} ms)`)
    .join('; ');

const BUCKETS = ['0.001', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];

/** Cumulative bucket counts of the operator's reconcile-duration histogram. */
export async function reconcileHistogram(metric: (name: string, labels?: Record<string, string>) => Promise<number>): Promise<number[]> {
  return Promise.all(BUCKETS.map((le) => metric('modelship_reconcile_duration_seconds_bucket', { le })));
}

/** The reconciles between two samples, per bucket ("≤ 10 ms: 120"), not cumulative. */
export function histogramBetween(before: number[], after: number[]): string {
  const delta = after.map((x, i) => x - (before[i] ?? 0));
  return delta
    .map((x, i) => x - (i > 0 ? delta[i - 1]! : 0))
    .map((n, i) => `≤${BUCKETS[i]}s: ${n}`)
    .filter((s) => !s.endsWith(': 0'))
    .join(', ');
}
