import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { WorkQueueObserver } from './workqueue.ts';

/** client-go's workqueue latency buckets: 10ns to 1,000s, ×10 each. */
const QUEUE_BUCKETS = Array.from({ length: 12 }, (_, i) => 1e-8 * 10 ** i);

/** Seconds on a monotonic clock; injectable so tests can move time. */
export type Clock = () => number;
const monotonicSeconds: Clock = () => performance.now() / 1000;

/**
 * The work queue's metrics under client-go / controller-runtime names (workqueue_*{name}), so
 * dashboards made for controller-runtime operators apply unchanged. Depth, unfinished work and the
 * longest-running processor are computed when scraped, not kept up to date on every event.
 */
export class WorkQueueMetrics implements WorkQueueObserver {
  private readonly addedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private readonly labels: { name: string; controller: string };
  private readonly now: Clock;
  private readonly adds: Counter<'name' | 'controller'>;
  private readonly retries: Counter<'name' | 'controller'>;
  private readonly queueDuration: Histogram<'name' | 'controller'>;
  private readonly workDuration: Histogram<'name' | 'controller'>;

  constructor(registry: Registry, name: string, depth: () => number, now: Clock = monotonicSeconds) {
    this.labels = { name, controller: name };
    this.now = now;
    const labelNames = ['name', 'controller'] as const;
    const registers = [registry];
    const labels = this.labels;
    const running = () => this.runningSeconds();
    new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames,
      registers,
      collect() {
        this.set(labels, depth());
      },
    });
    this.adds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames, registers });
    this.retries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames,
      registers,
    });
    this.queueDuration = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames,
      buckets: QUEUE_BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames,
      buckets: QUEUE_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
      labelNames,
      registers,
      collect() {
        this.set(labels, running().total);
      },
    });
    new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running.',
      labelNames,
      registers,
      collect() {
        this.set(labels, running().longest);
      },
    });
    // Present from the start, as in client-go, so rate() has a zero to begin from.
    this.adds.inc(this.labels, 0);
    this.retries.inc(this.labels, 0);
  }

  added(key: string): void {
    this.adds.inc(this.labels);
    if (!this.addedAt.has(key)) this.addedAt.set(key, this.now());
  }

  started(key: string): void {
    const now = this.now();
    const at = this.addedAt.get(key);
    if (at !== undefined) this.queueDuration.observe(this.labels, now - at);
    this.addedAt.delete(key);
    this.startedAt.set(key, now);
  }

  finished(key: string): void {
    const at = this.startedAt.get(key);
    if (at !== undefined) this.workDuration.observe(this.labels, this.now() - at);
    this.startedAt.delete(key);
  }

  retried(): void {
    this.retries.inc(this.labels);
  }

  private runningSeconds(): { total: number; longest: number } {
    const now = this.now();
    let total = 0;
    let longest = 0;
    for (const at of this.startedAt.values()) {
      total += now - at;
      longest = Math.max(longest, now - at);
    }
    return { total, longest };
  }
}
