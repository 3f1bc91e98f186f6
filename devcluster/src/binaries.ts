// Finds (or builds) the Kubernetes and etcd binaries the harness runs.
// Lookup per binary, envtest-style: TEST_ASSET_<NAME> → $KUBEBUILDER_ASSETS/<name> → the cache bin dir
// that devcluster/build/k8s.sh fills; whatever is still missing is built by build.sh.

import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const buildScript = join(repoRoot, 'devcluster/build/k8s.sh');

/** Same rule as build.sh: ${MODELSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelship}. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MODELSHIP_CACHE_DIR) return resolve(env.MODELSHIP_CACHE_DIR);
  return join(env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache'), 'modelship');
}

/** Versions pinned in build.sh (read from it, so there is one source of truth). */
export function pinnedVersions(script: string = buildScript): { k8s: string; etcd: string } {
  const text = readFileSync(script, 'utf8');
  const k8s = /^K8S_VERSION="([^"]+)"/m.exec(text)?.[1];
  const etcd = /^ETCD_VERSION="([^"]+)"/m.exec(text)?.[1];
  if (!k8s || !etcd) throw new Error(`cannot read K8S_VERSION / ETCD_VERSION from ${script}`);
  return { k8s, etcd };
}

export function cacheBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const { k8s, etcd } = pinnedVersions();
  return join(cacheRoot(env), `k8s-${k8s}-etcd-${etcd}`, 'bin');
}

/** kube-apiserver → TEST_ASSET_KUBE_APISERVER */
export function assetEnvName(name: string): string {
  return `TEST_ASSET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
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

/**
 * Pure lookup without building: the absolute path, or undefined if the binary is not found.
 * Throws if TEST_ASSET_<NAME> is set but does not point at an executable (an explicit choice
 * should not be silently ignored).
 */
export function locateBinary(name: string, env: NodeJS.ProcessEnv, binDir: string): string | undefined {
  const explicit = env[assetEnvName(name)];
  if (explicit) {
    const path = resolve(explicit);
    if (!isExecutableFile(path)) throw new Error(`${assetEnvName(name)}=${explicit} is not an executable file`);
    return path;
  }
  if (env.KUBEBUILDER_ASSETS) {
    const path = resolve(env.KUBEBUILDER_ASSETS, name);
    if (isExecutableFile(path)) return path;
  }
  const cached = join(binDir, name);
  if (isExecutableFile(cached)) return cached;
  return undefined;
}

/** Runs build.sh for the given components (serialised with flock), streaming its progress to our stderr. */
export async function buildBinaries(names: string[]): Promise<string> {
  const lockDir = cacheRoot();
  await mkdir(lockDir, { recursive: true });
  process.stderr.write(`harness: building missing binaries with devcluster/build/k8s.sh ${names.join(' ')}\n`);
  // flock stops two test runs from building the same binary at once; build.sh skips finished ones.
  const [cmd, args] = isExecutableFile('/usr/bin/flock')
    ? ['/usr/bin/flock', [join(lockDir, 'build.lock'), buildScript, ...names]]
    : [buildScript, names];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: repoRoot });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
  });
  const code = await new Promise<number | null>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolvePromise(c));
  });
  if (code !== 0) throw new Error(`build.sh ${names.join(' ')} failed with exit code ${code}`);
  const lines = stdout.trim().split('\n');
  const dir = lines[lines.length - 1]?.trim();
  if (!dir) throw new Error('build.sh printed no bin directory');
  return dir;
}

/** Absolute paths of the named binaries, building missing ones. */
export async function resolveBinaries<N extends string>(names: readonly N[]): Promise<Record<N, string>> {
  const binDir = cacheBinDir();
  const found = {} as Record<N, string>;
  const missing: N[] = [];
  for (const name of names) {
    const path = locateBinary(name, process.env, binDir);
    if (path) found[name] = path;
    else missing.push(name);
  }
  if (missing.length > 0) {
    const dir = await buildBinaries(missing);
    for (const name of missing) {
      const path = join(dir, name);
      if (!isExecutableFile(path)) throw new Error(`build.sh finished but ${path} is missing`);
      found[name] = path;
    }
  }
  return found;
}

/**
 * Runs a one-binary build script (devcluster/build/<name>.sh: it builds once per machine, serialises
 * with flock, and prints its bin directory last) and returns the path of `binary` in that directory;
 * the script's progress lines go to `log`; `args` are passed to the script.
 */
export async function runBuildScript(
  script: string,
  binary: string,
  log: (line: string) => void = () => {},
  args: readonly string[] = [],
): Promise<string> {
  const child = spawn(script, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    for (const line of c.split('\n')) if (line.trim()) log(line.trim());
  });
  const code = await new Promise<number | null>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', resolvePromise);
  });
  if (code !== 0) throw new Error(`${script} failed with exit code ${code}`);
  const dir = stdout.trim().split('\n').pop()?.trim();
  if (!dir) throw new Error(`${script} printed no bin directory`);
  return join(dir, binary);
}
