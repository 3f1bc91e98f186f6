// Mounted files (TLS pair, client CA, API key list) are read at start and re-read every second:
// only a regular file of at most MAX_MOUNTED_FILE_BYTES is read; anything else is refused at once,
// never allocated, waited on or read forever, and the poller keeps what is in use.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MAX_MOUNTED_FILE_BYTES, MountedFilePoller, readMountedFile } from '../../runtime/src/http/mounted-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'mounted-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const refusedQuickly = async (path: string, re: RegExp): Promise<void> => {
  const t0 = performance.now();
  await assert.rejects(readMountedFile(path), (e: unknown) => e instanceof Error && re.test(e.message), path);
  assert.ok(performance.now() - t0 < 1000, `${path}: refused after ${(performance.now() - t0).toFixed(0)} ms`);
};

test('readMountedFile: a regular file up to the limit is read; larger, a directory, a FIFO, a device, a symlink loop are refused', async () => {
  const ok = join(dir, 'keys');
  writeFileSync(ok, 'a\nb\n');
  assert.equal((await readMountedFile(ok)).toString(), 'a\nb\n');
  const atLimit = join(dir, 'at-limit');
  writeFileSync(atLimit, Buffer.alloc(MAX_MOUNTED_FILE_BYTES, 0x61));
  assert.equal((await readMountedFile(atLimit)).length, MAX_MOUNTED_FILE_BYTES);

  const big = join(dir, 'big');
  writeFileSync(big, Buffer.alloc(MAX_MOUNTED_FILE_BYTES + 1, 0x61));
  await refusedQuickly(big, /larger than 1048576 bytes/);
  const sub = join(dir, 'sub');
  mkdirSync(sub);
  await refusedQuickly(sub, /not a regular file/);
  // a FIFO without a writer: a blocking open would wait forever (and hold a libuv thread)
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  await refusedQuickly(fifo, /not a regular file/);
  // reading /dev/zero never ends: it would grow until the 2 GiB Buffer limit
  const zero = join(dir, 'zero');
  symlinkSync('/dev/zero', zero);
  await refusedQuickly(zero, /not a regular file/);
  const loop = join(dir, 'loop');
  symlinkSync(loop, loop);
  await refusedQuickly(loop, /ELOOP/);
});

test('MountedFilePoller: a file swapped for a device is reported unreadable, not read; the change after it is seen', async () => {
  const path = join(dir, 'polled');
  writeFileSync(path, 'old\n');
  const seen: string[] = [];
  const unreadable: string[] = [];
  const poller = new MountedFilePoller([path], [Buffer.from('old\n')], 3_600_000, {
    changed: ([c]) => seen.push(String(c)),
    unreadable: (m) => unreadable.push(m),
  });
  try {
    await poller.poll();
    assert.deepEqual(seen, []);
    rmSync(path);
    symlinkSync('/dev/zero', path);
    await poller.poll();
    assert.equal(unreadable.length, 1);
    assert.match(unreadable[0] as string, /not a regular file/);
    assert.deepEqual(seen, []);
    rmSync(path);
    writeFileSync(path, 'new\n');
    await poller.poll();
    assert.deepEqual(seen, ['new\n']);
  } finally {
    poller.stop();
  }
});
