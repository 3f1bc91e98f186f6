/**
 * Entry point: `node runtime/src/main.ts serve|fetch [flags]` (flags or MODELSHIP_* env vars,
 * see runtime/README.md). Exit codes: 0 ok, 1 failure, 2 bad configuration, 3 model cannot be served (errors.ts).
 */
import { writeFileSync } from 'node:fs';
import { COMMAND, EXIT_CODE } from '../../contract/runtime-contract.ts';
import { parseConfig, usage, type Config } from './config.ts';
import { ConfigError, errorMessage } from './errors.ts';
import { fetchModel } from './fetch/fetch-model.ts';
import { createLogger } from './logger.ts';
import { serve } from './serve.ts';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const wantsHelp = (a: string | undefined) => a === '--help' || a === '-h' || a === 'help';
  if (argv.length === 0 || wantsHelp(argv[0]) || argv.slice(1).some(wantsHelp)) {
    process.stdout.write(usage());
    return argv.length === 0 ? EXIT_CODE.badConfiguration : EXIT_CODE.ok;
  }
  let config: Config;
  try {
    config = parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      createLogger('error', 'runtime').error(`invalid configuration: ${err.message}`);
      return EXIT_CODE.badConfiguration;
    }
    throw err;
  }
  if (config.command === COMMAND.fetch) {
    const log = createLogger(config.logLevel, 'fetch');
    try {
      await fetchModel(config, log);
      return EXIT_CODE.ok;
    } catch (err) {
      const message = errorMessage(err);
      log.error(`fetch failed: ${message}`);
      try {
        // the reader (the operator's FetchFailed signal, kubectl describe) already says it was the fetch
        writeFileSync(config.terminationLogPath, `${message}\n`);
      } catch {
        // not in Kubernetes
      }
      return EXIT_CODE.failure;
    }
  }
  const log = createLogger(config.logLevel, 'serve');
  try {
    const running = await serve(config, log);
    return await running.done;
  } catch (err) {
    // the TLS files or the API key file cannot be used: bad configuration, told as the termination message
    if (!(err instanceof ConfigError)) throw err;
    const message = `invalid configuration: ${err.message}`;
    log.error(message);
    try {
      writeFileSync(config.terminationLogPath, `${message}\n`);
    } catch {
      // not in Kubernetes
    }
    return EXIT_CODE.badConfiguration;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
    // let the logger flush, then leave even if a handle lingers
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    createLogger('error', 'runtime').error(`fatal: ${errorMessage(err)}`);
    process.exit(EXIT_CODE.failure);
  },
);
