/**
 * The contract between the operator and the runtime: what the operator writes into the pods it
 * renders (operator/src/render/) and what the runtime reads at start (runtime/src/config.ts).
 * Both sides import these names from here so neither can change one alone; the unit test
 * test/unit/contract-pod-config.test.ts renders pods with the operator and parses them with the
 * runtime's own parser. This module imports nothing, so it cannot form an import cycle, and the
 * operator never imports runtime internals to learn the contract.
 */

/** The runtime's subcommands, given as the container's first argument. */
export const COMMAND = { fetch: 'fetch', serve: 'serve' } as const;
export type RuntimeCommand = (typeof COMMAND)[keyof typeof COMMAND];

/** Container names in the rendered pod; the operator's failure signals find them by these names. */
export const CONTAINER = { fetch: 'fetch', serve: 'serve' } as const;

/** Environment variables the runtime reads (each also has a --flag of the same meaning). */
export const ENV = {
  // both commands
  logLevel: 'MODELSHIP_LOG_LEVEL',
  terminationLog: 'MODELSHIP_TERMINATION_LOG',
  modelPath: 'MODELSHIP_MODEL_PATH',
  modelSha256: 'MODELSHIP_MODEL_SHA256',
  // serve
  modelName: 'MODELSHIP_MODEL_NAME',
  modelVersion: 'MODELSHIP_MODEL_VERSION',
  host: 'MODELSHIP_HOST',
  port: 'MODELSHIP_PORT',
  workers: 'MODELSHIP_WORKERS',
  intraOpThreads: 'MODELSHIP_INTRA_OP_THREADS',
  maxBatchSize: 'MODELSHIP_MAX_BATCH_SIZE',
  maxBatchDelayUs: 'MODELSHIP_MAX_BATCH_DELAY_US',
  maxQueueSize: 'MODELSHIP_MAX_QUEUE_SIZE',
  requestTimeoutMs: 'MODELSHIP_REQUEST_TIMEOUT_MS',
  maxBodyBytes: 'MODELSHIP_MAX_BODY_BYTES',
  apiKey: 'MODELSHIP_API_KEY',
  maxInflightBytes: 'MODELSHIP_MAX_INFLIGHT_BYTES',
  maxConnections: 'MODELSHIP_MAX_CONNECTIONS',
  headersTimeoutMs: 'MODELSHIP_HEADERS_TIMEOUT_MS',
  requestReceiveTimeoutMs: 'MODELSHIP_REQUEST_RECEIVE_TIMEOUT_MS',
  bodyIdleTimeoutMs: 'MODELSHIP_BODY_IDLE_TIMEOUT_MS',
  runTimeoutMs: 'MODELSHIP_RUN_TIMEOUT_MS',
  metricsPort: 'MODELSHIP_METRICS_PORT',
  drainDelaySeconds: 'MODELSHIP_DRAIN_DELAY_SECONDS',
  shutdownTimeoutSeconds: 'MODELSHIP_SHUTDOWN_TIMEOUT_SECONDS',
  /** A/B pinning: where each version of the model is served (formatVersionRoutes / parseVersionRoutes) */
  versionRoutes: 'MODELSHIP_VERSION_ROUTES',
  /** one JSON line per inference request: ACCESS_LOG values (parseAccessLog) */
  accessLog: 'MODELSHIP_ACCESS_LOG',
  /** who may call: AUTH_MODE values; unset = apiKey when MODELSHIP_API_KEY is set, else none */
  authMode: 'MODELSHIP_AUTH_MODE',
  /** kubernetes mode: the audience callers' tokens must be issued for, and the ModelDeployment RBAC is asked about */
  authAudience: 'MODELSHIP_AUTH_AUDIENCE',
  authNamespace: 'MODELSHIP_AUTH_NAMESPACE',
  authResourceName: 'MODELSHIP_AUTH_RESOURCE_NAME',
  authCacheAllowSeconds: 'MODELSHIP_AUTH_CACHE_ALLOW_SECONDS',
  authCacheDenySeconds: 'MODELSHIP_AUTH_CACHE_DENY_SECONDS',
  authCacheMaxEntries: 'MODELSHIP_AUTH_CACHE_MAX_ENTRIES',
  authReviewTimeoutMs: 'MODELSHIP_AUTH_REVIEW_TIMEOUT_MS',
  /** kubernetes mode: the API server (default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT), the runtime's own token and the CA */
  kubeApiUrl: 'MODELSHIP_KUBE_API_URL',
  kubeTokenFile: 'MODELSHIP_KUBE_TOKEN_FILE',
  kubeCaFile: 'MODELSHIP_KUBE_CA_FILE',
  /** HTTPS on the inference port: PEM certificate chain and key, re-read when they change */
  tlsCertFile: 'MODELSHIP_TLS_CERT_FILE',
  tlsKeyFile: 'MODELSHIP_TLS_KEY_FILE',
  /** mTLS: PEM CA bundle client certificates must chain to (needs the TLS files) */
  tlsClientCaFile: 'MODELSHIP_TLS_CLIENT_CA_FILE',
  /** API keys, one per line, re-read when the file changes (a rotation lists the old and the new key) */
  apiKeyFile: 'MODELSHIP_API_KEY_FILE',
  // fetch
  modelUri: 'MODELSHIP_MODEL_URI',
  fetchTimeoutSeconds: 'MODELSHIP_FETCH_TIMEOUT_SECONDS',
  fetchRetries: 'MODELSHIP_FETCH_RETRIES',
  fetchBackoffMs: 'MODELSHIP_FETCH_BACKOFF_MS',
  fetchMaxBytes: 'MODELSHIP_FETCH_MAX_BYTES',
  pvcRoot: 'MODELSHIP_PVC_ROOT',
  /** oci://: path of a docker config file (the mounted kubernetes.io/dockerconfigjson Secret), never its content */
  registryAuthFile: 'MODELSHIP_REGISTRY_AUTH_FILE',
  /** oci://: "true" talks plain http to the registry (spec.model.plainHTTP) */
  ociPlainHttp: 'MODELSHIP_OCI_PLAIN_HTTP',
  /** s3://: the S3 API endpoint URL of an S3-compatible store (spec.model.s3.endpoint); unset = AWS */
  s3Endpoint: 'MODELSHIP_S3_ENDPOINT',
  /** s3://: the region (spec.model.s3.region); unset = AWS_REGION, else us-east-1 */
  s3Region: 'MODELSHIP_S3_REGION',
  /** s3://: "true"/"false" path-style addressing (spec.model.s3.forcePathStyle); unset = true with an endpoint */
  s3ForcePathStyle: 'MODELSHIP_S3_FORCE_PATH_STYLE',
  /** s3://: directory of the mounted credentials Secret (S3_CREDENTIAL_KEYS files); unset = the pod's identity */
  s3CredentialsDir: 'MODELSHIP_S3_CREDENTIALS_DIR',
} as const;

/**
 * ENV.authMode: none (open), apiKey (ENV.apiKey), kubernetes (callers' ServiceAccount tokens,
 * TokenReview + SubjectAccessReview on modeldeployments/predict).
 */
export const AUTH_MODE = { none: 'none', apiKey: 'apiKey', kubernetes: 'kubernetes' } as const;
export type AuthMode = (typeof AUTH_MODE)[keyof typeof AUTH_MODE];
/** kubernetes mode: the default audience of callers' tokens */
export const DEFAULT_AUTH_AUDIENCE = 'modelship.dev';
/** where Kubernetes mounts a pod's ServiceAccount token and the cluster CA */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Process exit codes of the runtime. */
export const EXIT_CODE = {
  ok: 0,
  failure: 1,
  badConfiguration: 2,
  /**
   * `serve` could not load, verify or warm up the model: the same file fails the same way on
   * every restart, so the operator rolls back on the first such exit instead of waiting for a
   * crash loop (operator/src/rollout/signals.ts).
   */
  modelLoadFailed: 3,
} as const;

/** The runtime's inference port (the image's MODELSHIP_PORT, the pod's `http` port). */
export const INFERENCE_PORT = 8080;
/** The port the operator has the runtime serve /metrics on, apart from inference (0 = on the inference port). */
export const DEFAULT_METRICS_PORT = 9090;

export const HTTP_PATH = {
  ready: '/v2/health/ready',
  live: '/v2/health/live',
  metrics: '/metrics',
} as const;

/**
 * The runtime's series that the operator's canary/experiment analysis reads (operator/src/analysis/)
 * and dashboards and alerts query, and the label that tells inference from metadata requests:
 * only kind="inference" is judged (a metadata call is not a prediction).
 */
export const RUNTIME_METRIC = {
  /** counter {model, version, kind, protocol, code} */
  requests: 'modelship_requests_total',
  /** histogram {model, version, kind, protocol}, answers with status 200 only */
  requestDuration: 'modelship_request_duration_seconds',
  /** gauge {model, version}: inference requests being handled */
  inflight: 'modelship_inflight_requests',
  /**
   * counter {model, version}: seconds of inference requests in flight, summed over requests (the
   * integral of `inflight` over time), so Δ/Δt between two reads is the exact mean concurrency of
   * that window (Little's law); the operator's concurrency autoscaling metric reads it.
   */
  inflightSeconds: 'modelship_inflight_seconds_total',
} as const;
export const REQUEST_KIND_LABEL = 'kind';
export const REQUEST_KIND = { inference: 'inference', metadata: 'metadata' } as const;
export type RequestKind = (typeof REQUEST_KIND)[keyof typeof REQUEST_KIND];

/**
 * ENV.accessLog: "off", "on" (every inference request) or "1/N" (every N-th, 2 <= N <= 1,000,000).
 * The default and its measured cost: runtime/README.md.
 */
export type AccessLogSetting = { mode: 'off' } | { mode: 'on' } | { mode: 'sampled'; every: number };
export const ACCESS_LOG_DEFAULT = 'off';
export const ACCESS_LOG_MAX_EVERY = 1_000_000;
/** The same values as a regular expression (for a CRD pattern). */
export const ACCESS_LOG_PATTERN = '^(off|on|1/([1-9][0-9]{0,5}|1000000))$';

export function parseAccessLog(text: string): AccessLogSetting | { error: string } {
  const v = text.trim();
  if (v === 'off') return { mode: 'off' };
  if (v === 'on') return { mode: 'on' };
  const m = /^1\/([1-9][0-9]{0,6})$/.exec(v);
  const every = m ? Number(m[1]) : NaN;
  if (every === 1) return { mode: 'on' };
  if (every >= 2 && every <= ACCESS_LOG_MAX_EVERY) return { mode: 'sampled', every };
  return { error: `"${shorten(v)}" is not off, on or 1/N (log one inference request in N, N from 1 to ${ACCESS_LOG_MAX_EVERY})` };
}

/** The pod's model volume: `fetch` writes MODEL_PATH, `serve` reads it. */
export const MODEL_DIR = '/models';
export const MODEL_PATH = `${MODEL_DIR}/model.onnx`;
/** pvc://<claim>/<path> is read from <PVC_ROOT>/<claim>/<path>; the operator mounts each claim there. */
export const PVC_ROOT = '/mnt/pvc';
/** Where the operator mounts spec.service.tls (a kubernetes.io/tls Secret: tls.crt, tls.key). */
export const TLS_DIR = '/etc/modelship/tls';
export const TLS_CERT_KEY = 'tls.crt';
export const TLS_KEY_KEY = 'tls.key';
/** Where the operator mounts spec.service.tls.clientCA (one key of a Secret or ConfigMap, as CLIENT_CA_FILE). */
export const CLIENT_CA_DIR = '/etc/modelship/client-ca';
export const CLIENT_CA_FILE = 'ca.crt';
/** Where the operator mounts spec.runtime.apiKeySecretRef's key (as API_KEY_FILE). */
export const API_KEY_DIR = '/etc/modelship/api-key';
export const API_KEY_FILE = 'keys';
/** How often the runtime looks at the mounted TLS and API key files for a change (ms). */
export const MOUNTED_FILE_POLL_MS = 1000;
/** spec.model.credentialsSecretRef is mounted read-only here, in the fetch init container only. */
export const MODEL_CREDENTIALS_DIR = '/var/run/modelship/model-credentials';
/** The key of a kubernetes.io/dockerconfigjson Secret (oci:// registry credentials). */
export const DOCKER_CONFIG_KEY = '.dockerconfigjson';
/** The keys of an s3:// credentials Secret (the AWS names; the session token is optional). */
export const S3_CREDENTIAL_KEYS = {
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  sessionToken: 'AWS_SESSION_TOKEN',
} as const;
/** Kubernetes' default terminationMessagePath: the runtime writes its failure message there. */
export const TERMINATION_LOG_PATH = '/dev/termination-log';

/**
 * Defaults both sides state: the runtime's when a variable is unset, the operator's when a
 * ModelDeployment (and the operator's own configuration) says nothing.
 *
 * maxBatchSize 32 with maxBatchDelayUs 0: batching only merges requests that are already queued
 * while a worker is busy, so an idle or lightly loaded model waits for nothing, and under load
 * one run serves many requests (BENCHMARKS.md: 20,269 vs 4,640 req/s on iris, 4.4x). A model
 * whose first dimension is not dynamic is detected at load and never batched, and a batch that
 * fails is retried request by request, so the default is safe for every model.
 */
export const DEFAULTS = {
  maxBatchSize: 32,
  maxBatchDelayUs: 0,
  drainDelaySeconds: 5,
  shutdownTimeoutSeconds: 25,
} as const;

/**
 * A/B version pinning. A request that names a version, by the header PIN_HEADER.version or by the
 * path /v2/models/<m>/versions/<v>/infer, is answered by exactly that version: the pod serves its
 * own version locally and forwards another one, once, to the base URL that ENV.versionRoutes gives
 * for it, adding PIN_HEADER.forwarded (a request that carries it is never forwarded again).
 * Header names are lowercase, as Node hands them over (HTTP header names are case-insensitive).
 */
export const PIN_HEADER = { version: 'modelship-version', forwarded: 'modelship-forwarded' } as const;

/** A model version as the CRD admits it (spec.model.version): letters, digits, '.', '_', '-', at most 63. */
export const VERSION_MAX_LENGTH = 63;
export const VERSION_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
export const isModelVersion = (v: string): boolean => v.length <= VERSION_MAX_LENGTH && VERSION_PATTERN.test(v);

/** At most this many versions in ENV.versionRoutes (one experiment: two; room for a canary beside it). */
export const MAX_VERSION_ROUTES = 8;
/** A base URL in ENV.versionRoutes is at most this long (a Service URL is about 100 characters). */
export const MAX_ROUTE_URL_LENGTH = 512;

/** One entry of ENV.versionRoutes: requests pinned to `version` are forwarded to `baseUrl`. */
export interface VersionRoute {
  version: string;
  /** http://<host>[:<port>], no path, query, fragment or credentials, e.g. http://iris-stable.ml.svc:80 */
  baseUrl: string;
}

/** The value of ENV.versionRoutes: "<version>=<base URL>,<version>=<base URL>" (the operator renders it). */
export function formatVersionRoutes(routes: readonly VersionRoute[]): string {
  return routes.map((r) => `${r.version}=${r.baseUrl}`).join(',');
}

export type ParsedVersionRoutes = { ok: true; routes: VersionRoute[] } | { ok: false; error: string };

/**
 * Reads ENV.versionRoutes; never throws. Empty (or only whitespace) = no routes. Each base URL must
 * be plain http to a host and port (in-cluster Service URLs): no path, query, fragment or userinfo,
 * so a route can only ever name where to connect. The base URL is returned in its canonical form
 * ("http://host:port", the port always given).
 */
export function parseVersionRoutes(text: string): ParsedVersionRoutes {
  const fail = (error: string): ParsedVersionRoutes => ({ ok: false, error });
  if (text.trim() === '') return { ok: true, routes: [] };
  const entries = text.split(',');
  if (entries.length > MAX_VERSION_ROUTES) return fail(`at most ${MAX_VERSION_ROUTES} routes, got ${entries.length}`);
  const routes: VersionRoute[] = [];
  for (const [i, raw] of entries.entries()) {
    const entry = raw.trim();
    const eq = entry.indexOf('=');
    if (eq === -1) return fail(`entry ${i + 1} "${shorten(entry)}" is not <version>=<base URL>`);
    const version = entry.slice(0, eq).trim();
    const url = entry.slice(eq + 1).trim();
    if (!isModelVersion(version)) {
      return fail(
        `entry ${i + 1}: "${shorten(version)}" is not a model version (1-${VERSION_MAX_LENGTH} letters, digits, '.', '_', '-', starting and ending with a letter or digit)`,
      );
    }
    if (routes.some((r) => r.version === version)) return fail(`version "${version}" is routed twice`);
    const baseUrl = canonicalBaseUrl(url);
    if (typeof baseUrl !== 'string') return fail(`entry ${i + 1} (version "${version}"): ${baseUrl.error}`);
    routes.push({ version, baseUrl });
  }
  return { ok: true, routes };
}

function canonicalBaseUrl(text: string): string | { error: string } {
  if (text.length > MAX_ROUTE_URL_LENGTH) return { error: `the base URL is longer than ${MAX_ROUTE_URL_LENGTH} characters` };
  const scheme = text.startsWith('https://') ? 'https' : text.startsWith('http://') ? 'http' : undefined;
  if (scheme === undefined) return { error: `the base URL "${shorten(text)}" must start with http:// or https://` };
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { error: `"${shorten(text)}" is not a URL` };
  }
  if (u.username !== '' || u.password !== '') return { error: 'the base URL must not carry credentials' };
  if (u.hostname === '') return { error: `the base URL "${shorten(text)}" has no host` };
  if ((u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '' || /[?#]/.test(text)) {
    return { error: `the base URL "${shorten(text)}" must be ${scheme}://<host>[:<port>], without a path, query or fragment` };
  }
  return `${scheme}://${u.hostname}:${u.port === '' ? (scheme === 'https' ? '443' : '80') : u.port}`;
}

const shorten = (s: string): string => (s.length > 80 ? `${s.slice(0, 80)}...` : s);
