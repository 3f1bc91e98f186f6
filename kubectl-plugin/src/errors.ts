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
