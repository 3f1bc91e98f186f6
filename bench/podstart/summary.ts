/** The benchmark's records and its markdown table: medians (min–max) per source. */

/** Milliseconds between the phases of one pod's start. */
export interface PodStart {
  pod: string;
  /** apply (first pod) or the scale patch (second pod) → the pod object exists */
  toCreated: number;
  createdToFetched: number;
  fetchedToRuntimeReady: number;
  runtimeReadyToPodReady: number;
  createdToPodReady: number;
  /** apply or scale → pod Ready */
  toPodReady: number;
  /** full model downloads the source's server answered for this pod */
  downloads: number;
}

export interface Repetition {
  source: string;
  model: string;
  modelBytes: number;
  rep: number;
  first: PodStart;
  /** apply → the ModelDeployment's Ready condition True (polled every 100 ms) */
  applyToMdReady: number;
  second: PodStart;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
export const sec = (ms: number): string => (ms / 1000).toFixed(1);
const size = (bytes: number): string => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${bytes} B`);
const cell = (xs: number[]): string =>
  xs.length > 1 ? `${sec(median(xs))} (${sec(Math.min(...xs))}–${sec(Math.max(...xs))})` : sec(xs[0] ?? NaN);

export function summaryTable(reps: readonly Repetition[]): string {
  const rows = [
    '| source | model | 1st pod: apply → Ready | apply → pod created | created → fetched | fetched → runtime ready | runtime ready → pod Ready | apply → MD Ready | 2nd pod: scale → Ready | 2nd: created → fetched | 2nd: created → Ready | every pod: created → runtime ready | downloads (1st / 2nd pod) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const source of [...new Set(reps.map((r) => r.source))]) {
    const rs = reps.filter((r) => r.source === source);
    const col = (f: (r: Repetition) => number) => cell(rs.map(f));
    // probe-free: when the runtime itself was ready, for the first and the second pods together
    const runtimeReady = cell(rs.flatMap((r) => [r.first, r.second].map((p) => p.createdToFetched + p.fetchedToRuntimeReady)));
    const downloads = (f: (r: Repetition) => number) =>
      [...new Set(rs.map((r) => (Number.isFinite(f(r)) ? String(f(r)) : 'n/a')))].join(',');
    rows.push(
      `| ${source} | ${rs[0]!.model} (${size(rs[0]!.modelBytes)}) | ${col((r) => r.first.toPodReady)} | ${col((r) => r.first.toCreated)} | ${col((r) => r.first.createdToFetched)} | ${col((r) => r.first.fetchedToRuntimeReady)} | ${col((r) => r.first.runtimeReadyToPodReady)} | ${col((r) => r.applyToMdReady)} | ${col((r) => r.second.toPodReady)} | ${col((r) => r.second.createdToFetched)} | ${col((r) => r.second.createdToPodReady)} | ${runtimeReady} | ${downloads((r) => r.first.downloads)} / ${downloads((r) => r.second.downloads)} |`,
    );
  }
  const n = Math.max(...reps.map((r) => r.rep));
  return `${rows.join('\n')}\n\nSeconds, median (min–max) of ${n} repetitions (the last column: of the ${2 * n} pods).`;
}

/** results/<stem>.md */
export const resultsMarkdown = (startedAt: string, reps: readonly Repetition[]): string =>
  `# Pod start → Ready (${startedAt})\n\n${summaryTable(reps)}\n`;
