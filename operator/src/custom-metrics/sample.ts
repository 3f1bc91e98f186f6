/**
 * Reads the two counters the load metrics need out of the runtime's Prometheus text (names from
 * the contract): modelship_requests_total with kind="inference" and modelship_inflight_seconds_total.
 * The text is untrusted: at most MAX_LINES lines, over-long lines skipped, lines parsed by the
 * canary analysis' backtracking-free parseSeriesLine.
 */
import { REQUEST_KIND, REQUEST_KIND_LABEL, RUNTIME_METRIC } from '../../../contract/runtime-contract.ts';
import { MAX_LINE_CHARS, MAX_LINES, parseSeriesLine } from '../analysis/prometheus-text.ts';

export interface LoadCounters {
  inferenceRequests: number;
  inflightSeconds: number | undefined;
}

/** undefined when the text is not the runtime's (no modelship_requests_total TYPE line or series). */
export function parseLoadCounters(text: string): LoadCounters | undefined {
  let inferenceRequests = 0;
  let inflightSeconds: number | undefined;
  let isRuntime = false;
  let start = 0;
  for (let lines = 0; start < text.length && lines < MAX_LINES; lines++) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, Math.min(end, start + MAX_LINE_CHARS + 1));
    start = end + 1;
    if (line.length > MAX_LINE_CHARS) continue;
    if (line.startsWith(`# TYPE ${RUNTIME_METRIC.requests} `)) {
      isRuntime = true;
      continue;
    }
    if (!line.startsWith(RUNTIME_METRIC.requests) && !line.startsWith(RUNTIME_METRIC.inflightSeconds)) continue;
    const s = parseSeriesLine(line);
    if (!s || !Number.isFinite(s.value) || s.value < 0) continue;
    if (s.name === RUNTIME_METRIC.requests) {
      isRuntime = true;
      const kind = s.labels.get(REQUEST_KIND_LABEL);
      if (kind === undefined || kind === REQUEST_KIND.inference) inferenceRequests += s.value;
    } else if (s.name === RUNTIME_METRIC.inflightSeconds) {
      inflightSeconds = (inflightSeconds ?? 0) + s.value;
    }
  }
  return isRuntime ? { inferenceRequests, inflightSeconds } : undefined;
}
