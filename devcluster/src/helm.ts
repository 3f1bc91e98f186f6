// Finds (or builds) helm, runs it, and parses what it renders.
// Lookup: $HELM → the cache bin dir that devcluster/build/helm.sh fills → build it there (once per
// machine; helm.sh/helm/v3 is built from its Go module, nothing is downloaded as a binary).

import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadAll } from 'js-yaml';
import { cacheRoot, repoRoot } from './binaries.ts';
import { runCaptured, type CommandResult } from './processes.ts';

export const helmBuildScript = join(repoRoot, 'devcluster/build/helm.sh');
export const chartDir = join(repoRoot, 'charts/modelship');

/** The helm version pinned in build.sh (read from it: one source of truth). */
export function pinnedHelmVersion(script: string = helmBuildScript): string {
  const v = /^HELM_VERSION="([^"]+)"/m.exec(readFileSync(script, 'utf8'))?.[1];
  if (!v) throw new Error(`cannot read HELM_VERSION from ${script}`);
  return v;
}

/** Same rule as build.sh: <cache root>/helm-<version>/bin. */
export function helmCacheBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), `helm-${pinnedHelmVersion()}`, 'bin');
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Pure lookup: $HELM (must be executable if set), then the cache; undefined if neither. */
export function locateHelm(env: NodeJS.ProcessEnv, binDir: string): string | undefined {
  if (env.HELM) {
    const path = resolve(env.HELM);
    if (!isExecutableFile(path)) throw new Error(`HELM=${env.HELM} is not an executable file`);
    return path;
  }
  const cached = join(binDir, 'helm');
  return isExecutableFile(cached) ? cached : undefined;
}

let resolving: Promise<string> | undefined;

/** Absolute path of helm, building it with devcluster/build/helm.sh if needed (serialised with flock). */
export function resolveHelm(): Promise<string> {
  resolving ??= (async () => {
    const found = locateHelm(process.env, helmCacheBinDir());
    if (found) return found;
    const lockDir = cacheRoot();
    await mkdir(lockDir, { recursive: true });
    process.stderr.write('harness: building helm with devcluster/build/helm.sh (first time on this machine)\n');
    const [cmd, args] = isExecutableFile('/usr/bin/flock')
      ? ['/usr/bin/flock', [join(lockDir, 'helm-build.lock'), helmBuildScript]]
      : [helmBuildScript, []];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: repoRoot });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    const code = await new Promise<number | null>((res, rej) => {
      child.on('error', rej);
      child.on('close', res);
    });
    if (code !== 0) throw new Error(`devcluster/build/helm.sh failed with exit code ${code}`);
    const dir = stdout.trim().split('\n').pop()?.trim();
    const path = dir ? join(dir, 'helm') : '';
    if (!isExecutableFile(path)) throw new Error(`build.sh finished but ${path || '(no bin dir printed)'} is not executable`);
    return path;
  })();
  resolving.catch(() => (resolving = undefined));
  return resolving;
}

export type { CommandResult as HelmResult } from './processes.ts';

/**
 * Runs helm with private config/cache/data dirs (no repositories or plugins of the user) and no
 * cluster unless `kubeconfig` is given (install, upgrade, uninstall, status).
 */
export async function runHelm(
  args: string[],
  opts: { input?: string; timeoutMs?: number; kubeconfig?: string } = {},
): Promise<CommandResult> {
  const bin = await resolveHelm();
  const scratch = join(cacheRoot(), 'helm-home');
  return runCaptured(bin, args, {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH,
      HELM_CACHE_HOME: join(scratch, 'cache'),
      HELM_CONFIG_HOME: join(scratch, 'config'),
      HELM_DATA_HOME: join(scratch, 'data'),
      // helm template/lint never need a cluster; keep any KUBECONFIG of the caller out of them
      KUBECONFIG: opts.kubeconfig ?? '/dev/null',
    },
    input: opts.input,
    timeoutMs: opts.timeoutMs,
  });
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export function parseManifests(yaml: string): Manifest[] {
  return (loadAll(yaml) as unknown[]).filter((d): d is Manifest => d !== null && typeof d === 'object');
}

/** `--set`-style values to helm arguments; values are passed as JSON so types are kept. */
export function setArgs(values: Record<string, unknown>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]);
}

/**
 * `helm template` of charts/modelship; throws with helm's stderr if it fails.
 * `--include-crds` adds the CRD from the chart's crds/.
 */
export async function renderChart(
  opts: { release?: string; namespace?: string; values?: Record<string, unknown>; extraArgs?: string[] } = {},
): Promise<Manifest[]> {
  const r = await runHelm([
    'template',
    opts.release ?? 'modelship',
    chartDir,
    '--namespace',
    opts.namespace ?? 'modelship-system',
    ...setArgs(opts.values ?? {}),
    ...(opts.extraArgs ?? []),
  ]);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}):\n${r.stderr}`);
  return parseManifests(r.stdout);
}

export function findManifest(manifests: readonly Manifest[], kind: string, name?: string): Manifest | undefined {
  return manifests.find((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
}
