/**
 * Prometheus metrics (prom-client, own registry). Label sets are bound once so the hot path
 * only does an increment/observe.
 */
import client from 'prom-client';
import { REQUEST_KIND, RUNTIME_METRIC, type RequestKind } from '../../../contract/runtime-contract.ts';
import type { BudgetHooks } from '../execution/budget.ts';
import type { SchedulerHooks } from '../execution/scheduler.ts';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new client.Registry();
  private readonly requests: client.Counter<'model' | 'version' | 'kind' | 'protocol' | 'code'>;
  private readonly requestDuration: client.Histogram<'model' | 'version' | 'kind' | 'protocol'>;
  private readonly queueDuration: client.Histogram<'model' | 'version'>;
  private readonly computeDuration: client.Histogram<'model' | 'version'>;
  private readonly batchSize: client.Histogram<'model' | 'version'>;
  private readonly inflight: client.Gauge<'model' | 'version'>;
  private readonly queueDepthGauge: client.Gauge<'model' | 'version'>;
  private readonly ready: client.Gauge;
  private readonly budgetLimit: client.Gauge;
  private readonly workerRestarts: client.Counter;
  private readonly forwardedRequests: client.Counter<'model' | 'version' | 'to_version' | 'code'>;
  private readonly forwardedCache = new Map<string, client.Counter.Internal>();
  private readonly labels: { model: string; version: string };
  private readonly counterCache = new Map<string, client.Counter.Internal>();
  private readonly durationCache = new Map<string, client.Histogram.Internal<'model' | 'version' | 'kind' | 'protocol'>>();
  readonly hooks: SchedulerHooks;
  readonly budgetHooks: BudgetHooks;
  private inflightCount = 0;
  /** ∫ inflightCount dt up to inflightSince (ms·requests); see RUNTIME_METRIC.inflightSeconds */
  private inflightIntegralMs = 0;
  private inflightSince = performance.now();
  /** sampled at scrape time: readiness (phase and pool health) and live workers */
  readiness: () => boolean = () => false;
  liveWorkers: () => number = () => 0;

  constructor(model: string, version: string) {
    this.labels = { model, version };
    client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 5 });
    const r = [this.registry];
    // `kind` (inference | metadata) keeps metadata calls out of what the analysis judges (contract: RUNTIME_METRIC)
    this.requests = new client.Counter({
      name: RUNTIME_METRIC.requests,
      help: 'API requests by model, version, kind (inference or metadata), protocol and HTTP status code',
      labelNames: ['model', 'version', 'kind', 'protocol', 'code'],
      registers: r,
    });
    this.requestDuration = new client.Histogram({
      name: RUNTIME_METRIC.requestDuration,
      help: 'Latency of API requests answered 200, by kind (inference or metadata): admission to answer written',
      labelNames: ['model', 'version', 'kind', 'protocol'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.queueDuration = new client.Histogram({
      name: 'modelship_queue_duration_seconds',
      help: 'Time an inference request waited for a worker',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.computeDuration = new client.Histogram({
      name: 'modelship_compute_duration_seconds',
      help: 'onnxruntime run() time per executed batch',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.batchSize = new client.Histogram({
      name: 'modelship_batch_size',
      help: 'Rows per executed onnxruntime run',
      labelNames: ['model', 'version'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers: r,
    });
    const inflightCount = () => this.inflightCount;
    const labels = this.labels;
    this.inflight = new client.Gauge({
      name: RUNTIME_METRIC.inflight,
      help: 'Inference requests being handled',
      labelNames: ['model', 'version'],
      registers: r,
      // sampled at scrape time instead of on every request
      collect() {
        this.labels(labels).set(inflightCount());
      },
    });
    const inflightSeconds = () => this.inflightSecondsNow();
    new client.Counter({
      name: RUNTIME_METRIC.inflightSeconds,
      help: 'Seconds of inference requests in flight, summed over requests: its rate is the mean number in flight',
      labelNames: ['model', 'version'],
      registers: r,
      // a running integral: advanced on every begin/end, read (with the open interval) at scrape time
      collect() {
        this.reset();
        this.labels(labels).inc(inflightSeconds());
      },
    });
    this.queueDepthGauge = new client.Gauge({
      name: 'modelship_queue_depth',
      help: 'Inference requests waiting for a worker',
      labelNames: ['model', 'version'],
      registers: r,
    });
    const readiness = () => this.readiness();
    this.ready = new client.Gauge({
      name: 'modelship_ready',
      help: '1 when the model is loaded, warmed up, every inference worker is running and the server is not draining',
      registers: r,
      collect() {
        this.set(readiness() ? 1 : 0);
      },
    });
    const liveWorkers = () => this.liveWorkers();
    new client.Gauge({
      name: 'modelship_workers_live',
      help: 'Inference worker threads running (fewer than configured while some are being replaced)',
      registers: r,
      collect() {
        this.set(liveWorkers());
      },
    });
    const restarts = new client.Counter({
      name: 'modelship_worker_restarts_total',
      help: 'Inference workers replaced after a crash or a run that exceeded the run timeout',
      registers: r,
    });
    const budgetInUse = new client.Gauge({
      name: 'modelship_memory_budget_in_use_bytes',
      help: 'Request bytes in flight: bodies being read plus decoded tensors queued or running',
      registers: r,
    });
    this.budgetLimit = new client.Gauge({
      name: 'modelship_memory_budget_limit_bytes',
      help: 'Cap on request bytes in flight (--max-inflight-bytes); requests over it get 503',
      registers: r,
    });
    const budgetRejections = new client.Counter({
      name: 'modelship_memory_budget_rejections_total',
      help: 'Requests refused with 503 because the in-flight memory budget was full',
      registers: r,
    });
    const abandoned = new client.Counter({
      name: 'modelship_abandoned_requests_total',
      help: 'Queued inference requests dropped before running because their client went away',
      registers: r,
    });
    this.workerRestarts = restarts;
    // apart from modelship_requests_total and the latency histogram on purpose: those are what the
    // canary/experiment analysis reads per version, and the pod that answers a forwarded request counts it
    this.forwardedRequests = new client.Counter({
      name: 'modelship_forwarded_requests_total',
      help: 'Inference requests pinned to another version (modelship-version header or versioned path) and forwarded to it, by target version and HTTP status code',
      labelNames: ['model', 'version', 'to_version', 'code'],
      registers: r,
    });
    this.budgetHooks = {
      inUse: (bytes) => budgetInUse.set(bytes),
      rejected: () => budgetRejections.inc(),
    };
    const q = this.queueDuration.labels(this.labels);
    const c = this.computeDuration.labels(this.labels);
    const b = this.batchSize.labels(this.labels);
    const d = this.queueDepthGauge.labels(this.labels);
    this.hooks = {
      queueSeconds: (s) => q.observe(s),
      computeSeconds: (s) => c.observe(s),
      batchRows: (n) => b.observe(n),
      queueDepth: (n) => d.set(n),
      abandoned: () => abandoned.inc(),
    };
  }

  setBudgetLimit(bytes: number): void {
    this.budgetLimit.set(bytes);
  }

  workerRestarted(): void {
    this.workerRestarts.inc();
  }

  begin(): void {
    this.advanceInflightIntegral();
    this.inflightCount++;
  }

  private advanceInflightIntegral(): void {
    const now = performance.now();
    // never negative, so the counter cannot fall even if an end() comes without its begin()
    this.inflightIntegralMs += Math.max(0, this.inflightCount) * (now - this.inflightSince);
    this.inflightSince = now;
  }

  private inflightSecondsNow(): number {
    this.advanceInflightIntegral();
    return this.inflightIntegralMs / 1000;
  }

  /** An inference request was answered with `code` (`seconds`: its latency, for a 200). */
  end(protocol: string, code: number, seconds: number | undefined): void {
    this.advanceInflightIntegral();
    this.inflightCount--;
    this.count(REQUEST_KIND.inference, protocol, code, seconds);
  }

  /** A request of `kind` was answered with `code`; `seconds` is observed in the latency histogram. */
  count(kind: RequestKind, protocol: string, code: number, seconds?: number): void {
    const key = `${kind}|${protocol}|${code}`;
    let c = this.counterCache.get(key);
    if (!c) {
      c = this.requests.labels({ ...this.labels, kind, protocol, code: String(code) });
      this.counterCache.set(key, c);
    }
    c.inc();
    if (seconds === undefined) return;
    const hKey = `${kind}|${protocol}`;
    let h = this.durationCache.get(hKey);
    if (!h) {
      h = this.requestDuration.labels({ ...this.labels, kind, protocol });
      this.durationCache.set(hKey, h);
    }
    h.observe(seconds);
  }

  /** A request pinned to `toVersion` was forwarded and answered with `code` (or 499: the client left). */
  forwarded(toVersion: string, code: number): void {
    const key = `${toVersion}|${code}`;
    let c = this.forwardedCache.get(key);
    if (!c) {
      c = this.forwardedRequests.labels({ ...this.labels, to_version: toVersion, code: String(code) });
      this.forwardedCache.set(key, c);
    }
    c.inc();
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
