import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAuditLog, writesBy } from '@modelship/devcluster/audit';
import { controllerManagerArgs } from '@modelship/devcluster/controller-manager';
import { etcdArgs } from '@modelship/devcluster/etcd';
import { AUDIT_POLICY, apiserverArgs } from '@modelship/devcluster/kube-apiserver';
import { renderKubeconfig, userFileBase } from '@modelship/devcluster/kubectl';
import type { Pki } from '@modelship/devcluster/pki';
import { subjectFor } from '@modelship/devcluster/pki';
import { freePorts } from '@modelship/devcluster/ports';

const pki: Pki = {
  dir: '/p',
  ca: { cert: '/p/ca.crt', key: '/p/ca.key' },
  serving: { cert: '/p/apiserver.crt', key: '/p/apiserver.key' },
  serviceAccount: { key: '/p/sa.key', pub: '/p/sa.pub' },
  admin: { cert: '/p/admin.crt', key: '/p/admin.key' },
  controllerManager: { cert: '/p/kcm.crt', key: '/p/kcm.key' },
};

describe('component arguments', () => {
  it('etcd listens on loopback only, without fsync', () => {
    const args = etcdArgs({ dataDir: '/d/etcd', clientPort: 1111, peerPort: 2222 });
    for (const flag of [
      '--data-dir=/d/etcd',
      '--listen-client-urls=http://127.0.0.1:1111',
      '--advertise-client-urls=http://127.0.0.1:1111',
      '--listen-peer-urls=http://127.0.0.1:2222',
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]) {
      assert.ok(args.includes(flag), flag);
    }
  });

  it('kube-apiserver: envtest defaults, RBAC, our certs, audit log', () => {
    const args = apiserverArgs({
      etcdUrl: 'http://127.0.0.1:1111',
      port: 3333,
      pki,
      certDir: '/d/certs',
      auditPolicyPath: '/d/audit-policy.yaml',
      auditLogPath: '/d/audit.log',
    });
    for (const flag of [
      '--etcd-servers=http://127.0.0.1:1111',
      '--secure-port=3333',
      '--bind-address=127.0.0.1',
      '--authorization-mode=RBAC',
      '--client-ca-file=/p/ca.crt',
      '--tls-cert-file=/p/apiserver.crt',
      '--tls-private-key-file=/p/apiserver.key',
      '--service-account-key-file=/p/sa.pub',
      '--service-account-signing-key-file=/p/sa.key',
      '--service-cluster-ip-range=10.0.0.0/16',
      '--disable-admission-plugins=ServiceAccount',
      '--audit-policy-file=/d/audit-policy.yaml',
      '--audit-log-path=/d/audit.log',
    ]) {
      assert.ok(args.includes(flag), flag);
    }
    assert.ok(args.some((a) => a.startsWith('--service-account-issuer=https://')));
  });

  it('kube-controller-manager: every controller, no leader election, one identity', () => {
    const args = controllerManagerArgs({ kubeconfigPath: '/d/kcm.kubeconfig', port: 4444, pki, certDir: '/d/kcm' });
    for (const flag of [
      '--kubeconfig=/d/kcm.kubeconfig',
      '--leader-elect=false',
      '--controllers=*',
      '--use-service-account-credentials=false',
      '--service-account-private-key-file=/p/sa.key',
      '--root-ca-file=/p/ca.crt',
      '--cluster-signing-cert-file=/p/ca.crt',
      '--cluster-signing-key-file=/p/ca.key',
      '--bind-address=127.0.0.1',
      '--secure-port=4444',
    ]) {
      assert.ok(args.includes(flag), flag);
    }
  });

  it('audit policy logs write verbs at Metadata and nothing else', () => {
    assert.match(AUDIT_POLICY, /level: Metadata\n\s+verbs: \["create", "update", "patch", "delete", "deletecollection"\]/);
    assert.match(AUDIT_POLICY, /- level: None\n$/);
  });
});

describe('kubeconfig', () => {
  it('renders a client-cert kubeconfig that client-node loads', () => {
    const yaml = renderKubeconfig({
      server: 'https://127.0.0.1:3333',
      caPem: 'CA',
      certPem: 'CERT',
      keyPem: 'KEY',
      user: 'system:kube-controller-manager',
    });
    const kc = new KubeConfig();
    kc.loadFromString(yaml);
    assert.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:3333');
    assert.equal(kc.getCurrentCluster()?.caData, Buffer.from('CA').toString('base64'));
    const user = kc.getCurrentUser();
    assert.equal(user?.name, 'system:kube-controller-manager');
    assert.equal(user?.certData, Buffer.from('CERT').toString('base64'));
    assert.equal(user?.keyData, Buffer.from('KEY').toString('base64'));
  });

  it('gives each (user, groups) its own safe file name', () => {
    const a = userFileBase('alice', ['dev']);
    assert.match(a, /^user-alice-[0-9a-f]{10}$/);
    assert.notEqual(a, userFileBase('alice', ['ops']));
    assert.match(userFileBase('system:serviceaccount:ns/x', []), /^user-system_serviceaccount_ns_x-/);
  });

  it('puts groups in O and the user in CN, escaping slashes', () => {
    assert.equal(subjectFor('admin', ['system:masters']), '/O=system:masters/CN=admin');
    assert.equal(subjectFor('a/b', ['g1', 'g2']), '/O=g1/O=g2/CN=a\\/b');
    assert.throws(() => subjectFor(''), /must not be empty/);
  });
});

describe('ports and audit log parsing', () => {
  it('picks distinct free loopback ports', async () => {
    const ports = await freePorts(5);
    assert.equal(new Set(ports).size, 5);
    for (const p of ports) assert.ok(p > 0 && p < 65536);
  });

  it('parses JSON lines, skipping a partial last line, and filters writes by user', () => {
    const line = (user: string, verb: string) =>
      JSON.stringify({ auditID: 'x', stage: 'ResponseComplete', verb, requestURI: '/', user: { username: user } });
    const events = parseAuditLog(`${line('admin', 'create')}\n${line('op', 'patch')}\n${line('op', 'get')}\n{"kind":"Ev`);
    assert.equal(events.length, 3);
    assert.deepEqual(
      writesBy(events, 'op').map((e) => e.verb),
      ['patch'],
    );
  });
});
