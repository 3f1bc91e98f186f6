/**
 * The chart's custom.metrics.k8s.io wiring (helm template, no cluster): a generated CA and serving
 * certificate valid for the Service's DNS names, the same CA in the APIService's caBundle, the
 * Secret mounted where the operator's configuration reads it, the Service aimed at the listener's
 * port, the RoleBinding to the extension-apiserver-authentication reader; a certSecret without its
 * caBundle refused; customMetrics.enabled=false renders none of it.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { test } from 'node:test';
import type { V1Deployment } from '@kubernetes/client-node';
import { findManifest, renderChart, runHelm, chartDir, setArgs, type Manifest } from '@modelship/devcluster/helm';
import { parseConfig } from '../../operator/src/config.ts';

type Any = Manifest & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

test('custom metrics: generated certificate for the Service, CA in the APIService, Secret mounted, env read by the operator', async () => {
  const ms = await renderChart({ release: 'modelship', namespace: 'ops' });
  const secret = findManifest(ms, 'Secret', 'modelship-custom-metrics-tls') as Any;
  const api = findManifest(ms, 'APIService', 'v1beta2.custom.metrics.k8s.io') as Any;
  const svc = findManifest(ms, 'Service', 'modelship-custom-metrics') as Any;
  const rb = findManifest(ms, 'RoleBinding', 'modelship-custom-metrics-auth-reader') as Any;
  assert.equal(secret.type, 'kubernetes.io/tls');
  const b64 = (v: string) => Buffer.from(v, 'base64');
  const ca = new X509Certificate(b64(secret.data['ca.crt']));
  const cert = new X509Certificate(b64(secret.data['tls.crt']));
  assert.ok(cert.verify(ca.publicKey), 'the serving certificate is signed by the CA');
  assert.equal(
    cert.checkHost('modelship-custom-metrics.ops.svc'),
    'modelship-custom-metrics.ops.svc',
    'valid for <service>.<namespace>.svc',
  );
  assert.ok(cert.checkPrivateKey(createPrivateKey(b64(secret.data['tls.key']))), 'the key matches');
  assert.equal(b64(api.spec.caBundle).toString(), b64(secret.data['ca.crt']).toString(), 'caBundle is the CA');
  assert.deepEqual(
    [api.spec.group, api.spec.version, api.spec.service, api.spec.insecureSkipTLSVerify],
    ['custom.metrics.k8s.io', 'v1beta2', { name: 'modelship-custom-metrics', namespace: 'ops', port: 443 }, undefined],
  );
  assert.deepEqual(svc.spec.ports, [{ name: 'https', port: 443, targetPort: 'custom-metrics', protocol: 'TCP' }]);
  assert.deepEqual(
    [rb.metadata.namespace, rb.roleRef.name, rb.subjects],
    ['kube-system', 'extension-apiserver-authentication-reader', [{ kind: 'ServiceAccount', name: 'modelship', namespace: 'ops' }]],
  );
  const dep = findManifest(ms, 'Deployment') as unknown as V1Deployment;
  const c = dep.spec!.template.spec!.containers[0]!;
  assert.deepEqual(
    c.ports?.find((p) => p.name === 'custom-metrics'),
    { name: 'custom-metrics', containerPort: 6443, protocol: 'TCP' },
  );
  const mount = c.volumeMounts?.find((m) => m.name === 'custom-metrics-tls');
  assert.equal(mount?.mountPath, '/etc/modelship/custom-metrics');
  assert.equal(
    dep.spec!.template.spec!.volumes?.find((v) => v.name === 'custom-metrics-tls')?.secret?.secretName,
    'modelship-custom-metrics-tls',
  );
  const env = Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
  const cfg = parseConfig([], env);
  assert.notEqual(cfg, 'help');
  assert.deepEqual(cfg !== 'help' && cfg.customMetrics, {
    bindAddress: '0.0.0.0',
    port: 6443,
    certFile: '/etc/modelship/custom-metrics/tls.crt',
    keyFile: '/etc/modelship/custom-metrics/tls.key',
  });
});

test('custom metrics: an own certSecret needs its caBundle; enabled=false renders none of it', async () => {
  const refused = await runHelm(['template', 'm', chartDir, ...setArgs({ 'customMetrics.certSecret': 'mine' })]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /customMetrics\.caBundle .* is required with customMetrics\.certSecret/);
  const own = await renderChart({ values: { 'customMetrics.certSecret': 'mine', 'customMetrics.caBundle': 'PEM' } });
  assert.equal(findManifest(own, 'Secret'), undefined, 'no generated Secret');
  assert.equal((findManifest(own, 'APIService') as Any).spec.caBundle, Buffer.from('PEM').toString('base64'));
  const dep = findManifest(own, 'Deployment') as unknown as V1Deployment;
  assert.equal(dep.spec!.template.spec!.volumes?.find((v) => v.name === 'custom-metrics-tls')?.secret?.secretName, 'mine');
  const off = await renderChart({ values: { 'customMetrics.enabled': false } });
  assert.deepEqual(
    off.filter((m) => m.metadata.name.includes('custom-metrics') || m.kind === 'APIService').map((m) => m.kind),
    [],
  );
  const offDep = findManifest(off, 'Deployment') as unknown as V1Deployment;
  assert.ok(!offDep.spec!.template.spec!.containers[0]!.env?.some((e) => e.name.startsWith('MODELSHIP_CUSTOM_METRICS')));
});
