/**
 * The access log: one JSON line per inference request (component "access", message "access"),
 * written when its connection closes, for every request ("on"), every N-th ("1/N") or none ("off",
 * the default: see runtime/README.md for the measured cost). A line carries what the request was
 * and how it was answered, never a body, a header value other than the ids, or the API key.
 */
import type { AccessLogSetting } from '../../../contract/runtime-contract.ts';
import { createLogger, type Logger } from '../logger.ts';

export interface AccessRecord {
  method: string;
  /** the path without its query */
  path: string;
  protocol: string;
  /** the model and version the request named (version: this pod's, unless pinned) */
  model: string;
  version: string;
  /** the version the request was forwarded to (A/B pinning), if it was */
  forwardedTo?: string;
  /** what the client got; 499 when it left first */
  status: number;
  durationMs: number;
  bytesIn: number | undefined;
  bytesOut: number | undefined;
  requestId: string;
  traceId?: string;
  /** the V2 request's own "id" */
  inferenceId?: string;
  clientIp: string | undefined;
}

/** An inference request's "id" in a log line is cut to this length (the body may carry any string). */
export const INFERENCE_ID_LOG_LENGTH = 128;

export class AccessLog {
  private readonly every: number;
  private seen = 0;
  private readonly out: Logger | undefined;

  constructor(setting: AccessLogSetting, out?: Logger) {
    this.every = setting.mode === 'off' ? 0 : setting.mode === 'on' ? 1 : setting.every;
    this.out = this.every === 0 ? undefined : (out ?? createLogger('info', 'access'));
  }

  get enabled(): boolean {
    return this.every !== 0;
  }

  /** Whether the request being admitted is logged: every N-th of them (counted, not random, so "1/N" is exact). */
  sample(): boolean {
    if (this.every === 0) return false;
    if (++this.seen < this.every) return false;
    this.seen = 0;
    return true;
  }

  write(r: AccessRecord): void {
    const line: Record<string, unknown> = { ...r, durationMs: Math.round(r.durationMs * 1000) / 1000 };
    if (r.inferenceId !== undefined && r.inferenceId.length > INFERENCE_ID_LOG_LENGTH)
      line['inferenceId'] = `${r.inferenceId.slice(0, INFERENCE_ID_LOG_LENGTH)}...`;
    this.out?.info('access', line);
  }
}
