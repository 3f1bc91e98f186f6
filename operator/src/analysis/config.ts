/**
 * spec.rollout.canary.analysis parsed once into numbers. The CRD schema already defaults and validates
 * these fields; the same defaults and checks are repeated here so an object written before the schema
 * had them (or a unit test) cannot reach the judge with a string or an out-of-range value.
 */
import type { CanaryAnalysisSpec } from '../api/types.generated.ts';
import { AnalysisSpecError } from './errors.ts';
import type { AnalysisConfig } from './types.ts';

const FIELD = 'spec.rollout.canary.analysis';
export const MIN_ANALYSIS_INTERVAL_MS = 5_000;
export const ANALYSIS_DEFAULTS = {
  interval: '30s',
  minRequests: 50,
  maxErrorRate: '1%',
  maxP99LatencyIncrease: '100%',
} as const;

export function parseAnalysisConfig(spec: CanaryAnalysisSpec | undefined): AnalysisConfig {
  const s = spec ?? {};
  const intervalMs = parseSpecDuration(s.interval ?? ANALYSIS_DEFAULTS.interval, `${FIELD}.interval`);
  if (intervalMs < MIN_ANALYSIS_INTERVAL_MS) throw new AnalysisSpecError(`${FIELD}.interval: "${s.interval}" is shorter than 5s`);
  const minRequests = s.minRequests ?? ANALYSIS_DEFAULTS.minRequests;
  if (!Number.isInteger(minRequests) || minRequests < 1) {
    throw new AnalysisSpecError(`${FIELD}.minRequests: ${minRequests} is not a whole number of at least 1`);
  }
  const maxP99LatencyMs = s.maxP99LatencyMs;
  if (maxP99LatencyMs !== undefined && !(Number.isFinite(maxP99LatencyMs) && maxP99LatencyMs > 0)) {
    throw new AnalysisSpecError(`${FIELD}.maxP99LatencyMs: ${maxP99LatencyMs} is not a positive number of milliseconds`);
  }
  return {
    intervalMs,
    minRequests,
    maxErrorRate: parsePercent(s.maxErrorRate ?? ANALYSIS_DEFAULTS.maxErrorRate, `${FIELD}.maxErrorRate`),
    maxP99LatencyMs,
    maxP99LatencyIncrease: parsePercent(
      s.maxP99LatencyIncrease ?? ANALYSIS_DEFAULTS.maxP99LatencyIncrease,
      `${FIELD}.maxP99LatencyIncrease`,
    ),
    maxClientErrorRateIncrease:
      s.maxClientErrorRateIncrease === undefined
        ? undefined
        : parsePercent(s.maxClientErrorRateIncrease, `${FIELD}.maxClientErrorRateIncrease`),
  };
}

/** "1%" → 0.01, "0.5%" → 0.005, "150%" → 1.5 (the CRD pattern ^[0-9]+(\.[0-9]+)?%$). */
export function parsePercent(value: string, field: string): number {
  if (!/^[0-9]{1,9}(\.[0-9]{1,9})?%$/.test(value)) {
    throw new AnalysisSpecError(`${field}: "${value}" is not a percentage like "1%" or "0.5%"`);
  }
  return Number(value.slice(0, -1)) / 100;
}

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1_000 } as const;

/**
 * A duration as the CRD writes them (pattern ^([0-9]+[smh])+$): "30s", "5m", "1h", "1m30s"; the same
 * strings CEL's duration() reads, so the CRD's minimum-interval rule and this parser agree.
 */
export function parseSpecDuration(value: string, field: string): number {
  if (value.length === 0 || value.length > 32)
    throw new AnalysisSpecError(`${field}: "${value}" is not a duration like 30s, 5m, 1h or 1m30s`);
  let ms = 0;
  let digits = '';
  for (const c of value) {
    if (c >= '0' && c <= '9') {
      digits += c;
      continue;
    }
    const unit = UNIT_MS[c as keyof typeof UNIT_MS];
    if (unit === undefined || digits === '')
      throw new AnalysisSpecError(`${field}: "${value}" is not a duration like 30s, 5m, 1h or 1m30s`);
    ms += Number(digits) * unit;
    digits = '';
  }
  if (digits !== '') throw new AnalysisSpecError(`${field}: "${value}" is not a duration like 30s, 5m, 1h or 1m30s`);
  return ms;
}
