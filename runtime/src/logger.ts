import winston from 'winston';

export type Logger = winston.Logger;

/** JSON lines on stdout (stderr for warn/error, so `kubectl logs` and the termination reason show them). */
export function createLogger(level: string, component: string): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { component },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })],
  });
}
