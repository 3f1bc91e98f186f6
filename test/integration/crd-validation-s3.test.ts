// s3:// model URIs and spec.model.s3 on a real kube-apiserver: URIs that name no object (s3://bucket,
// s3://bucket/, a "folder" key) or a bucket S3 would refuse are refused at apply time with the field
// named and the reason; the same rules hold for spec.experiment.model; a bad endpoint or region is
// refused naming the field; valid URIs with endpoint, region, path style and a credentials Secret
// are stored as written.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { manifest, output, useCrdNamespace } from './crd-namespace.ts';

const NO_OBJECT = 'an s3:// uri must be s3://<bucket>/<key> naming one object';
const BAD: { what: string; uri: string }[] = [
  { what: 'no key', uri: 's3://models' },
  { what: 'an empty key', uri: 's3://models/' },
  { what: 'a key ending in "/"', uri: 's3://models/iris/' },
  { what: 'an uppercase bucket', uri: 's3://Models/iris.onnx' },
  { what: 'a two-letter bucket', uri: 's3://ab/iris.onnx' },
  { what: 'no bucket', uri: 's3:///iris.onnx' },
];

describe('CRD: s3:// URIs and spec.model.s3 (real kube-apiserver)', () => {
  const crd = useCrdNamespace('crd-s3');

  for (const bad of BAD) {
    test(`refuses an s3:// uri with ${bad.what}, naming spec.model.uri and spec.experiment.model.uri`, async () => {
      const r = await crd.kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('bad', { model: { version: '1', uri: bad.uri } }));
      assert.notEqual(r.code, 0, output(r));
      assert.ok(r.stderr.includes('spec.model.uri'), output(r));
      assert.ok(r.stderr.includes(NO_OBJECT), output(r));
      assert.ok(r.stderr.includes('s3://bucket and s3://bucket/ name no object'), output(r));
      const e = await crd.kubectl(
        ['apply', '-n', crd.ns, '-f', '-'],
        manifest('bad', {
          model: { version: '1', uri: 's3://models/iris/1/model.onnx' },
          experiment: { model: { version: '2', uri: bad.uri }, weight: 10 },
        }),
      );
      assert.notEqual(e.code, 0, output(e));
      assert.ok(e.stderr.includes('spec.experiment.model.uri') && e.stderr.includes(NO_OBJECT), output(e));
      assert.notEqual((await crd.kubectl(['get', 'mdep', 'bad', '-n', crd.ns])).code, 0, 'nothing was stored');
    });
  }

  test('refuses an endpoint with a path or another scheme, and a region that is not a region name', async () => {
    for (const endpoint of ['ftp://store:21', 'http://store:9000/bucket', 'https://user:pw@store/x', 'store:9000']) {
      const r = await crd.kubectl(
        ['apply', '-n', crd.ns, '-f', '-'],
        manifest('bad', { model: { version: '1', uri: 's3://models/iris.onnx', s3: { endpoint } } }),
      );
      assert.notEqual(r.code, 0, `${endpoint}: ${output(r)}`);
      assert.ok(r.stderr.includes('spec.model.s3.endpoint') && r.stderr.includes('s3.endpoint must be http://<host>[:<port>]'), output(r));
    }
    const r = await crd.kubectl(
      ['apply', '-n', crd.ns, '-f', '-'],
      manifest('bad', { model: { version: '1', uri: 's3://models/iris.onnx', s3: { region: 'EU West' } } }),
    );
    assert.notEqual(r.code, 0, output(r));
    assert.match(r.stderr, /spec\.model\.s3\.region: Invalid value: "EU West"/);
  });

  test('stores valid URIs with endpoint, region, path style and a credentials Secret as written', async () => {
    const cases = [
      {
        uri: 's3://models/iris/3/model.onnx',
        s3: { endpoint: 'http://seaweedfs.storage.svc:8333', region: 'us-east-1', forcePathStyle: true },
      },
      { uri: 's3://my.bucket-01/a b/model v2.onnx', s3: { region: 'eu-west-1' } },
      { uri: 's3://abc/k', s3: { endpoint: 'https://10.0.0.1:9000/' } },
    ];
    for (const [i, c] of cases.entries()) {
      const model = { version: '1', uri: c.uri, s3: c.s3, credentialsSecretRef: { name: 's3cred' } };
      const r = await crd.kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest(`good-${i}`, { model }));
      assert.equal(r.code, 0, `${c.uri}: ${output(r)}`);
      assert.deepEqual((await crd.get(`good-${i}`)).spec.model, { ...model, format: 'onnx' });
    }
  });
});
