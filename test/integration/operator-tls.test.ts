// spec.service.tls on a real API server: a TLS Secret that is missing, of another type, expired or
// mismatched sets Degraded (TLSSecretInvalid) before anything rolls, with a Warning event and no key
// material in status; a good Secret renders the HTTPS pod; a change to a bad Secret leaves the
// running Deployment's template as it was.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment } from '@kubernetes/client-node';
import { getTestControlPlane } from '@modelship/devcluster/controlplane';
import { sleep, waitFor } from '@modelship/devcluster/wait';
import {
  clients,
  condition,
  createMd,
  createNamespace,
  exists,
  getMd,
  patchMd,
  waitForMd,
  type Clients,
} from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import { TestCa } from '@modelship/devcluster/test-ca';

const MODEL = { version: '1', uri: 'https://models.example.com/iris/1/model.onnx' };
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('spec.service.tls checked before a rollout', () => {
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let ca: TestCa;

  const secret = (name: string, cert: string, key: string, type = 'kubernetes.io/tls') =>
    c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name }, type, data: { 'tls.crt': b64(cert), 'tls.key': b64(key) } },
    });
  const deployment = (name: string) => c.apps.readNamespacedDeployment({ name, namespace: ns }).catch(() => undefined);
  const degraded = (name: string, message: RegExp) =>
    waitForMd(c, ns, name, `${name} Degraded TLSSecretInvalid`, (m) => {
      const d = condition(m, 'Degraded');
      return d?.status === 'True' && d.reason === 'TLSSecretInvalid' && message.test(d.message ?? '');
    });

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'tls');
    ca = new TestCa();
    const cp = await getTestControlPlane();
    op = await startOperator({
      namespace: ns,
      env: { KUBECONFIG: await cp.writeKubeconfigFor('modelship-operator-tls-test', ['system:masters']) },
    });
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
    ca?.cleanup();
  });

  test('missing, wrong type, expired, mismatched: Degraded naming the reason, no Deployment, a Warning event, no key in status', async () => {
    const good = ca.issue({ cn: 'x' });
    const other = ca.issue({ cn: 'y' });
    const expired = ca.issue({ cn: 'old', expired: true });
    await secret('opaque', good.cert, good.key, 'Opaque');
    await secret('expired', expired.cert, expired.key);
    await secret('mismatched', good.cert, other.key);
    const cases: [string, string, RegExp][] = [
      ['missing', 'nope', /Secret "nope" does not exist/],
      ['wrongtype', 'opaque', /Secret "opaque" is of type "Opaque", not kubernetes.io\/tls/],
      ['old', 'expired', /Secret "expired": the certificate expired at/],
      ['mixed', 'mismatched', /Secret "mismatched": tls.key does not match/],
    ];
    for (const [md, secretName] of cases) await createMd(c, ns, md, { model: MODEL, service: { tls: { secretName } } });
    for (const [md, , message] of cases) {
      const m = await degraded(md, message);
      assert.equal(condition(m, 'Ready')?.status, 'False');
      assert.doesNotMatch(JSON.stringify(m.status), /BEGIN|PRIVATE|LS0tLS1CRUdJT/);
    }
    await sleep(1000);
    for (const [md] of cases) assert.equal(await exists(() => c.apps.readNamespacedDeployment({ name: md, namespace: ns })), false, md);
    const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=missing' });
    assert.ok(events.items.some((e) => e.type === 'Warning' && e.reason === 'TLSSecretInvalid' && /does not exist/.test(e.message ?? '')));

    // the Secret appears: the next reconcile (here: a touch; otherwise the 30 s recheck) renders the HTTPS pod
    const fixed = ca.issue({ cn: 'missing' });
    await secret('nope', fixed.cert, fixed.key);
    await patchMd(c, ns, 'missing', { metadata: { annotations: { touch: '1' } } });
    const d = await waitFor(() => deployment('missing'), { description: 'Deployment missing' });
    const serve = d.spec?.template.spec?.containers[0];
    assert.equal(serve?.readinessProbe?.httpGet?.scheme, 'HTTPS');
    assert.equal(d.spec?.template.spec?.volumes?.find((v) => v.name === 'tls')?.secret?.secretName, 'nope');
    await waitForMd(c, ns, 'missing', 'Degraded cleared', (m) => condition(m, 'Degraded')?.reason !== 'TLSSecretInvalid');
    assert.match((await getMd(c, ns, 'missing')).status?.url ?? '', /^https:\/\/missing\./);
  });

  test('a running plain-HTTP ModelDeployment switched to an expired Secret keeps its Deployment template (nothing rolls)', async () => {
    await createMd(c, ns, 'running', { model: MODEL });
    const before: V1Deployment = await waitFor(() => deployment('running'), { description: 'Deployment running' });
    const hash = before.spec?.template.metadata?.annotations?.['modelship.dev/template-hash'];
    assert.ok(hash);
    await patchMd(c, ns, 'running', { spec: { service: { tls: { secretName: 'expired' } } } });
    await degraded('running', /expired/);
    await sleep(1500);
    const after = await deployment('running');
    assert.equal(after?.spec?.template.metadata?.annotations?.['modelship.dev/template-hash'], hash);
    assert.equal(after?.spec?.template.spec?.containers[0]?.readinessProbe?.httpGet?.scheme, 'HTTP');
  });
});
