// The command line, parsed once at the edge into a Command (pure: no I/O). Flags follow kubectl:
// --kubeconfig, --context, -n/--namespace, --as, -o json|yaml.
import { parseArgs } from 'node:util';
import { UsageError } from './errors.ts';

export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  /** Impersonate this user (kubectl --as). */
  as?: string;
}

export type OutputFormat = 'text' | 'json' | 'yaml';
export type ControlAction = 'promote' | 'abort' | 'pause' | 'resume';

export type Command =
  | { kind: 'help'; topic?: string }
  | { kind: 'version' }
  | { kind: 'status'; name: string; watch: boolean; output: OutputFormat; timeoutMs?: number; intervalMs: number }
  | { kind: 'history'; name: string; output: OutputFormat }
  | { kind: 'undo'; name: string; toVersion?: string; yes: boolean }
  | { kind: 'control'; action: ControlAction; name: string }
  | { kind: 'predict'; name: string; file?: string; instances?: unknown[]; v1: boolean }
  | { kind: 'logs'; name: string; version?: string; follow: boolean; tail?: number };

export interface Invocation {
  global: GlobalOptions;
  command: Command;
}

const OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  as: { type: 'string' },
  output: { type: 'string', short: 'o' },
  watch: { type: 'boolean', short: 'w' },
  timeout: { type: 'string' },
  interval: { type: 'string' },
  'to-version': { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
  filename: { type: 'string', short: 'f' },
  instances: { type: 'string' },
  v1: { type: 'boolean' },
  version: { type: 'string' },
  follow: { type: 'boolean' },
  tail: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;
const GLOBAL_FLAGS: OptionName[] = ['kubeconfig', 'context', 'namespace', 'as', 'help'];

/** The flags each command accepts besides the global ones. */
const COMMAND_FLAGS: Record<string, OptionName[]> = {
  status: ['output', 'watch', 'timeout', 'interval'],
  history: ['output'],
  undo: ['to-version', 'yes'],
  promote: [],
  abort: [],
  pause: [],
  resume: [],
  predict: ['filename', 'instances', 'v1'],
  logs: ['version', 'follow', 'tail'],
  version: [],
  help: [],
};

export const COMMANDS = Object.keys(COMMAND_FLAGS);

/** "90s", "5m", "1h30m", or plain seconds "30" -> milliseconds. */
export function parseDuration(text: string, flag: string): number {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '' || (!m[1] && !m[2] && !m[3]))
    throw new UsageError(`${flag} must be a duration such as 90s, 5m or 1h30m, not ${JSON.stringify(text)}`);
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

function parseOutput(value: string | undefined): OutputFormat {
  if (value === undefined) return 'text';
  if (value === 'json' || value === 'yaml') return value;
  throw new UsageError(`-o/--output must be json or yaml, not ${JSON.stringify(value)}`);
}

function parseInstances(text: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--instances is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0)
    throw new UsageError('--instances must be a non-empty JSON array of rows, e.g. [[6.3,3.3,6.0,2.5]]');
  return parsed;
}

function flagName(name: OptionName): string {
  const short = (OPTIONS[name] as { short?: string }).short;
  return short ? `-${short}/--${name}` : `--${name}`;
}

/** Parses argv (without node and the script) into an Invocation; throws UsageError. */
export function parseCommandLine(argv: readonly string[]): Invocation {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    // node's messages name the flag, e.g. "Unknown option '--foo'"
    throw new UsageError((err as Error).message.split('\n')[0] ?? String(err));
  }
  const v = parsed.values;
  const [verb, ...rest] = parsed.positionals;
  const global: GlobalOptions = {
    ...(v.kubeconfig !== undefined ? { kubeconfig: v.kubeconfig } : {}),
    ...(v.context !== undefined ? { context: v.context } : {}),
    ...(v.namespace !== undefined ? { namespace: v.namespace } : {}),
    ...(v.as !== undefined ? { as: v.as } : {}),
  };
  if (verb === undefined || verb === 'help') return { global, command: { kind: 'help', ...(rest[0] ? { topic: rest[0] } : {}) } };
  const allowed = COMMAND_FLAGS[verb];
  if (!allowed) throw new UsageError(`unknown command ${JSON.stringify(verb)}; commands: ${COMMANDS.join(', ')}`);
  if (v.help) return { global, command: { kind: 'help', topic: verb } };
  for (const key of Object.keys(v) as OptionName[]) {
    if (!GLOBAL_FLAGS.includes(key) && !allowed.includes(key)) throw new UsageError(`${verb} does not take ${flagName(key)}`);
  }
  if (verb === 'version') {
    if (rest.length > 0) throw new UsageError('version takes no arguments');
    return { global, command: { kind: 'version' } };
  }
  const [name, ...extra] = rest;
  if (!name) throw new UsageError(`${verb} needs the name of a ModelDeployment: kubectl modelship ${verb} NAME`);
  if (extra.length > 0) throw new UsageError(`${verb} takes one ModelDeployment name, got ${rest.length}: ${rest.join(' ')}`);

  switch (verb) {
    case 'status': {
      if (!v.watch && (v.timeout !== undefined || v.interval !== undefined)) throw new UsageError('--timeout and --interval need --watch');
      if (v.watch && v.output !== undefined) throw new UsageError('--watch prints the text summary; drop -o/--output');
      return {
        global,
        command: {
          kind: 'status',
          name,
          watch: v.watch ?? false,
          output: parseOutput(v.output),
          ...(v.timeout !== undefined ? { timeoutMs: parseDuration(v.timeout, '--timeout') } : {}),
          intervalMs: v.interval !== undefined ? Math.max(200, parseDuration(v.interval, '--interval')) : 2000,
        },
      };
    }
    case 'history':
      return { global, command: { kind: 'history', name, output: parseOutput(v.output) } };
    case 'undo': {
      const toVersion = v['to-version'];
      if (toVersion === '') throw new UsageError('--to-version must not be empty');
      return { global, command: { kind: 'undo', name, yes: v.yes ?? false, ...(toVersion !== undefined ? { toVersion } : {}) } };
    }
    case 'promote':
    case 'abort':
    case 'pause':
    case 'resume':
      return { global, command: { kind: 'control', action: verb, name } };
    case 'predict': {
      if (v.filename !== undefined && v.instances !== undefined)
        throw new UsageError('predict takes -f FILE or --instances JSON, not both');
      if (v.filename === undefined && v.instances === undefined)
        throw new UsageError('predict needs a request: -f request.json (- for stdin) or --instances JSON');
      return {
        global,
        command: {
          kind: 'predict',
          name,
          v1: v.v1 ?? false,
          ...(v.filename !== undefined ? { file: v.filename } : {}),
          ...(v.instances !== undefined ? { instances: parseInstances(v.instances) } : {}),
        },
      };
    }
    case 'logs': {
      let tail: number | undefined;
      if (v.tail !== undefined) {
        if (!/^\d+$/.test(v.tail)) throw new UsageError(`--tail must be a number of lines, not ${JSON.stringify(v.tail)}`);
        tail = Number(v.tail);
      }
      if (v.version === '') throw new UsageError('--version must not be empty');
      return {
        global,
        command: {
          kind: 'logs',
          name,
          follow: v.follow ?? false,
          ...(v.version !== undefined ? { version: v.version } : {}),
          ...(tail !== undefined ? { tail } : {}),
        },
      };
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(verb)}`);
  }
}

export const USAGE = `kubectl modelship: roll back, promote, watch and call ModelDeployments

Usage: kubectl modelship COMMAND [NAME] [flags]

Commands:
  status NAME [-w|--watch] [--timeout 10m] [-o json|yaml]
                        versions, conditions, replicas, canary / experiment figures, recent history,
                        URL; --watch refreshes until the rollout ends and exits 1 if it failed
  history NAME [-o json|yaml]
                        the rollouts in status.history: what undo can restore
  undo NAME [--to-version V] [-y|--yes]
                        write a history entry's version, uri and sha256 back into spec.model
                        (default: the newest successful version other than the desired one);
                        shows the change and asks, unless --yes
  promote NAME          promote the running canary (spec.rollout.promoteVersion), or the A/B
                        experiment (spec.model := spec.experiment.model, experiment removed)
  abort NAME            abort the running canary (spec.rollout.abortVersion), or end the
                        experiment (spec.experiment removed)
  pause NAME            hold the running canary at its step (spec.rollout.paused)
  resume NAME           let a paused canary continue
  predict NAME (-f FILE|- | --instances JSON) [--v1]
                        send an inference request through the API server's service proxy (V2 by
                        default, TF-Serving V1 with --v1) and print the response
  logs NAME [--version V] [--follow] [--tail N]
                        runtime logs of the ModelDeployment's pods
  version               print the plugin's version

Flags of every command:
  --kubeconfig PATH     kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
  --context NAME        kubeconfig context (default: the current context)
  -n, --namespace NS    namespace (default: the context's namespace, then "default")
  --as USER             impersonate USER
  -h, --help            help

Exit codes: 0 success, 1 failure (including a failed rollout under status --watch), 2 usage error.
`;
