/**
 * Polls mounted files (a Secret or ConfigMap volume) for a change of their bytes. Kubernetes
 * updates such a volume by writing a new directory and swapping the `..data` symlink, which an
 * inotify watch on the file path does not see reliably; re-reading a few small files once a
 * second is cheap and sees every kind of update (kubelet swap, cp over, mv into place).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { errorMessage } from '../errors.ts';

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
      const contents = await Promise.all(this.paths.map((p) => readFile(p)));
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
