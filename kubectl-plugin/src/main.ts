// kubectl-modelship: the entry point kubectl runs for `kubectl modelship ...` (bin/kubectl-modelship
// starts it with the repository's Node). Parses the command line, resolves the kubeconfig, runs the
// command; errors are one line on stderr. Exit codes: 0 ok, 1 failure, 2 usage.
import packageJson from '../package.json' with { type: 'json' };
import { parseCommandLine, USAGE } from './args.ts';
import { runCommand, type Io } from './commands.ts';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors.ts';
import { ModelshipApi, resolveTarget } from './kube.ts';
import { oneLine } from './watch.ts';

export async function main(argv: readonly string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  try {
    const { global, command } = parseCommandLine(argv);
    if (command.kind === 'help') {
      io.stdout.write(USAGE);
      return EXIT_OK;
    }
    if (command.kind === 'version') {
      io.stdout.write(`kubectl-modelship ${packageJson.version}\n`);
      return EXIT_OK;
    }
    return await runCommand(new ModelshipApi(resolveTarget(global, env)), command, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${oneLine(err.message)}\nSee 'kubectl modelship --help'.\n`);
      return EXIT_USAGE;
    }
    if (err instanceof CliError) {
      io.stderr.write(`error: ${oneLine(err.message)}\n`);
      return EXIT_FAILURE;
    }
    // a bug: still one line, but say where to look
    io.stderr.write(
      `error: unexpected ${(err as Error)?.name ?? 'failure'}: ${oneLine((err as Error)?.message ?? String(err))} (set MODELSHIP_DEBUG=1 for the stack)\n`,
    );
    if (env.MODELSHIP_DEBUG) io.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    return EXIT_FAILURE;
  }
}

const io: Io = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  now: () => new Date(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};
process.exitCode = await main(process.argv.slice(2), io, process.env);
