// The dev cluster's CoreDNS (devcluster/src/coredns.ts, the real binary built from its Go module)
// against a real API server, on a loopback port: Services resolve by their cluster name, names that
// do not exist (in the cluster or outside it) are NXDOMAIN at once, and a new Service is seen.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getTestControlPlane } from '@modelship/devcluster/controlplane';
import { freePort } from '@modelship/devcluster/ports';
import { waitFor } from '@modelship/devcluster/wait';
import { resolveWith, startCoreDns, type CoreDns } from '@modelship/devcluster/coredns';
import { clients, createNamespace, type Clients } from '@modelship/devcluster/kube-clients';

describe('devcluster CoreDNS with its kubernetes plugin', { timeout: 600_000 }, () => {
  let dns: CoreDns;
  let c: Clients;
  let ns: string;
  let dir: string;
  let clusterIP = '';

  const createService = async (name: string): Promise<string> => {
    const svc = await c.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] } },
    });
    return svc.spec?.clusterIP ?? '';
  };

  before(async () => {
    const cp = await getTestControlPlane();
    process.env.KUBECONFIG = cp.kubeconfigPath;
    c = clients();
    ns = await createNamespace(c, 'coredns');
    clusterIP = await createService('iris');
    dir = await mkdtemp(join(tmpdir(), 'modelship-coredns-'));
    dns = await startCoreDns({
      address: '127.0.0.1',
      port: await freePort(),
      kubeconfigPath: await cp.writeKubeconfigFor('modelship-devcluster:coredns', ['system:masters']),
      dir,
      timeoutMs: 120_000,
      log: (l) => process.stderr.write(`coredns: ${l}\n`),
    });
  });

  after(async () => {
    await dns?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('resolves a Service by <name>.<namespace>.svc.cluster.local to its ClusterIP (UDP)', async () => {
    assert.match(clusterIP, /^\d+\.\d+\.\d+\.\d+$/);
    assert.deepEqual(await resolveWith(dns.address, dns.port, `iris.${ns}.svc.cluster.local`), [clusterIP]);
  });

  it('a Service created after start resolves within seconds (the plugin watches the API server)', async () => {
    const ip = await createService('late');
    const got = await waitFor(
      async () => {
        try {
          return await resolveWith(dns.address, dns.port, `late.${ns}.svc.cluster.local`);
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 20_000, description: 'late Service to resolve' },
    );
    assert.deepEqual(got, [ip]);
  });

  for (const name of ['nope.NS.svc.cluster.local', 'nope.cluster.local', 'example.com', 'nope']) {
    it(`${name} → NXDOMAIN (ENOTFOUND) at once, not a timeout`, async () => {
      const t0 = Date.now();
      await assert.rejects(resolveWith(dns.address, dns.port, name.replace('NS', ns), 5_000), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'ENOTFOUND', String(err));
        return true;
      });
      assert.ok(Date.now() - t0 < 1_000, `answered in ${Date.now() - t0} ms`);
    });
  }

  it('a second CoreDNS on the same address and port is refused before it starts', async () => {
    await assert.rejects(
      startCoreDns({ bin: '/bin/false', address: dns.address, port: dns.port, kubeconfigPath: '/nonexistent', dir }),
      new RegExp(`127\\.0\\.0\\.1:${dns.port} is not free`),
    );
  });
});
