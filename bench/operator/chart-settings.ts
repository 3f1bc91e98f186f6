/**
 * The operator's process settings as the chart renders them (helm template with default values):
 * the container's environment that Node and glibc read (NODE_OPTIONS, MALLOC_*), with the heap
 * percentage turned into MiB of the chart's memory limit, because the benchmark's operator runs
 * outside a cgroup (Node would take the percentage of the machine's memory).
 */
import { oldSpaceLimitMiB } from '../../operator/src/heap-limit.ts';
import { parseQuantity } from '../../operator/src/kube/diff.ts';
import { findManifest, renderChart } from '@modelship/devcluster/helm';

export interface OperatorSettings {
  name: 'uncapped' | 'chart';
  /** Environment added to the operator process. */
  env: Record<string, string>;
  describe: string;
}

interface Container {
  name: string;
  env?: Array<{ name: string; value?: string }>;
  resources?: { limits?: { memory?: string } };
}

/** The process-level variables: Node's options and glibc's malloc tunables; the rest is operator configuration. */
const PROCESS_ENV = /^(NODE_OPTIONS|MALLOC_\w+|GLIBC_TUNABLES)$/;

export function processSettingsFrom(container: Container): OperatorSettings {
  const limit = parseQuantity(container.resources?.limits?.memory);
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) if (PROCESS_ENV.test(e.name) && e.value !== undefined) env[e.name] = e.value;
  if (env.NODE_OPTIONS) {
    env.NODE_OPTIONS = env.NODE_OPTIONS.replace(/--max-old-space-size-percentage=(\d+(?:\.\d+)?)%?/, (_all, p: string) => {
      if (limit === undefined) throw new Error('the chart sets a heap percentage but no memory limit');
      return `--max-old-space-size=${oldSpaceLimitMiB(limit, Number(p))}`;
    });
  }
  const shown = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return { name: 'chart', env, describe: `${shown}; chart memory limit ${container.resources?.limits?.memory ?? 'none'}` };
}

export async function chartOperatorSettings(): Promise<OperatorSettings> {
  const deployment = findManifest(await renderChart(), 'Deployment') as
    { spec: { template: { spec: { containers: Container[] } } } } | undefined;
  const container = deployment?.spec.template.spec.containers.find((c) => c.name === 'operator');
  if (!container) throw new Error('the chart renders no operator container');
  return processSettingsFrom(container);
}
