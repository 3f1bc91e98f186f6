// Polling helpers for tests against a real control plane.

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** Give up after this long (default 60 s: generous, for a loaded 2-core machine). */
  timeoutMs?: number;
  /** Pause between attempts (default 250 ms). */
  intervalMs?: number;
  /** What is awaited; named in the timeout error. */
  description: string;
}

/**
 * Calls `fn` until it resolves to something other than `undefined` or `false`, and returns that.
 * A rejection counts as "not yet" (like Gomega's Eventually); the last one is reported on timeout.
 * An attempt that hangs is abandoned at the deadline, so this never overruns `timeoutMs` by much.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; description: string },
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 250;
  const started = Date.now();
  const deadline = started + timeoutMs;
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    attempts++;
    const remaining = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const expired = Symbol('expired');
    try {
      const result = await Promise.race([
        fn(),
        new Promise<typeof expired>((resolve) => {
          timer = setTimeout(() => resolve(expired), Math.max(remaining, 0));
        }),
      ]);
      if (result === expired) {
        lastError = new Error('the last attempt was still running at the deadline');
      } else if (result !== undefined && result !== false) {
        return result;
      } else {
        lastError = undefined;
      }
    } catch (err) {
      lastError = err;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() < deadline) await sleep(Math.max(0, Math.min(intervalMs, deadline - Date.now())));
    // no attempt starts at the deadline: it could only be cut off, and hide the last real answer
    if (Date.now() >= deadline) {
      const why = lastError === undefined ? '' : `; last error: ${errorMessage(lastError)}`;
      throw new Error(`timed out after ${Date.now() - started} ms (${attempts} attempts) waiting for ${opts.description}${why}`, {
        cause: lastError,
      });
    }
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
