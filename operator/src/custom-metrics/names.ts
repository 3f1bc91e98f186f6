/**
 * The custom.metrics.k8s.io API the operator serves (custom-metrics/server.ts) and the metric names
 * its HorizontalPodAutoscalers ask for (render/hpa-metrics.ts): one place, so neither side can
 * rename a metric alone.
 */
export const CUSTOM_METRICS_GROUP = 'custom.metrics.k8s.io';
/** The version served: the HPA controller's custom metrics client picks the group's preferred version from discovery. */
export const CUSTOM_METRICS_VERSION = 'v1beta2';

/** Per-pod metrics, averaged over the time between two reads of the same pod. */
export const CUSTOM_METRIC = {
  /** Mean inference requests in flight (Little's law: Δ in-flight seconds / Δt). */
  concurrency: 'modelship_concurrency',
  /** Inference requests answered per second (Δ requests / Δt). */
  rps: 'modelship_requests_per_second',
} as const;
export type CustomMetricName = (typeof CUSTOM_METRIC)[keyof typeof CUSTOM_METRIC];
