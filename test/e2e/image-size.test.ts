// The images the e2e cluster runs fit their job: the runtime and operator archives stay within
// their size targets, carry no shell or package manager, and ship onnxruntime-node's linux/x64
// CPU binaries only (the operator none at all). Sizes are the uncompressed bytes of the layers in
// the docker-archive tar the harness builds (the sum of each layer tar's size, tar headers
// included), in MB of 10^6 bytes. Run alone it builds whatever image is missing (minutes).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { before, describe, it } from 'node:test';
import { ensureImages, type BuiltImage, type Images } from '@modelship/devcluster/images';

const TARGET_MB = { runtime: 200, operator: 150 } as const;
const MB = 1e6;

interface Member {
  name: string;
  size: number;
}

/** GNU `tar -tv` output as names and sizes. */
function parseListing(listing: string): Member[] {
  const members: Member[] = [];
  for (const line of listing.split('\n')) {
    // -rw-r--r-- 0/0  1926232 2026-11-30 02:37 lib/x86_64-linux-gnu/libc.so.6
    const m = /^\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+(.+?)(?: -> .*| link to .*)?$/.exec(line);
    if (m) members.push({ name: m[2]!.replace(/^\.\//, ''), size: Number(m[1]) });
  }
  return members;
}

function listArchive(archive: string): Promise<Member[]> {
  return new Promise((resolve, reject) => {
    execFile('tar', ['--numeric-owner', '-tvf', archive], { maxBuffer: 64 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(parseListing(stdout)),
    );
  });
}

/** The members of one layer tar inside the archive (streamed: `tar -xOf archive layer | tar -tv`). */
function listLayer(archive: string, layer: string): Promise<Member[]> {
  return new Promise((resolve, reject) => {
    const extract = spawn('tar', ['-xOf', archive, layer], { stdio: ['ignore', 'pipe', 'inherit'] });
    const list = spawn('tar', ['--numeric-owner', '-tvf', '-'], { stdio: ['pipe', 'pipe', 'inherit'] });
    extract.stdout.pipe(list.stdin);
    let out = '';
    list.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    extract.on('error', reject);
    list.on('error', reject);
    list.on('close', (code) => (code === 0 ? resolve(parseListing(out)) : reject(new Error(`tar -tv of ${layer} exited ${code}`))));
  });
}

interface ImageContents {
  layers: { name: string; size: number }[];
  totalBytes: number;
  files: Member[];
}

async function contents(image: BuiltImage): Promise<ImageContents> {
  const top = await listArchive(image.archive);
  const manifestRaw = await new Promise<string>((resolve, reject) =>
    execFile('tar', ['-xOf', image.archive, 'manifest.json'], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  const manifest = JSON.parse(manifestRaw) as { Layers: string[] }[];
  const layers = manifest[0]!.Layers.map((name) => {
    const member = top.find((m) => m.name === name);
    assert.ok(member, `${image.archive} lists layer ${name} but holds no such member`);
    return { name, size: member.size };
  });
  const files: Member[] = [];
  for (const l of layers) files.push(...(await listLayer(image.archive, l.name)));
  return { layers, totalBytes: layers.reduce((s, l) => s + l.size, 0), files };
}

/** The largest entries, grouped by a path prefix, for the test's diagnostics. */
function breakdown(files: Member[]): string {
  const groups = new Map<string, number>();
  for (const f of files) {
    const parts = f.name.split('/');
    const nm = parts.indexOf('node_modules');
    const key = nm >= 0 ? parts.slice(0, nm + (parts[nm + 1]?.startsWith('@') ? 3 : 2)).join('/') : parts.slice(0, 3).join('/');
    groups.set(key, (groups.get(key) ?? 0) + f.size);
  }
  return [...groups]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, v]) => `${(v / MB).toFixed(1)} MB ${k}`)
    .join(', ');
}

const SHELLS_AND_PACKAGE_MANAGERS = /(^|\/)(s?bin\/(sh|bash|dash|busybox|apt|apt-get|dpkg)|node_modules\/(npm|corepack)\/package\.json)$/;

describe('e2e: the runtime and operator images fit their job', { timeout: 1_800_000 }, () => {
  let images: Images;
  const seen = new Map<'runtime' | 'operator', ImageContents>();

  before(async () => {
    images = await ensureImages({ log: (l) => process.stderr.write(`images: ${l}\n`) });
    for (const c of ['runtime', 'operator'] as const) seen.set(c, await contents(images[c]));
  });

  for (const component of ['runtime', 'operator'] as const) {
    it(`the ${component} image is at most ${TARGET_MB[component]} MB uncompressed (sum of its layers)`, (t) => {
      const c = seen.get(component)!;
      const mb = c.totalBytes / MB;
      t.diagnostic(
        `${component}: ${mb.toFixed(1)} MB in ${c.layers.length} layer(s) [${c.layers.map((l) => (l.size / MB).toFixed(1)).join(' + ')}]`,
      );
      t.diagnostic(`${component}: ${breakdown(c.files)}`);
      assert.ok(mb <= TARGET_MB[component], `${component} image is ${mb.toFixed(1)} MB, over its ${TARGET_MB[component]} MB target`);
    });

    it(`the ${component} image has node and no shell or package manager`, () => {
      const names = seen.get(component)!.files.map((f) => f.name);
      assert.ok(names.includes('usr/local/bin/node'), `${component} image has no usr/local/bin/node`);
      const offending = names.filter((n) => SHELLS_AND_PACKAGE_MANAGERS.test(n));
      assert.deepEqual(offending, [], `${component} image carries a shell or package manager`);
    });
  }

  it('the runtime ships onnxruntime-node for linux/x64 CPU only, the operator no onnxruntime', () => {
    const runtimeNative = seen
      .get('runtime')!
      .files.map((f) => f.name)
      .filter((n) => n.includes('node_modules/onnxruntime-node/bin/') && /\.(so[.\d]*|node|dll|dylib)$/.test(n));
    assert.ok(runtimeNative.length > 0, 'runtime image has no onnxruntime-node binaries');
    const foreign = runtimeNative.filter((n) => !/\/linux\/x64\/[^/]+$/.test(n) || /cuda|tensorrt|providers_/i.test(n));
    assert.deepEqual(foreign, [], 'runtime image ships onnxruntime binaries for another platform or GPU provider');
    const operatorOrt = seen
      .get('operator')!
      .files.filter((f) => f.name.includes('onnxruntime'))
      .map((f) => f.name);
    assert.deepEqual(operatorOrt, [], 'operator image carries onnxruntime');
  });
});
