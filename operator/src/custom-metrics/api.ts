/**
 * The custom.metrics.k8s.io/v1beta2 wire format (pure): which request a path asks for, the
 * discovery document, and MetricValueList answers, as k8s.io/metrics/pkg/apis/custom_metrics has them.
 */
import { LABEL_NAME, MANAGED_BY_SELECTOR, RUNTIME_APP_NAME } from '../api/labels.ts';
import { CUSTOM_METRIC, CUSTOM_METRICS_GROUP, CUSTOM_METRICS_VERSION, type CustomMetricName } from './names.ts';

export const GROUP_VERSION = `${CUSTOM_METRICS_GROUP}/${CUSTOM_METRICS_VERSION}`;
export const BASE_PATH = `/apis/${GROUP_VERSION}`;

const METRIC_NAMES: ReadonlySet<string> = new Set(Object.values(CUSTOM_METRIC));
/** DNS-1123 label (a namespace) and DNS-1123 subdomain (a pod name). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const POD_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** An HPA sends its scale target's selector, a few labels; anything longer is not one. */
export const MAX_SELECTOR_CHARS = 4096;

export type ParsedRequest =
  | { kind: 'discovery' }
  | { kind: 'metric'; namespace: string; pod: string | undefined; metric: CustomMetricName; labelSelector: string }
  | { kind: 'error'; status: 400 | 404; message: string };

/** Linear time: the regex /\/+$/ backtracks on a long run of slashes that is not at the end. */
function withoutTrailingSlashes(path: string): string {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(0, end);
}

/** `url`: the request's path and query, as the API server forwards it. */
export function parseRequest(url: string): ParsedRequest {
  const q = url.indexOf('?');
  const path = withoutTrailingSlashes(q === -1 ? url : url.slice(0, q));
  const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  if (path === BASE_PATH) return { kind: 'discovery' };
  if (!path.startsWith(`${BASE_PATH}/`)) return { kind: 'error', status: 404, message: `not served here: ${truncate(path)}` };
  // the API server forwards the path percent-encoded ("pods/%2A/...")
  const parts = path
    .slice(BASE_PATH.length + 1)
    .split('/')
    .map(decodeSegment);
  if (parts.length !== 5 || parts[0] !== 'namespaces' || parts[2] !== 'pods') {
    return {
      kind: 'error',
      status: 404,
      message: `only ${BASE_PATH}/namespaces/<namespace>/pods/<name or *>/<metric> is served (metrics: ${[...METRIC_NAMES].join(', ')})`,
    };
  }
  const [, namespace, , pod, metric] = parts as [string, string, string, string, string];
  if (!NAMESPACE.test(namespace)) return { kind: 'error', status: 400, message: `"${truncate(namespace)}" is not a namespace name` };
  if (pod !== '*' && !POD_NAME.test(pod)) return { kind: 'error', status: 400, message: `"${truncate(pod)}" is not a pod name` };
  if (!METRIC_NAMES.has(metric)) {
    return { kind: 'error', status: 404, message: `no metric "${truncate(metric)}" for pods; served: ${[...METRIC_NAMES].join(', ')}` };
  }
  const labelSelector = query.get('labelSelector') ?? '';
  if (labelSelector.length > MAX_SELECTOR_CHARS) {
    return { kind: 'error', status: 400, message: `labelSelector: longer than ${MAX_SELECTOR_CHARS} characters` };
  }
  return { kind: 'metric', namespace, pod: pod === '*' ? undefined : pod, metric: metric as CustomMetricName, labelSelector };
}

/**
 * The selector the pod LIST sends: the caller's, narrowed to the runtime's pods, so the API server
 * returns only those (not every pod of the namespace) whatever the caller asked for.
 */
export function runtimePodSelector(requested: string): string {
  return [requested, MANAGED_BY_SELECTOR, `${LABEL_NAME}=${RUNTIME_APP_NAME}`].filter((s) => s !== '').join(',');
}

/** The APIResourceList of the group version: one pods/<metric> resource per metric. */
export function discoveryDocument(): object {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: GROUP_VERSION,
    resources: [...METRIC_NAMES].map((m) => ({
      name: `pods/${m}`,
      singularName: '',
      namespaced: true,
      kind: 'MetricValueList',
      verbs: ['get'],
    })),
  };
}

export interface PodValue {
  namespace: string;
  name: string;
  value: number;
  windowSeconds: number;
  atMs: number;
}

export function metricValueList(metric: CustomMetricName, values: readonly PodValue[]): object {
  return {
    kind: 'MetricValueList',
    apiVersion: GROUP_VERSION,
    metadata: {},
    items: values.map((v) => ({
      describedObject: { kind: 'Pod', namespace: v.namespace, name: v.name, apiVersion: '/v1' },
      metric: { name: metric, selector: null },
      timestamp: new Date(v.atMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      windowSeconds: v.windowSeconds,
      value: milliQuantity(v.value),
    })),
  };
}

/** A non-negative number as a quantity in milli-units ("2500m"), what the HPA compares with its target. */
export function milliQuantity(n: number): string {
  return `${Math.max(0, Math.round(n * 1000))}m`;
}

/** A Kubernetes Status body, the form the API server passes on to the client. */
export function statusBody(code: number, message: string): object {
  const reason = (
    {
      400: 'BadRequest',
      401: 'Unauthorized',
      403: 'Forbidden',
      404: 'NotFound',
      405: 'MethodNotAllowed',
      503: 'ServiceUnavailable',
    } as Record<number, string>
  )[code];
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: reason ?? 'InternalError',
    code,
    error: message,
  };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // malformed escapes stay as they are and fail the name checks
  }
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
