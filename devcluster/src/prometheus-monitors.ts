// The scrape configuration prometheus-operator generates from a PodMonitor or ServiceMonitor
// endpoint, for a plain Prometheus (the tests have no prometheus-operator): the same target
// selection (pod labels, container port name, namespaces) and target labels (namespace, pod,
// container, job, endpoint), then the monitor's own relabelings and metricRelabelings. Pure: the
// e2e test derives its Prometheus configuration from the chart's rendered monitors with it, so
// the two cannot drift apart.

/** A prometheus-operator relabeling (camelCase, as in the CRDs). */
export interface MonitorRelabeling {
  sourceLabels?: string[];
  separator?: string;
  targetLabel?: string;
  regex?: string;
  modulus?: number;
  replacement?: string;
  action?: string;
}

/** The same in Prometheus's configuration (snake_case). */
export interface RelabelConfig {
  source_labels?: string[];
  separator?: string;
  target_label?: string;
  regex?: string;
  modulus?: number;
  replacement?: string;
  action?: string;
}

export interface PodMonitorSpec {
  selector: { matchLabels?: Record<string, string> };
  namespaceSelector?: { any?: boolean; matchNames?: string[] };
  podMetricsEndpoints: MonitorEndpoint[];
}

/** An endpoint of a PodMonitor (podMetricsEndpoints) or a ServiceMonitor (endpoints): the fields read here are the same. */
export interface MonitorEndpoint {
  port: string;
  path?: string;
  interval?: string;
  scrapeTimeout?: string;
  honorLabels?: boolean;
  relabelings?: MonitorRelabeling[];
  metricRelabelings?: MonitorRelabeling[];
}

/** Prometheus's label-name sanitizing of Kubernetes label keys in __meta_* names. */
export function sanitizeLabelName(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_');
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function toRelabelConfig(r: MonitorRelabeling): RelabelConfig {
  const out: RelabelConfig = {};
  if (r.sourceLabels) out.source_labels = [...r.sourceLabels];
  if (r.separator !== undefined) out.separator = r.separator;
  if (r.targetLabel !== undefined) out.target_label = r.targetLabel;
  if (r.regex !== undefined) out.regex = r.regex;
  if (r.modulus !== undefined) out.modulus = r.modulus;
  if (r.replacement !== undefined) out.replacement = r.replacement;
  if (r.action !== undefined) out.action = r.action.toLowerCase();
  return out;
}

/**
 * The scrape_config of endpoint `index` of PodMonitor `namespace/name` (prometheus-operator's
 * job_name and generated relabelings; sharding and the operator's own __tmp labels left out).
 * `sd` is merged into the kubernetes_sd_configs entry (e.g. kubeconfig_file).
 */
export function podMonitorScrapeConfig(
  pm: { metadata: { name: string; namespace?: string }; spec: PodMonitorSpec },
  index: number,
  sd: Record<string, unknown> = {},
): Record<string, unknown> {
  const ns = pm.metadata.namespace ?? 'default';
  const ep = pm.spec.podMetricsEndpoints[index];
  if (!ep) throw new Error(`PodMonitor ${ns}/${pm.metadata.name} has no endpoint ${index}`);
  const names = pm.spec.namespaceSelector?.any ? undefined : (pm.spec.namespaceSelector?.matchNames ?? [ns]);
  const relabel: RelabelConfig[] = [];
  for (const [k, v] of Object.entries(pm.spec.selector.matchLabels ?? {})) {
    const key = sanitizeLabelName(k);
    relabel.push({
      action: 'keep',
      source_labels: [`__meta_kubernetes_pod_label_${key}`, `__meta_kubernetes_pod_labelpresent_${key}`],
      regex: `(${escapeRegex(v)});true`,
    });
  }
  relabel.push(
    { action: 'keep', source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: escapeRegex(ep.port) },
    // prometheus-operator's filterRunning (on by default): finished pods are not scraped
    { action: 'drop', source_labels: ['__meta_kubernetes_pod_phase'], regex: '(Failed|Succeeded)' },
    { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
    { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
    { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
    { target_label: 'job', replacement: `${ns}/${pm.metadata.name}` },
    { target_label: 'endpoint', replacement: ep.port },
    ...(ep.relabelings ?? []).map(toRelabelConfig),
  );
  return {
    job_name: `podMonitor/${ns}/${pm.metadata.name}/${index}`,
    honor_labels: ep.honorLabels ?? false,
    kubernetes_sd_configs: [{ role: 'pod', ...(names ? { namespaces: { names } } : {}), ...sd }],
    ...(ep.interval ? { scrape_interval: ep.interval } : {}),
    ...(ep.scrapeTimeout ? { scrape_timeout: ep.scrapeTimeout } : {}),
    metrics_path: ep.path ?? '/metrics',
    relabel_configs: relabel,
    ...(ep.metricRelabelings?.length ? { metric_relabel_configs: ep.metricRelabelings.map(toRelabelConfig) } : {}),
  };
}

/**
 * A static scrape_config for a process the tests run outside the cluster (the operator on the
 * host), with a ServiceMonitor endpoint's label handling: honorLabels, relabelings (which set the
 * job) and metricRelabelings. The Service-based target selection has no host equivalent.
 */
export function staticScrapeConfig(jobName: string, target: string, ep: MonitorEndpoint): Record<string, unknown> {
  return {
    job_name: jobName,
    honor_labels: ep.honorLabels ?? false,
    ...(ep.interval ? { scrape_interval: ep.interval } : {}),
    ...(ep.scrapeTimeout ? { scrape_timeout: ep.scrapeTimeout } : {}),
    metrics_path: ep.path ?? '/metrics',
    static_configs: [{ targets: [target] }],
    relabel_configs: [{ target_label: 'endpoint', replacement: ep.port }, ...(ep.relabelings ?? []).map(toRelabelConfig)],
    ...(ep.metricRelabelings?.length ? { metric_relabel_configs: ep.metricRelabelings.map(toRelabelConfig) } : {}),
  };
}
