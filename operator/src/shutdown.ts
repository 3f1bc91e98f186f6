import type { Logger } from './log.ts';

export interface ShutdownOptions {
  /** The graceful steps: stop the controller, release the Lease, close the ops server. */
  steps: (reason: string) => Promise<void>;
  /** Ends the process; called exactly once. */
  exit: (code: number) => void;
  log: Logger;
}

/**
 * Process shutdown that always ends in `exit`, whoever starts it and whatever hangs:
 * - `begin` starts the graceful steps once and returns at once. Callers never await it, so a
 *   step that waits for its own caller (the leader election loop running the lost-leadership
 *   callback) cannot deadlock the process.
 * - A hard deadline exits even if a step never settles (an API call to an unreachable server).
 * - A signal during a shutdown exits at once: a second SIGTERM/SIGINT is the operator's "now".
 */
export class Shutdown {
  private readonly opts: ShutdownOptions;
  private started: { reason: string; code: number } | undefined;
  private exited = false;

  constructor(opts: ShutdownOptions) {
    this.opts = opts;
  }

  get inProgress(): boolean {
    return this.started !== undefined;
  }

  begin(reason: string, code: number, deadlineMs: number): void {
    if (this.started) {
      this.opts.log.debug('shutdown already under way', { reason, pending: this.started.reason });
      return;
    }
    this.started = { reason, code };
    this.opts.log.info('shutting down', { reason, exitCode: code, deadlineMs });
    const deadline = setTimeout(() => {
      this.opts.log.error('shutdown did not finish within its deadline; exiting anyway', { reason, deadlineMs });
      this.exit(code);
    }, deadlineMs);
    this.opts
      .steps(reason)
      .catch((err: unknown) => this.opts.log.error('shutdown step failed', { reason, error: (err as Error)?.message ?? String(err) }))
      .finally(() => {
        clearTimeout(deadline);
        this.exit(code);
      });
  }

  /** SIGTERM/SIGINT: the first starts a graceful shutdown (exit 0); one during any shutdown exits now. */
  signal(name: string, deadlineMs: number): void {
    if (!this.started) return this.begin(name, 0, deadlineMs);
    this.opts.log.warn('signal during shutdown; exiting now', { signal: name, pending: this.started.reason });
    this.exit(this.started.code);
  }

  private exit(code: number): void {
    if (this.exited) return;
    this.exited = true;
    this.opts.exit(code);
  }
}
