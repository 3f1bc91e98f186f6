// spec.autoscaling.metric, its targets and behavior on a real kube-apiserver: concurrency or rps
// without its target, a target of another metric (a CPU target with metric concurrency), and
// behavior values out of range are refused at apply time naming the field; good specs are stored
// as written with metric defaulting to cpu; kubectl explain documents the new fields.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { manifest, output, useCrdNamespace } from './crd-namespace.ts';

const model = { version: '2', uri: 'https://models.example.com/iris/2/model.onnx' };
const withAutoscaling = (autoscaling: Record<string, unknown>) => ({ model, autoscaling: { maxReplicas: 4, ...autoscaling } });
const policy = (p: Record<string, unknown>) => ({ type: 'Pods', value: 2, periodSeconds: 15, ...p });

const BAD: { what: string; autoscaling: Record<string, unknown>; expect: string[] }[] = [
  {
    what: 'metric concurrency without targetConcurrency',
    autoscaling: { metric: 'concurrency' },
    expect: ['spec.autoscaling.targetConcurrency', 'metric concurrency needs targetConcurrency'],
  },
  {
    what: 'metric rps without targetRequestsPerSecond',
    autoscaling: { metric: 'rps' },
    expect: ['spec.autoscaling.targetRequestsPerSecond', 'metric rps needs targetRequestsPerSecond'],
  },
  {
    what: 'a CPU target with metric concurrency',
    autoscaling: { metric: 'concurrency', targetConcurrency: 4, targetCPUUtilizationPercentage: 70 },
    expect: ['spec.autoscaling.targetCPUUtilizationPercentage', 'applies to metric cpu only'],
  },
  {
    what: 'targetConcurrency with the default metric (cpu)',
    autoscaling: { targetConcurrency: 4 },
    expect: ['spec.autoscaling.targetConcurrency', 'targetConcurrency applies to metric concurrency only'],
  },
  {
    what: 'targetRequestsPerSecond with metric concurrency',
    autoscaling: { metric: 'concurrency', targetConcurrency: 4, targetRequestsPerSecond: 100 },
    expect: ['spec.autoscaling.targetRequestsPerSecond', 'applies to metric rps only'],
  },
  {
    what: 'an unknown metric',
    autoscaling: { metric: 'latency' },
    expect: ['spec.autoscaling.metric: Unsupported value: "latency"'],
  },
  {
    what: 'a zero targetConcurrency',
    autoscaling: { metric: 'concurrency', targetConcurrency: 0 },
    expect: ['spec.autoscaling.targetConcurrency', 'must be at least 0.001'],
  },
  {
    what: 'a negative targetRequestsPerSecond',
    autoscaling: { metric: 'rps', targetRequestsPerSecond: -5 },
    expect: ['spec.autoscaling.targetRequestsPerSecond', 'must be at least 0.001'],
  },
  {
    what: 'a stabilization window over an hour',
    autoscaling: { behavior: { scaleDown: { stabilizationWindowSeconds: 3601 } } },
    expect: ['spec.autoscaling.behavior.scaleDown.stabilizationWindowSeconds', 'less than or equal to 3600'],
  },
  {
    what: 'a policy period over 1800 s',
    autoscaling: { behavior: { scaleUp: { policies: [policy({ periodSeconds: 1801 })] } } },
    expect: ['spec.autoscaling.behavior.scaleUp.policies[0].periodSeconds', 'less than or equal to 1800'],
  },
  {
    what: 'a policy value of 0',
    autoscaling: { behavior: { scaleUp: { policies: [policy({ value: 0 })] } } },
    expect: ['spec.autoscaling.behavior.scaleUp.policies[0].value', 'greater than or equal to 1'],
  },
  {
    what: 'a policy type other than Pods or Percent',
    autoscaling: { behavior: { scaleDown: { policies: [policy({ type: 'Replicas' })] } } },
    expect: ['spec.autoscaling.behavior.scaleDown.policies[0].type: Unsupported value: "Replicas"'],
  },
  {
    what: 'more than 4 policies',
    autoscaling: { behavior: { scaleUp: { policies: [1, 2, 3, 4, 5].map((value) => policy({ value })) } } },
    expect: ['spec.autoscaling.behavior.scaleUp.policies', 'must have at most 4 items'],
  },
  {
    what: 'an unknown selectPolicy',
    autoscaling: { behavior: { scaleUp: { selectPolicy: 'Avg' } } },
    expect: ['spec.autoscaling.behavior.scaleUp.selectPolicy: Unsupported value: "Avg"'],
  },
];

describe('ModelDeployment CRD: autoscaling metric, targets and behavior on a real API server', () => {
  const crd = useCrdNamespace('crd-autoscaling');
  const { kubectl, get } = crd;

  for (const bad of BAD) {
    test(`refuses ${bad.what}, naming the field`, async () => {
      const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('bad', withAutoscaling(bad.autoscaling)));
      assert.notEqual(r.code, 0, `expected a refusal\n${output(r)}\n${JSON.stringify((await get('bad').catch(() => undefined))?.spec)}`);
      for (const fragment of bad.expect) assert.ok(r.stderr.includes(fragment), `expected ${JSON.stringify(fragment)}\n${output(r)}`);
      assert.notEqual((await kubectl(['get', 'mdep', 'bad', '-n', crd.ns])).code, 0, 'nothing was stored');
    });
  }

  test('concurrency with a fractional target and a full behavior is stored as written; metric defaults to cpu', async () => {
    const behavior = {
      scaleUp: {
        stabilizationWindowSeconds: 0,
        selectPolicy: 'Max',
        policies: [policy({ type: 'Percent', value: 100, periodSeconds: 5 })],
      },
      scaleDown: { stabilizationWindowSeconds: 3600, selectPolicy: 'Min', policies: [policy({ value: 1, periodSeconds: 1800 })] },
    };
    const r = await kubectl(
      ['apply', '-n', crd.ns, '-f', '-'],
      manifest('conc', withAutoscaling({ metric: 'concurrency', targetConcurrency: 2.5, behavior })),
    );
    assert.equal(r.code, 0, output(r));
    assert.deepEqual((await get('conc')).spec.autoscaling, {
      minReplicas: 1,
      maxReplicas: 4,
      metric: 'concurrency',
      targetConcurrency: 2.5,
      behavior,
    });
    const rps = await kubectl(
      ['apply', '-n', crd.ns, '-f', '-'],
      manifest('rps', withAutoscaling({ metric: 'rps', targetRequestsPerSecond: 150 })),
    );
    assert.equal(rps.code, 0, output(rps));
    const cpu = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('cpu', withAutoscaling({ targetCPUUtilizationPercentage: 60 })));
    assert.equal(cpu.code, 0, output(cpu));
    assert.equal((await get('cpu')).spec.autoscaling?.metric, 'cpu');
  });

  test('kubectl explain documents metric, the targets and behavior', async () => {
    for (const [field, words] of [
      ['metric', 'concurrency'],
      ['targetConcurrency', 'in flight'],
      ['targetRequestsPerSecond', 'per second'],
      ['behavior.scaleDown.policies', 'periodSeconds'],
    ] as const) {
      const r = await kubectl(['explain', `mdep.spec.autoscaling.${field}`]);
      assert.equal(r.code, 0, output(r));
      assert.ok(r.stdout.includes(words), `explain ${field} mentions ${words}\n${r.stdout}`);
    }
  });
});
