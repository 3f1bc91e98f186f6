// spec.pod (workload knobs) on a real kube-apiserver: bad input is refused at apply time with the
// field named (env overriding the runtime's MODELSHIP_ variables, labels overriding the operator's
// selector, tolerations and spread constraints the API server would refuse in a Pod, malformed
// keys); a full, valid spec.pod is stored as written; kubectl explain documents the fields.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { manifest, output, useCrdNamespace } from './crd-namespace.ts';

const model = { version: '1', uri: 'https://models.example.com/iris/1/model.onnx' };

const BAD: { what: string; pod: Record<string, unknown>; expect: string[] }[] = [
  {
    what: 'an env variable the runtime reads (MODELSHIP_PORT)',
    pod: { env: [{ name: 'MODELSHIP_PORT', value: '9000' }] },
    expect: ['spec.pod.env[0].name', 'env[].name MODELSHIP_PORT is reserved', "the runtime's own settings"],
  },
  {
    what: 'any MODELSHIP_ env name, even one the runtime does not read today',
    pod: {
      env: [
        { name: 'OK', value: '1' },
        { name: 'MODELSHIP_FUTURE', value: 'x' },
      ],
    },
    expect: ['spec.pod.env[1].name', 'env[].name MODELSHIP_FUTURE is reserved'],
  },
  {
    what: 'env with both value and valueFrom',
    pod: { env: [{ name: 'A', value: '1', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] },
    expect: ['spec.pod.env[0].valueFrom', 'env[].value and env[].valueFrom are mutually exclusive'],
  },
  {
    what: 'env valueFrom naming both a Secret and a ConfigMap',
    pod: { env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' }, configMapKeyRef: { name: 'c', key: 'k' } } }] },
    expect: ['spec.pod.env[0].valueFrom', 'needs exactly one of secretKeyRef and configMapKeyRef'],
  },
  {
    what: 'an env name with a space',
    pod: { env: [{ name: 'MY VAR', value: '1' }] },
    expect: ['spec.pod.env[0].name: Invalid value: "MY VAR"', 'should match'],
  },
  {
    what: 'the same env name twice',
    pod: {
      env: [
        { name: 'A', value: '1' },
        { name: 'A', value: '2' },
      ],
    },
    expect: ['spec.pod.env[1]: Duplicate value'],
  },
  {
    what: "a label that overrides the operator's selector (app.kubernetes.io/instance)",
    pod: { labels: { 'app.kubernetes.io/instance': 'other' } },
    expect: ['spec.pod.labels', 'labels must not set app.kubernetes.io/instance', 'the operator sets it and selects its pods by it'],
  },
  {
    what: 'a label under modelship.dev/ (the track label)',
    pod: { labels: { team: 'a', 'modelship.dev/track': 'canary' } },
    expect: ['spec.pod.labels', 'labels must not set modelship.dev/track'],
  },
  {
    what: 'a malformed label key',
    pod: { labels: { 'bad key!': 'x' } },
    expect: ['spec.pod.labels', 'labels key "bad key!" is not a label key'],
  },
  {
    what: 'a label value that is no label value',
    pod: { labels: { team: 'not a value' } },
    expect: ['spec.pod.labels.team: Invalid value: "not a value"', 'should match'],
  },
  {
    what: 'an annotation under modelship.dev/ (the template hash)',
    pod: { annotations: { 'modelship.dev/template-hash': 'x' } },
    expect: ['spec.pod.annotations', 'annotations must not set modelship.dev/template-hash'],
  },
  {
    what: 'a malformed nodeSelector key',
    pod: { nodeSelector: { '/pool': 'ml' } },
    expect: ['spec.pod.nodeSelector', 'nodeSelector key "/pool" is not a label key'],
  },
  {
    what: 'a toleration operator the API server does not know',
    pod: { tolerations: [{ key: 'dedicated', operator: 'Matches', value: 'ml' }] },
    expect: ['spec.pod.tolerations[0].operator: Unsupported value: "Matches"', 'supported values: "Exists", "Equal"'],
  },
  {
    what: 'a toleration with operator Exists and a value',
    pod: { tolerations: [{ key: 'dedicated', operator: 'Exists', value: 'ml' }] },
    expect: ['spec.pod.tolerations[0].value', 'tolerations[].value must be empty when operator is Exists'],
  },
  {
    what: 'a toleration without a key and not Exists',
    pod: { tolerations: [{ operator: 'Equal', value: 'ml' }] },
    expect: ['spec.pod.tolerations[0].operator', 'tolerations[].operator must be Exists when key is empty'],
  },
  {
    what: 'tolerationSeconds without effect NoExecute',
    pod: { tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 30 }] },
    expect: ['spec.pod.tolerations[0].tolerationSeconds', 'tolerations[].tolerationSeconds needs effect NoExecute'],
  },
  {
    what: 'an unknown taint effect',
    pod: { tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoRun' }] },
    expect: ['spec.pod.tolerations[0].effect: Unsupported value: "NoRun"'],
  },
  {
    what: 'a spread constraint with maxSkew 0',
    pod: { topologySpreadConstraints: [{ maxSkew: 0, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' }] },
    expect: ['spec.pod.topologySpreadConstraints[0].maxSkew: Invalid value: 0', 'should be greater than or equal to 1'],
  },
  {
    what: 'minDomains with ScheduleAnyway',
    pod: {
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', minDomains: 2 },
      ],
    },
    expect: ['spec.pod.topologySpreadConstraints[0].minDomains', 'minDomains is allowed only with whenUnsatisfiable DoNotSchedule'],
  },
  {
    what: 'a spread constraint without whenUnsatisfiable',
    pod: { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname' }] },
    expect: ['spec.pod.topologySpreadConstraints[0].whenUnsatisfiable: Required value'],
  },
  {
    what: 'a priorityClassName that is no DNS subdomain',
    pod: { priorityClassName: 'High_Priority' },
    expect: ['spec.pod.priorityClassName: Invalid value: "High_Priority"', 'should match'],
  },
  {
    what: 'a serviceAccountName that is no DNS subdomain',
    pod: { serviceAccountName: 'Reader' },
    expect: ['spec.pod.serviceAccountName: Invalid value: "Reader"', 'should match'],
  },
  {
    what: 'an image pull secret without a name',
    pod: { imagePullSecrets: [{}] },
    expect: ['spec.pod.imagePullSecrets[0].name: Required value'],
  },
];

const GOOD = {
  nodeSelector: { pool: 'ml' },
  tolerations: [
    { key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' },
    { operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 },
  ],
  affinity: {
    nodeAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 10, preference: { matchExpressions: [{ key: 'gpu', operator: 'In', values: ['a100'] }] } },
      ],
    },
  },
  topologySpreadConstraints: [
    { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', minDomains: 2 },
  ],
  priorityClassName: 'serving',
  serviceAccountName: 'iris-reader',
  imagePullSecrets: [{ name: 'registry' }],
  env: [
    { name: 'OTEL_SERVICE_NAME', value: 'iris' },
    { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'tokens', key: 'iris', optional: true } } },
  ],
  labels: { team: 'search', 'example.com/cost-center': '42' },
  annotations: { 'sidecar.istio.io/inject': 'true', 'prometheus.io/port': '9999' },
};

describe('ModelDeployment CRD: spec.pod on a real API server', () => {
  const crd = useCrdNamespace('crd-pod');
  const { kubectl, get } = crd;

  for (const bad of BAD) {
    test(`refuses ${bad.what}, naming the field`, async () => {
      const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('bad', { model, pod: bad.pod }));
      assert.notEqual(r.code, 0, `expected a refusal\n${output(r)}`);
      for (const fragment of bad.expect) assert.ok(r.stderr.includes(fragment), `expected ${JSON.stringify(fragment)}\n${output(r)}`);
      assert.notEqual((await kubectl(['get', 'mdep', 'bad', '-n', crd.ns])).code, 0, 'nothing was stored');
    });
  }

  test('a misspelled affinity part is refused by kubectl (strict field validation), naming it', async () => {
    const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('typo', { model, pod: { affinity: { nodeAfinity: {} } } }));
    assert.notEqual(r.code, 0, output(r));
    assert.match(r.stderr, /unknown field "spec\.pod\.affinity\.nodeAfinity"/);
  });

  test('a full spec.pod is accepted and stored as written', async () => {
    const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('full', { model, pod: GOOD }));
    assert.equal(r.code, 0, output(r));
    assert.deepEqual((await get('full')).spec.pod, GOOD);
  });

  test('kubectl explain documents spec.pod and its fields', async () => {
    const r = await kubectl(['explain', 'modeldeployment.spec.pod']);
    assert.equal(r.code, 0, output(r));
    for (const field of [
      'nodeSelector',
      'tolerations',
      'affinity',
      'topologySpreadConstraints',
      'priorityClassName',
      'serviceAccountName',
      'imagePullSecrets',
      'env',
      'labels',
      'annotations',
    ]) {
      assert.match(r.stdout, new RegExp(`^\\s+${field}\\s`, 'm'), `${field} listed\n${r.stdout}`);
    }
    assert.match(r.stdout, /placement/);
    const env = await kubectl(['explain', 'modeldeployment.spec.pod.env']);
    assert.match(env.stdout.replace(/\s+/g, ' '), /Names starting with MODELSHIP_ are refused/);
    const spread = await kubectl(['explain', 'modeldeployment.spec.pod.topologySpreadConstraints']);
    assert.match(
      spread.stdout.replace(/\s+/g, ' '),
      /the operator spreads them across nodes \(topologyKey kubernetes\.io\/hostname, maxSkew 1, ScheduleAnyway/,
    );
  });
});
