// Pure helpers of test/e2e/observability.test.ts: the queries to run (every dashboard panel query
// with its variables substituted, every alert expression and the left-hand side of its
// threshold) and what labels their answers must carry.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { chartDir } from '@modelship/devcluster/helm';

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function chartAlerts(): AlertRule[] {
  const doc = load(readFileSync(join(chartDir, 'files/rules.yaml'), 'utf8')) as { groups: Array<{ rules: AlertRule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

interface DashboardJson {
  templating: { list: Array<{ name: string; type: string; definition?: string }> };
  panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>;
}

export function chartDashboard(): DashboardJson {
  return JSON.parse(readFileSync(join(chartDir, 'files/dashboard.json'), 'utf8')) as DashboardJson;
}

/** A comparison with a number at the end of an expression: `<lhs> > 0.05`, `<lhs> == 0`. */
export interface Threshold {
  lhs: string;
  op: '>' | '<' | '>=' | '<=' | '==' | '!=';
  value: number;
}

export function splitThreshold(expr: string): Threshold | undefined {
  const m = /^([\s\S]*?)\s*(==|!=|>=|<=|>|<)\s*(-?[0-9.]+)\s*$/.exec(expr.trim());
  if (!m) return undefined;
  return { lhs: m[1]!.trim(), op: m[2] as Threshold['op'], value: Number(m[3]) };
}

export function holds(t: Threshold, v: number): boolean {
  switch (t.op) {
    case '>':
      return v > t.value;
    case '<':
      return v < t.value;
    case '>=':
      return v >= t.value;
    case '<=':
      return v <= t.value;
    case '==':
      return v === t.value;
    case '!=':
      return v !== t.value;
  }
}

/**
 * An alert expression taken apart: `<lhs> <op> <n>`, optionally `(<that>) unless on (<labels>) <expr>`,
 * or `absent(<inner>)` (then `lhs` is the inner expression).
 */
export interface AlertParts {
  lhs: string;
  threshold?: Threshold;
  unless?: { on: string[]; expr: string };
}

export function alertParts(expr: string): AlertParts | undefined {
  const u = /^\(([\s\S]*)\)\s*unless on \(([^)]*)\)\s*([\s\S]+)$/.exec(expr.trim());
  if (u) {
    const threshold = splitThreshold(u[1]!);
    if (!threshold) return undefined;
    const on = u[2]!.split(',').map((l) => l.trim());
    return { lhs: threshold.lhs, threshold, unless: { on, expr: u[3]!.trim() } };
  }
  const threshold = splitThreshold(expr);
  if (threshold) return { lhs: threshold.lhs, threshold };
  const inner = absentArgument(expr);
  return inner ? { lhs: inner } : undefined;
}

/** The expression inside `absent(...)`, if that is the whole expression. */
export function absentArgument(expr: string): string | undefined {
  return /^absent\(([\s\S]*)\)$/.exec(expr.trim())?.[1]?.trim();
}

/** The labels `{{ $labels.x }}` in an alert's annotations: every sample that fires it must carry them. */
export function annotationLabels(rule: AlertRule): string[] {
  const text = Object.values(rule.annotations ?? {}).join('\n');
  return [...new Set([...text.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)].map((m) => m[1]!))].sort();
}

/** Grafana's variables, as the dashboard user picking one ModelDeployment (every version) sets them. */
export function substitute(expr: string, vars: { namespace: string; modeldeployment: string; rateInterval: string }): string {
  return expr
    .replaceAll('$namespace', vars.namespace)
    .replaceAll('$modeldeployment', vars.modeldeployment)
    .replaceAll('$version', '.*')
    .replaceAll('$__rate_interval', vars.rateInterval);
}

/** Grafana's `label_values(<selector>, <label>)` as PromQL: one series per value of the label. */
export function labelValuesQuery(definition: string): { expr: string; label: string } | undefined {
  const m = /^label_values\(([\s\S]+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(definition.trim());
  return m ? { expr: `group by (${m[2]}) (${m[1]})`, label: m[2]! } : undefined;
}

/** The labels of the outermost `by (...)` of an expression (the ones its answer keeps), without `le`. */
export function outerByLabels(expr: string): string[] {
  const m = /\bby \(([^)]*)\)/.exec(expr);
  return m
    ? m[1]!
        .split(',')
        .map((s) => s.trim())
        .filter((l) => l && l !== 'le')
    : [];
}
