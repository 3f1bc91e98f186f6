// The dev cluster's Corefile (pure render) and the port check that runs before CoreDNS starts.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { assertDnsPortFree, corefile } from '@modelship/devcluster/coredns';
import { freePort } from '@modelship/devcluster/ports';

const opts = { address: '10.244.0.1', port: 53, kubeconfigPath: '/tmp/x/coredns.kubeconfig', healthPort: 40001, readyPort: 40002 };

/** Top-level server blocks: key line → body lines (trimmed, comments dropped). */
function blocks(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let key: string | undefined;
  let depth = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (depth === 0) {
      assert.match(line, /\{$/, `a server block opens: ${line}`);
      key = line.slice(0, -1).trim();
      out.set(key, []);
    } else if (!(depth === 1 && line === '}')) {
      out.get(key!)!.push(line);
    }
    depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
  }
  assert.equal(depth, 0, 'braces balance');
  return out;
}

describe('corefile', () => {
  const parsed = blocks(corefile(opts));

  it('serves the cluster domain and both reverse zones from the kubernetes plugin, with the kubeconfig', () => {
    const cluster = parsed.get('cluster.local:53 in-addr.arpa:53 ip6.arpa:53');
    assert.ok(cluster, [...parsed.keys()].join(' | '));
    assert.ok(cluster.includes('bind 10.244.0.1'));
    assert.ok(cluster.includes('kubernetes cluster.local in-addr.arpa ip6.arpa {'));
    assert.ok(cluster.includes('kubeconfig "/tmp/x/coredns.kubeconfig"'));
    // no fallthrough: unknown cluster names and reverse lookups are NXDOMAIN from the plugin itself
    assert.ok(!cluster.some((l) => l.startsWith('fallthrough')), cluster.join('\n'));
    assert.ok(cluster.includes('ready 127.0.0.1:40002'));
    assert.ok(cluster.includes('health 127.0.0.1:40001'));
    assert.ok(cluster.includes('cache 30'));
  });

  it('answers every other name NXDOMAIN at once: no forward anywhere, on the same address and port', () => {
    const rest = parsed.get('.:53');
    assert.ok(rest, [...parsed.keys()].join(' | '));
    assert.ok(rest.includes('bind 10.244.0.1'));
    assert.deepEqual(rest.slice(rest.indexOf('template ANY ANY {'), rest.indexOf('template ANY ANY {') + 3), [
      'template ANY ANY {',
      'rcode NXDOMAIN',
      '}',
    ]);
    assert.ok(rest.includes('loop'));
    const directives = [...parsed.values()].flat();
    assert.ok(!directives.some((l) => /^(forward|proxy|grpc)\b/.test(l)), directives.join('\n'));
  });

  it('follows the port and cluster domain it is given', () => {
    const keys = [...blocks(corefile({ ...opts, port: 1053, clusterDomain: 'example.internal' })).keys()];
    assert.deepEqual(keys, ['example.internal:1053 in-addr.arpa:1053 ip6.arpa:1053', '.:1053']);
  });
});

describe('assertDnsPortFree', () => {
  it('passes on a free port and names the protocol of a taken one', async () => {
    const port = await freePort();
    await assertDnsPortFree('127.0.0.1', port);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port }, resolve));
    try {
      await assert.rejects(assertDnsPortFree('127.0.0.1', port), /127\.0\.0\.1:\d+ is not free on tcp \(EADDRINUSE\)/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
