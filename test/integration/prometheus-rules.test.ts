// `promtool test rules` of the chart's alerts (charts/modelship/files/rules.yaml, the file the
// PrometheusRule renders) with test/promtool/rules.test.yaml: every alert fires on the series meant
// to fire it, with its exact labels and annotations, and stays silent on the others. promtool is
// built from github.com/prometheus/prometheus (devcluster/build/prometheus.sh). This file is in the
// integration phase, not unit, because that build takes minutes: test/run.ts starts it in the
// background when `npm test` begins, so it is done by the time this runs; the unit phase never
// waits for Go. It needs no API server.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dump, load } from 'js-yaml';
import { repoRoot } from '@modelship/devcluster/binaries';
import { findManifest, renderChart, resolveHelm } from '@modelship/devcluster/helm';
import { resolvePrometheus, runPromtool } from '@modelship/devcluster/prometheus';

const RULES = 'charts/modelship/files/rules.yaml';
const TESTS = 'test/promtool/rules.test.yaml';

describe('alert rules under promtool', () => {
  let tmp: string;
  before(
    async () => {
      tmp = await mkdtemp(join(tmpdir(), 'modelship-promtool-'));
      await resolvePrometheus((line) => process.stderr.write(`prometheus: ${line}\n`));
      await resolveHelm();
    },
    { timeout: 30 * 60_000 },
  );
  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('promtool check rules: the rules file is valid', async () => {
    const r = await runPromtool(['check', 'rules', RULES]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const groups = (load(await readFile(join(repoRoot, RULES), 'utf8')) as { groups: Array<{ rules: unknown[] }> }).groups;
    const count = groups.reduce((n, g) => n + g.rules.length, 0);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${count} rules found`), r.stdout);
  });

  test('promtool test rules: every alert fires where it should, with its labels and annotations, and nowhere else', async (t) => {
    const r = await runPromtool(['test', 'rules', TESTS]);
    t.diagnostic(r.stdout.trim().split('\n').slice(-3).join(' | '));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  test('the tests notice a changed threshold (they test the file, not themselves)', async () => {
    const rules = await readFile(join(repoRoot, RULES), 'utf8');
    const loosened = rules.replace(/\n {12}> 0\.05\n/, '\n            > 0.5\n');
    assert.notEqual(loosened, rules, 'the 5% error-rate threshold is in the file');
    const spec = load(await readFile(join(repoRoot, TESTS), 'utf8')) as { rule_files: string[] };
    spec.rule_files = ['rules.yaml'];
    await writeFile(join(tmp, 'rules.yaml'), loosened);
    await writeFile(join(tmp, 'tests.yaml'), dump(spec, { lineWidth: -1 }));
    const r = await runPromtool(['test', 'rules', 'tests.yaml'], { cwd: tmp });
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stdout + r.stderr, /ModelshipHighErrorRate/);
  });

  test("the chart's rendered PrometheusRule holds valid rules (helm's YAML round trip changes nothing promtool cares about)", async () => {
    const pr = findManifest(
      await renderChart({
        values: { 'metrics.prometheusRule.enabled': true, 'metrics.prometheusRule.additionalRuleLabels': { team: 'ml' } },
      }),
      'PrometheusRule',
    ) as unknown as { spec: { groups: unknown[] } };
    await writeFile(join(tmp, 'rendered.yaml'), dump({ groups: pr.spec.groups }, { lineWidth: -1 }));
    const r = await runPromtool(['check', 'rules', join(tmp, 'rendered.yaml')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });
});
