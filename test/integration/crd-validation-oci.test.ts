// oci:// model URIs and spec.model.credentialsSecretRef on a real kube-apiserver: references that
// are not OCI references (no tag or digest, uppercase repository, a short digest, a path with "//",
// credentials in the host part) are refused at apply time with the field named; valid references
// by tag, by digest, with a port, and a credentials Secret reference are stored as written; the
// same rules hold for spec.experiment.model.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { manifest, output, useCrdNamespace } from './crd-namespace.ts';

const D = `sha256:${'c0'.repeat(32)}`;
const BAD: { what: string; uri: string; expect: string[] }[] = [
  { what: 'no tag or digest', uri: 'oci://ghcr.io/acme/iris', expect: ['an oci:// uri must name a tag (:<tag>) or a digest'] },
  { what: 'an uppercase repository', uri: 'oci://ghcr.io/Acme/iris:1', expect: ['an oci:// uri must be an OCI reference'] },
  { what: 'a digest of the wrong length', uri: 'oci://ghcr.io/acme/iris@sha256:abc', expect: ['an oci:// uri must be an OCI reference'] },
  { what: 'an empty path segment', uri: 'oci://ghcr.io/acme//iris:1', expect: ['an oci:// uri must be an OCI reference'] },
  { what: 'credentials in the host part', uri: 'oci://user:pw@ghcr.io/iris:1', expect: ['an oci:// uri must be an OCI reference'] },
  { what: 'no repository', uri: 'oci://ghcr.io:5000', expect: ['an oci:// uri must be an OCI reference'] },
];

describe('CRD: oci:// references and credentials (real kube-apiserver)', () => {
  const crd = useCrdNamespace('crd-oci');

  for (const bad of BAD) {
    test(`refuses an oci:// uri with ${bad.what}, naming spec.model.uri and spec.experiment.model.uri`, async () => {
      const r = await crd.kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest('bad', { model: { version: '1', uri: bad.uri } }));
      assert.notEqual(r.code, 0, output(r));
      assert.ok(r.stderr.includes('spec.model.uri'), output(r));
      for (const f of bad.expect) assert.ok(r.stderr.includes(f), `expected ${JSON.stringify(f)}\n${output(r)}`);
      const e = await crd.kubectl(
        ['apply', '-n', crd.ns, '-f', '-'],
        manifest('bad', {
          model: { version: '1', uri: 'oci://ghcr.io/acme/iris:1' },
          experiment: { model: { version: '2', uri: bad.uri }, weight: 10 },
        }),
      );
      assert.notEqual(e.code, 0, output(e));
      assert.ok(e.stderr.includes('spec.experiment.model.uri'), output(e));
      assert.notEqual((await crd.kubectl(['get', 'mdep', 'bad', '-n', crd.ns])).code, 0, 'nothing was stored');
    });
  }

  test('refuses a credentialsSecretRef without a valid Secret name', async () => {
    const r = await crd.kubectl(
      ['apply', '-n', crd.ns, '-f', '-'],
      manifest('bad', { model: { version: '1', uri: 'oci://ghcr.io/acme/iris:1', credentialsSecretRef: { name: 'Reg_Cred' } } }),
    );
    assert.notEqual(r.code, 0, output(r));
    assert.match(r.stderr, /spec\.model\.credentialsSecretRef\.name: Invalid value: "Reg_Cred"/);
  });

  test('stores valid references (tag, digest, tag@digest, port, IPv6) with a credentials Secret and plainHTTP as written', async () => {
    const uris = [
      'oci://ghcr.io/acme/models/iris:3',
      `oci://registry.example:5000/iris@${D}`,
      `oci://10.0.0.1:5000/a__b/c-d.e:1.0_rc-1@${D}`,
      'oci://[::1]:5000/iris:v1',
    ];
    for (const [i, uri] of uris.entries()) {
      const model = { version: '1', uri, credentialsSecretRef: { name: 'regcred' }, plainHTTP: true };
      const r = await crd.kubectl(['apply', '-n', crd.ns, '-f', '-'], manifest(`good-${i}`, { model }));
      assert.equal(r.code, 0, `${uri}: ${output(r)}`);
      assert.deepEqual((await crd.get(`good-${i}`)).spec.model, { ...model, format: 'onnx' });
    }
  });
});
