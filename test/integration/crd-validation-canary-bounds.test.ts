// spec.rollout.canary.analysis.maxWait and the status fields of the canary's bounds on a real
// kube-apiserver: a maxWait that is not a duration, or shorter than 3 analysis intervals (the
// interval written or its 30s default), is refused naming the field; a good one is stored as written,
// none is filled in when absent (the operator's default adapts to the interval); status.canary's
// unjudgedSince and restoreStableReplicas are accepted; kubectl explain documents maxWait.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { manifest, output, useCrdNamespace } from './crd-namespace.ts';

const model = { version: '2', uri: 'https://models.example.com/iris/2/model.onnx' };
const withAnalysis = (analysis: Record<string, unknown>) => ({ model, rollout: { strategy: 'Canary', canary: { analysis } } });

const BAD: { what: string; analysis: Record<string, unknown>; expect: string[] }[] = [
  {
    what: 'a maxWait that is not a duration',
    analysis: { maxWait: 'ten minutes' },
    expect: ['spec.rollout.canary.analysis.maxWait: Invalid value: "ten minutes"', 'should match'],
  },
  {
    what: 'a maxWait shorter than 3 intervals',
    analysis: { interval: '1m', maxWait: '2m' },
    expect: ['spec.rollout.canary.analysis.maxWait', 'maxWait must be at least 3 analysis intervals'],
  },
  {
    what: 'a maxWait shorter than 3 default (30s) intervals',
    analysis: { maxWait: '1m' },
    expect: ['spec.rollout.canary.analysis.maxWait', 'maxWait must be at least 3 analysis intervals'],
  },
];

describe('ModelDeployment CRD: canary maxWait and bound status on a real API server', () => {
  const crd = useCrdNamespace('crd-canary-bounds');
  const { kubectl, get } = crd;

  for (const bad of BAD) {
    test(`refuses ${bad.what}, naming the field`, async () => {
      const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('bad', withAnalysis(bad.analysis)));
      assert.notEqual(r.code, 0, `expected a refusal\n${output(r)}`);
      for (const fragment of bad.expect) assert.ok(r.stderr.includes(fragment), `expected ${JSON.stringify(fragment)}\n${output(r)}`);
      assert.notEqual((await kubectl(['get', 'mdep', 'bad', '-n', crd.ns])).code, 0, 'nothing was stored');
    });
  }

  test('a maxWait of exactly 3 intervals is stored as written; without one none is filled in', async () => {
    const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('exact', withAnalysis({ interval: '10s', maxWait: '30s' })));
    assert.equal(r.code, 0, output(r));
    assert.equal((await get('exact')).spec.rollout?.canary?.analysis?.maxWait, '30s');
    const d = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('unset', withAnalysis({ interval: '5m' })));
    assert.equal(d.code, 0, `a 5m interval without maxWait is accepted (a fixed 10m default would be refused)\n${output(d)}`);
    assert.equal((await get('unset')).spec.rollout?.canary?.analysis?.maxWait, undefined);
  });

  test('status.canary.unjudgedSince and restoreStableReplicas are accepted by the status subresource', async () => {
    const canary = {
      version: '2',
      phase: 'Aborted',
      step: 0,
      stepStartedAt: '2026-11-30T00:00:00Z',
      unjudgedSince: '2026-11-30T00:00:10Z',
      restoreStableReplicas: 8,
    };
    const r = await kubectl([
      'patch',
      'mdep',
      'exact',
      '-n',
      crd.ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { canary } }),
    ]);
    assert.equal(r.code, 0, output(r));
    const stored = (await get('exact')).status?.canary;
    assert.deepEqual([stored?.unjudgedSince, stored?.restoreStableReplicas], ['2026-11-30T00:00:10Z', 8]);
  });

  test('kubectl explain documents maxWait', async () => {
    const r = await kubectl(['explain', 'mdep.spec.rollout.canary.analysis.maxWait']);
    assert.equal(r.code, 0, output(r));
    assert.match(r.stdout.replace(/\s+/g, ' '), /without a passing analysis window .* at least 3 intervals/);
  });
});
