// The operator's custom.metrics.k8s.io through a real kube-apiserver's aggregation layer: the real
// operator process serves it (serving certificate from files, trust from
// kube-system/extension-apiserver-authentication), an APIService v1beta2.custom.metrics.k8s.io
// routes to it through a selector-less Service + Endpoints (--enable-aggregator-routing), and a
// real runtime process stands in a Pod object whose status carries the runtime's address (no
// kubelet here). Checked: discovery lists both metrics; a pod read once is left out (no window
// yet); after K requests held in flight for a measured time, modelship_concurrency equals K x hold / window
// (Little's law) and modelship_requests_per_second K / window; a named pod and a selector that
// matches nothing; a direct call without a client certificate is refused 401 and one with a
// certificate of the cluster CA but not the front proxy's name 403; the HPA controller's
// ServiceAccount may get the metrics by its bootstrap ClusterRole.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getTestControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import { waitFor } from '@modelship/devcluster/wait';
import { startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';
import { selfSignedPair } from '@modelship/devcluster/test-ca';

const BASE = '/apis/custom.metrics.k8s.io/v1beta2';
const SELECTOR = 'app.kubernetes.io/instance=iris-cm';
const K = 3;
const HOLD_MS = 3_000;

function ownAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address');
}

interface MetricValueList {
  kind: string;
  items: Array<{
    describedObject: { kind: string; name: string; namespace: string };
    metric: { name: string };
    value: string;
    windowSeconds: number;
  }>;
}

const milli = (q: string): number => (q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q));

/** An iris inference whose body arrives in two halves `holdMs` apart: in flight all that time. */
function slowInference(url: string, holdMs: number): Promise<number> {
  const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });
  const half = Math.floor(body.length / 2);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/v2/models/iris/infer`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, half));
    setTimeout(() => req.end(body.slice(half)), holdMs);
  });
}

function direct(url: string, tls: { cert?: Buffer; key?: Buffer }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { rejectUnauthorized: false, ...tls }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('custom.metrics.k8s.io served by the operator, through the API server', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let rt: Runtime;
  let op: OperatorProcess;
  let address = '';
  let port = 0;
  const ns = `cm-${randomBytes(3).toString('hex')}`;

  const raw = async (path: string): Promise<MetricValueList> => {
    const r = await cp.kubectl(['get', '--raw', path]);
    assert.equal(r.code, 0, `GET ${path}: ${r.stderr}`);
    return JSON.parse(r.stdout) as MetricValueList;
  };

  before(async () => {
    address = ownAddress();
    [cp, rt] = await Promise.all([getTestControlPlane(), startRuntime({ model: 'iris', args: ['--host', address] })]);
    const certDir = cp.dir;
    // the aggregation layer checks the serving certificate against the APIService's caBundle and <service>.<namespace>.svc
    const { certFile: cert, keyFile: key } = selfSignedPair(certDir, `custom-metrics-${ns}`, 'modelship-custom-metrics', [
      `DNS:modelship-custom-metrics.${ns}.svc`,
      `IP:${address}`,
    ]);
    await cp.kubectl(['create', 'namespace', ns]);
    op = await startOperator({
      namespace: ns,
      args: [
        '--custom-metrics-cert-file',
        cert,
        '--custom-metrics-key-file',
        key,
        '--custom-metrics-port',
        '0',
        '--custom-metrics-bind-address',
        address,
      ],
    });
    await waitFor(async () => op.logs().find((l) => l.message === 'custom metrics API listening'), {
      timeoutMs: 30_000,
      description: 'the listener',
    });
    port = op.logs().find((l) => l.message === 'custom metrics API listening')?.port as number;
    const manifest = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: 'iris-cm-0',
            namespace: ns,
            labels: {
              'app.kubernetes.io/name': 'modelship-runtime',
              'app.kubernetes.io/instance': 'iris-cm',
              'app.kubernetes.io/managed-by': 'modelship',
            },
          },
          spec: { containers: [{ name: 'serve', image: 'registry.invalid/runtime:1', ports: [{ name: 'http', containerPort: rt.port }] }] },
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'modelship-custom-metrics', namespace: ns },
          spec: { ports: [{ name: 'https', port: 443, targetPort: port }] },
        },
        {
          apiVersion: 'v1',
          kind: 'Endpoints',
          metadata: { name: 'modelship-custom-metrics', namespace: ns },
          subsets: [{ addresses: [{ ip: address }], ports: [{ name: 'https', port }] }],
        },
        {
          apiVersion: 'apiregistration.k8s.io/v1',
          kind: 'APIService',
          metadata: { name: 'v1beta2.custom.metrics.k8s.io' },
          spec: {
            group: 'custom.metrics.k8s.io',
            version: 'v1beta2',
            groupPriorityMinimum: 100,
            versionPriority: 200,
            service: { name: 'modelship-custom-metrics', namespace: ns, port: 443 },
            caBundle: readFileSync(cert).toString('base64'),
          },
        },
      ],
    };
    const applied = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    assert.equal(applied.code, 0, applied.stderr);
    const status = { status: { phase: 'Running', podIP: address, podIPs: [{ ip: address }] } };
    const patched = await cp.kubectl([
      '-n',
      ns,
      'patch',
      'pod',
      'iris-cm-0',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
    assert.equal(patched.code, 0, patched.stderr);
    let last = '';
    await waitFor(
      async () => {
        const r = await cp.kubectl([
          'get',
          'apiservice',
          'v1beta2.custom.metrics.k8s.io',
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Available")]}',
        ]);
        last = r.stdout;
        return r.stdout.includes('"status":"True"') || undefined;
      },
      { timeoutMs: 60_000, description: 'the APIService Available' },
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last condition: ${last}`);
    });
  });

  after(async () => {
    await cp?.kubectl(['delete', 'apiservice', 'v1beta2.custom.metrics.k8s.io', '--ignore-not-found']).catch(() => {});
    await cp?.kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
    await op?.stop();
    await rt?.stop();
    await cp?.stop();
  });

  it('discovery lists pods/modelship_concurrency and pods/modelship_requests_per_second', async () => {
    const doc = (await raw(BASE)) as unknown as { resources: Array<{ name: string; namespaced: boolean; verbs: string[] }> };
    assert.deepEqual(doc.resources.map((r) => r.name).sort(), ['pods/modelship_concurrency', 'pods/modelship_requests_per_second']);
    assert.ok(doc.resources.every((r) => r.namespaced && r.verbs.includes('get')));
  });

  it('values per pod: none after one reading; K requests held in flight give K x hold / window (Little’s law)', async () => {
    const path = `${BASE}/namespaces/${ns}/pods/*/modelship_concurrency?labelSelector=${encodeURIComponent(SELECTOR)}`;
    const t0 = Date.now();
    const first = await raw(path);
    const t0end = Date.now();
    assert.equal(first.kind, 'MetricValueList');
    assert.deepEqual(first.items, [], 'one reading of the pod: no window yet, so no value');

    const started = Date.now();
    const codes = await Promise.all(Array.from({ length: K }, () => slowInference(`http://${address}:${rt.port}`, HOLD_MS)));
    const heldMs = Date.now() - started;
    assert.deepEqual(codes, Array(K).fill(200));
    await new Promise((r) => setTimeout(r, 500));

    const t1 = Date.now();
    const second = await raw(path);
    const t1end = Date.now();
    assert.equal(second.items.length, 1, JSON.stringify(second));
    const item = second.items[0]!;
    assert.deepEqual(
      [item.describedObject.kind, item.describedObject.name, item.metric.name],
      ['Pod', 'iris-cm-0', 'modelship_concurrency'],
    );
    const concurrency = milli(item.value);
    // the window lies between the two readings: at least t1 - t0end, at most t1end - t0
    const low = (K * (HOLD_MS - 50)) / 1000 / ((t1end - t0) / 1000);
    const high = (K * heldMs) / 1000 / ((t1 - t0end) / 1000);
    process.stdout.write(
      `# concurrency ${concurrency} (expected ${low.toFixed(3)}..${high.toFixed(3)}), window ${item.windowSeconds}s, held ${heldMs} ms\n`,
    );
    assert.ok(concurrency >= low * 0.97 && concurrency <= high * 1.03, `concurrency ${concurrency} not in ${low}..${high}`);

    // the same window, rps: K answered inferences over it; the reading is reused (younger than the cache)
    const rps = await raw(`${BASE}/namespaces/${ns}/pods/iris-cm-0/modelship_requests_per_second`);
    assert.equal(rps.items.length, 1, JSON.stringify(rps));
    const perSecond = milli(rps.items[0]!.value);
    assert.ok(perSecond >= (K / ((t1end - t0) / 1000)) * 0.97 && perSecond <= (K / ((t1 - t0end) / 1000)) * 1.03, `rps ${perSecond}`);

    const none = await raw(
      `${BASE}/namespaces/${ns}/pods/*/modelship_concurrency?labelSelector=${encodeURIComponent('app.kubernetes.io/instance=other')}`,
    );
    assert.deepEqual(none.items, []);
    const otherPod = await raw(`${BASE}/namespaces/${ns}/pods/iris-cm-1/modelship_concurrency`);
    assert.deepEqual(otherPod.items, [], 'a named pod answers for that pod only');
    const bad = await cp.kubectl(['get', '--raw', `${BASE}/namespaces/${ns}/pods/*/modelship_latency`]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /NotFound|not found|no metric/i);
  });

  it('the HPA controller’s own identity may read the metrics by its bootstrap role (the chart binds nothing for it)', async () => {
    // what the API server authorizes for GET .../namespaces/<ns>/pods/*/modelship_concurrency
    const review = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: 'system:serviceaccount:kube-system:horizontal-pod-autoscaler',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
        resourceAttributes: {
          group: 'custom.metrics.k8s.io',
          resource: 'pods',
          subresource: 'modelship_concurrency',
          name: '*',
          namespace: ns,
          verb: 'get',
        },
      },
    };
    const r = await cp.kubectl(['create', '-o', 'json', '-f', '-'], { input: JSON.stringify(review) });
    assert.equal(r.code, 0, r.stderr);
    const status = (JSON.parse(r.stdout) as { status: { allowed: boolean; reason?: string } }).status;
    assert.equal(status.allowed, true, JSON.stringify(status));
    assert.match(status.reason ?? '', /system:controller:horizontal-pod-autoscaler/);
  });

  it('a direct call is refused: no client certificate 401, a cluster-CA certificate with another name 403', async () => {
    const url = `https://${address}:${port}${BASE}`;
    const anonymous = await direct(url, {});
    assert.equal(anonymous.status, 401, anonymous.body);
    assert.match(anonymous.body, /client certificate/);
    const admin = await direct(url, {
      cert: readFileSync(join(cp.dir, 'pki', 'admin.crt')),
      key: readFileSync(join(cp.dir, 'pki', 'admin.key')),
    });
    assert.equal(admin.status, 403, admin.body);
    assert.match(admin.body, /requestheader-allowed-names/);
  });
});
