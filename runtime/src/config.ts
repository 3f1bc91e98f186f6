/**
 * Configuration: parsed once at start from flags and environment variables (a flag wins over
 * its variable), validated, then passed down. Nothing else reads process.env.
 */
import { parseArgs } from 'node:util';
import {
  ACCESS_LOG_DEFAULT,
  AUTH_MODE,
  COMMAND,
  DEFAULT_AUTH_AUDIENCE,
  DEFAULTS,
  ENV,
  INFERENCE_PORT,
  parseAccessLog,
  parseVersionRoutes,
  PVC_ROOT,
  SERVICE_ACCOUNT_DIR,
  TERMINATION_LOG_PATH,
  type AccessLogSetting,
  type RuntimeCommand,
} from '../../contract/runtime-contract.ts';
import { parseOciReference } from '../../contract/oci-reference.ts';
import { parseS3Uri } from '../../contract/s3-uri.ts';
import { ConfigError } from './errors.ts';

export interface ServeConfig {
  command: typeof COMMAND.serve;
  modelPath: string;
  modelName: string;
  modelVersion: string;
  /** optional: refuse to serve a file whose sha256 differs */
  modelSha256: string | undefined;
  host: string;
  port: number;
  /** worker threads, one onnxruntime session each; 0 = derived from the CPU limit */
  workers: number;
  /** onnxruntime intra-op threads per worker; 0 = derived from the CPU limit and the pool size */
  intraOpThreads: number;
  /** 1 disables dynamic batching */
  maxBatchSize: number;
  maxBatchDelayUs: number;
  /** queued requests beyond this get 429 */
  maxQueueSize: number;
  requestTimeoutMs: number;
  maxBodyBytes: number;
  /** undefined = no authentication; never empty (an empty configured key is a ConfigError) */
  apiKey: string | undefined;
  /** API keys, one per line, re-read on change (http/api-keys.ts); exclusive with apiKey */
  apiKeyFile: string | undefined;
  /** HTTPS on the inference port (http/tls.ts); undefined = plain HTTP */
  tls: { certFile: string; keyFile: string; clientCaFile: string | undefined } | undefined;
  /** cap on request bytes in flight (bodies being read + decoded tensors queued or running); 0 = derived (execution/memory.ts) */
  maxInflightBytes: number;
  /** open connections beyond this are closed at once */
  maxConnections: number;
  /** longest time to receive a request's headers */
  headersTimeoutMs: number;
  /** longest time to receive a whole request (headers and body) */
  requestReceiveTimeoutMs: number;
  /** longest pause between two chunks of a request body */
  bodyIdleTimeoutMs: number;
  /** one onnxruntime run longer than this gets its worker replaced; 0 = the request timeout */
  runTimeoutMs: number;
  /** serve GET /metrics on this port instead of the main one; undefined = main port */
  metricsPort: number | undefined;
  drainDelaySeconds: number;
  shutdownTimeoutSeconds: number;
  /**
   * A/B pinning: version -> base URL (http://host:port) a request pinned to that version is
   * forwarded to (http/pin.ts); empty = only the own version can be pinned
   */
  versionRoutes: ReadonlyMap<string, string>;
  /** one JSON line per inference request: off, every request, or every N-th (http/access-log.ts) */
  accessLog: AccessLogSetting;
  /** the model-load failure message is also written here (Kubernetes termination message) */
  terminationLogPath: string;
  logLevel: string;
  /** kubernetes mode (callers authorized by TokenReview + SubjectAccessReview); undefined = apiKey or none */
  kubeAuth: KubeAuthConfig | undefined;
}

export interface KubeAuthConfig {
  audience: string;
  namespace: string;
  name: string;
  allowTtlMs: number;
  denyTtlMs: number;
  maxEntries: number;
  reviewTimeoutMs: number;
  apiUrl: string;
  tokenFile: string;
  caFile: string;
}

export interface FetchConfig {
  command: typeof COMMAND.fetch;
  modelUri: string;
  modelPath: string;
  modelSha256: string | undefined;
  timeoutSeconds: number;
  retries: number;
  backoffMs: number;
  maxBytes: number;
  /** pvc://<claim>/<path> is read from <pvcRoot>/<claim>/<path> */
  pvcRoot: string;
  /** oci://: docker config file with the registry credentials (undefined: anonymous) */
  registryAuthFile: string | undefined;
  /** oci://: plain http to the registry instead of https */
  ociPlainHttp: boolean;
  /** s3:// */
  s3: S3Settings;
  terminationLogPath: string;
  logLevel: string;
}

export interface S3Settings {
  /** the S3 API endpoint of an S3-compatible store (undefined: AWS's own, from the region) */
  endpoint: string | undefined;
  /** undefined: the SDK's us-east-1 default in fetch/s3.ts */
  region: string | undefined;
  /** undefined: path style exactly when an endpoint is given */
  forcePathStyle: boolean | undefined;
  /** the mounted credentials Secret (undefined: the SDK's default chain, i.e. the pod's identity) */
  credentialsDir: string | undefined;
}

export type Config = ServeConfig | FetchConfig;

type Kind = 'string' | 'int' | 'secret';
interface Option {
  flag: string;
  env: string;
  kind: Kind;
  default?: string;
  min?: number;
  max?: number;
  required?: boolean;
  help: string;
}

const common: Option[] = [{ flag: 'log-level', env: ENV.logLevel, kind: 'string', default: 'info', help: 'error | warn | info | debug' }];

const terminationLog: Option = {
  flag: 'termination-log',
  env: ENV.terminationLog,
  kind: 'string',
  default: TERMINATION_LOG_PATH,
  help: 'failure message also written here (Kubernetes termination message)',
};

function kubeAuthOptions(): Option[] {
  const seconds = (flag: string, env: string, def: number, help: string): Option => ({
    flag,
    env,
    kind: 'int',
    default: String(def),
    min: 0,
    max: 300,
    help,
  });
  return [
    {
      flag: 'auth-mode',
      env: ENV.authMode,
      kind: 'string',
      help: 'none | apiKey | kubernetes (unset: apiKey when --api-key is set, else none)',
    },
    {
      flag: 'auth-audience',
      env: ENV.authAudience,
      kind: 'string',
      default: DEFAULT_AUTH_AUDIENCE,
      help: "kubernetes mode: the audience callers' tokens must be issued for",
    },
    { flag: 'auth-namespace', env: ENV.authNamespace, kind: 'string', help: "kubernetes mode: the ModelDeployment's namespace (required)" },
    {
      flag: 'auth-resource-name',
      env: ENV.authResourceName,
      kind: 'string',
      help: "kubernetes mode: the ModelDeployment's name (required)",
    },
    seconds(
      'auth-cache-allow-seconds',
      ENV.authCacheAllowSeconds,
      10,
      "kubernetes mode: how long an allowed caller is remembered (never past its token's expiry)",
    ),
    seconds('auth-cache-deny-seconds', ENV.authCacheDenySeconds, 5, 'kubernetes mode: how long a refused token is remembered'),
    {
      flag: 'auth-cache-max-entries',
      env: ENV.authCacheMaxEntries,
      kind: 'int',
      default: '10000',
      min: 1,
      max: 1_000_000,
      help: 'kubernetes mode: decisions remembered at most (least recently used dropped first)',
    },
    {
      flag: 'auth-review-timeout-ms',
      env: ENV.authReviewTimeoutMs,
      kind: 'int',
      default: '5000',
      min: 100,
      max: 60_000,
      help: 'kubernetes mode: longest wait for the API server; then 503 (fail closed)',
    },
    {
      flag: 'kube-api-url',
      env: ENV.kubeApiUrl,
      kind: 'string',
      help: 'kubernetes mode: https://host:port (unset: from KUBERNETES_SERVICE_HOST/PORT)',
    },
    {
      flag: 'kube-token-file',
      env: ENV.kubeTokenFile,
      kind: 'string',
      default: `${SERVICE_ACCOUNT_DIR}/token`,
      help: "kubernetes mode: the runtime's own token (re-read per review)",
    },
    {
      flag: 'kube-ca-file',
      env: ENV.kubeCaFile,
      kind: 'string',
      default: `${SERVICE_ACCOUNT_DIR}/ca.crt`,
      help: "kubernetes mode: the API server's CA",
    },
  ];
}

/** The option an API key came from (for messages), or undefined without one. */
function keySource(v: Map<string, string | undefined>, key: string | undefined): string | undefined {
  if (key !== undefined) return `--api-key (${ENV.apiKey})`;
  if (v.get('api-key-file') !== undefined) return `--api-key-file (${ENV.apiKeyFile})`;
  return undefined;
}

/**
 * The kubernetes-mode settings, or undefined in the other modes; contradictory settings (a key
 * with kubernetes mode, apiKey mode without a key) are ConfigErrors. `key`: where a key came from.
 */

export function kubeAuthConfig(
  v: Map<string, string | undefined>,
  i: (flag: string) => number,
  key: string | undefined,
  env: NodeJS.ProcessEnv,
): KubeAuthConfig | undefined {
  const mode = v.get('auth-mode')?.trim() ?? '';
  const modes = Object.values(AUTH_MODE) as string[];
  if (mode !== '' && !modes.includes(mode))
    throw new ConfigError(`--auth-mode (${ENV.authMode}) must be one of ${modes.join(', ')}, got "${mode}"`);
  if (mode === AUTH_MODE.apiKey && key === undefined)
    throw new ConfigError(`--auth-mode apiKey needs --api-key (${ENV.apiKey}) or --api-key-file (${ENV.apiKeyFile})`);
  if (mode === AUTH_MODE.none && key !== undefined) throw new ConfigError(`--auth-mode none contradicts ${key}: unset one of them`);
  if (mode !== AUTH_MODE.kubernetes) return undefined;
  if (key !== undefined) throw new ConfigError(`--auth-mode kubernetes contradicts ${key}: unset the key`);
  const required = (flag: string, name: string): string => {
    const value = v.get(flag)?.trim() ?? '';
    if (value === '') throw new ConfigError(`--auth-mode kubernetes needs --${flag} (${name})`);
    return value;
  };
  let apiUrl = v.get('kube-api-url')?.trim() ?? '';
  if (apiUrl === '') {
    const host = env['KUBERNETES_SERVICE_HOST']?.trim() ?? '';
    const port = env['KUBERNETES_SERVICE_PORT']?.trim() || '443';
    if (host === '')
      throw new ConfigError(
        `--auth-mode kubernetes needs --kube-api-url (${ENV.kubeApiUrl}) outside a pod (KUBERNETES_SERVICE_HOST is not set)`,
      );
    apiUrl = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  let parsed: URL;
  try {
    parsed = new URL(apiUrl);
  } catch {
    throw new ConfigError(`--kube-api-url (${ENV.kubeApiUrl}) "${apiUrl}" is not a URL`);
  }
  if (parsed.protocol !== 'https:') throw new ConfigError(`--kube-api-url (${ENV.kubeApiUrl}) must be https://, got "${apiUrl}"`);
  return {
    audience: required('auth-audience', ENV.authAudience),
    namespace: required('auth-namespace', ENV.authNamespace),
    name: required('auth-resource-name', ENV.authResourceName),
    allowTtlMs: i('auth-cache-allow-seconds') * 1000,
    denyTtlMs: i('auth-cache-deny-seconds') * 1000,
    maxEntries: i('auth-cache-max-entries'),
    reviewTimeoutMs: i('auth-review-timeout-ms'),
    apiUrl: parsed.origin,
    tokenFile: required('kube-token-file', ENV.kubeTokenFile),
    caFile: required('kube-ca-file', ENV.kubeCaFile),
  };
}

export const serveOptions: Option[] = [
  { flag: 'model-path', env: ENV.modelPath, kind: 'string', required: true, help: 'ONNX file to serve' },
  { flag: 'model-name', env: ENV.modelName, kind: 'string', default: 'model', help: 'name in the URLs' },
  {
    flag: 'model-version',
    env: ENV.modelVersion,
    kind: 'string',
    default: '1',
    help: 'version reported and accepted in /versions/{v}',
  },
  { flag: 'model-sha256', env: ENV.modelSha256, kind: 'string', help: 'refuse to serve a file with another sha256' },
  { flag: 'host', env: ENV.host, kind: 'string', default: '0.0.0.0', help: 'listen address' },
  {
    flag: 'port',
    env: ENV.port,
    kind: 'int',
    default: String(INFERENCE_PORT),
    min: 0,
    max: 65535,
    help: 'listen port (0 = any free port)',
  },
  {
    flag: 'workers',
    env: ENV.workers,
    kind: 'int',
    default: '0',
    min: 0,
    max: 256,
    help: 'inference worker threads; 0 = CPU limit - 1 (at least 1)',
  },
  {
    flag: 'intra-op-threads',
    env: ENV.intraOpThreads,
    kind: 'int',
    default: '0',
    min: 0,
    max: 256,
    help: 'onnxruntime threads per worker; 0 = (CPU limit - 1) / workers (at least 1)',
  },
  {
    flag: 'max-batch-size',
    env: ENV.maxBatchSize,
    kind: 'int',
    default: String(DEFAULTS.maxBatchSize),
    min: 1,
    max: 65536,
    help: 'rows per batched run; 1 = batching off',
  },
  {
    flag: 'max-batch-delay-us',
    env: ENV.maxBatchDelayUs,
    kind: 'int',
    default: String(DEFAULTS.maxBatchDelayUs),
    min: 0,
    max: 10_000_000,
    help: 'longest wait for a batch to fill (0 = batch only what is queued)',
  },
  {
    flag: 'max-queue-size',
    env: ENV.maxQueueSize,
    kind: 'int',
    default: '1024',
    min: 1,
    max: 1_000_000,
    help: 'queued requests before 429',
  },
  {
    flag: 'request-timeout-ms',
    env: ENV.requestTimeoutMs,
    kind: 'int',
    default: '30000',
    min: 1,
    max: 3_600_000,
    help: 'per-request deadline (queue + compute), 504 after',
  },
  {
    flag: 'max-body-bytes',
    env: ENV.maxBodyBytes,
    kind: 'int',
    default: String(16 * 1024 * 1024),
    min: 1024,
    max: 2 ** 31 - 1,
    help: 'request body limit, 413 above',
  },
  {
    flag: 'api-key',
    env: ENV.apiKey,
    kind: 'secret',
    help: 'require this key (Authorization: Bearer or x-api-key); prefer the env var; set but empty is an error',
  },
  {
    flag: 'api-key-file',
    env: ENV.apiKeyFile,
    kind: 'string',
    help: 'require one of the keys in this file (one per line), re-read when it changes; not with --api-key',
  },
  {
    flag: 'tls-cert-file',
    env: ENV.tlsCertFile,
    kind: 'string',
    help: 'serve HTTPS with this PEM certificate chain (with --tls-key-file); re-read when it changes',
  },
  { flag: 'tls-key-file', env: ENV.tlsKeyFile, kind: 'string', help: 'the PEM private key of --tls-cert-file' },
  {
    flag: 'tls-client-ca-file',
    env: ENV.tlsClientCaFile,
    kind: 'string',
    help: 'mTLS: only clients with a certificate from a CA in this PEM bundle are served (health routes excepted)',
  },
  {
    flag: 'max-inflight-bytes',
    env: ENV.maxInflightBytes,
    kind: 'int',
    default: '0',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    help: 'request bytes in flight (bodies + decoded tensors), 503 above; 0 = derived from the container memory limit (runtime/README.md)',
  },
  {
    flag: 'max-connections',
    env: ENV.maxConnections,
    kind: 'int',
    default: '1024',
    min: 1,
    max: 1_000_000,
    help: 'open connections; more are closed at once',
  },
  {
    flag: 'headers-timeout-ms',
    env: ENV.headersTimeoutMs,
    kind: 'int',
    default: '10000',
    min: 100,
    max: 3_600_000,
    help: 'longest time to receive request headers (slow clients get 408 and are disconnected)',
  },
  {
    flag: 'request-receive-timeout-ms',
    env: ENV.requestReceiveTimeoutMs,
    kind: 'int',
    default: '60000',
    min: 100,
    max: 3_600_000,
    help: 'longest time to receive a whole request, headers and body',
  },
  {
    flag: 'body-idle-timeout-ms',
    env: ENV.bodyIdleTimeoutMs,
    kind: 'int',
    default: '10000',
    min: 100,
    max: 3_600_000,
    help: 'longest pause between two chunks of a request body',
  },
  {
    flag: 'run-timeout-ms',
    env: ENV.runTimeoutMs,
    kind: 'int',
    default: '0',
    min: 0,
    max: 3_600_000,
    help: 'a longer onnxruntime run gets its worker replaced (504); 0 = --request-timeout-ms',
  },
  {
    flag: 'metrics-port',
    env: ENV.metricsPort,
    kind: 'int',
    min: 0,
    max: 65535,
    help: 'serve /metrics on this port only (unset = on the main port)',
  },
  {
    flag: 'drain-delay-seconds',
    env: ENV.drainDelaySeconds,
    kind: 'int',
    default: String(DEFAULTS.drainDelaySeconds),
    min: 0,
    max: 3600,
    help: 'after SIGTERM: not ready but still serving for this long',
  },
  {
    flag: 'shutdown-timeout-seconds',
    env: ENV.shutdownTimeoutSeconds,
    kind: 'int',
    default: String(DEFAULTS.shutdownTimeoutSeconds),
    min: 1,
    max: 3600,
    help: 'after the drain delay: longest wait for in-flight requests',
  },
  {
    flag: 'version-routes',
    env: ENV.versionRoutes,
    kind: 'string',
    help: 'A/B pinning: "<version>=http://<host>:<port>,..."; a request pinned to a listed version other than its own is forwarded there once',
  },
  {
    flag: 'access-log',
    env: ENV.accessLog,
    kind: 'string',
    default: ACCESS_LOG_DEFAULT,
    help: 'one JSON line per inference request: off | on | 1/N (every N-th request)',
  },
  ...kubeAuthOptions(),
  terminationLog,
  ...common,
];

export const fetchOptions: Option[] = [
  {
    flag: 'model-uri',
    env: ENV.modelUri,
    kind: 'string',
    required: true,
    help: 'http(s)://, file://, pvc://<claim>/<path>, oci://<registry>/<repository>(:<tag>|@sha256:<digest>) or s3://<bucket>/<key>',
  },
  { flag: 'model-path', env: ENV.modelPath, kind: 'string', required: true, help: 'destination file (written atomically)' },
  { flag: 'model-sha256', env: ENV.modelSha256, kind: 'string', help: 'expected sha256 (64 hex)' },
  { flag: 'timeout-seconds', env: ENV.fetchTimeoutSeconds, kind: 'int', default: '300', min: 1, max: 86400, help: 'per attempt' },
  {
    flag: 'retries',
    env: ENV.fetchRetries,
    kind: 'int',
    default: '3',
    min: 0,
    max: 100,
    help: 'extra attempts after a retryable failure',
  },
  {
    flag: 'backoff-ms',
    env: ENV.fetchBackoffMs,
    kind: 'int',
    default: '500',
    min: 0,
    max: 600_000,
    help: 'first retry delay, doubled each time',
  },
  {
    flag: 'max-bytes',
    env: ENV.fetchMaxBytes,
    kind: 'int',
    default: String(2 * 1024 ** 3),
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    help: 'size limit',
  },
  { flag: 'pvc-root', env: ENV.pvcRoot, kind: 'string', default: PVC_ROOT, help: 'where pvc://<claim>/ is mounted' },
  {
    flag: 'registry-auth-file',
    env: ENV.registryAuthFile,
    kind: 'string',
    help: 'oci://: docker config.json with the registry credentials (default: anonymous)',
  },
  { flag: 'oci-plain-http', env: ENV.ociPlainHttp, kind: 'string', default: 'false', help: 'oci://: true = plain http to the registry' },
  { flag: 's3-endpoint', env: ENV.s3Endpoint, kind: 'string', help: 's3://: endpoint URL of an S3-compatible store (default: AWS)' },
  { flag: 's3-region', env: ENV.s3Region, kind: 'string', help: 's3://: region (default: AWS_REGION, else us-east-1)' },
  {
    flag: 's3-force-path-style',
    env: ENV.s3ForcePathStyle,
    kind: 'string',
    help: 's3://: true = path-style addressing (default: true with --s3-endpoint)',
  },
  {
    flag: 's3-credentials-dir',
    env: ENV.s3CredentialsDir,
    kind: 'string',
    help: 's3://: directory with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY files (default: the SDK chain)',
  },
  terminationLog,
  ...common,
];

function readOptions(options: Option[], args: string[], env: NodeJS.ProcessEnv): Map<string, string | undefined> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: Object.fromEntries(options.map((o) => [o.flag, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const values = new Map<string, string | undefined>();
  for (const o of options) {
    const fromFlag = parsed.values[o.flag];
    const raw = typeof fromFlag === 'string' ? fromFlag : env[o.env];
    // a secret that is set but empty must not read as "not set" (an empty key would turn auth off)
    const value = raw === undefined || (raw === '' && o.kind !== 'secret') ? o.default : raw;
    if (value === undefined && o.required) throw new ConfigError(`--${o.flag} (or ${o.env}) is required`);
    values.set(o.flag, value);
  }
  return values;
}

function int(values: Map<string, string | undefined>, options: Option[], flag: string): number {
  const o = options.find((x) => x.flag === flag);
  const raw = values.get(flag);
  if (!o || raw === undefined) throw new ConfigError(`--${flag} is required`);
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`--${flag} (${o.env}) must be a non-negative integer, got "${raw}"`);
  const n = Number(raw.trim());
  if (o.min !== undefined && n < o.min) throw new ConfigError(`--${flag} (${o.env}) must be >= ${o.min}, got ${n}`);
  if (o.max !== undefined && n > o.max) throw new ConfigError(`--${flag} (${o.env}) must be <= ${o.max}, got ${n}`);
  return n;
}

function sha256(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(v)) throw new ConfigError(`--${flag} (${ENV.modelSha256}) must be 64 hex characters`);
  return v;
}

function optionalInt(values: Map<string, string | undefined>, options: Option[], flag: string): number | undefined {
  return values.get(flag) === undefined ? undefined : int(values, options, flag);
}

/**
 * The API key as configured: surrounding whitespace is dropped (a Secret made with
 * `kubectl create secret --from-file` ends in a newline, and HTTP strips whitespace around a
 * header value, so a key with it could never match); set but empty is an error, never "auth off".
 */
export function apiKey(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const key = raw.trim();
  if (key === '')
    throw new ConfigError(`--api-key (${ENV.apiKey}) is set but empty: give a key, or unset the variable to serve without authentication`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(key))
    throw new ConfigError(`--api-key (${ENV.apiKey}) contains control characters, which no HTTP header can carry`);
  return key;
}

/** The TLS files: both of the pair or neither; a client CA only with them. */
export function tlsFiles(cert: string | undefined, key: string | undefined, clientCa: string | undefined): ServeConfig['tls'] {
  if (cert === undefined && key === undefined) {
    if (clientCa !== undefined)
      throw new ConfigError(
        `--tls-client-ca-file (${ENV.tlsClientCaFile}) needs --tls-cert-file and --tls-key-file: mTLS is part of HTTPS`,
      );
    return undefined;
  }
  if (cert === undefined || key === undefined)
    throw new ConfigError(
      `--tls-cert-file (${ENV.tlsCertFile}) and --tls-key-file (${ENV.tlsKeyFile}) go together: give both for HTTPS, or neither`,
    );
  return { certFile: cert, keyFile: key, clientCaFile: clientCa };
}

/** ENV.versionRoutes as a map, or a ConfigError naming the variable and the bad entry. */
export function versionRoutes(raw: string | undefined): ReadonlyMap<string, string> {
  const parsed = parseVersionRoutes(raw ?? '');
  if (!parsed.ok) throw new ConfigError(`--version-routes (${ENV.versionRoutes}): ${parsed.error}`);
  return new Map(parsed.routes.map((r) => [r.version, r.baseUrl]));
}

/** ENV.accessLog parsed, or a ConfigError naming the variable. */
export function accessLog(raw: string | undefined): AccessLogSetting {
  const parsed = parseAccessLog(raw ?? ACCESS_LOG_DEFAULT);
  if ('error' in parsed) throw new ConfigError(`--access-log (${ENV.accessLog}): ${parsed.error}`);
  return parsed;
}

function str(values: Map<string, string | undefined>, flag: string): string {
  const v = values.get(flag);
  if (v === undefined) throw new ConfigError(`--${flag} is required`);
  return v;
}

export function parseServe(args: string[], env: NodeJS.ProcessEnv): ServeConfig {
  const v = readOptions(serveOptions, args, env);
  const i = (f: string) => int(v, serveOptions, f);
  const metricsPort = optionalInt(v, serveOptions, 'metrics-port');
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === i('port'))
    throw new ConfigError(
      `--metrics-port (${ENV.metricsPort}) must differ from --port (${metricsPort}); unset it to serve metrics on the main port`,
    );
  if (v.get('api-key') !== undefined && v.get('api-key-file') !== undefined)
    throw new ConfigError(`--api-key (${ENV.apiKey}) and --api-key-file (${ENV.apiKeyFile}) exclude each other: give one`);
  if (i('headers-timeout-ms') > i('request-receive-timeout-ms'))
    throw new ConfigError(
      '--headers-timeout-ms must not be longer than --request-receive-timeout-ms (the headers are part of the request)',
    );
  const key = apiKey(v.get('api-key'));
  return {
    command: COMMAND.serve,
    modelPath: str(v, 'model-path'),
    modelName: str(v, 'model-name'),
    modelVersion: str(v, 'model-version'),
    modelSha256: sha256(v.get('model-sha256'), 'model-sha256'),
    host: str(v, 'host'),
    port: i('port'),
    workers: i('workers'),
    intraOpThreads: i('intra-op-threads'),
    maxBatchSize: i('max-batch-size'),
    maxBatchDelayUs: i('max-batch-delay-us'),
    maxQueueSize: i('max-queue-size'),
    requestTimeoutMs: i('request-timeout-ms'),
    maxBodyBytes: i('max-body-bytes'),
    apiKey: key,
    apiKeyFile: v.get('api-key-file'),
    tls: tlsFiles(v.get('tls-cert-file'), v.get('tls-key-file'), v.get('tls-client-ca-file')),
    maxInflightBytes: i('max-inflight-bytes'),
    maxConnections: i('max-connections'),
    headersTimeoutMs: i('headers-timeout-ms'),
    requestReceiveTimeoutMs: i('request-receive-timeout-ms'),
    bodyIdleTimeoutMs: i('body-idle-timeout-ms'),
    runTimeoutMs: i('run-timeout-ms'),
    metricsPort,
    drainDelaySeconds: i('drain-delay-seconds'),
    shutdownTimeoutSeconds: i('shutdown-timeout-seconds'),
    versionRoutes: versionRoutes(v.get('version-routes')),
    accessLog: accessLog(v.get('access-log')),
    terminationLogPath: str(v, 'termination-log'),
    logLevel: str(v, 'log-level'),
    kubeAuth: kubeAuthConfig(v, i, keySource(v, key), env),
  };
}

export function parseFetch(args: string[], env: NodeJS.ProcessEnv): FetchConfig {
  const v = readOptions(fetchOptions, args, env);
  const i = (f: string) => int(v, fetchOptions, f);
  const uri = str(v, 'model-uri');
  if (!/^(https?|file|pvc|oci|s3):\/\//.test(uri))
    throw new ConfigError(
      `--model-uri (${ENV.modelUri}) must start with http://, https://, file://, pvc://, oci:// or s3://, got "${uri}"`,
    );
  if (uri.startsWith('s3://')) {
    const loc = parseS3Uri(uri);
    if ('error' in loc) throw new ConfigError(`--model-uri (${ENV.modelUri}): ${loc.error}`);
  }
  if (uri.startsWith('oci://')) {
    const ref = parseOciReference(uri);
    if ('error' in ref) throw new ConfigError(`--model-uri (${ENV.modelUri}): ${ref.error}`);
  }
  const plain = v.get('oci-plain-http');
  if (plain !== 'true' && plain !== 'false')
    throw new ConfigError(`--oci-plain-http (${ENV.ociPlainHttp}) must be true or false, got "${plain ?? ''}"`);
  return {
    command: COMMAND.fetch,
    modelUri: uri,
    modelPath: str(v, 'model-path'),
    modelSha256: sha256(v.get('model-sha256'), 'model-sha256'),
    timeoutSeconds: i('timeout-seconds'),
    retries: i('retries'),
    backoffMs: i('backoff-ms'),
    maxBytes: i('max-bytes'),
    pvcRoot: str(v, 'pvc-root'),
    registryAuthFile: v.get('registry-auth-file'),
    ociPlainHttp: plain === 'true',
    s3: s3Settings(v, env),
    terminationLogPath: str(v, 'termination-log'),
    logLevel: str(v, 'log-level'),
  };
}

function s3Settings(v: Map<string, string | undefined>, env: NodeJS.ProcessEnv): S3Settings {
  const endpoint = v.get('s3-endpoint') || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/?#@\s]+\/?$/.test(endpoint))
    throw new ConfigError(
      `--s3-endpoint (${ENV.s3Endpoint}) must be http(s)://<host>[:<port>] without a path or credentials, got "${endpoint.includes('@') ? '<not shown: it carries credentials>' : endpoint}"`,
    );
  const pathStyle = v.get('s3-force-path-style') || undefined;
  if (pathStyle !== undefined && pathStyle !== 'true' && pathStyle !== 'false')
    throw new ConfigError(`--s3-force-path-style (${ENV.s3ForcePathStyle}) must be true or false, got "${pathStyle}"`);
  const region = v.get('s3-region') || env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || undefined;
  if (region !== undefined && !/^[a-z0-9-]{1,64}$/.test(region))
    throw new ConfigError(`--s3-region (${ENV.s3Region}) must be a region name such as eu-west-1, got "${region}"`);
  return {
    endpoint,
    region,
    forcePathStyle: pathStyle === undefined ? undefined : pathStyle === 'true',
    credentialsDir: v.get('s3-credentials-dir') || undefined,
  };
}

/** The environment variables a command reads: anything else named MODELSHIP_* is ignored by it. */
export function envNamesOf(command: RuntimeCommand): ReadonlySet<string> {
  return new Set((command === COMMAND.serve ? serveOptions : fetchOptions).map((o) => o.env));
}

export function usage(): string {
  const fmt = (opts: Option[]) =>
    opts
      .map(
        (o) =>
          `  --${o.flag.padEnd(26)} ${o.env.padEnd(36)} ${o.help}${o.default !== undefined ? ` (default ${o.default})` : ''}${o.required ? ' (required)' : ''}`,
      )
      .join('\n');
  return `usage: node runtime/src/main.ts <serve|fetch> [flags]\n\nserve:\n${fmt(serveOptions)}\n\nfetch:\n${fmt(fetchOptions)}\n`;
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const [command, ...rest] = argv;
  if (command === COMMAND.serve) return parseServe(rest, env);
  if (command === COMMAND.fetch) return parseFetch(rest, env);
  throw new ConfigError(`unknown command "${command ?? ''}": expected serve or fetch`);
}
