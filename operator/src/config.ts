import { parseArgs } from 'node:util';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { ConfigError } from './errors.ts';
import { DEFAULT_METRICS_PORT, DEFAULTS, INFERENCE_PORT } from '../../contract/runtime-contract.ts';
import { parseQuantity } from './kube/diff.ts';

/** The runtime's inference port in the pods the operator renders. */
export const RUNTIME_HTTP_PORT = INFERENCE_PORT;

export interface LeaderElectionConfig {
  enabled: boolean;
  namespace: string;
  leaseName: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface RuntimeDefaults {
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  maxBatchSize: number;
  maxBatchDelayMicroseconds: number;
  drainDelaySeconds: number;
  /** The runtime's longest wait for in-flight requests after the drain delay. */
  shutdownTimeoutSeconds: number;
  /** Memory request and limit of the serve container when the ModelDeployment sets none; undefined = none. */
  memoryRequest: string | undefined;
  memoryLimit: string | undefined;
  /** Port the runtime serves /metrics on, apart from inference; 0 = /metrics stays on the inference port. */
  metricsPort: number;
}

export interface OperatorConfig {
  /** Path of a kubeconfig file; undefined means the default chain (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig: string | undefined;
  /** Namespace to watch; undefined means all namespaces. */
  watchNamespace: string | undefined;
  concurrency: number;
  resyncPeriodMs: number;
  httpBindAddress: string;
  httpPort: number;
  logLevel: string;
  /** How long a graceful shutdown (SIGTERM) may take before the process exits anyway. */
  shutdownTimeoutMs: number;
  runtime: RuntimeDefaults;
  leaderElection: LeaderElectionConfig;
  /** The custom.metrics.k8s.io listener (custom-metrics/server.ts); undefined: not served. */
  customMetrics?: CustomMetricsConfig | undefined;
}

export interface CustomMetricsConfig {
  bindAddress: string;
  port: number;
  certFile: string;
  keyFile: string;
}

const OPTIONS = {
  kubeconfig: { type: 'string', env: 'KUBECONFIG', help: 'kubeconfig file (default: KUBECONFIG, ~/.kube/config, then in-cluster)' },
  namespace: { type: 'string', env: 'MODELSHIP_WATCH_NAMESPACE', help: 'watch only this namespace (default: all)' },
  concurrency: { type: 'string', env: 'MODELSHIP_CONCURRENCY', help: 'parallel reconciles (default 4)' },
  'resync-period': { type: 'string', env: 'MODELSHIP_RESYNC_PERIOD', help: 'periodic full resync, e.g. 10m (default 10m)' },
  'http-bind-address': {
    type: 'string',
    env: 'MODELSHIP_HTTP_BIND_ADDRESS',
    help: 'address for /healthz /readyz /metrics (default 0.0.0.0)',
  },
  'http-port': { type: 'string', env: 'MODELSHIP_HTTP_PORT', help: 'port for /healthz /readyz /metrics (default 8081; 0 = random)' },
  'log-level': { type: 'string', env: 'MODELSHIP_LOG_LEVEL', help: 'error|warn|info|debug (default info)' },
  'runtime-image': { type: 'string', env: 'MODELSHIP_RUNTIME_IMAGE', help: 'default runtime image (default modelship/runtime:0.1.0)' },
  'runtime-image-pull-policy': {
    type: 'string',
    env: 'MODELSHIP_RUNTIME_IMAGE_PULL_POLICY',
    help: 'Always|IfNotPresent|Never (default IfNotPresent)',
  },
  'default-max-batch-size': {
    type: 'string',
    env: 'MODELSHIP_DEFAULT_MAX_BATCH_SIZE',
    help: `default batching max size (default ${DEFAULTS.maxBatchSize}; 1 = off)`,
  },
  'default-max-batch-delay-us': {
    type: 'string',
    env: 'MODELSHIP_DEFAULT_MAX_BATCH_DELAY_US',
    help: `default batching max delay in microseconds (default ${DEFAULTS.maxBatchDelayUs})`,
  },
  'drain-delay-seconds': {
    type: 'string',
    env: 'MODELSHIP_DRAIN_DELAY_SECONDS',
    help: `runtime drain delay after SIGTERM (default ${DEFAULTS.drainDelaySeconds})`,
  },
  'shutdown-timeout-seconds': {
    type: 'string',
    env: 'MODELSHIP_SHUTDOWN_TIMEOUT_SECONDS',
    help: `runtime: longest wait for in-flight requests after the drain delay (default ${DEFAULTS.shutdownTimeoutSeconds})`,
  },
  'default-memory-request': {
    type: 'string',
    env: 'MODELSHIP_DEFAULT_MEMORY_REQUEST',
    help: 'serve container memory request when a ModelDeployment sets none (default 256Mi; 0 = none)',
  },
  'default-memory-limit': {
    type: 'string',
    env: 'MODELSHIP_DEFAULT_MEMORY_LIMIT',
    help: 'serve container memory limit when a ModelDeployment sets none (default 1Gi; 0 = none)',
  },
  'runtime-metrics-port': {
    type: 'string',
    env: 'MODELSHIP_RUNTIME_METRICS_PORT',
    help: `port of the runtime /metrics, apart from inference (default ${DEFAULT_METRICS_PORT}; 0 = on the inference port)`,
  },
  'graceful-shutdown-timeout': {
    type: 'string',
    env: 'MODELSHIP_GRACEFUL_SHUTDOWN_TIMEOUT',
    help: 'operator: exit this long after SIGTERM even if shutdown has not finished (default 20s)',
  },
  'leader-elect': { type: 'string', env: 'MODELSHIP_LEADER_ELECT', help: 'true|false: elect a leader on a Lease (default false)' },
  'leader-election-namespace': {
    type: 'string',
    env: 'MODELSHIP_LEADER_ELECTION_NAMESPACE',
    help: 'namespace of the Lease (default: POD_NAMESPACE or default)',
  },
  'leader-election-id': { type: 'string', env: 'MODELSHIP_LEADER_ELECTION_ID', help: 'name of the Lease (default modelship-operator)' },
  'leader-identity': { type: 'string', env: 'POD_NAME', help: 'identity in the Lease (default hostname + random suffix)' },
  'lease-duration': { type: 'string', env: 'MODELSHIP_LEASE_DURATION', help: 'e.g. 15s (default 15s)' },
  'renew-deadline': { type: 'string', env: 'MODELSHIP_RENEW_DEADLINE', help: 'e.g. 10s (default 10s)' },
  'retry-period': { type: 'string', env: 'MODELSHIP_RETRY_PERIOD', help: 'e.g. 2s (default 2s)' },
  'custom-metrics-cert-file': {
    type: 'string',
    env: 'MODELSHIP_CUSTOM_METRICS_CERT_FILE',
    help: 'serving certificate (PEM) of the custom.metrics.k8s.io listener; with the key file, turns it on (default: off)',
  },
  'custom-metrics-key-file': { type: 'string', env: 'MODELSHIP_CUSTOM_METRICS_KEY_FILE', help: 'its private key (PEM)' },
  'custom-metrics-port': { type: 'string', env: 'MODELSHIP_CUSTOM_METRICS_PORT', help: 'port of that listener (default 6443; 0 = random)' },
  'custom-metrics-bind-address': {
    type: 'string',
    env: 'MODELSHIP_CUSTOM_METRICS_BIND_ADDRESS',
    help: 'address of that listener (default 0.0.0.0)',
  },
  help: { type: 'boolean', env: '', help: 'print this help' },
} as const;

type OptionName = keyof typeof OPTIONS;

export function usage(): string {
  const lines = Object.entries(OPTIONS).map(([name, o]) => `  --${name.padEnd(28)} ${o.help}${o.env ? ` [env ${o.env}]` : ''}`);
  return `Usage: modelship-operator [options]\n${lines.join('\n')}\n`;
}

/** Parses a duration such as "500ms", "15s", "10m", "1h" into milliseconds. */
export function parseDuration(value: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  if (!m) throw new ConfigError(`${what}: "${value}" is not a duration like 500ms, 15s, 10m or 1h`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * factor);
}

function parseIntIn(value: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim())) throw new ConfigError(`${what}: "${value}" is not a whole number`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(`${what}: ${n} is outside ${min}..${max}`);
  return n;
}

/** A memory quantity such as 256Mi or 1Gi; "0" means none. */
function parseMemory(value: string, what: string): string | undefined {
  const v = value.trim();
  const bytes = parseQuantity(v);
  if (bytes === undefined || bytes < 0) throw new ConfigError(`${what}: "${value}" is not a memory quantity like 256Mi or 1Gi`);
  if (bytes === 0) return undefined;
  if (bytes < 16 * 2 ** 20) throw new ConfigError(`${what}: ${v} is below 16Mi, too little for the runtime to start`);
  return v;
}

function parseBool(value: string, what: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new ConfigError(`${what}: "${value}" is not true or false`);
}

/** Flags win over environment variables, which win over defaults. Parsed once, at start. */
export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): OperatorConfig | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(Object.entries(OPTIONS).map(([k, o]) => [k, { type: o.type }])),
      strict: true,
      allowPositionals: false,
    });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values.help) return 'help';
  const get = (name: OptionName): string | undefined => {
    const flag = values[name];
    if (typeof flag === 'string') return flag;
    const envName = OPTIONS[name].env;
    const fromEnv = envName ? env[envName] : undefined;
    return fromEnv === '' ? undefined : fromEnv;
  };

  const pullPolicy = get('runtime-image-pull-policy') ?? 'IfNotPresent';
  if (pullPolicy !== 'Always' && pullPolicy !== 'IfNotPresent' && pullPolicy !== 'Never') {
    throw new ConfigError(`--runtime-image-pull-policy: "${pullPolicy}" must be Always, IfNotPresent or Never`);
  }
  const logLevel = get('log-level') ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) {
    throw new ConfigError(`--log-level: "${logLevel}" must be error, warn, info or debug`);
  }

  const leaseDurationMs = parseDuration(get('lease-duration') ?? '15s', '--lease-duration');
  const renewDeadlineMs = parseDuration(get('renew-deadline') ?? '10s', '--renew-deadline');
  const retryPeriodMs = parseDuration(get('retry-period') ?? '2s', '--retry-period');
  if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs)) {
    throw new ConfigError('leader election needs lease-duration > renew-deadline > retry-period');
  }

  const memoryRequest = parseMemory(get('default-memory-request') ?? '256Mi', '--default-memory-request');
  const memoryLimit = parseMemory(get('default-memory-limit') ?? '1Gi', '--default-memory-limit');
  if (memoryRequest && memoryLimit && (parseQuantity(memoryRequest) as number) > (parseQuantity(memoryLimit) as number)) {
    throw new ConfigError(`--default-memory-request ${memoryRequest} is above --default-memory-limit ${memoryLimit}`);
  }
  const metricsPort = parseIntIn(get('runtime-metrics-port') ?? String(DEFAULT_METRICS_PORT), '--runtime-metrics-port', 0, 65535);
  if (metricsPort === RUNTIME_HTTP_PORT) {
    throw new ConfigError(`--runtime-metrics-port: ${metricsPort} is the runtime's inference port; choose another or 0`);
  }

  const certFile = get('custom-metrics-cert-file');
  const keyFile = get('custom-metrics-key-file');
  if (!certFile !== !keyFile) throw new ConfigError('--custom-metrics-cert-file and --custom-metrics-key-file go together');
  const customMetrics =
    certFile && keyFile
      ? {
          bindAddress: get('custom-metrics-bind-address') ?? '0.0.0.0',
          port: parseIntIn(get('custom-metrics-port') ?? '6443', '--custom-metrics-port', 0, 65535),
          certFile,
          keyFile,
        }
      : undefined;

  return {
    customMetrics,
    kubeconfig: get('kubeconfig'),
    watchNamespace: get('namespace'),
    concurrency: parseIntIn(get('concurrency') ?? '4', '--concurrency', 1, 64),
    resyncPeriodMs: parseDuration(get('resync-period') ?? '10m', '--resync-period'),
    httpBindAddress: get('http-bind-address') ?? '0.0.0.0',
    httpPort: parseIntIn(get('http-port') ?? '8081', '--http-port', 0, 65535),
    logLevel,
    shutdownTimeoutMs: parseDuration(get('graceful-shutdown-timeout') ?? '20s', '--graceful-shutdown-timeout'),
    runtime: {
      image: get('runtime-image') ?? 'modelship/runtime:0.1.0',
      imagePullPolicy: pullPolicy,
      maxBatchSize: parseIntIn(get('default-max-batch-size') ?? String(DEFAULTS.maxBatchSize), '--default-max-batch-size', 1, 1024),
      maxBatchDelayMicroseconds: parseIntIn(
        get('default-max-batch-delay-us') ?? String(DEFAULTS.maxBatchDelayUs),
        '--default-max-batch-delay-us',
        0,
        1_000_000,
      ),
      drainDelaySeconds: parseIntIn(get('drain-delay-seconds') ?? String(DEFAULTS.drainDelaySeconds), '--drain-delay-seconds', 0, 300),
      shutdownTimeoutSeconds: parseIntIn(
        get('shutdown-timeout-seconds') ?? String(DEFAULTS.shutdownTimeoutSeconds),
        '--shutdown-timeout-seconds',
        1,
        600,
      ),
      memoryRequest,
      memoryLimit,
      metricsPort,
    },
    leaderElection: {
      enabled: parseBool(get('leader-elect') ?? 'false', '--leader-elect'),
      namespace: get('leader-election-namespace') ?? env.POD_NAMESPACE ?? 'default',
      leaseName: get('leader-election-id') ?? 'modelship-operator',
      identity: get('leader-identity') ?? `${os.hostname()}_${randomBytes(4).toString('hex')}`,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    },
  };
}
