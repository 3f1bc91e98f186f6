// The Canary part of the ModelDeployment CRD on a real kube-apiserver: bad canary settings are
// refused at apply time with a message naming the field; a good spec is stored with the defaults
// filled in; status.canary is accepted and shown by the printer columns.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { manifest, output, useCrdNamespace } from './crd-namespace.ts';

const model = { version: '2', uri: 'https://models.example.com/iris/2/model.onnx' };

const canary = (c: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  model,
  rollout: { strategy: 'Canary', canary: c, ...extra },
});

/** Each must be refused with every fragment in the error (the field's path and the reason). */
const BAD_CANARY: { what: string; spec: Record<string, unknown>; expect: (string | RegExp)[] }[] = [
  {
    what: 'a weight of 0',
    spec: canary({ steps: [{ weight: 0, pause: '1m' }] }),
    expect: ['spec.rollout.canary.steps[0].weight: Invalid value: 0', 'should be greater than or equal to 1'],
  },
  {
    what: 'a weight of 100 (the last step is followed by promotion anyway)',
    spec: canary({ steps: [{ weight: 100, pause: '1m' }] }),
    expect: ['spec.rollout.canary.steps[0].weight: Invalid value: 100', 'should be less than or equal to 99'],
  },
  {
    what: 'weights not strictly increasing',
    spec: canary({
      steps: [
        { weight: 50, pause: '1m' },
        { weight: 10, pause: '1m' },
      ],
    }),
    expect: ['spec.rollout.canary.steps', 'steps[].weight must be strictly increasing'],
  },
  {
    what: 'a repeated weight',
    spec: canary({
      steps: [
        { weight: 20, pause: '1m' },
        { weight: 20, pause: '5m' },
      ],
    }),
    expect: ['spec.rollout.canary.steps', 'steps[].weight must be strictly increasing'],
  },
  {
    what: 'a pause that is not a duration',
    spec: canary({ steps: [{ weight: 10, pause: 'ten minutes' }] }),
    expect: ['spec.rollout.canary.steps[0].pause: Invalid value: "ten minutes"', 'should match'],
  },
  {
    what: 'an analysis interval that is not a duration',
    spec: canary({ analysis: { interval: '30' } }),
    expect: ['spec.rollout.canary.analysis.interval: Invalid value: "30"'],
  },
  {
    what: 'an analysis interval under 5s',
    spec: canary({ analysis: { interval: '2s' } }),
    expect: ['spec.rollout.canary.analysis.interval', 'interval must be at least 5s'],
  },
  {
    what: 'a maxErrorRate that is not a percentage',
    spec: canary({ analysis: { maxErrorRate: '0.01' } }),
    expect: ['spec.rollout.canary.analysis.maxErrorRate: Invalid value: "0.01"'],
  },
  {
    what: 'no steps at all',
    spec: canary({ steps: [] }),
    expect: ['spec.rollout.canary.steps', 'should have at least 1 items'],
  },
  {
    what: 'canary settings with strategy RollingUpdate',
    spec: { model, rollout: { canary: { steps: [{ weight: 10, pause: '1m' }] } } },
    expect: ['spec.rollout.canary', 'canary settings are allowed only with strategy Canary'],
  },
  {
    what: 'an unknown strategy',
    spec: { model, rollout: { strategy: 'BlueGreen' } },
    expect: ['spec.rollout.strategy: Unsupported value: "BlueGreen"', '"RollingUpdate", "Canary"'],
  },
  {
    what: 'Canary with maxUnavailable 1 (capacity could not be held)',
    spec: { model, rollout: { strategy: 'Canary', maxUnavailable: 1 } },
    expect: ['spec.rollout.maxUnavailable', 'maxUnavailable must be 0 with strategy Canary'],
  },
  {
    what: 'Canary with maxUnavailable "25%"',
    spec: { model, rollout: { strategy: 'Canary', maxUnavailable: '25%' } },
    expect: ['spec.rollout.maxUnavailable', 'maxUnavailable must be 0 with strategy Canary'],
  },
];

describe('ModelDeployment CRD: Canary rollout settings on a real API server', () => {
  const crd = useCrdNamespace('crd-canary');
  const { kubectl, get } = crd;

  for (const bad of BAD_CANARY) {
    test(`refuses ${bad.what}, naming the field`, async () => {
      const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('bad', bad.spec));
      assert.notEqual(r.code, 0, `expected a refusal\n${output(r)}`);
      for (const fragment of bad.expect) {
        if (typeof fragment === 'string')
          assert.ok(r.stderr.includes(fragment), `expected ${JSON.stringify(fragment)} in the error\n${output(r)}`);
        else assert.match(r.stderr, fragment);
      }
      assert.notEqual((await kubectl(['get', 'mdep', 'bad', '-n', crd.ns])).code, 0, 'nothing was stored');
    });
  }

  test('strategy Canary with an empty canary block is stored with every default filled in', async () => {
    const r = await kubectl(
      ['apply', '-n', crd.ns, '-f', '-'],
      manifest('defaults', { model, rollout: { strategy: 'Canary', canary: {} } }),
    );
    assert.equal(r.code, 0, output(r));
    const md = await get('defaults');
    assert.deepEqual(md.spec.rollout?.canary, {
      steps: [
        { weight: 10, pause: '1m' },
        { weight: 50, pause: '1m' },
      ],
      analysis: { interval: '30s', minRequests: 50, maxErrorRate: '1%', maxP99LatencyIncrease: '100%' },
    });
    assert.equal(md.spec.rollout?.strategy, 'Canary');
    assert.equal(md.spec.rollout?.maxUnavailable, 0);
  });

  test('a full Canary spec with manual controls is accepted as written; partial steps get the default pause', async () => {
    const spec = canary(
      {
        steps: [{ weight: 5 }, { weight: 25, pause: '1m30s' }, { weight: 75, pause: '1h' }],
        analysis: {
          interval: '10s',
          minRequests: 200,
          maxErrorRate: '0.5%',
          maxP99LatencyMs: 250,
          maxP99LatencyIncrease: '50%',
          maxClientErrorRateIncrease: '5%',
        },
      },
      { paused: true, promoteVersion: '2', abortVersion: '1', maxUnavailable: '0%' },
    );
    const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('full', spec));
    assert.equal(r.code, 0, output(r));
    const md = await get('full');
    assert.deepEqual(md.spec.rollout?.canary?.steps, [
      { weight: 5, pause: '1m' },
      { weight: 25, pause: '1m30s' },
      { weight: 75, pause: '1h' },
    ]);
    assert.equal(md.spec.rollout?.canary?.analysis?.maxClientErrorRateIncrease, '5%');
    assert.equal(md.spec.rollout?.paused, true);
    assert.equal(md.spec.rollout?.promoteVersion, '2');
    assert.equal(md.spec.rollout?.abortVersion, '1');
  });

  test('status.canary is accepted by the status subresource and the printer columns show phase and weight', async () => {
    const status = {
      canary: {
        version: '2',
        stableVersion: '1',
        templateHash: 'abc123',
        phase: 'Progressing',
        step: 0,
        stepStartedAt: '2025-01-01T00:00:00Z',
        weight: 10,
        effectiveWeight: 25,
        stableReplicas: 3,
        canaryReplicas: 1,
        lastAnalysis: {
          time: '2025-01-01T00:00:30Z',
          verdict: 'Pass',
          canary: { requests: 412, errorRate: 0.5, clientErrorRate: 0, p99Ms: 12.5 },
          stable: { requests: 1200, errorRate: 0, clientErrorRate: 0, p99Ms: 10 },
          message: 'error rate 0.5% <= 1% over 412 requests',
        },
      },
    };
    const r = await kubectl([
      'patch',
      'mdep',
      'defaults',
      '-n',
      crd.ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ]);
    assert.equal(r.code, 0, output(r));
    assert.deepEqual((await get('defaults')).status?.canary, status.canary);
    const table = await kubectl(['get', 'mdep', 'defaults', '-n', crd.ns]);
    assert.equal(table.code, 0, output(table));
    const [header, row] = table.stdout.trim().split('\n');
    assert.deepEqual(header?.split(/\s+/), [
      'NAME',
      'MODEL',
      'CURRENT',
      'DESIRED',
      'READY',
      'REPLICAS',
      'CANARY',
      'WEIGHT',
      'EXPERIMENT',
      'AGE',
    ]);
    assert.match(row ?? '', /^defaults\s+2\s+Progressing\s+25\s+\S+$/);

    const bad = await kubectl([
      'patch',
      'mdep',
      'defaults',
      '-n',
      crd.ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"canary":{"phase":"Done"}}}',
    ]);
    assert.notEqual(bad.code, 0, output(bad));
    assert.match(bad.stderr, /status\.canary\.phase: Unsupported value: "Done"/);
  });

  test('kubectl explain documents the canary fields', async () => {
    const r = await kubectl(['explain', 'mdep.spec.rollout.canary.analysis']);
    assert.equal(r.code, 0, output(r));
    for (const field of [
      'interval',
      'minRequests',
      'maxErrorRate',
      'maxP99LatencyMs',
      'maxP99LatencyIncrease',
      'maxClientErrorRateIncrease',
    ])
      assert.match(r.stdout, new RegExp(`^\\s+${field}\\s+<`, 'm'), field);
    const strategy = await kubectl(['explain', 'mdep.spec.rollout.strategy']);
    assert.match(strategy.stdout.replace(/\s+/g, ' '), /second Deployment \(<name>-canary\)/);
  });
});
