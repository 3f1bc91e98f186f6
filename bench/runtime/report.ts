/**
 * The runtime benchmark's tables (pure: measurements in, markdown out). Per model: every server's req/s
 * (= rows/s: one row per request) at each concurrency with the min–max over rounds, p50/p99, RSS; the
 * in-process session.run ceiling by thread count and batch size; and the ratios issue 12 sets targets for.
 */

export interface Cell {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

export interface LoopCell {
  threads: number;
  batch: number;
  rowsPerSec: number;
  runsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** runtime: this project's server; node: the raw node:http peer; python: the Python peers */
export type PeerKind = 'runtime' | 'node' | 'python';

export interface PeerInfo {
  id: string;
  label: string;
  kind: PeerKind;
  command: string;
}

export interface Rss {
  /** after the readiness and correctness check, before any load */
  idleMiB: number;
  /** largest sample, taken after each load cell */
  peakMiB: number;
  processes: number;
}

export interface ModelResult {
  name: string;
  bytes: number;
  duration: number;
  peers: PeerInfo[];
  /** key `${peer id}|${concurrency}`: one cell per round */
  cells: Record<string, Cell[]>;
  rss: Record<string, Rss>;
  /** one session-loop result per round */
  loops: LoopCell[][];
}

export interface ReportInput {
  cores: number;
  cpu: string;
  node: string;
  runs: number;
  concurrency: number[];
  models: ModelResult[];
  /** load average (1 min) sampled at the start of each model and at the end */
  loadAverages: number[];
  totalSeconds: number;
}

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const f1 = (x: number) => (Number.isFinite(x) ? (x >= 100 ? f0(x) : x.toFixed(1)) : '–');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const spread = (xs: number[], f: (x: number) => string) => (xs.length > 1 ? ` (${f(Math.min(...xs))}–${f(Math.max(...xs))})` : '');

/** The targets of issue 12 whose thresholds the tables check. */
export const TARGETS = { vsPython: 1.5, vsCeilingLarge: 0.85, p99VsRawTinyMs: 1, rssModelFactor: 2 };

export function modelSection(r: ModelResult, concurrency: number[], runtimeIdleRssMiB: number | undefined): string[] {
  const cells = (id: string, c: number) => r.cells[`${id}|${c}`] ?? [];
  const med = (id: string, c: number): Cell => {
    const xs = cells(id, c);
    return {
      rps: median(xs.map((x) => x.rps)),
      p50: median(xs.map((x) => x.p50)),
      p99: median(xs.map((x) => x.p99)),
      errors: xs.reduce((a, x) => a + x.errors, 0),
    };
  };
  const best = (id: string): { c: number; cell: Cell } => {
    let b = { c: 0, cell: { rps: NaN, p50: NaN, p99: NaN, errors: 0 } as Cell };
    for (const c of concurrency) {
      const m = med(id, c);
      if (!(b.cell.rps >= m.rps)) b = { c, cell: m };
    }
    return b;
  };
  const lines: string[] = [];
  const mb = r.bytes / 1e6;
  lines.push(`### ${r.name} (${mb >= 1 ? mb.toFixed(1) : mb.toFixed(3)} MB model, ${r.duration} s per cell)`);
  lines.push('');
  lines.push(
    `| server | ${concurrency.map((c) => `c=${c} req/s (min–max) | p50 | p99 (min–max)`).join(' | ')} | best req/s (c) | RSS idle / peak MiB (processes) |`,
  );
  lines.push(`|---|${concurrency.map(() => '---:|---:|---:').join('|')}|---:|---:|`);
  for (const p of r.peers) {
    const row = concurrency.map((c) => {
      const xs = cells(p.id, c);
      const m = med(p.id, c);
      return `${f0(m.rps)}${spread(
        xs.map((x) => x.rps),
        f0,
      )}${m.errors ? ` (${m.errors} err)` : ''} | ${f2(m.p50)} | ${f2(m.p99)}${spread(
        xs.map((x) => x.p99),
        f2,
      )}`;
    });
    const b = best(p.id);
    const rss = r.rss[p.id];
    const rssText = rss ? `${f0(rss.idleMiB)} / ${f0(rss.peakMiB)} (${rss.processes})` : '–';
    lines.push(`| ${p.label} | ${row.join(' | ')} | **${f0(b.cell.rps)}** (${b.c}) | ${rssText} |`);
  }
  lines.push('');

  // the compute ceiling: every (threads, batch) cell, medians over rounds
  const loopKeys = new Map<string, LoopCell[]>();
  for (const round of r.loops)
    for (const c of round) loopKeys.set(`${c.threads}|${c.batch}`, [...(loopKeys.get(`${c.threads}|${c.batch}`) ?? []), c]);
  const threads = [...new Set([...loopKeys.values()].map((xs) => (xs[0] as LoopCell).threads))];
  const batches = [...new Set([...loopKeys.values()].map((xs) => (xs[0] as LoopCell).batch))];
  let ceiling = { rows: NaN, threads: 0, batch: 0 };
  if (loopKeys.size) {
    lines.push(`In-process \`session.run\` loop, no HTTP: rows/s, median (min–max) over ${r.loops.length} rounds`);
    lines.push('');
    lines.push(`| intra-op threads | ${batches.map((b) => `batch ${b}`).join(' | ')} |`);
    lines.push(`|---|${batches.map(() => '---:').join('|')}|`);
    for (const t of threads) {
      const row = batches.map((b) => {
        const xs = (loopKeys.get(`${t}|${b}`) ?? []).map((c) => c.rowsPerSec);
        const m = median(xs);
        if (m > ceiling.rows || !Number.isFinite(ceiling.rows)) ceiling = { rows: m, threads: t, batch: b };
        return `${f1(m)}${spread(xs, f1)}`;
      });
      lines.push(`| ${t} | ${row.join(' | ')} |`);
    }
    const b1 = median((loopKeys.get(`1|1`) ?? []).map((c) => c.p50Ms));
    lines.push('');
    lines.push(
      `Ceiling: **${f1(ceiling.rows)} rows/s** (${ceiling.threads} thread(s), batch ${ceiling.batch}); one row alone on one thread: p50 ${b1 < 1 ? b1.toFixed(3) : f2(b1)} ms per run.`,
    );
    lines.push('');
  }

  const has = (kind: PeerInfo['kind']) => r.peers.filter((p) => p.kind === kind);
  const python = has('python').map((p) => ({ p, b: best(p.id) }));
  const bestPython = python.reduce<(typeof python)[number] | undefined>(
    (a, x) => (a === undefined || x.b.cell.rps > a.b.cell.rps ? x : a),
    undefined,
  );
  const raw = has('node')[0];
  const large = r.bytes > 1e6;
  lines.push('| ratio | values | ratio | target | |');
  lines.push('|---|---:|---:|---:|---|');
  for (const rt of has('runtime')) {
    const b = best(rt.id);
    if (bestPython) {
      const x = b.cell.rps / bestPython.b.cell.rps;
      lines.push(
        `| ${rt.id} best ÷ best Python peer (${bestPython.p.id}, c=${bestPython.b.c}) | ${f0(b.cell.rps)} (c=${b.c}) / ${f0(bestPython.b.cell.rps)} req/s | **${f2(x)}×** | ≥ ${TARGETS.vsPython}× | ${x >= TARGETS.vsPython ? 'met' : 'NOT met'} |`,
      );
    }
    if (Number.isFinite(ceiling.rows)) {
      const x = b.cell.rps / ceiling.rows;
      lines.push(
        `| ${rt.id} served rows/s ÷ session.run ceiling | ${f1(b.cell.rps)} / ${f1(ceiling.rows)} rows/s | **${f2(x)}×** | ${large ? `≥ ${TARGETS.vsCeilingLarge}×` : '(tiny model: HTTP-bound)'} | ${large ? (x >= TARGETS.vsCeilingLarge ? 'met' : 'NOT met') : ''} |`,
      );
    }
    if (concurrency.includes(1)) {
      const mine = med(rt.id, 1).p99;
      const others = [...python.map((x) => x.p), ...(raw ? [raw] : [])].map((p) => ({ id: p.id, p99: med(p.id, 1).p99 }));
      const bestOther = others.reduce<{ id: string; p99: number } | undefined>(
        (a, x) => (a === undefined || x.p99 < a.p99 ? x : a),
        undefined,
      );
      const pyBest = others
        .filter((o) => o.id !== raw?.id)
        .reduce<{ id: string; p99: number } | undefined>((a, x) => (a === undefined || x.p99 < a.p99 ? x : a), undefined);
      if (pyBest)
        lines.push(
          `| ${rt.id} p99 at c=1 vs lowest Python peer's (${pyBest.id}) | ${f2(mine)} / ${f2(pyBest.p99)} ms | ${f2(mine - pyBest.p99)} ms | not worse | ${mine <= pyBest.p99 ? 'met' : 'NOT met'} |`,
        );
      if (raw && bestOther) {
        const d = mine - med(raw.id, 1).p99;
        lines.push(
          `| ${rt.id} p99 at c=1 − raw node:http's | ${f2(mine)} − ${f2(med(raw.id, 1).p99)} ms | ${d >= 0 ? '+' : ''}${f2(d)} ms | ${large ? '(info)' : `≤ +${TARGETS.p99VsRawTinyMs} ms`} | ${large ? '' : d <= TARGETS.p99VsRawTinyMs ? 'met' : 'NOT met'} |`,
        );
      }
    }
  }
  if (raw && Number.isFinite(ceiling.rows)) {
    const b = best(raw.id);
    lines.push(
      `| raw node:http served rows/s ÷ session.run ceiling | ${f1(b.cell.rps)} / ${f1(ceiling.rows)} rows/s | ${f2(b.cell.rps / ceiling.rows)}× | (info) | |`,
    );
  }
  if (large && runtimeIdleRssMiB !== undefined) {
    // judged on the RSS with the model loaded and no request in flight; the peak adds batch activations and
    // queued request bodies, which grow with load, not with the number of weight copies
    const limit = (TARGETS.rssModelFactor * r.bytes) / 2 ** 20 + runtimeIdleRssMiB;
    for (const rt of has('runtime')) {
      const rss = r.rss[rt.id];
      if (!rss) continue;
      lines.push(
        `| ${rt.id} RSS idle ≤ ${TARGETS.rssModelFactor} × model + runtime idle RSS (iris) | ${f0(rss.idleMiB)} MiB (peak ${f0(rss.peakMiB)}) vs ${f0(limit)} MiB | ${f2(rss.idleMiB / limit)}× | ≤ 1× | ${rss.idleMiB <= limit ? 'met' : 'NOT met'} |`,
      );
    }
  }
  lines.push('');
  return lines;
}

export function report(input: ReportInput): string {
  const lines: string[] = [];
  const la = input.loadAverages.map((x) => x.toFixed(1)).join(', ');
  lines.push(
    `Machine: ${input.cores} CPUs (${input.cpu}), Node ${input.node}; load generator autocannon in the same process; ${input.runs} interleaved rounds per model, medians with (min–max) over rounds; latency in ms (client-side, exact, 2xx only); one row per request, so req/s = rows/s. Load average (1 min) at the start of each model and at the end: ${la}. Total time: ${Math.round(input.totalSeconds)} s.`,
  );
  lines.push('');
  const irisRuntime = input.models.find((m) => m.name === 'iris')?.rss['runtime-batch-on']?.idleMiB;
  for (const m of input.models) lines.push(...modelSection(m, input.concurrency, irisRuntime));
  lines.push('Commands (ports chosen at random; P = port, MODEL = the model file):');
  const seen = new Set<string>();
  for (const m of input.models)
    for (const p of m.peers) {
      if (seen.has(p.id)) continue;
      seen.add(p.id);
      lines.push(`- ${p.id}: \`${p.command}\``);
    }
  return lines.join('\n');
}
