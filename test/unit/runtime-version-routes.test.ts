// A/B pinning, the pure parts: MODELSHIP_VERSION_ROUTES as both sides read and write it
// (contract/runtime-contract.ts), the runtime's configuration of it, and the pin decision (http/pin.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ENV,
  formatVersionRoutes,
  isModelVersion,
  MAX_VERSION_ROUTES,
  parseVersionRoutes,
  PIN_HEADER,
  type VersionRoute,
} from '../../contract/runtime-contract.ts';
import { parseConfig } from '../../runtime/src/config.ts';
import { ConfigError, HttpError } from '../../runtime/src/errors.ts';
import { forwardPath, upstreamError } from '../../runtime/src/http/forward.ts';
import { decidePin, type PinConfig } from '../../runtime/src/http/pin.ts';
import type { InferenceRoute } from '../../runtime/src/http/routes.ts';

const ok = (text: string): VersionRoute[] => {
  const parsed = parseVersionRoutes(text);
  assert.ok(parsed.ok, `expected "${text}" to parse: ${parsed.ok ? '' : parsed.error}`);
  return parsed.routes;
};
const bad = (text: string): string => {
  const parsed = parseVersionRoutes(text);
  assert.ok(!parsed.ok, `expected "${text}" to be refused`);
  return parsed.error;
};

test('routes: the contract example parses, base URLs in canonical form (port always given)', () => {
  assert.deepEqual(ok('1=http://iris-stable.ml.svc:80,2=http://iris-experiment.ml.svc:80'), [
    { version: '1', baseUrl: 'http://iris-stable.ml.svc:80' },
    { version: '2', baseUrl: 'http://iris-experiment.ml.svc:80' },
  ]);
  assert.deepEqual(ok(' 2024-06-01 = http://a.b/ , v2.1_rc=http://127.0.0.1:8080 '), [
    { version: '2024-06-01', baseUrl: 'http://a.b:80' },
    { version: 'v2.1_rc', baseUrl: 'http://127.0.0.1:8080' },
  ]);
  assert.deepEqual(ok('3=http://[::1]:9000'), [{ version: '3', baseUrl: 'http://[::1]:9000' }]);
  // with spec.service.tls the operator renders https routes; the default port is 443 there
  assert.deepEqual(ok('4=https://iris-stable.ml.svc,5=https://b:8443'), [
    { version: '4', baseUrl: 'https://iris-stable.ml.svc:443' },
    { version: '5', baseUrl: 'https://b:8443' },
  ]);
  assert.deepEqual(ok(''), []);
  assert.deepEqual(ok('   '), []);
});

test('routes: each bad entry is refused with a message naming it', () => {
  assert.match(bad('1'), /entry 1 "1" is not <version>=<base URL>/);
  assert.match(bad('1=http://a:80,,2=http://b:80'), /entry 2 "" is not/);
  assert.match(bad('-1=http://a:80'), /"-1" is not a model version/);
  assert.match(bad(`${'a'.repeat(64)}=http://a:80`), /is not a model version/);
  assert.match(bad('=http://a:80'), /"" is not a model version/);
  assert.match(bad('1=http://a:80,1=http://b:80'), /version "1" is routed twice/);
  assert.match(bad('1=ftp://a:21'), /must start with http:\/\/ or https:\/\//);
  assert.match(bad('1=file:///etc/passwd'), /must start with http:\/\/ or https:\/\//);
  assert.match(bad('1=https://a/v2'), /must be https:\/\/<host>\[:<port>\], without a path/);
  assert.match(bad('1=http://a:80/v2'), /without a path, query or fragment/);
  assert.match(bad('1=http://a:80?x=1'), /without a path, query or fragment/);
  assert.match(bad('1=http://a:80#f'), /without a path, query or fragment/);
  assert.match(bad('1=http://user:pw@a:80'), /must not carry credentials/);
  assert.match(bad('1=http://a:99999'), /is not a URL/);
  assert.match(bad('1=http://'), /is not a URL|has no host/);
  assert.match(bad(`1=http://${'a'.repeat(600)}`), /longer than 512/);
  const many = Array.from({ length: MAX_VERSION_ROUTES + 1 }, (_, i) => `${i}=http://h${i}:80`).join(',');
  assert.match(bad(many), new RegExp(`at most ${MAX_VERSION_ROUTES} routes`));
});

const version = fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?$/);
const host = fc.oneof(fc.stringMatching(/^[a-z]([-a-z0-9]{0,20}[a-z0-9])?(\.[a-z]([-a-z0-9]{0,10}[a-z0-9])?){0,4}$/), fc.ipV4());
const canonicalRoute = fc
  .record({
    version,
    baseUrl: fc.tuple(host, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `http://${h}:${p}`),
  })
  .map((r) => ({ ...r }));

test('routes (property): what the operator formats, the runtime parses back unchanged', () => {
  fc.assert(
    fc.property(fc.uniqueArray(canonicalRoute, { selector: (r) => r.version, minLength: 1, maxLength: MAX_VERSION_ROUTES }), (routes) => {
      assert.deepEqual(parseVersionRoutes(formatVersionRoutes(routes)), { ok: true, routes });
    }),
    { numRuns: 300 },
  );
});

test('routes (property): any text is parsed or refused, never thrown; what parses can only name http://host:port', () => {
  const texty = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc
      .array(fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 40 })), { maxLength: 4 })
      .map((es) => es.map(([v, u]) => `${v}=http://${u}`).join(',')),
  );
  fc.assert(
    fc.property(texty, (text) => {
      const parsed = parseVersionRoutes(text);
      if (!parsed.ok) return;
      for (const r of parsed.routes) {
        assert.ok(isModelVersion(r.version), r.version);
        assert.match(r.baseUrl, /^http:\/\/[^/?#@\s]+:\d+$/);
      }
    }),
    { numRuns: 1000 },
  );
});

const serveEnv = (routes?: string) => ({
  MODELSHIP_MODEL_PATH: '/m.onnx',
  ...(routes === undefined ? {} : { [ENV.versionRoutes]: routes }),
});

test('runtime config: routes are parsed once at the edge into a map; unset = none', () => {
  const c = parseConfig(['serve'], serveEnv('1=http://a:80,2=http://b:8080'));
  assert.ok(c.command === 'serve');
  assert.deepEqual(
    [...c.versionRoutes],
    [
      ['1', 'http://a:80'],
      ['2', 'http://b:8080'],
    ],
  );
  const none = parseConfig(['serve'], serveEnv());
  assert.ok(none.command === 'serve');
  assert.equal(none.versionRoutes.size, 0);
  const flag = parseConfig(['serve', '--version-routes', '7=http://x:1'], serveEnv('1=http://a:80'));
  assert.ok(flag.command === 'serve');
  assert.deepEqual([...flag.versionRoutes.keys()], ['7'], 'the flag wins over the variable');
});

test('runtime config: the value the operator renders for an experiment (Service URLs of both tracks) starts the runtime', () => {
  const rendered = formatVersionRoutes([
    { version: '1', baseUrl: 'http://iris-stable.ml.svc:80' },
    { version: '2024-06-01', baseUrl: 'http://iris-experiment.ml.svc.cluster.local:8080' },
  ]);
  const c = parseConfig(['serve'], serveEnv(rendered));
  assert.ok(c.command === 'serve');
  assert.equal(c.versionRoutes.get('2024-06-01'), 'http://iris-experiment.ml.svc.cluster.local:8080');
  assert.equal(c.versionRoutes.get('1'), 'http://iris-stable.ml.svc:80');
});

test('runtime config: a bad route is a ConfigError naming the flag and the variable', () => {
  assert.throws(
    () => parseConfig(['serve'], serveEnv('2=ftp://b:443')),
    (err: unknown) =>
      err instanceof ConfigError && /--version-routes \(MODELSHIP_VERSION_ROUTES\): entry 1 \(version "2"\)/.test(err.message),
  );
});

const pinConfig: PinConfig = {
  modelName: 'iris',
  modelVersion: '1',
  routes: new Map([
    ['1', 'http://stable:80'],
    ['2', 'http://experiment:80'],
  ]),
};
const v2 = (version?: string, model = 'iris'): InferenceRoute => ({ protocol: 'v2', model, version });
const v1 = (version?: string): InferenceRoute => ({ protocol: 'v1', model: 'iris', version });
const refusal = (d: ReturnType<typeof decidePin>): HttpError => {
  assert.equal(d.kind, 'refuse');
  return (d as { error: HttpError }).error;
};

test('pin: no pin, or the own version by header or path -> local', () => {
  assert.deepEqual(decidePin(v2(), {}, pinConfig), { kind: 'local' });
  assert.deepEqual(decidePin(v2(), { [PIN_HEADER.version]: '1' }, pinConfig), { kind: 'local' });
  assert.deepEqual(decidePin(v2('1'), {}, pinConfig), { kind: 'local' });
  assert.deepEqual(decidePin(v1(), { [PIN_HEADER.version]: ' 1 ' }, pinConfig), { kind: 'local' });
  // already forwarded, and it matches: served
  assert.deepEqual(decidePin(v2('1'), { [PIN_HEADER.forwarded]: '1' }, pinConfig), { kind: 'local' });
  // no routes at all: the own version is still local
  assert.deepEqual(decidePin(v2('1'), {}, { ...pinConfig, routes: new Map() }), { kind: 'local' });
});

test('pin: another routed version, by header (V2, V1) or path -> forwarded to its route', () => {
  const to2 = { kind: 'forward', version: '2', baseUrl: 'http://experiment:80' };
  assert.deepEqual(decidePin(v2(), { [PIN_HEADER.version]: '2' }, pinConfig), to2);
  assert.deepEqual(decidePin(v1(), { [PIN_HEADER.version]: '2' }, pinConfig), to2);
  assert.deepEqual(decidePin(v2('2'), {}, pinConfig), to2);
  assert.deepEqual(decidePin(v2('2'), { [PIN_HEADER.version]: '2' }, pinConfig), to2);
});

test('pin: unknown version -> 404 listing the served versions; already forwarded -> 421', () => {
  const unknown = refusal(decidePin(v2(), { [PIN_HEADER.version]: '9' }, pinConfig));
  assert.equal(unknown.status, 404);
  assert.equal(unknown.message, 'model iris has no version "9" here; served: 1, 2');
  assert.equal(
    refusal(decidePin(v2('9'), {}, { ...pinConfig, routes: new Map() })).message,
    'model iris has no version "9" here; served: 1',
  );
  // a versioned path with text no version can be: still a 404, the text never looked up as a route
  assert.equal(refusal(decidePin(v2('a b'), {}, pinConfig)).status, 404);
  const loop = refusal(decidePin(v2(), { [PIN_HEADER.version]: '2', [PIN_HEADER.forwarded]: '1' }, pinConfig));
  assert.equal(loop.status, 421);
  assert.match(loop.message, /already forwarded once/);
});

test('pin: a bad header value or a conflict with the path -> 400 before anything else', () => {
  for (const value of ['', 'a b', '1,2', '-1', 'x'.repeat(64), '../2', '2\u00e9', ['1', '2']]) {
    const err = refusal(decidePin(v2(), { [PIN_HEADER.version]: value }, pinConfig));
    assert.equal(err.status, 400, JSON.stringify(value));
    assert.match(err.message, /the modelship-version header must be one model version/);
    assert.ok(err.message.length < 300, 'the echoed value is cut short');
  }
  const conflict = refusal(decidePin(v2('2'), { [PIN_HEADER.version]: '1' }, pinConfig));
  assert.equal(conflict.status, 400);
  assert.match(conflict.message, /the path asks for version "2" and the modelship-version header for "1"/);
});

test('pin: another model name is left to the local handler (404 there), never forwarded', () => {
  assert.deepEqual(decidePin(v2('2', 'other'), { [PIN_HEADER.version]: '2' }, pinConfig), { kind: 'local' });
});

test('forward: the upstream path is the route re-encoded, the upstream failure mapped to 503/502', () => {
  assert.equal(forwardPath(v2()), '/v2/models/iris/infer');
  assert.equal(forwardPath(v2('2')), '/v2/models/iris/versions/2/infer');
  assert.equal(forwardPath(v1('2')), '/v1/models/iris/versions/2:predict');
  assert.equal(forwardPath({ protocol: 'v2', model: 'a/b?c', version: undefined }), '/v2/models/a%2Fb%3Fc/infer');
  const refused = upstreamError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), '2');
  assert.equal(refused.status, 503);
  assert.equal(refused.retryAfterSeconds, 1);
  assert.equal(upstreamError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), '2').status, 502);
});
