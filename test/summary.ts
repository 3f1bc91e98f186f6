// Parsing node:test's closing counts (TAP reporter `# pass N` lines, or the spec reporter's `ℹ pass N`).

export interface TapSummary {
  tests: number;
  suites: number;
  pass: number;
  fail: number;
  cancelled: number;
  skipped: number;
  todo: number;
}

const KEYS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'] as const;

/**
 * The last summary block in `text` (TAP `# pass 3` or spec `ℹ pass 3`); throws if there is none,
 * e.g. when the test process died before reporting.
 */
export function parseTapSummary(text: string): TapSummary {
  const found: Partial<Record<(typeof KEYS)[number], number>> = {};
  const re = /^\s*(?:#|ℹ)\s+(tests|suites|pass|fail|cancelled|skipped|todo)\s+(\d+)\s*$/gmu;
  for (const m of text.matchAll(re)) {
    found[m[1] as (typeof KEYS)[number]] = Number(m[2]);
  }
  if (found.pass === undefined || found.fail === undefined) throw new Error('no test summary found');
  return {
    tests: found.tests ?? 0,
    suites: found.suites ?? 0,
    pass: found.pass,
    fail: found.fail,
    cancelled: found.cancelled ?? 0,
    skipped: found.skipped ?? 0,
    todo: found.todo ?? 0,
  };
}

/** The combined line CI reads: `N passed, N failed`. */
export function combinedLine(passed: number, failed: number): string {
  return `${passed} passed, ${failed} failed`;
}

export function sumSummaries(summaries: readonly TapSummary[]): TapSummary {
  const total: TapSummary = { tests: 0, suites: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  for (const s of summaries) for (const k of KEYS) total[k] += s[k];
  return total;
}

/** The spec reporter's closing block (`ℹ tests N` …), without duration. */
export function formatSummary(s: TapSummary): string {
  return KEYS.map((k) => `ℹ ${k} ${s[k]}`).join('\n');
}
