/**
 * The pure parts of oci:// pulls: reference parsing (examples and a fast-check property:
 * every reference built from the grammar parses back to its parts; the CRD's CEL pattern accepts
 * exactly what the parser accepts), WWW-Authenticate challenges and the token URL, the docker
 * config credentials lookup, and which manifest layer is the model.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { formatOciReference, OCI_REFERENCE_PATTERN, parseOciReference } from '../../contract/oci-reference.ts';
import { credentialsFor } from '../../runtime/src/fetch/docker-config.ts';
import { pickModelLayer } from '../../runtime/src/fetch/oci.ts';
import { parseWwwAuthenticate, tokenUrl } from '../../runtime/src/fetch/www-authenticate.ts';

const D = `sha256:${'ab'.repeat(32)}`;
const celPattern = new RegExp(OCI_REFERENCE_PATTERN);

describe('parseOciReference', () => {
  test('accepted forms', () => {
    assert.deepEqual(parseOciReference('oci://ghcr.io/acme/models/iris:v1'), {
      registry: 'ghcr.io',
      repository: 'acme/models/iris',
      tag: 'v1',
      digest: undefined,
    });
    assert.deepEqual(parseOciReference(`oci://10.0.0.1:5000/iris@${D}`), {
      registry: '10.0.0.1:5000',
      repository: 'iris',
      tag: undefined,
      digest: D,
    });
    assert.deepEqual(parseOciReference(`oci://localhost:5000/a__b/c-d.e:1.0_rc-1@${D}`), {
      registry: 'localhost:5000',
      repository: 'a__b/c-d.e',
      tag: '1.0_rc-1',
      digest: D,
    });
    assert.deepEqual(parseOciReference('oci://[::1]:5000/iris:v1'), {
      registry: '[::1]:5000',
      repository: 'iris',
      tag: 'v1',
      digest: undefined,
    });
  });

  for (const [uri, why] of [
    ['oci://ghcr.io/acme/iris', /names no tag or digest/],
    ['oci://ghcr.io/Acme/iris:v1', /is not an OCI reference/],
    ['oci://ghcr.io/acme/iris:', /is not an OCI reference/],
    ['oci://ghcr.io/acme//iris:v1', /is not an OCI reference/],
    ['oci://ghcr.io/acme/iris:-v1', /is not an OCI reference/],
    ['oci://ghcr.io/acme/iris@sha256:abc', /is not an OCI reference/],
    [`oci://ghcr.io/acme/iris@sha512:${'a'.repeat(128)}`, /is not an OCI reference/],
    ['oci://ghcr.io:99999/iris:v1', /port 99999 is out of range/],
    ['oci:///iris:v1', /is not an OCI reference/],
    ['oci://user:pw@ghcr.io/iris:v1', /is not an OCI reference/],
    ['oci://ghcr.io/iris:v1?x=1', /is not an OCI reference/],
    ['http://ghcr.io/iris:v1', /starts with oci:\/\//],
    [`oci://r.io/${'a'.repeat(256)}:v1`, /longer than 255/],
  ] as const) {
    test(`refused: ${uri.slice(0, 60)}`, () => {
      const r = parseOciReference(uri);
      assert.ok('error' in r, `refused: ${uri}`);
      assert.match(r.error, why);
    });
  }

  const component = fc.stringMatching(/^[a-z0-9]{1,5}([._-][a-z0-9]{1,4})?$/);
  const reference = fc.record({
    registry: fc.oneof(
      fc.constantFrom('ghcr.io', 'localhost:5000', '127.0.0.1:32000', 'registry.example.com', '[::1]:5000'),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9](\.[a-z]{2,5})?$/),
    ),
    repository: fc.array(component, { minLength: 1, maxLength: 4 }).map((c) => c.join('/')),
    tag: fc.option(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,20}$/), { nil: undefined }),
    digest: fc.option(
      fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`),
      { nil: undefined },
    ),
  });

  test('property: every reference of the grammar parses back to its parts, and the CEL pattern accepts it', () => {
    fc.assert(
      fc.property(reference, (ref) => {
        fc.pre(ref.tag !== undefined || ref.digest !== undefined);
        const uri = formatOciReference(ref);
        assert.deepEqual(parseOciReference(uri), { ...ref });
        assert.ok(celPattern.test(uri), uri);
      }),
    );
  });

  test('property: the CEL pattern refuses what the parser refuses for its grammar (any string)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.constantFrom('oci://r.io/', 'oci://', 'oci://r.io:5000/a/'), (tail, head) => {
        const uri = head + tail;
        const parsed = parseOciReference(uri);
        // the pattern leaves the tag-or-digest and port range to a second CEL rule; otherwise they agree
        if (!('error' in parsed)) assert.ok(celPattern.test(uri), uri);
        else if (/is not an OCI reference/.test(parsed.error)) assert.equal(celPattern.test(uri), false, uri);
      }),
    );
  });
});

describe('WWW-Authenticate', () => {
  test('a Bearer challenge with quoted params, escapes and a Basic one after it', () => {
    const c = parseWwwAuthenticate(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push", Basic realm="x \\"y\\""',
    );
    assert.deepEqual(c, [
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } },
      { scheme: 'basic', params: { realm: 'x "y"' } },
    ]);
  });

  test('token params, odd spacing, a scheme without params, an unterminated quote', () => {
    assert.deepEqual(parseWwwAuthenticate('basic  Realm = registry ,charset="UTF-8"'), [
      { scheme: 'basic', params: { realm: 'registry', charset: 'UTF-8' } },
    ]);
    assert.deepEqual(parseWwwAuthenticate('Negotiate, Basic realm="r"'), [
      { scheme: 'negotiate', params: {} },
      { scheme: 'basic', params: { realm: 'r' } },
    ]);
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://a'), [{ scheme: 'bearer', params: {} }]);
    assert.deepEqual(parseWwwAuthenticate(''), []);
  });

  test('property: never throws on any header', () => {
    fc.assert(fc.property(fc.string(), (h) => void parseWwwAuthenticate(h)));
  });

  test('token URL: realm + service + the challenge scope, or pull on the repository; plain-http realm refused for an https registry', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="https://auth.example/token?x=1",service="reg"');
    const u = tokenUrl(c!, 'team/iris', true);
    assert.ok(u instanceof URL);
    assert.equal(u.href, 'https://auth.example/token?x=1&service=reg&scope=repository%3Ateam%2Firis%3Apull');
    const [plain] = parseWwwAuthenticate('Bearer realm="http://auth.example/token"');
    assert.match((tokenUrl(plain!, 'a', true) as { error: string }).error, /refusing the registry's plain-http token realm/);
    assert.ok(tokenUrl(plain!, 'a', false) instanceof URL);
    assert.match((tokenUrl({ scheme: 'bearer', params: {} }, 'a', true) as { error: string }).error, /no realm/);
    assert.match((tokenUrl({ scheme: 'bearer', params: { realm: 'file:///x' } }, 'a', true) as { error: string }).error, /not http/);
  });
});

describe('docker config credentials', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  test('auth or username/password, keys with scheme and path, Docker Hub aliases', () => {
    assert.deepEqual(credentialsFor({ auths: { 'r.io:5000': { auth: b64('u:p:q') } } }, 'r.io:5000'), { username: 'u', password: 'p:q' });
    assert.deepEqual(credentialsFor({ auths: { 'https://R.io/v1/': { username: 'u', password: 'p' } } }, 'r.io'), {
      username: 'u',
      password: 'p',
    });
    assert.deepEqual(credentialsFor({ auths: { 'https://index.docker.io/v1/': { auth: b64('h:k') } } }, 'registry-1.docker.io'), {
      username: 'h',
      password: 'k',
    });
    assert.equal(credentialsFor({ auths: { 'r.io': { auth: b64('u:p') } } }, 'r.io:5000'), undefined, 'the port is part of the key');
    assert.equal(credentialsFor({}, 'r.io'), undefined);
  });
  test('malformed entries: an error that never contains the secret', () => {
    for (const cfg of [
      null,
      { auths: 3 },
      { auths: { 'r.io': 'x' } },
      { auths: { 'r.io': { auth: b64('nocolon-secret') } } },
      { auths: { 'r.io': {} } },
    ]) {
      const r = credentialsFor(cfg, 'r.io');
      assert.ok(r !== undefined && 'error' in r, JSON.stringify(cfg));
      assert.doesNotMatch(r.error, /nocolon-secret/);
    }
  });
});

describe('pickModelLayer', () => {
  const layer = (mediaType: string, title?: string) => ({
    mediaType,
    digest: D,
    size: 10,
    ...(title ? { annotations: { 'org.opencontainers.image.title': title } } : {}),
  });
  test('the ONNX media type, or a non-archive layer titled *.onnx', () => {
    assert.deepEqual(
      pickModelLayer({ layers: [layer('text/plain', 'README'), layer('application/vnd.onnx', 'm')] }),
      layer('application/vnd.onnx', 'm'),
    );
    assert.deepEqual(
      pickModelLayer({ layers: [layer('application/octet-stream', 'Model.ONNX')] }),
      layer('application/octet-stream', 'Model.ONNX'),
    );
  });
  test('refused: index, no layers, no ONNX layer, an archive named .onnx, two ONNX layers', () => {
    const err = (m: unknown) => (pickModelLayer(m) as { error: string }).error;
    assert.match(err({ mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }), /image index/);
    assert.match(err({ layers: [] }), /no layers/);
    assert.match(err({ layers: [{ mediaType: 'x' }] }), /without a digest or size/);
    for (const size of [-1, 1.5, 1e300, '10'])
      assert.match(err({ layers: [{ ...layer('application/vnd.onnx'), size }] }), /without a digest or size/, String(size));
    assert.match(err({ layers: [layer('text/plain', 'README.md')] }), /no ONNX layer.*README.md \(text\/plain\)/);
    assert.match(err({ layers: [layer('application/vnd.oci.image.layer.v1.tar+gzip', 'm.onnx')] }), /no ONNX layer/);
    assert.match(err({ layers: [layer('application/vnd.onnx'), layer('application/vnd.onnx')] }), /2 ONNX layers, expected one/);
    assert.match(err('x'), /not a JSON object/);
  });
});

describe('the CRD', () => {
  test("spec.model.uri and spec.experiment.model.uri check oci:// with the parser's own pattern, and the chart's copy is the same", () => {
    const crd = readFileSync(join(import.meta.dirname, '../../crds/modelship.dev_modeldeployments.yaml'), 'utf8');
    const rule = `self.matches(r'${OCI_REFERENCE_PATTERN}')`;
    assert.equal(crd.split(rule).length - 1, 2, 'the oci:// rule on both uri fields');
    assert.equal(readFileSync(join(import.meta.dirname, '../../charts/modelship/crds/modelship.dev_modeldeployments.yaml'), 'utf8'), crd);
  });
});
