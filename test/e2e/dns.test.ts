// End to end on the real single-node cluster: cluster DNS (CoreDNS, devcluster/src/coredns.ts).
// A client pod — a plain pod with the default dnsPolicy (ClusterFirst), in the model's namespace —
// calls the iris model by the URL the operator reports in status.url and by the short Service name
// `iris`, and gets the right prediction; a Service name that does not exist fails at once with
// ENOTFOUND (NXDOMAIN), not after a resolver timeout.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GATEWAY_IP } from '@modelship/devcluster/network';
import { waitFor } from '@modelship/devcluster/wait';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { irisServiceUrl } from './faults.ts';
import {
  assertIrisOutputs,
  createAndWaitReady,
  exampleIris,
  expected,
  restrictedNamespace,
  startE2eOperator,
} from '@modelship/devcluster/iris';

/** Prints /etc/resolv.conf, then one JSON line per URL: the answer to a V2 infer POST, or the error code. */
const CLIENT_SCRIPT = `(async () => {
  console.log(JSON.stringify({ resolvConf: require('node:fs').readFileSync('/etc/resolv.conf', 'utf8') }));
  const [body, ...urls] = process.argv.slice(1);
  for (const url of urls) {
    const t0 = Date.now();
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(20000) });
      console.log(JSON.stringify({ url, status: res.status, body: await res.text(), ms: Date.now() - t0 }));
    } catch (err) {
      console.log(JSON.stringify({ url, error: (err.cause && err.cause.code) || err.code || String(err), ms: Date.now() - t0 }));
    }
  }
})();`;

interface Answer {
  url: string;
  status?: number;
  body?: string;
  error?: string;
  ms: number;
}

describe('e2e: cluster DNS — a client pod calls the model by status.url and by Service name', { timeout: 480_000 }, () => {
  let cluster: E2eCluster;
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  let md: ModelDeployment;
  let resolvConf = '';
  const answers = new Map<string, Answer>();
  let byStatusUrl = '';
  const byShortName = 'http://iris/v2/models/iris/infer';
  const missing = 'http://no-such-model/v2/models/iris/infer';

  before(async () => {
    cluster = await getE2eCluster();
    c = clients();
    ns = await restrictedNamespace(c, 'e2e-dns');
    op = await startE2eOperator(cluster, ns);
    md = await createAndWaitReady(c, ns, exampleIris(cluster.modelServerUrl));
    // kube-proxy programs a new Service a moment after it exists (ECONNREFUSED from the pod before that)
    await irisServiceUrl(c, ns);
    byStatusUrl = `${md.status?.url}/infer`;

    await c.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'dns-client' },
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'client',
              image: cluster.runtimeImage,
              imagePullPolicy: 'Never',
              command: ['node', '-e', CLIENT_SCRIPT, JSON.stringify({ inputs: expected.inputs }), byStatusUrl, byShortName, missing],
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      },
    });
    const phase = await waitFor(
      async () => {
        const p = (await c.core.readNamespacedPod({ name: 'dns-client', namespace: ns })).status?.phase;
        return p === 'Succeeded' || p === 'Failed' ? p : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1_000, description: 'the client pod to finish' },
    );
    const log = await c.core.readNamespacedPodLog({ name: 'dns-client', namespace: ns, container: 'client' });
    assert.equal(phase, 'Succeeded', log);
    for (const line of log.split('\n').filter((l) => l.startsWith('{'))) {
      const parsed = JSON.parse(line) as Answer & { resolvConf?: string };
      if (parsed.resolvConf !== undefined) resolvConf = parsed.resolvConf;
      else answers.set(parsed.url, parsed);
    }
  });

  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    await cluster?.stop();
  });

  it('the pod’s resolver is the cluster DNS on the bridge gateway, searching its namespace first', () => {
    assert.match(resolvConf, new RegExp(`^nameserver ${GATEWAY_IP.replaceAll('.', '\\.')}$`, 'm'), resolvConf);
    assert.match(resolvConf, new RegExp(`^search ${ns}\\.svc\\.cluster\\.local svc\\.cluster\\.local cluster\\.local\\b`, 'm'), resolvConf);
  });

  it('status.url (http://iris.<ns>.svc.cluster.local/v2/models/iris) + /infer → 200 and the expected outputs', () => {
    assert.equal(md.status?.url, `http://iris.${ns}.svc.cluster.local/v2/models/iris`);
    const a = answers.get(byStatusUrl);
    assert.ok(a, `no answer for ${byStatusUrl} in ${JSON.stringify([...answers.values()])}`);
    assert.equal(a.status, 200, JSON.stringify(a));
    assertIrisOutputs(a.body!);
  });

  it('the short Service name http://iris/… → 200 and the expected outputs', () => {
    const a = answers.get(byShortName);
    assert.ok(a, `no answer for ${byShortName} in ${JSON.stringify([...answers.values()])}`);
    assert.equal(a.status, 200, JSON.stringify(a));
    assertIrisOutputs(a.body!);
  });

  it('a Service that does not exist → ENOTFOUND within a second or two, not a resolver timeout', () => {
    const a = answers.get(missing);
    assert.ok(a, `no answer for ${missing} in ${JSON.stringify([...answers.values()])}`);
    assert.equal(a.error, 'ENOTFOUND', JSON.stringify(a));
    assert.ok(a.ms < 3_000, `failed after ${a.ms} ms`);
  });
});
