// The A/B experiment part of the ModelDeployment CRD on a real kube-apiserver: bad experiment
// settings are refused at apply time with a message naming the field; a good one is stored as
// written; status.experiment is accepted and the Experiment printer column shows it; kubectl
// explain documents it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { manifest, output, useCrdNamespace } from './crd-namespace.ts';

const model = { version: '1', uri: 'https://models.example.com/iris/1/model.onnx' };
const expModel = { version: '2', uri: 'https://models.example.com/iris/2/model.onnx' };
const withExperiment = (experiment: Record<string, unknown>) => ({ model, experiment });

/** Each must be refused with every fragment in the error (the field's path and the reason). */
const BAD_EXPERIMENT: { what: string; spec: Record<string, unknown>; expect: string[] }[] = [
  {
    what: 'an experiment version equal to spec.model.version',
    spec: withExperiment({ model: { ...expModel, version: '1' }, weight: 20 }),
    expect: ['spec.experiment.model.version', 'experiment.model.version must differ from spec.model.version'],
  },
  {
    what: 'a weight of 0',
    spec: withExperiment({ model: expModel, weight: 0 }),
    expect: ['spec.experiment.weight: Invalid value: 0', 'should be greater than or equal to 1'],
  },
  {
    what: 'a weight of 100',
    spec: withExperiment({ model: expModel, weight: 100 }),
    expect: ['spec.experiment.weight: Invalid value: 100', 'should be less than or equal to 99'],
  },
  {
    what: 'a weight that is not a number',
    spec: withExperiment({ model: expModel, weight: '20%' }),
    expect: ['spec.experiment.weight: Invalid value: "string"', 'must be of type integer'],
  },
  {
    what: 'no weight',
    spec: withExperiment({ model: expModel }),
    expect: ['spec.experiment.weight: Required value'],
  },
  {
    what: 'no model',
    spec: withExperiment({ weight: 20 }),
    expect: ['spec.experiment.model: Required value'],
  },
  {
    what: 'a model without uri',
    spec: withExperiment({ model: { version: '2' }, weight: 20 }),
    expect: ['spec.experiment.model.uri: Required value'],
  },
  {
    what: 'a uri with an unknown scheme',
    spec: withExperiment({ model: { ...expModel, uri: 'gs://bucket/iris.onnx' }, weight: 20 }),
    expect: ['spec.experiment.model.uri', 'uri must start with one of the schemes'],
  },
  {
    what: 'a sha256 that is not 64 hex characters',
    spec: withExperiment({ model: { ...expModel, sha256: 'abc' }, weight: 20 }),
    expect: ['spec.experiment.model.sha256', 'sha256 must be 64 lowercase hex characters'],
  },
  {
    what: 'a version with characters a label cannot hold',
    spec: withExperiment({ model: { ...expModel, version: 'v 2' }, weight: 20 }),
    expect: ['spec.experiment.model.version: Invalid value: "v 2"', 'should match'],
  },
];

describe('ModelDeployment CRD: A/B experiment on a real API server', () => {
  const crd = useCrdNamespace('crd-experiment');
  const { kubectl, get } = crd;

  for (const bad of BAD_EXPERIMENT) {
    test(`refuses ${bad.what}, naming the field`, async () => {
      const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('bad', bad.spec));
      assert.notEqual(r.code, 0, `expected a refusal\n${output(r)}`);
      for (const fragment of bad.expect)
        assert.ok(r.stderr.includes(fragment), `expected ${JSON.stringify(fragment)} in the error\n${output(r)}`);
      assert.notEqual((await kubectl(['get', 'mdep', 'bad', '-n', crd.ns])).code, 0, 'nothing was stored');
    });
  }

  test('refuses an experiment on a ModelDeployment whose name leaves no room for <name>-experiment, naming the field', async () => {
    const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('a'.repeat(53), withExperiment({ model: expModel, weight: 20 })));
    assert.notEqual(r.code, 0, output(r));
    assert.ok(r.stderr.includes('spec.experiment'), output(r));
    assert.ok(r.stderr.includes('metadata.name must be at most 52 characters'), output(r));
    const ok = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('a'.repeat(52), withExperiment({ model: expModel, weight: 20 })));
    assert.equal(ok.code, 0, output(ok));
  });

  test('a patch that makes spec.model.version equal to the experiment version is refused too', async () => {
    const ok = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('ab', withExperiment({ model: expModel, weight: 20 })));
    assert.equal(ok.code, 0, output(ok));
    const r = await kubectl(['patch', 'mdep', 'ab', '-n', crd.ns, '--type=merge', '-p', '{"spec":{"model":{"version":"2"}}}']);
    assert.notEqual(r.code, 0, output(r));
    assert.match(r.stderr, /spec\.experiment\.model\.version.*must differ from spec\.model\.version/);
    // The promotion patch (spec.model := the experiment's model, experiment removed) is one valid change.
    const promote = await kubectl([
      'patch',
      'mdep',
      'ab',
      '-n',
      crd.ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { model: expModel, experiment: null } }),
    ]);
    assert.equal(promote.code, 0, output(promote));
    const md = await get('ab');
    assert.equal(md.spec.model.version, '2');
    assert.equal(md.spec.experiment, undefined);
  });

  test('a good experiment (with sha256, with strategy Canary) is stored as written', async () => {
    const experiment = { model: { ...expModel, sha256: 'a'.repeat(64) }, weight: 99 };
    const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('good', { model, experiment, rollout: { strategy: 'Canary' } }));
    assert.equal(r.code, 0, output(r));
    assert.deepEqual((await get('good')).spec.experiment, experiment);
  });

  test('status.experiment is accepted by the status subresource and the Experiment column shows it', async () => {
    const status = {
      experiment: {
        version: '2',
        weight: 99,
        effectiveWeight: 20,
        summary: '2@20%',
        startedAt: '2025-01-01T00:00:00Z',
        lastAnalysisAt: '2025-01-01T00:00:30Z',
        message: 'version 2 serves 20% of the traffic (1 of 5 pods) beside version 1',
        variants: [
          { version: '1', track: 'stable', replicas: 4, readyReplicas: 4, requests: 1200, errorRate: 0, p99LatencyMs: 10 },
          { version: '2', track: 'experiment', replicas: 1, readyReplicas: 1, requests: 300, errorRate: 0.33, p99LatencyMs: 12.5 },
        ],
      },
    };
    const patch = (body: unknown) =>
      kubectl(['patch', 'mdep', 'good', '-n', crd.ns, '--subresource=status', '--type=merge', '-p', JSON.stringify(body)]);
    const r = await patch({ status });
    assert.equal(r.code, 0, output(r));
    assert.deepEqual((await get('good')).status?.experiment, status.experiment);
    const table = await kubectl(['get', 'mdep', 'good', '-n', crd.ns]);
    assert.equal(table.code, 0, output(table));
    const [header, row] = table.stdout.trim().split('\n');
    const columns = header?.split(/\s+/) ?? [];
    assert.ok(columns.includes('EXPERIMENT'), header);
    assert.match(row ?? '', /\s2@20%\s/);

    const bad = await patch({ status: { experiment: { version: '2', weight: 20, variants: [{ version: '2', track: 'canary' }] } } });
    assert.notEqual(bad.code, 0, output(bad));
    assert.match(bad.stderr, /status\.experiment\.variants\[0\]\.track: Unsupported value: "canary"/);
  });

  test('kubectl explain documents the experiment fields', async () => {
    const r = await kubectl(['explain', 'mdep.spec.experiment']);
    assert.equal(r.code, 0, output(r));
    for (const field of ['model', 'weight']) assert.match(r.stdout, new RegExp(`^\\s+${field}\\s+<`, 'm'), field);
    const text = r.stdout.replace(/\s+/g, ' ');
    assert.match(text, /modelship-version: <version>/);
    assert.match(text, /a Canary rollout does not start/);
    const status = await kubectl(['explain', 'mdep.status.experiment.variants']);
    assert.equal(status.code, 0, output(status));
    for (const field of ['version', 'track', 'requests', 'errorRate', 'p99LatencyMs'])
      assert.match(status.stdout, new RegExp(`^\\s+${field}\\s+<`, 'm'), field);
  });
});
