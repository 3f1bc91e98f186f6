/** Exit codes, as kubectl plugins are expected to use them. */
export const EXIT_OK = 0;
/** A failure: the cluster said no, the rollout failed, the input file is bad. */
export const EXIT_FAILURE = 1;
/** The command line itself is wrong (unknown command or flag, missing argument). */
export const EXIT_USAGE = 2;

/** The command line is wrong; main prints the message and a hint to --help, exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Anything the user should read as one line on stderr, exits 1 (nothing was changed unless it says so). */
export class CliError extends Error {
  override name = 'CliError';
}

/** Nothing to do: e.g. `promote` with no canary or experiment running. Exits 1, nothing changed. */
export class NothingToDoError extends CliError {
  override name = 'NothingToDoError';
}

/** The object changed between our read and our write (HTTP 409 on a resourceVersion-guarded patch). */
export class ConflictError extends CliError {
  override name = 'ConflictError';
}

/**
 * Runs read-plan-write `attempt` again when its write met a concurrent change: the operator writes a
 * ModelDeployment's status every few seconds during a canary, which moves its resourceVersion, and
 * the plan made from a fresh read is the one the user asked for (or says there is nothing to do).
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof ConflictError) || i >= attempts) throw err;
    }
  }
}
