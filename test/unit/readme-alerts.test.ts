/**
 * README's alert table ("Observability kit") against charts/modelship/files/rules.yaml, the one
 * source of the rules: the same alerts, each with its severity and, where the table states one,
 * its `for` duration. The thresholds themselves are promtool's to test (test/promtool/rules.test.yaml).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { load } from 'js-yaml';
import { repoRoot } from '@modelship/devcluster/binaries';
import { chartDir } from '@modelship/devcluster/helm';

interface Rule {
  alert?: string;
  for?: string;
  labels?: Record<string, string>;
}

const rules = (load(readFileSync(join(chartDir, 'files/rules.yaml'), 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups
  .flatMap((g) => g.rules)
  .filter((r) => r.alert);

/** `| ModelshipX | severity | fires when |` rows of the README. */
const rows = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  .split('\n')
  .map((l) => /^\| (Modelship[A-Za-z0-9]+) \| (critical|warning|info) \| (.+) \|$/.exec(l))
  .filter((m) => m !== null)
  .map(([, alert, severity, firesWhen]) => ({ alert: alert!, severity: severity!, firesWhen: firesWhen! }));

test("README's alert table lists the chart's alerts, each with its severity", () => {
  assert.deepEqual(rows.map((r) => `${r.alert} ${r.severity}`).sort(), rules.map((r) => `${r.alert} ${r.labels?.severity}`).sort());
});

test("README's alert table: a stated 'for N min' is the rule's for", () => {
  let stated = 0;
  for (const row of rows) {
    const m = /for (\d+) min/.exec(row.firesWhen);
    if (!m) continue;
    stated++;
    const rule = rules.find((r) => r.alert === row.alert);
    assert.equal(rule?.for, `${m[1]}m`, row.alert);
  }
  assert.ok(stated >= 8, `${stated} rows state a duration`);
});
