// spec.rollout.httpRoute in the ModelDeployment CRD on a real kube-apiserver: an HTTPRoute without a
// parent, or with bad parents / hostnames, is refused at apply time with a message naming the
// field; a good one is stored as written; kubectl explain documents it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { manifest, output, useCrdNamespace } from './crd-namespace.ts';

const model = { version: '1', uri: 'https://models.example.com/iris/1/model.onnx' };
const routed = (httpRoute: Record<string, unknown>) => ({ model, rollout: { httpRoute } });

const BAD: { what: string; spec: Record<string, unknown>; expect: string[] }[] = [
  {
    what: 'an httpRoute without parentRefs',
    spec: routed({ hostnames: ['iris.example.com'] }),
    expect: ['spec.rollout.httpRoute.parentRefs', 'spec.rollout.httpRoute.parentRefs is required: name the Gateway'],
  },
  {
    what: 'an empty parentRefs list',
    spec: routed({ parentRefs: [] }),
    expect: ['spec.rollout.httpRoute.parentRefs', 'should have at least 1 items'],
  },
  {
    what: 'a parent without a name',
    spec: routed({ parentRefs: [{ namespace: 'infra' }] }),
    expect: ['spec.rollout.httpRoute.parentRefs[0].name: Required value'],
  },
  {
    what: 'a hostname that is not one',
    spec: routed({ parentRefs: [{ name: 'gw' }], hostnames: ['Not A Host'] }),
    expect: ['spec.rollout.httpRoute.hostnames[0]: Invalid value: "Not A Host"'],
  },
];

describe('ModelDeployment CRD: spec.rollout.httpRoute on a real API server', () => {
  const crd = useCrdNamespace('crd-httproute');
  const { kubectl, get } = crd;

  for (const bad of BAD) {
    test(`refuses ${bad.what}, naming the field`, async () => {
      const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('bad', bad.spec));
      assert.notEqual(r.code, 0, `expected a refusal\n${output(r)}`);
      for (const fragment of bad.expect)
        assert.ok(r.stderr.includes(fragment), `expected ${JSON.stringify(fragment)} in the error\n${output(r)}`);
      assert.notEqual((await kubectl(['get', 'mdep', 'bad', '-n', crd.ns])).code, 0, 'nothing was stored');
    });
  }

  test('a good httpRoute is stored as written; kubectl explain documents it', async () => {
    const httpRoute = {
      parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'http', port: 8080 }],
      hostnames: ['iris.example.com', '*.models.example.com'],
    };
    const r = await kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('good', routed(httpRoute)));
    assert.equal(r.code, 0, output(r));
    assert.deepEqual((await get('good')).spec.rollout?.httpRoute, httpRoute);
    const explain = await kubectl(['explain', 'mdep.spec.rollout.httpRoute']);
    assert.equal(explain.code, 0, output(explain));
    for (const field of ['parentRefs', 'hostnames']) assert.match(explain.stdout, new RegExp(`^\\s+${field}\\s+<`, 'm'), field);
    assert.match(explain.stdout.replace(/\s+/g, ' '), /modelship-version: <version>/);
  });
});
