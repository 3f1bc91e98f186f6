import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The operator's Prometheus metrics, on their own registry. */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'modelship_reconcile_total',
    help: 'Reconciles by result (success, error, requeue).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'modelship_reconcile_duration_seconds',
    help: 'Time spent in one reconcile.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly apiWrites = new Counter({
    name: 'modelship_api_writes_total',
    help: 'Write requests the operator sent to the Kubernetes API, by verb and resource.',
    labelNames: ['verb', 'resource'] as const,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'modelship_workqueue_depth',
    help: 'Keys waiting in the work queue.',
    registers: [this.registry],
  });
  readonly rollouts = new Counter({
    name: 'modelship_rollouts_total',
    help: 'Rollouts by outcome (started, succeeded, failed).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly rollbacks = new Counter({
    name: 'modelship_rollbacks_total',
    help: 'Automatic rollbacks performed.',
    registers: [this.registry],
  });
  readonly informerRestarts = new Counter({
    name: 'modelship_informer_restarts_total',
    help: 'Informer restarts after errors, by informer.',
    labelNames: ['informer'] as const,
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: 'modelship_leader',
    help: '1 while this replica holds the leader Lease (or leader election is off).',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Every outcome's series from 0, so that the first failed rollout after a start is an
    // increase() the dashboard and alerts see, not a series that appears already at 1.
    for (const outcome of ['started', 'succeeded', 'failed'] as const) this.rollouts.inc({ outcome }, 0);
  }
}
