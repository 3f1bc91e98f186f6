// Text output (pure): the status summary, the history table, durations as kubectl prints ages.
import { canaryOfDesired } from './controls.ts';
import { experimentSpec, experimentStatus, modelName, type HistoryEntry, type ModelDeployment } from './types.ts';
import { oneLine } from './watch.ts';

/** kubectl-style age: 45s, 12m, 3h, 2d. */
export function age(from: string | undefined, now: Date): string {
  if (!from) return '-';
  const s = Math.max(0, Math.floor((now.getTime() - new Date(from).getTime()) / 1000));
  if (Number.isNaN(s)) return '-';
  if (s < 120) return `${s}s`;
  if (s < 120 * 60) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Columns padded to their widest cell, two spaces apart, like kubectl get. */
export function table(rows: readonly (readonly string[])[], indent = ''): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
  );
}

const pct = (n: number | undefined) => (n === undefined ? '-' : `${n}%`);
const ms = (n: number | undefined) => (n === undefined ? '-' : `${n}ms`);
const short = (sha: string | undefined) => (sha ? sha.slice(0, 12) : '-');

export function historyRows(history: readonly HistoryEntry[], now: Date): string[][] {
  return [
    ['VERSION', 'OUTCOME', 'STARTED', 'FINISHED', 'SHA256', 'REASON'],
    ...history.map((h) => [
      h.version,
      h.outcome,
      age(h.startedAt, now),
      h.finishedAt ? age(h.finishedAt, now) : '-',
      short(h.sha256),
      h.reason ?? '',
    ]),
  ];
}

/** `history NAME`: every rollout, newest first; Succeeded ones are what undo can restore. */
export function renderHistory(md: ModelDeployment, now: Date): string {
  const history = md.status?.history ?? [];
  const name = md.metadata?.name ?? '';
  if (history.length === 0) return `${name} has no rollouts in status.history yet\n`;
  const lines = table(historyRows(history, now));
  const restorable = [...new Set(history.filter((h) => h.outcome === 'Succeeded').map((h) => h.version))];
  lines.push(
    '',
    restorable.length > 0
      ? `undo can restore: ${restorable.map((v) => `version ${v}`).join(', ')} (kubectl modelship undo ${name} --to-version V)`
      : 'undo can restore: nothing yet (no rollout has succeeded)',
  );
  return `${lines.join('\n')}\n`;
}

/** How many history entries `status` shows. */
export const STATUS_HISTORY_ENTRIES = 5;

/** `status NAME`: one screen a person reads top to bottom. */
export function renderStatus(md: ModelDeployment, now: Date): string {
  const s = md.status ?? {};
  const name = md.metadata?.name ?? '';
  const out: string[] = [];
  const field = (label: string, value: string) => out.push(`${`${label}:`.padEnd(12)}${value}`);
  field('Name', name);
  field('Namespace', md.metadata?.namespace ?? '');
  field('Model', modelName(md));
  field('Desired', `${md.spec.model.version}  ${md.spec.model.uri}`);
  field('Current', s.currentVersion ?? '- (no version has rolled out yet)');
  if (s.updatingVersion) field('Updating', s.updatingVersion);
  if (s.failedVersion) field('Failed', s.failedVersion);
  const specReplicas = md.spec.autoscaling
    ? `autoscaled ${md.spec.autoscaling.minReplicas ?? 1}-${md.spec.autoscaling.maxReplicas}`
    : `${md.spec.replicas ?? 1} desired`;
  field('Replicas', `${s.replicas ?? 0} (${specReplicas}, ${s.readyReplicas ?? 0} ready, ${s.updatedReplicas ?? 0} updated)`);
  field('Strategy', md.spec.rollout?.strategy ?? 'RollingUpdate');
  if (s.url) field('URL', s.url);
  if (md.metadata?.generation !== undefined && (s.observedGeneration ?? 0) < md.metadata.generation)
    field(
      'Note',
      `the operator has not observed generation ${md.metadata.generation} yet (status is of ${s.observedGeneration ?? 'none'})`,
    );

  const conditions = s.conditions ?? [];
  if (conditions.length > 0) {
    out.push('Conditions:');
    out.push(
      ...table(
        conditions.map((c) => [c.type, c.status, c.reason, age(c.lastTransitionTime, now), oneLine(c.message)]),
        '  ',
      ),
    );
  }

  const c = canaryOfDesired(md) ?? s.canary;
  if (c) {
    const steps = md.spec.rollout?.canary?.steps?.length;
    const running = c.phase === 'Progressing' || c.phase === 'Paused' || c.phase === 'Promoting';
    out.push(
      running
        ? `Canary:     version ${c.version} ${c.phase}, step ${c.step + 1}${steps ? ` of ${steps}` : ''}, weight ${pct(c.weight)} (effective ${pct(c.effectiveWeight)})${c.stepStartedAt ? `, step started ${age(c.stepStartedAt, now)} ago` : ''}`
        : `Canary:     version ${c.version} ${c.phase}`,
    );
    // the tracks' figures describe a canary that runs; a finished one keeps its last words only
    if (running) {
      out.push(
        ...table(
          [
            ['TRACK', 'VERSION', 'READY', 'REQUESTS', '5XX', '4XX', 'P99'],
            ['stable', c.stableVersion ?? '-', String(c.stableReplicas ?? 0), ...figures(c.lastAnalysis?.stable)],
            ['canary', c.version, String(c.canaryReplicas ?? 0), ...figures(c.lastAnalysis?.canary)],
          ],
          '  ',
        ),
      );
      if (c.lastAnalysis)
        out.push(
          `  Analysis: ${c.lastAnalysis.verdict ?? '?'} ${age(c.lastAnalysis.time, now)} ago${c.lastAnalysis.message ? `: ${oneLine(c.lastAnalysis.message)}` : ''}`,
        );
    }
    if (c.message) out.push(`  Message:  ${oneLine(c.message)}`);
  }

  const e = experimentStatus(md);
  const eSpec = experimentSpec(md);
  if (e || eSpec) {
    const version = e?.version ?? eSpec?.model.version ?? '?';
    const weight = e?.weight ?? eSpec?.weight;
    out.push(
      `Experiment: version ${version} at ${pct(weight)} (effective ${pct(e?.effectiveWeight)})${e?.startedAt ? `, started ${age(e.startedAt, now)} ago` : ''}`,
    );
    const variants = e?.variants ?? [];
    if (variants.length > 0)
      out.push(
        ...table(
          [
            ['VERSION', 'TRACK', 'REPLICAS', 'READY', 'REQUESTS', '5XX', 'P99'],
            ...variants.map((v) => [
              v.version,
              v.track ?? '-',
              String(v.replicas ?? 0),
              String(v.readyReplicas ?? 0),
              v.requests === undefined ? '-' : String(v.requests),
              pct(v.errorRate),
              ms(v.p99LatencyMs),
            ]),
          ],
          '  ',
        ),
      );
    if (e?.lastAnalysisAt) out.push(`  Figures:  ${age(e.lastAnalysisAt, now)} ago`);
    if (e?.message) out.push(`  Message:  ${oneLine(e.message)}`);
  }

  const history = s.history ?? [];
  if (history.length > 0) {
    out.push(`History (newest first${history.length > STATUS_HISTORY_ENTRIES ? `, ${STATUS_HISTORY_ENTRIES} of ${history.length}` : ''}):`);
    out.push(...table(historyRows(history.slice(0, STATUS_HISTORY_ENTRIES), now), '  '));
  }
  return `${out.join('\n')}\n`;
}

function figures(f: { requests?: number; errorRate?: number; clientErrorRate?: number; p99Ms?: number } | undefined): string[] {
  if (!f) return ['-', '-', '-', '-'];
  return [f.requests === undefined ? '-' : String(f.requests), pct(f.errorRate), pct(f.clientErrorRate), ms(f.p99Ms)];
}
