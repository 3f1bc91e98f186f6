/**
 * The options every onnxruntime session and run is created with. onnxruntime's own logger writes
 * plain, colored text (`[E:onnxruntime:, sequential_executor.cc:...] ...`) straight to stderr from
 * C++, which would break the runtime's one-JSON-object-per-line log streams on every failed run.
 * The Node binding cannot hand that logger to us, so it is held at FATAL (4) for the process
 * environment, each session and each run: a failed run still rejects with its message, which the
 * runtime answers and logs as JSON itself (http/inference.ts).
 */
import type { InferenceSession } from 'onnxruntime-node';

/** onnxruntime's severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal. */
export const ORT_LOG_SEVERITY = 4;
/** The same level as onnxruntime-common's `env.logLevel`, read once when a thread first loads the binding. */
export const ORT_ENV_LOG_LEVEL = 'fatal';

export function sessionOptions(intraOpThreads: number): InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: ORT_LOG_SEVERITY,
    logVerbosityLevel: 0,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

export const RUN_OPTIONS: InferenceSession.RunOptions = { logSeverityLevel: ORT_LOG_SEVERITY, logVerbosityLevel: 0 };
