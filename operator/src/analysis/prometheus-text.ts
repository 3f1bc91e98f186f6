/**
 * Reads the two series the canary analysis needs out of the runtime's Prometheus text exposition
 * (runtime/src/http/metrics.ts; names and labels from the contract): modelship_requests_total{code}
 * and the buckets of modelship_request_duration_seconds, each summed over its other labels
 * (protocol; one pod serves one model version). Only inference is judged: a series labelled
 * kind="metadata" (or any kind but "inference") is skipped. A series without the label comes from
 * a runtime that predates it (inference and metadata counted together) and is read as before.
 * Everything else is skipped unparsed.
 *
 * The text comes from a pod, so it is treated as untrusted: lines are scanned with plain index
 * arithmetic (no regular expressions that could backtrack), at most MAX_LINES lines are read, a line
 * longer than MAX_LINE_CHARS is skipped, and a malformed line of one of the two series is counted and
 * ignored rather than thrown. The scraper caps the body size before the text gets here.
 */
import { REQUEST_KIND, REQUEST_KIND_LABEL, RUNTIME_METRIC } from '../../../contract/runtime-contract.ts';
import type { PodSample } from './types.ts';

export const REQUESTS_METRIC = RUNTIME_METRIC.requests;
export const DURATION_BUCKET_METRIC = `${RUNTIME_METRIC.requestDuration}_bucket`;
export const MAX_LINES = 20_000;
export const MAX_LINE_CHARS = 4096;

export interface ParsedMetrics {
  sample: PodSample;
  /** Lines of the two series that could not be read (bad labels, bad value, missing code/le). */
  malformedLines: number;
  /** true when the text had more than MAX_LINES lines; the rest was not read. */
  truncated: boolean;
  /**
   * Whether the text declares or carries modelship_requests_total, i.e. is the runtime's exposition
   * (an idle runtime has its `# TYPE` line but no series yet); false for some other endpoint's answer.
   */
  isRuntimeExposition: boolean;
}

const REQUESTS_TYPE_LINE = `# TYPE ${REQUESTS_METRIC} counter`;

type Labels = Map<string, string>;

interface SeriesLine {
  name: string;
  labels: Labels;
  value: number;
}

export function parsePrometheusText(text: string): ParsedMetrics {
  let requests = 0;
  let serverErrors = 0;
  let clientErrors = 0;
  const buckets = new Map<number, number>();
  let malformedLines = 0;
  let truncated = false;
  let isRuntimeExposition = false;
  let lines = 0;
  let start = 0;
  while (start < text.length) {
    if (lines === MAX_LINES) {
      truncated = true;
      break;
    }
    lines++;
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const lineStart = start;
    start = end + 1;
    if (!isSeriesOfInterest(text, lineStart, end)) {
      if (text.startsWith(REQUESTS_TYPE_LINE, lineStart)) isRuntimeExposition = true;
      continue;
    }
    if (end - lineStart > MAX_LINE_CHARS) {
      malformedLines++;
      continue;
    }
    const parsed = parseSeriesLine(text.slice(lineStart, end));
    if (!parsed) {
      malformedLines++;
      continue;
    }
    if (parsed.name === REQUESTS_METRIC) isRuntimeExposition = true;
    const kind = parsed.labels.get(REQUEST_KIND_LABEL);
    if (kind !== undefined && kind !== REQUEST_KIND.inference) continue;
    if (parsed.name === REQUESTS_METRIC) {
      const code = parsed.labels.get('code');
      const status = code !== undefined && /^[1-5][0-9][0-9]$/.test(code) ? Number(code) : undefined;
      if (status === undefined || !isCount(parsed.value)) {
        malformedLines++;
        continue;
      }
      requests += parsed.value;
      if (status >= 500) serverErrors += parsed.value;
      else if (status >= 400) clientErrors += parsed.value;
    } else {
      const le = parseBound(parsed.labels.get('le'));
      if (le === undefined || !isCount(parsed.value)) {
        malformedLines++;
        continue;
      }
      buckets.set(le, (buckets.get(le) ?? 0) + parsed.value);
    }
  }
  return {
    sample: { requests, serverErrors, clientErrors, buckets: cumulativeBuckets(buckets) },
    malformedLines,
    truncated,
    isRuntimeExposition,
  };
}

/** Whether the line starts with one of the two metric names followed by `{` or a space. */
function isSeriesOfInterest(text: string, start: number, end: number): boolean {
  for (const name of [REQUESTS_METRIC, DURATION_BUCKET_METRIC]) {
    if (end - start > name.length && text.startsWith(name, start)) {
      const next = text[start + name.length];
      if (next === '{' || next === ' ') return true;
    }
  }
  return false;
}

/** `name{a="x",b="y"} value [timestamp]`; undefined when the line does not follow that form. */
export function parseSeriesLine(line: string): SeriesLine | undefined {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
  const name = line.slice(0, i);
  const labels: Labels = new Map();
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const eq = line.indexOf('=', i);
      if (eq === -1) return undefined;
      const key = line.slice(i, eq).trim();
      if (key === '' || line[eq + 1] !== '"') return undefined;
      const value = readQuoted(line, eq + 2);
      if (!value) return undefined;
      labels.set(key, value.text);
      i = value.next;
      if (line[i] !== ',' && line[i] !== '}') return undefined;
    }
  }
  const rest = line.slice(i).trim();
  if (rest === '') return undefined;
  const space = rest.indexOf(' ');
  const value = parseNumber(space === -1 ? rest : rest.slice(0, space));
  if (value === undefined) return undefined;
  return { name, labels, value };
}

/** A label value from just after its opening quote: the text and the index after the closing quote. */
function readQuoted(line: string, from: number): { text: string; next: number } | undefined {
  let out = '';
  for (let i = from; i < line.length; i++) {
    const c = line[i];
    if (c === '"') return { text: out, next: i + 1 };
    if (c === '\\') {
      const n = line[++i];
      if (n === undefined) return undefined;
      out += n === 'n' ? '\n' : n;
    } else out += c;
  }
  return undefined;
}

function parseNumber(token: string): number | undefined {
  if (token === '+Inf' || token === 'Inf') return Infinity;
  if (token === '-Inf') return -Infinity;
  if (token === 'NaN') return NaN;
  // Number('') is 0 and Number(' 1') is 1; a token has no spaces, so only '' needs care
  if (token === '') return undefined;
  const n = Number(token);
  return Number.isNaN(n) ? undefined : n;
}

function parseBound(le: string | undefined): number | undefined {
  if (le === undefined) return undefined;
  const n = parseNumber(le);
  return n === undefined || Number.isNaN(n) || n < 0 ? undefined : n;
}

const isCount = (n: number): boolean => Number.isFinite(n) && n >= 0;

/**
 * The summed buckets ascending by bound, ending with +Inf. A histogram with no +Inf line gets one
 * holding its largest count, so every observation stays inside the bounds; cumulative counts that
 * fall (only in a malformed text) are raised to keep the series monotonic, as Prometheus does.
 */
function cumulativeBuckets(summed: Map<number, number>): Array<readonly [number, number]> {
  if (summed.size === 0) return [];
  const bounds = [...summed.keys()].sort((a, b) => a - b);
  const out: Array<readonly [number, number]> = [];
  let running = 0;
  for (const b of bounds) {
    running = Math.max(running, summed.get(b) as number);
    out.push([b, running]);
  }
  if (bounds[bounds.length - 1] !== Infinity) out.push([Infinity, running]);
  return out;
}
