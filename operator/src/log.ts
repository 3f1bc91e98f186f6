import winston from 'winston';

export type Logger = winston.Logger;

/** Structured JSON logs on stdout; one line per entry. */
export function createLogger(level: string, defaultMeta: Record<string, unknown> = {}): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { component: 'operator', ...defaultMeta },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}

/** A logger that drops everything; for unit tests of modules that log. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
