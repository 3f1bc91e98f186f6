// Swagger UI (/docs) through the real kube-apiserver's service proxy
// (/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/...), the way `kubectl proxy` users and
// dashboards reach a runtime: a real runtime process listens on this machine's own address (the
// API server refuses to proxy to loopback), a Service without selector plus an Endpoints object
// point at it, through a Pod object whose status carries that address (the proxy only uses an
// endpoint whose target pod has the endpoint's IP). Checked: the page arrives unchanged (relative
// URLs: nothing for the proxy to rewrite), every file it references and openapi.json resolve under the proxy prefix with the
// package's bytes, and the document's example request POSTed through the proxy answers 200.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getTestControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { waitFor } from '@modelship/devcluster/wait';
import { ROOT, startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';

/** This machine's first non-loopback IPv4 address. */
function ownAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address for the API server to proxy to');
}

describe('/docs through the API server service proxy', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let rt: Runtime;
  const ns = `docs-${randomBytes(3).toString('hex')}`;
  let prefix = '';
  let address = '';

  const raw = async (path: string): Promise<string> => {
    const r = await cp.kubectl(['get', '--raw', path]);
    assert.equal(r.code, 0, `GET ${path}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    address = ownAddress();
    [cp, rt] = await Promise.all([getTestControlPlane(), startRuntime({ model: 'iris', args: ['--host', address] })]);
    await cp.kubectl(['create', 'namespace', ns]);
    const manifest = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'iris-runtime', namespace: ns },
          spec: { containers: [{ name: 'runtime', image: 'registry.invalid/runtime:1' }] },
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'iris', namespace: ns },
          spec: { ports: [{ name: 'http', port: 8080, targetPort: rt.port }] },
        },
        {
          apiVersion: 'v1',
          kind: 'Endpoints',
          metadata: { name: 'iris', namespace: ns },
          subsets: [
            {
              addresses: [{ ip: address, targetRef: { kind: 'Pod', name: 'iris-runtime', namespace: ns } }],
              ports: [{ name: 'http', port: rt.port }],
            },
          ],
        },
      ],
    };
    const applied = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    assert.equal(applied.code, 0, applied.stderr);
    // no kubelet here: the pod's IP is set as a kubelet would (the proxy only uses an endpoint whose pod has that IP)
    const status = { status: { podIP: address, podIPs: [{ ip: address }] } };
    const patched = await cp.kubectl([
      '-n',
      ns,
      'patch',
      'pod',
      'iris-runtime',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
    assert.equal(patched.code, 0, patched.stderr);
    prefix = `/api/v1/namespaces/${ns}/services/iris:8080/proxy`;
    let last = '';
    await waitFor(
      async () => {
        const r = await cp.kubectl(['get', '--raw', `${prefix}/v2/health/ready`]);
        last = r.stderr;
        return r.code === 0 || undefined;
      },
      { timeoutMs: 30_000, description: `the runtime answering through the service proxy (last: ${last})` },
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last kubectl error: ${last}`);
    });
  });

  after(async () => {
    await cp?.kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
    await rt?.stop();
    await cp?.stop();
  });

  it('the page arrives as the runtime sent it, and every URL in it resolves under the proxy prefix', async () => {
    const direct = await (await fetch(`http://${address}:${rt.port}/docs`)).text();
    const page = await raw(`${prefix}/docs`);
    assert.equal(page, direct, 'the proxy changed the page');
    const pageUrl = new URL(`https://apiserver${prefix}/docs`);
    const urls = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    assert.ok(urls.length >= 4, page);
    for (const u of urls.filter((x) => /\.(js|css)$/.test(x))) {
      const path = new URL(u, pageUrl).pathname;
      assert.ok(path.startsWith(`${prefix}/docs/`), path);
      const body = await raw(path);
      if (u.includes('/assets/')) {
        const file = u.split('/').pop() as string;
        assert.equal(body, readFileSync(join(ROOT, 'node_modules', 'swagger-ui-dist', file), 'utf8'), u);
      } else {
        assert.match(body, /SwaggerUIBundle\(/, u);
      }
    }
  });

  it('openapi.json (as init.js resolves it) describes iris; its example request, POSTed through the proxy, answers 200', async () => {
    const specPath = new URL('openapi.json', `https://apiserver${prefix}/docs`).pathname;
    assert.equal(specPath, `${prefix}/openapi.json`);
    const doc = JSON.parse(await raw(specPath)) as {
      servers: { url: string }[];
      info: { description: string };
      paths: Record<string, { post?: { requestBody: { content: Record<string, { example?: unknown }> } } }>;
    };
    assert.match(doc.info.description, /\| input \| `input` \| FP32 \| `\[-1, 4\]` \|/);
    const base = new URL(doc.servers[0]?.url as string, `https://apiserver${specPath}`).pathname.replace(/\/$/, '');
    assert.equal(base, prefix);
    const example = doc.paths['/v2/models/{model}/infer']?.post?.requestBody.content['application/json']?.example;
    const r = await cp.kubectl(['create', '--raw', `${base}/v2/models/iris/infer`, '-f', '-'], { input: JSON.stringify(example) });
    assert.equal(r.code, 0, r.stderr);
    const answer = JSON.parse(r.stdout) as { model_name: string; outputs: { name: string }[] };
    assert.equal(answer.model_name, 'iris');
    assert.deepEqual(answer.outputs.map((o) => o.name).sort(), ['label', 'probabilities']);
  });
});
