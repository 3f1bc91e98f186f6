// A real OCI registry for the tests of oci:// model sources: distribution's registry (the CNCF
// registry, API v2; devcluster/build/registry.sh builds it from its Go module) with filesystem
// storage, optionally behind htpasswd Basic auth, and the ORAS CLI (devcluster/build/oras.sh) to
// push models into it as OCI artifacts, the way a user would.

import { execFile } from 'node:child_process';
import bcrypt from 'bcryptjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { repoRoot, runBuildScript } from './binaries.ts';
import { freePort } from './ports.ts';
import { assertRunning, spawnStandalone, tail } from './processes.ts';
import { waitFor } from './wait.ts';

/** Absolute path of the registry binary, building it if needed (minutes the first time; flock-serialised). */
export const resolveRegistry = (log: (line: string) => void = () => {}): Promise<string> =>
  runBuildScript(join(repoRoot, 'devcluster/build/registry.sh'), 'registry', log);
/** Absolute path of the oras CLI, building it if needed. */
export const resolveOras = (log: (line: string) => void = () => {}): Promise<string> =>
  runBuildScript(join(repoRoot, 'devcluster/build/oras.sh'), 'oras', log);

export interface RegistryOptions {
  /** state and logs go here */
  dir: string;
  /** address the registry listens on (default 127.0.0.1) */
  address?: string;
  /** Basic auth with this one user (htpasswd, bcrypt); anonymous when absent */
  user?: { username: string; password: string };
  log?: (line: string) => void;
}

export interface OciRegistry {
  /** host:port, as in an oci:// reference */
  host: string;
  logPath: string;
  stop(): Promise<void>;
}

export async function startRegistry(o: RegistryOptions): Promise<OciRegistry> {
  const log = o.log ?? (() => {});
  const bin = await resolveRegistry(log);
  const address = o.address ?? '127.0.0.1';
  const port = await freePort();
  const name = `registry-${port}`;
  const root = join(o.dir, name);
  mkdirSync(join(root, 'storage'), { recursive: true });
  let auth = '';
  if (o.user) {
    // bcrypt, the one htpasswd hash the registry accepts
    const hash = await bcrypt.hash(o.user.password, 10);
    writeFileSync(join(root, 'htpasswd'), `${o.user.username}:${hash}\n`);
    auth = `auth:\n  htpasswd:\n    realm: modelship-test\n    path: ${join(root, 'htpasswd')}\n`;
  }
  const config = join(root, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: ${join(root, 'storage')}\n` +
      `  delete:\n    enabled: true\nhttp:\n  addr: ${address}:${port}\n${auth}`,
  );
  const env = { ...process.env, OTEL_TRACES_EXPORTER: 'none' };
  const { proc, stop } = spawnStandalone('registry', bin, ['serve', config], join(root, 'registry.log'), { env });
  const host = `${address}:${port}`;
  try {
    await waitFor(
      async () => {
        assertRunning(proc);
        const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        await res?.body?.cancel();
        return res !== undefined && (res.status === 200 || res.status === 401);
      },
      { timeoutMs: 30_000, intervalMs: 200, description: `registry on ${host}` },
    );
  } catch (err) {
    const logText = await tail(proc.logPath);
    await stop().catch(() => {});
    throw new Error(`${(err as Error).message}\n${proc.logPath} ends with:\n${logText}`, { cause: err });
  }
  log(`registry ${host} up (pid ${proc.pid}${o.user ? ', htpasswd' : ''})`);
  return { host, logPath: proc.logPath, stop };
}

export interface PushOptions {
  oras: string;
  /** host:port/repository:tag, without oci:// */
  reference: string;
  /** files pushed as layers, each with its media type */
  files: { path: string; mediaType: string }[];
  user?: { username: string; password: string };
  /** config directory of oras (credentials never land in $HOME) */
  dir: string;
}

/** `oras push --plain-http`; returns the manifest digest ("sha256:..."). */
export async function orasPush(o: PushOptions): Promise<string> {
  // oras refuses absolute paths (it records the name as the title): run it in the files' directory
  const cwd = dirname(o.files[0]?.path ?? '.');
  const registryConfig = join(o.dir, 'oras-config.json');
  writeFileSync(registryConfig, '{}');
  const auth = o.user ? ['--username', o.user.username, '--password-stdin'] : [];
  const args = [
    'push',
    '--plain-http',
    '--registry-config',
    registryConfig,
    ...auth,
    '--format',
    'json',
    o.reference,
    ...o.files.map((f) => `${basename(f.path)}:${f.mediaType}`),
  ];
  const out = await new Promise<string>((resolve, reject) => {
    const child = execFile(o.oras, args, { cwd }, (err, stdout, stderr) =>
      err ? reject(new Error(`oras ${args.join(' ')} failed: ${stderr}${stdout}`)) : resolve(stdout),
    );
    child.stdin?.end(o.user ? `${o.user.password}\n` : '');
  });
  const digest = (JSON.parse(out) as { digest?: string }).digest;
  if (!digest?.startsWith('sha256:')) throw new Error(`oras push printed no digest: ${out}`);
  return digest;
}
