import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** controller-runtime's reconcile_time_seconds buckets. */
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5,
  4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

export type ReconcileResult = 'success' | 'error' | 'requeue' | 'requeue_after';

/** Reconcile metrics under controller-runtime's names (controller_runtime_*{controller}). */
export class ReconcileMetrics {
  private readonly labels: { controller: string };
  private readonly total: Counter<'controller' | 'result'>;
  private readonly errors: Counter<'controller'>;
  private readonly time: Histogram<'controller'>;
  private readonly active: Gauge<'controller'>;

  constructor(registry: Registry, controller: string, maxConcurrent: number) {
    this.labels = { controller };
    const registers = [registry];
    this.total = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'] as const,
      registers,
    });
    this.errors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'] as const,
      registers,
    });
    this.time = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'] as const,
      buckets: RECONCILE_BUCKETS,
      registers,
    });
    this.active = new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'] as const,
      registers,
    });
    new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: ['controller'] as const,
      registers,
    }).set(this.labels, maxConcurrent);
    // controller-runtime starts every series at 0 so rate() and absent() behave from the first scrape.
    for (const result of ['success', 'error', 'requeue', 'requeue_after'] as const) this.total.inc({ controller, result }, 0);
    this.errors.inc(this.labels, 0);
    this.active.set(this.labels, 0);
  }

  /** Marks a worker busy; the returned function records the outcome and frees it. */
  begin(): (result: ReconcileResult) => void {
    this.active.inc(this.labels);
    const end = this.time.startTimer(this.labels);
    return (result) => {
      end();
      this.active.dec(this.labels);
      this.total.inc({ ...this.labels, result });
      if (result === 'error') this.errors.inc(this.labels);
    };
  }
}
