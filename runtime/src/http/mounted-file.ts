/**
 * Polls mounted files (a Secret or ConfigMap volume) for a change of their bytes. Kubernetes
 * updates such a volume by writing a new directory and swapping the `..data` symlink, which an
 * inotify watch on the file path does not see reliably; re-reading a few small files once a
 * second is cheap and sees every kind of update (kubelet swap, cp over, mv into place).
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { errorMessage } from '../errors.ts';

/** Kubernetes caps a Secret or ConfigMap at 1 MiB: no mounted key, certificate or key list is larger. */
export const MAX_MOUNTED_FILE_BYTES = 1024 * 1024;

/**
 * The bytes of a mounted file, which must be a regular file of at most `maxBytes`: checked on the
 * open descriptor before reading, and opened non-blocking, so a path that becomes a FIFO (whose
 * open would wait for a writer), a device such as /dev/zero (whose read never ends) or a
 * misconfigured large file is refused at once instead of read.
 */
export async function readMountedFile(path: string, maxBytes = MAX_MOUNTED_FILE_BYTES): Promise<Buffer> {
  const file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new Error(`${path} is not a regular file`);
    if (stat.size > maxBytes) throw new Error(`${path} is larger than ${maxBytes} bytes`);
    const bytes = await file.readFile();
    // it grew between the check and the read
    if (bytes.length > maxBytes) throw new Error(`${path} is larger than ${maxBytes} bytes`);
    return bytes;
  } finally {
    await file.close();
  }
}

export interface PollHandlers {
  /** the files' bytes differ from the last ones seen (in the order of `paths`) */
  changed: (contents: Buffer[]) => void;
  /** a file could not be read (each distinct message once until a read succeeds) */
  unreadable: (message: string) => void;
}

export class MountedFilePoller {
  private readonly timer: NodeJS.Timeout;
  private lastDigest: string;
  private lastError = '';
  private busy = false;
  private readonly paths: readonly string[];
  private readonly handlers: PollHandlers;

  /** `initial`: the bytes already in use, so the first poll does not report them as a change */
  constructor(paths: readonly string[], initial: readonly Buffer[], intervalMs: number, handlers: PollHandlers) {
    this.paths = paths;
    this.handlers = handlers;
    this.lastDigest = digestOf(initial);
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.timer.unref();
  }

  async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const contents = await Promise.all(this.paths.map((p) => readMountedFile(p)));
      this.lastError = '';
      const digest = digestOf(contents);
      if (digest === this.lastDigest) return;
      this.lastDigest = digest;
      this.handlers.changed(contents);
    } catch (err) {
      const message = errorMessage(err);
      if (message !== this.lastError) this.handlers.unreadable(message);
      this.lastError = message;
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function digestOf(contents: readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const c of contents) h.update(createHash('sha256').update(c).digest());
  return h.digest('hex');
}
