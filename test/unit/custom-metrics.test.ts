/**
 * The operator's custom.metrics.k8s.io pieces that need no network: the window math (rps and exact
 * mean concurrency from two counter reads), the runtime's in-flight seconds counter read back from
 * its real exposition, the request paths, the MetricValueList form, the front-proxy check, and the
 * HPA that spec.autoscaling renders.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import {
  discoveryDocument,
  MAX_SELECTOR_CHARS,
  metricValueList,
  milliQuantity,
  parseRequest,
  runtimePodSelector,
} from '../../operator/src/custom-metrics/api.ts';
import { authenticate, trustFromConfigMap, type FrontProxyTrust } from '../../operator/src/custom-metrics/auth.ts';
import { CUSTOM_METRIC } from '../../operator/src/custom-metrics/names.ts';
import { parseLoadCounters } from '../../operator/src/custom-metrics/sample.ts';
import { metricsUrl, SharedReads } from '../../operator/src/custom-metrics/scrape.ts';
import { LoadHistory, loadBetween } from '../../operator/src/custom-metrics/window.ts';
import { renderCanaryHpa, renderHpa } from '../../operator/src/render/children.ts';
import { toQuantity } from '../../operator/src/render/hpa-metrics.ts';
import { Metrics } from '../../runtime/src/http/metrics.ts';
import { parseConfig, type OperatorConfig } from '../../operator/src/config.ts';
import { modelDeployment } from './operator-fixtures.ts';

const s = (atMs: number, inferenceRequests: number, inflightSeconds: number | undefined) => ({ atMs, inferenceRequests, inflightSeconds });

test('window: rps is Δrequests/Δt and concurrency Δin-flight-seconds/Δt (Little’s law)', () => {
  // 10 s in which 300 requests each spent 0.1 s in flight: 30 s of work over 10 s = 3 in flight on average
  const load = loadBetween(s(1_000, 1_000, 50), s(11_000, 1_300, 80));
  assert.deepEqual(load, { rps: 30, concurrency: 3, windowSeconds: 10, atMs: 11_000 });
  // too close together, or a counter that fell (runtime restarted): no value
  assert.equal(loadBetween(s(1_000, 0, 0), s(1_500, 10, 1)), undefined);
  assert.equal(loadBetween(s(1_000, 500, 10), s(11_000, 20, 11)), undefined);
  assert.equal(loadBetween(s(1_000, 500, 10), s(11_000, 600, 2)), undefined);
  // a runtime without the in-flight seconds counter still has rps
  assert.deepEqual(loadBetween(s(0, 0, undefined), s(2_000, 10, undefined)), {
    rps: 5,
    concurrency: undefined,
    windowSeconds: 2,
    atMs: 2_000,
  });
});

test('history: one sample gives no value; the base is the newest sample at least a window old; a restart starts over; prune forgets', () => {
  const h = new LoadHistory(15_000);
  h.record('a', s(0, 0, 0));
  assert.equal(h.load('a'), undefined, 'one sample: no window yet');
  h.record('a', s(5_000, 50, 10));
  assert.equal(h.load('a')?.rps, 10, 'shorter than a window: from the oldest sample');
  h.record('a', s(15_000, 150, 20));
  h.record('a', s(20_000, 250, 40));
  // base = sample at 5 s (the newest one ≥ 15 s before 20 s): (250-50)/15 s, (40-10)/15 s
  const l = h.load('a');
  assert.equal(l?.windowSeconds, 15);
  assert.ok(Math.abs((l?.rps ?? 0) - 200 / 15) < 1e-9);
  assert.ok(Math.abs((l?.concurrency ?? 0) - 2) < 1e-9);
  // an older-or-equal timestamp is ignored
  h.record('a', s(20_000, 999, 99));
  assert.equal(h.latest('a')?.inferenceRequests, 250);
  // the runtime restarted: counters fell, history starts over from the new sample
  h.record('a', s(25_000, 3, 0.5));
  assert.equal(h.load('a'), undefined);
  h.record('b', s(25_000, 0, 0));
  h.prune(25_000 + 301_000, 300_000);
  assert.equal(h.latest('a'), undefined);
  assert.equal(h.latest('b'), undefined);
});

test('runtime: modelship_inflight_seconds_total integrates in-flight requests over time, read back by the operator', async () => {
  const m = new Metrics('iris', '1');
  const before = parseLoadCounters(await m.text());
  assert.deepEqual(before, { inferenceRequests: 0, inflightSeconds: 0 });
  m.begin();
  m.begin();
  await sleep(300);
  m.end('v2', 200, 0.3);
  // one still in flight: the open interval counts at scrape time
  await sleep(200);
  const mid = parseLoadCounters(await m.text());
  m.end('v2', 200, 0.5);
  m.count('metadata', 'v2', 200, 0.001);
  const after = parseLoadCounters(await m.text());
  // 2 × 0.3 s + 1 × 0.2 s = 0.8 s of in-flight time; timers run late, never early
  assert.ok(mid && mid.inflightSeconds! >= 0.79 && mid.inflightSeconds! < 1.2, `mid ${mid?.inflightSeconds}`);
  assert.ok(after && after.inflightSeconds! >= mid!.inflightSeconds!, 'the counter never falls');
  assert.equal(after?.inferenceRequests, 2, 'metadata calls are not inference');
  assert.match(await m.text(), /^# TYPE modelship_inflight_seconds_total counter$/m);
  assert.equal(parseLoadCounters('# TYPE something_else counter\nsomething_else 1\n'), undefined, 'not the runtime');
});

test('paths: discovery, pods/*/<metric> with a selector, a named pod; bad names 400, unknown metrics and resources 404', () => {
  const base = '/apis/custom.metrics.k8s.io/v1beta2';
  assert.deepEqual(parseRequest(base), { kind: 'discovery' });
  assert.deepEqual(parseRequest(`${base}/namespaces/ml/pods/*/modelship_concurrency?labelSelector=${encodeURIComponent('a=b,c in (d)')}`), {
    kind: 'metric',
    namespace: 'ml',
    pod: undefined,
    metric: 'modelship_concurrency',
    labelSelector: 'a=b,c in (d)',
  });
  assert.equal((parseRequest(`${base}/namespaces/ml/pods/iris-abc/modelship_requests_per_second`) as { pod: string }).pod, 'iris-abc');
  // the API server forwards `*` percent-encoded
  assert.equal(parseRequest(`${base}/namespaces/ml/pods/%2A/modelship_concurrency`).kind, 'metric');
  assert.equal(parseRequest(`${base}/namespaces/ml/pods/%E0%A4%A/modelship_concurrency`).kind, 'error');
  assert.deepEqual(
    [
      parseRequest(`${base}/namespaces/ML_/pods/*/modelship_concurrency`),
      parseRequest(`${base}/namespaces/ml/pods/*/cpu_usage`),
      parseRequest(`${base}/namespaces/ml/services/*/modelship_concurrency`),
      parseRequest(`${base}/namespaces/ml/pods/Bad_Name/modelship_concurrency`),
      parseRequest('/apis/custom.metrics.k8s.io/v1beta1'),
    ].map((r) => (r.kind === 'error' ? r.status : r.kind)),
    [400, 404, 404, 400, 404],
  );
  const selector = (chars: number) => `${base}/namespaces/ml/pods/*/modelship_concurrency?labelSelector=a=${'x'.repeat(chars - 2)}`;
  assert.equal((parseRequest(selector(MAX_SELECTOR_CHARS)) as { labelSelector: string }).labelSelector.length, MAX_SELECTOR_CHARS);
  assert.deepEqual(parseRequest(selector(MAX_SELECTOR_CHARS + 1)), {
    kind: 'error',
    status: 400,
    message: `labelSelector: longer than ${MAX_SELECTOR_CHARS} characters`,
  });
  const doc = discoveryDocument() as { groupVersion: string; resources: Array<{ name: string; namespaced: boolean }> };
  assert.equal(doc.groupVersion, 'custom.metrics.k8s.io/v1beta2');
  assert.deepEqual(doc.resources.map((r) => r.name).sort(), ['pods/modelship_concurrency', 'pods/modelship_requests_per_second']);
});

test('the pod LIST asks the API server for runtime pods only, whatever selector the caller sent (requirements are ANDed)', () => {
  const runtime = 'app.kubernetes.io/managed-by=modelship,app.kubernetes.io/name=modelship-runtime';
  assert.equal(runtimePodSelector(''), runtime);
  assert.equal(runtimePodSelector('app.kubernetes.io/instance=iris'), `app.kubernetes.io/instance=iris,${runtime}`);
  // a selector that tries to reach other pods only narrows the answer (to nothing), never widens it
  assert.equal(runtimePodSelector('app.kubernetes.io/managed-by!=modelship'), `app.kubernetes.io/managed-by!=modelship,${runtime}`);
});

test('shared reads: callers asking for a pod while its read runs join that read; the next one after it reads again', async () => {
  const reads = new SharedReads();
  let started = 0;
  let finish = () => {};
  const read = () => {
    started++;
    return new Promise<void>((resolve) => (finish = resolve));
  };
  const first = [reads.run('uid-a', read), reads.run('uid-a', read), reads.run('uid-a', read)];
  assert.equal(started, 1, 'three callers, one read');
  void reads.run('uid-b', async () => void started++);
  assert.equal(started, 2, 'another pod is read on its own');
  finish();
  await Promise.all(first);
  void reads.run('uid-a', read);
  assert.equal(started, 3, 'a finished read is not reused: the history’s cacheMs decides freshness');
  finish();
});

test('MetricValueList: one item per pod with its value in milli-units, the window and an RFC 3339 timestamp', () => {
  const list = metricValueList(CUSTOM_METRIC.concurrency, [
    { namespace: 'ml', name: 'iris-1', value: 2.5, windowSeconds: 15, atMs: Date.parse('2026-11-30T12:00:00.123Z') },
  ]) as { kind: string; apiVersion: string; items: unknown[] };
  assert.deepEqual(list, {
    kind: 'MetricValueList',
    apiVersion: 'custom.metrics.k8s.io/v1beta2',
    metadata: {},
    items: [
      {
        describedObject: { kind: 'Pod', namespace: 'ml', name: 'iris-1', apiVersion: '/v1' },
        metric: { name: 'modelship_concurrency', selector: null },
        timestamp: '2026-11-30T12:00:00Z',
        windowSeconds: 15,
        value: '2500m',
      },
    ],
  });
  assert.equal(milliQuantity(0.0004), '0m');
  assert.equal(milliQuantity(-1), '0m');
});

test('pods are read at their serve container’s metrics port, else its http port', () => {
  const pod = (ports: Array<{ name: string; containerPort: number }>, podIP = '10.244.0.7') => ({
    spec: { containers: [{ name: 'serve', ports }] },
    status: { podIP },
  });
  assert.equal(
    metricsUrl(
      pod([
        { name: 'http', containerPort: 8080 },
        { name: 'metrics', containerPort: 9090 },
      ]),
    ),
    'http://10.244.0.7:9090/metrics',
  );
  assert.equal(metricsUrl(pod([{ name: 'http', containerPort: 8080 }])), 'http://10.244.0.7:8080/metrics');
  assert.equal(metricsUrl(pod([{ name: 'metrics', containerPort: 9090 }], 'fd00::5')), 'http://[fd00::5]:9090/metrics');
  assert.equal(metricsUrl({ spec: { containers: [] }, status: {} }), undefined);
});

test('front proxy: the trust comes from extension-apiserver-authentication; no cert 401, unsigned 401, CN not allowed 403', () => {
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  assert.match((trustFromConfigMap({}) as { error: string }).error, /requestheader-client-ca-file/);
  assert.match(
    (trustFromConfigMap({ 'requestheader-client-ca-file': PEM, 'requestheader-allowed-names': '{"a":1}' }) as { error: string }).error,
    /not a JSON list/,
  );
  const trust = trustFromConfigMap({
    'requestheader-client-ca-file': PEM,
    'requestheader-allowed-names': '["front-proxy-client"]',
  }) as FrontProxyTrust;
  assert.deepEqual(trust.allowedNames, ['front-proxy-client']);
  const sock = (cert: object, authorized: boolean) =>
    ({
      authorized,
      authorizationError: authorized ? null : new Error('UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
      getPeerCertificate: () => cert,
    }) as unknown as Parameters<typeof authenticate>[0];
  assert.deepEqual(
    [
      authenticate(sock({}, false), trust),
      authenticate(sock({ subject: { CN: 'front-proxy-client' } }, false), trust),
      authenticate(sock({ subject: { CN: 'admin' } }, true), trust),
    ].map((r) => (r.ok ? 200 : r.status)),
    [401, 401, 403],
  );
  assert.deepEqual(authenticate(sock({ subject: { CN: 'front-proxy-client' } }, true), trust), { ok: true, proxy: 'front-proxy-client' });
  // an empty allowed-names list accepts any certificate the CA signed
  assert.equal(authenticate(sock({ subject: { CN: 'x' } }, true), { ...trust, allowedNames: [] }).ok, true);
});

test('HPA: concurrency and rps become a Pods metric with an AverageValue target; cpu keeps 80 by default; behavior passes through', () => {
  const conc = renderHpa(modelDeployment({ autoscaling: { maxReplicas: 4, metric: 'concurrency', targetConcurrency: 2.5 } }));
  assert.deepEqual(conc?.spec?.metrics, [
    { type: 'Pods', pods: { metric: { name: 'modelship_concurrency' }, target: { type: 'AverageValue', averageValue: '2500m' } } },
  ]);
  assert.equal(conc?.spec?.behavior, undefined);
  const rps = renderCanaryHpa(modelDeployment({ autoscaling: { maxReplicas: 4, metric: 'rps', targetRequestsPerSecond: 200 } }), {
    minReplicas: 1,
    maxReplicas: 2,
  });
  assert.deepEqual(rps?.spec?.metrics?.[0]?.pods, {
    metric: { name: 'modelship_requests_per_second' },
    target: { type: 'AverageValue', averageValue: '200' },
  });
  const cpu = renderHpa(modelDeployment({ autoscaling: { maxReplicas: 4 } }));
  assert.equal(cpu?.spec?.metrics?.[0]?.resource?.target.averageUtilization, 80);
  const behavior = {
    scaleUp: {
      stabilizationWindowSeconds: 0,
      selectPolicy: 'Max' as const,
      policies: [{ type: 'Pods' as const, value: 4, periodSeconds: 15 }],
    },
    scaleDown: { stabilizationWindowSeconds: 30, policies: [{ type: 'Percent' as const, value: 50, periodSeconds: 60 }] },
  };
  const withBehavior = renderHpa(
    modelDeployment({ autoscaling: { maxReplicas: 4, metric: 'concurrency', targetConcurrency: 4, behavior } }),
  );
  assert.deepEqual(withBehavior?.spec?.behavior, behavior);
  assert.equal(withBehavior?.spec?.metrics?.[0]?.pods?.target.averageValue, '4');
  assert.deepEqual([toQuantity(0.001), toQuantity(1.5), toQuantity(1000)], ['1m', '1500m', '1000']);
});

test('config: the listener is on only with both the certificate and the key; port and address parsed once', () => {
  assert.equal((parseConfig([], {}) as OperatorConfig).customMetrics, undefined, 'off by default');
  assert.deepEqual(
    (
      parseConfig(
        ['--custom-metrics-cert-file', '/c', '--custom-metrics-key-file', '/k', '--custom-metrics-port', '8443'],
        {},
      ) as OperatorConfig
    ).customMetrics,
    { bindAddress: '0.0.0.0', port: 8443, certFile: '/c', keyFile: '/k' },
  );
  assert.throws(() => parseConfig(['--custom-metrics-cert-file', '/c'], {}), /go together/);
  assert.throws(
    () =>
      parseConfig([], {
        MODELSHIP_CUSTOM_METRICS_CERT_FILE: '/c',
        MODELSHIP_CUSTOM_METRICS_KEY_FILE: '/k',
        MODELSHIP_CUSTOM_METRICS_PORT: '70000',
      }),
    /--custom-metrics-port: 70000 is outside 0\.\.65535/,
  );
});

test('a path of 16,000 slashes and a letter is answered in linear time (no regex backtracking)', () => {
  const t0 = performance.now();
  const r = parseRequest(`/apis/custom.metrics.k8s.io/v1beta2${'/'.repeat(16_000)}x`);
  const ms = performance.now() - t0;
  assert.equal(r.kind, 'error');
  assert.ok(ms < 20, `${ms.toFixed(1)} ms`);
  assert.deepEqual(parseRequest(`/apis/custom.metrics.k8s.io/v1beta2///`), { kind: 'discovery' });
});
