// spec.service.tls in what the operator renders (volumes, env, probes, Service, status.url, version
// routes) and the pure check of the TLS Secret it runs before a rollout.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { renderService, serviceUrl } from '../../operator/src/render/children.ts';
import { versionRoutes } from '../../operator/src/render/experiment.ts';
import { renderPodTemplate, templateHashOf } from '../../operator/src/render/pod-template.ts';
import { checkClientCa, checkTlsSecret, TLS_PROBLEM_REASON } from '../../operator/src/reconcile/tls-secret.ts';
import { TestCa } from '@modelship/devcluster/test-ca';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';

const env = (c: { env?: { name: string; value?: string }[] } | undefined, name: string) => c?.env?.find((e) => e.name === name)?.value;
const withTls = (tls: NonNullable<NonNullable<ReturnType<typeof modelDeployment>['spec']['service']>['tls']>, port = 80) =>
  modelDeployment({ service: { type: 'ClusterIP', port, tls } });

test('TLS: the Secret mounted read-only (group-readable only), the runtime pointed at it, probes on HTTPS', () => {
  const md = withTls({ secretName: 'iris-tls' });
  const t = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);
  const serve = t.spec?.containers[0];
  assert.deepEqual(t.spec?.volumes?.find((v) => v.name === 'tls')?.secret, { secretName: 'iris-tls', defaultMode: 0o440 });
  assert.deepEqual(
    serve?.volumeMounts?.find((m) => m.name === 'tls'),
    { name: 'tls', mountPath: '/etc/modelship/tls', readOnly: true },
  );
  assert.equal(env(serve, 'MODELSHIP_TLS_CERT_FILE'), '/etc/modelship/tls/tls.crt');
  assert.equal(env(serve, 'MODELSHIP_TLS_KEY_FILE'), '/etc/modelship/tls/tls.key');
  assert.equal(env(serve, 'MODELSHIP_TLS_CLIENT_CA_FILE'), undefined);
  for (const p of [serve?.readinessProbe, serve?.livenessProbe, serve?.startupProbe]) assert.equal(p?.httpGet?.scheme, 'HTTPS');
  // the init container never sees the key pair
  assert.ok(!t.spec?.initContainers?.[0]?.volumeMounts?.some((m) => m.name === 'tls'));
});

test('TLS off renders the same pod as before the field existed (no scheme, no volume): no rollout on an operator upgrade', () => {
  const md = modelDeployment();
  const t = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);
  const serve = t.spec?.containers[0];
  assert.equal(serve?.readinessProbe?.httpGet?.scheme, undefined);
  assert.ok(!t.spec?.volumes?.some((v) => v.name === 'tls' || v.name === 'client-ca'));
  const on = withTls({ secretName: 'x' });
  assert.notEqual(
    templateHashOf(renderPodTemplate(on, on.spec.model, RUNTIME_DEFAULTS)),
    templateHashOf(t),
    'turning TLS on rolls the pods',
  );
});

test('mTLS: the client CA from a Secret or a ConfigMap, one key mounted as ca.crt', () => {
  const fromSecret = withTls({ secretName: 'iris-tls', clientCA: { secretName: 'callers', key: 'ca.pem' } });
  let t = renderPodTemplate(fromSecret, fromSecret.spec.model, RUNTIME_DEFAULTS);
  assert.deepEqual(t.spec?.volumes?.find((v) => v.name === 'client-ca')?.secret, {
    secretName: 'callers',
    items: [{ key: 'ca.pem', path: 'ca.crt' }],
    defaultMode: 0o440,
  });
  assert.equal(env(t.spec?.containers[0], 'MODELSHIP_TLS_CLIENT_CA_FILE'), '/etc/modelship/client-ca/ca.crt');
  const fromConfigMap = withTls({ secretName: 'iris-tls', clientCA: { configMapName: 'callers' } });
  t = renderPodTemplate(fromConfigMap, fromConfigMap.spec.model, RUNTIME_DEFAULTS);
  assert.deepEqual(t.spec?.volumes?.find((v) => v.name === 'client-ca')?.configMap, {
    name: 'callers',
    items: [{ key: 'ca.crt', path: 'ca.crt' }],
  });
});

test('Service appProtocol https, status.url and version routes use https://', () => {
  const md = withTls({ secretName: 'iris-tls' });
  assert.deepEqual(renderService(md).spec?.ports, [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'https' }]);
  assert.equal(
    serviceUrl(md, 'iris'),
    'https://iris.default.svc.cluster.local:80/v2/models/iris'.replace('default', md.metadata?.namespace as string),
  );
  const on443 = withTls({ secretName: 'iris-tls' }, 443);
  assert.match(serviceUrl(on443, 'iris'), /^https:\/\/iris\.[a-z0-9-]+\.svc\.cluster\.local\/v2\/models\/iris$/);
  assert.match(versionRoutes(md, '1', '2'), /^1=https:\/\/iris-stable\.[^,]+:80,2=https:\/\/iris-experiment\./);
  const plain = modelDeployment();
  assert.equal(renderService(plain).spec?.ports?.[0]?.appProtocol, undefined);
  assert.match(serviceUrl(plain, 'iris'), /^http:\/\/iris\./);
});

const ca = new TestCa();
after(() => ca.cleanup());
const b64 = (s: string) => Buffer.from(s).toString('base64');
const tlsSecret = (cert: string, key: string, type = 'kubernetes.io/tls') => ({
  type,
  data: { 'tls.crt': b64(cert), 'tls.key': b64(key) },
});

test('TLS Secret check: missing, wrong type, mismatched, expired, not PEM -> a reason naming it; a good pair passes', () => {
  const good = ca.issue({ cn: 'iris.ml.svc', dns: ['iris.ml.svc'] });
  const other = ca.issue({ cn: 'other' });
  const expired = ca.issue({ cn: 'old', expired: true });
  const now = new Date();
  assert.equal(checkTlsSecret('t', tlsSecret(good.cert, good.key), now), undefined);
  const cases: [Parameters<typeof checkTlsSecret>[1], RegExp][] = [
    [undefined, /Secret "t" does not exist/],
    [tlsSecret(good.cert, good.key, 'Opaque'), /of type "Opaque", not kubernetes.io\/tls/],
    [{ type: 'kubernetes.io/tls', data: { 'tls.crt': b64(good.cert) } }, /lacks tls.crt or tls.key/],
    [tlsSecret(good.cert, other.key), /tls.key does not match the certificate/],
    [tlsSecret(expired.cert, expired.key), /the certificate expired at Jan {2}2 00:00:00 2020 GMT/],
    [tlsSecret('not a cert', good.key), /tls.crt is not a PEM certificate/],
    [tlsSecret(good.cert, 'not a key'), /tls.key is not a PEM private key/],
  ];
  for (const [secret, message] of cases) {
    const p = checkTlsSecret('t', secret, now);
    assert.equal(p?.reason, TLS_PROBLEM_REASON);
    assert.match(p?.message ?? '', message);
    assert.match(p?.message ?? '', /^spec\.service\.tls: /);
    assert.doesNotMatch(p?.message ?? '', /BEGIN|PRIVATE/, 'no key material in the message');
  }
});

test('client CA check: missing object or key, not PEM -> a reason; a PEM CA passes', () => {
  assert.equal(checkClientCa('ConfigMap "c"', 'ca.crt', { data: { 'ca.crt': ca.ca.cert } }, false), undefined);
  assert.equal(checkClientCa('Secret "c"', 'ca.crt', { data: { 'ca.crt': b64(ca.ca.cert) } }, true), undefined);
  assert.match(checkClientCa('Secret "c"', 'ca.crt', undefined, true)?.message ?? '', /clientCA: Secret "c" does not exist/);
  assert.match(checkClientCa('ConfigMap "c"', 'x', { data: {} }, false)?.message ?? '', /has no key "x"/);
  assert.match(checkClientCa('ConfigMap "c"', 'ca.crt', { data: { 'ca.crt': 'nope' } }, false)?.message ?? '', /is not a PEM certificate/);
});
