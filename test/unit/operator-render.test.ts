import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderDeployment, renderHpa, renderNetworkPolicy, renderService, serviceUrl } from '../../operator/src/render/children.ts';
import { TERMINATION_GRACE_MARGIN_SECONDS, renderPodTemplate, templateHashOf } from '../../operator/src/render/pod-template.ts';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';

const env = (c: { env?: { name: string; value?: string }[] } | undefined, name: string) => c?.env?.find((e) => e.name === name)?.value;

test('pod template: fetch init container, serve container, probes, restricted security context', () => {
  const md = modelDeployment({ model: { version: '3', uri: 'https://m/iris.onnx', sha256: 'a'.repeat(64), format: 'onnx' } });
  const t = renderPodTemplate(md, { ...md.spec.model, name: 'iris' }, RUNTIME_DEFAULTS);
  const spec = t.spec!;
  const fetch = spec.initContainers?.[0];
  const serve = spec.containers[0];
  assert.equal(fetch?.name, 'fetch');
  assert.deepEqual(fetch?.args, ['fetch']);
  assert.equal(env(fetch, 'MODELSHIP_MODEL_URI'), 'https://m/iris.onnx');
  assert.equal(env(fetch, 'MODELSHIP_MODEL_SHA256'), 'a'.repeat(64));
  assert.equal(serve?.name, 'serve');
  assert.equal(env(serve, 'MODELSHIP_MODEL_VERSION'), '3');
  assert.equal(env(serve, 'MODELSHIP_MODEL_NAME'), 'iris');
  assert.equal(serve?.readinessProbe?.httpGet?.path, '/v2/health/ready');
  assert.equal(serve?.livenessProbe?.httpGet?.path, '/v2/health/live');
  assert.ok(serve?.startupProbe);
  assert.equal(spec.securityContext?.runAsNonRoot, true);
  assert.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault');
  for (const c of [fetch, serve]) {
    assert.equal(c?.securityContext?.allowPrivilegeEscalation, false);
    assert.equal(c?.securityContext?.readOnlyRootFilesystem, true);
    assert.deepEqual(c?.securityContext?.capabilities?.drop, ['ALL']);
  }
  assert.equal(t.metadata?.labels?.['app.kubernetes.io/managed-by'], 'modelship');
  assert.match(templateHashOf(t) ?? '', /^[0-9a-f]{10}$/);
});

test('template hash changes with the version and nothing else changes it', () => {
  const md = modelDeployment();
  const a = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);
  const b = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);
  const c = renderPodTemplate(md, { ...md.spec.model, version: '2' }, RUNTIME_DEFAULTS);
  assert.equal(templateHashOf(a), templateHashOf(b));
  assert.notEqual(templateHashOf(a), templateHashOf(c));
  const scaled = modelDeployment({ replicas: 7 });
  assert.equal(
    templateHashOf(renderPodTemplate(scaled, scaled.spec.model, RUNTIME_DEFAULTS)),
    templateHashOf(a),
    'replicas is not a rollout',
  );
});

test('pvc:// mounts the claim read-only under the pvc root and hands the pvc:// URI to fetch unchanged', () => {
  const md = modelDeployment({ model: { version: '1', uri: 'pvc://models/iris/1/model.onnx', format: 'onnx' } });
  const t = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);
  const fetch = t.spec?.initContainers?.[0];
  // fetch's own pvc:// checks (no `..`, no symlink out of the claim) only run on a pvc:// URI
  assert.equal(env(fetch, 'MODELSHIP_MODEL_URI'), 'pvc://models/iris/1/model.onnx');
  assert.equal(env(fetch, 'MODELSHIP_PVC_ROOT'), '/mnt/pvc');
  assert.deepEqual(
    fetch?.volumeMounts?.find((m) => m.name === 'model-pvc'),
    { name: 'model-pvc', mountPath: '/mnt/pvc/models', readOnly: true },
  );
  assert.deepEqual(t.spec?.volumes?.find((v) => v.name === 'model-pvc')?.persistentVolumeClaim, { claimName: 'models', readOnly: true });
});

test('api key comes from the Secret as a mounted file (re-read on rotation), never inline', () => {
  const md = modelDeployment({ runtime: { apiKeySecretRef: { name: 'iris-key', key: 'token' } } });
  const t = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);
  const serve = t.spec?.containers[0];
  assert.equal(
    serve?.env?.find((e) => e.name === 'MODELSHIP_API_KEY'),
    undefined,
  );
  assert.equal(env(serve, 'MODELSHIP_API_KEY_FILE'), '/etc/modelship/api-key/keys');
  assert.deepEqual(
    serve?.volumeMounts?.find((m) => m.name === 'api-key'),
    { name: 'api-key', mountPath: '/etc/modelship/api-key', readOnly: true },
  );
  assert.deepEqual(t.spec?.volumes?.find((v) => v.name === 'api-key')?.secret, {
    secretName: 'iris-key',
    items: [{ key: 'token', path: 'keys' }],
    defaultMode: 0o440,
  });
  assert.ok(!JSON.stringify(t).includes('"value":"token"'));
});

test('deployment: owner reference, labels, strategy, replicas left to the HPA when autoscaling', () => {
  const md = modelDeployment({
    rollout: { maxSurge: 1, maxUnavailable: 0, progressDeadlineSeconds: 120, historyLimit: 4, autoRollback: true },
  });
  const d = renderDeployment(md, renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS));
  assert.equal(d.spec?.replicas, 2);
  assert.equal(d.spec?.progressDeadlineSeconds, 120);
  assert.equal(d.spec?.revisionHistoryLimit, 4);
  assert.deepEqual(d.spec?.strategy?.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
  assert.deepEqual(d.metadata?.ownerReferences?.[0], {
    apiVersion: 'modelship.dev/v1alpha1',
    kind: 'ModelDeployment',
    name: 'iris',
    uid: 'uid-1',
    controller: true,
    blockOwnerDeletion: true,
  });
  assert.deepEqual(d.spec?.selector?.matchLabels, { 'app.kubernetes.io/name': 'modelship-runtime', 'app.kubernetes.io/instance': 'iris' });

  const auto = modelDeployment({ autoscaling: { minReplicas: 2, maxReplicas: 5, targetCPUUtilizationPercentage: 70 } });
  assert.equal(renderDeployment(auto, renderPodTemplate(auto, auto.spec.model, RUNTIME_DEFAULTS)).spec?.replicas, undefined);
  const hpa = renderHpa(auto);
  assert.equal(hpa?.spec?.minReplicas, 2);
  assert.equal(hpa?.spec?.maxReplicas, 5);
  assert.equal(hpa?.spec?.metrics?.[0]?.resource?.target.averageUtilization, 70);
  assert.equal(renderHpa(md), undefined);
});

test('service and url', () => {
  const md = modelDeployment({ service: { type: 'ClusterIP', port: 8000 } });
  const s = renderService(md);
  assert.equal(s.spec?.ports?.[0]?.port, 8000);
  assert.equal(s.spec?.ports?.[0]?.targetPort, 'http');
  assert.equal(serviceUrl(md, 'iris'), 'http://iris.ml.svc.cluster.local:8000/v2/models/iris');
  assert.equal(serviceUrl(modelDeployment(), 'iris'), 'http://iris.ml.svc.cluster.local/v2/models/iris');
});

test('termination grace covers the runtime drain delay, its shutdown timeout and a margin; both are rendered', () => {
  const md = modelDeployment();
  for (const [drain, shutdownTimeout] of [
    [5, 25],
    [300, 25],
    [0, 1],
  ] as const) {
    const defaults = { ...RUNTIME_DEFAULTS, drainDelaySeconds: drain, shutdownTimeoutSeconds: shutdownTimeout };
    const t = renderPodTemplate(md, md.spec.model, defaults);
    const serve = t.spec?.containers[0];
    assert.equal(env(serve, 'MODELSHIP_DRAIN_DELAY_SECONDS'), String(drain));
    assert.equal(env(serve, 'MODELSHIP_SHUTDOWN_TIMEOUT_SECONDS'), String(shutdownTimeout));
    assert.equal(t.spec?.terminationGracePeriodSeconds, drain + shutdownTimeout + TERMINATION_GRACE_MARGIN_SECONDS);
  }
  // The old fixed 30 s was shorter than a 300 s drain delay: the kubelet killed the pod mid-drain.
  const long = renderPodTemplate(md, md.spec.model, { ...RUNTIME_DEFAULTS, drainDelaySeconds: 300 });
  assert.ok((long.spec?.terminationGracePeriodSeconds ?? 0) > 300);
});

test('serve gets the default memory request and limit when the ModelDeployment sets no memory', () => {
  const serveOf = (md: ReturnType<typeof modelDeployment>, defaults = RUNTIME_DEFAULTS) =>
    renderPodTemplate(md, md.spec.model, defaults).spec?.containers[0];
  assert.deepEqual(serveOf(modelDeployment())?.resources, { requests: { memory: '256Mi' }, limits: { memory: '1Gi' } });
  // CPU from the user, memory from the defaults.
  assert.deepEqual(serveOf(modelDeployment({ resources: { requests: { cpu: '500m' } } }))?.resources, {
    requests: { cpu: '500m', memory: '256Mi' },
    limits: { memory: '1Gi' },
  });
  // The user's memory wins; a limit alone stays alone (Kubernetes requests the limit then).
  assert.deepEqual(serveOf(modelDeployment({ resources: { limits: { memory: '4Gi' } } }))?.resources, { limits: { memory: '4Gi' } });
  assert.deepEqual(serveOf(modelDeployment({ resources: { requests: { memory: '512Mi' }, limits: { memory: '2Gi' } } }))?.resources, {
    requests: { memory: '512Mi' },
    limits: { memory: '2Gi' },
  });
  // A request alone gets a limit, never below the request.
  assert.deepEqual(serveOf(modelDeployment({ resources: { requests: { memory: '512Mi' } } }))?.resources, {
    requests: { memory: '512Mi' },
    limits: { memory: '1Gi' },
  });
  assert.deepEqual(serveOf(modelDeployment({ resources: { requests: { memory: '3Gi' } } }))?.resources, {
    requests: { memory: '3Gi' },
    limits: { memory: '3Gi' },
  });
  // Defaults switched off: nothing is added.
  const none = { ...RUNTIME_DEFAULTS, memoryRequest: undefined, memoryLimit: undefined };
  assert.equal(serveOf(modelDeployment(), none)?.resources, undefined);
  // The fetch init container always has a memory limit.
  const fetch = renderPodTemplate(modelDeployment(), modelDeployment().spec.model, RUNTIME_DEFAULTS).spec?.initContainers?.[0];
  assert.ok(fetch?.resources?.limits?.memory);
});

test('metrics on their own port: env, a containerPort named metrics, scrape annotations; the Service keeps only http', () => {
  const md = modelDeployment();
  const t = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);
  const serve = t.spec?.containers[0];
  assert.equal(env(serve, 'MODELSHIP_METRICS_PORT'), '9090');
  assert.deepEqual(
    serve?.ports?.map((p) => [p.name, p.containerPort]),
    [
      ['http', 8080],
      ['metrics', 9090],
    ],
  );
  assert.equal(t.metadata?.annotations?.['prometheus.io/scrape'], 'true');
  assert.equal(t.metadata?.annotations?.['prometheus.io/port'], '9090');
  assert.equal(t.metadata?.annotations?.['prometheus.io/path'], '/metrics');
  assert.deepEqual(
    renderService(md).spec?.ports?.map((p) => p.name),
    ['http'],
  );
  // 0 keeps /metrics on the inference port, as before.
  const off = renderPodTemplate(md, md.spec.model, { ...RUNTIME_DEFAULTS, metricsPort: 0 });
  assert.equal(env(off.spec?.containers[0], 'MODELSHIP_METRICS_PORT'), undefined);
  assert.deepEqual(
    off.spec?.containers[0]?.ports?.map((p) => p.name),
    ['http'],
  );
  assert.equal(off.metadata?.annotations?.['prometheus.io/scrape'], undefined);
});

test('network policy: rendered only when enabled; inference port from ingressFrom, metrics port from metricsFrom, ingress only', () => {
  assert.equal(renderNetworkPolicy(modelDeployment(), 9090), undefined);
  assert.equal(
    renderNetworkPolicy(modelDeployment({ networkPolicy: { enabled: false, ingressFrom: [{ podSelector: {} }] } }), 9090),
    undefined,
  );

  const web = {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'web' } },
    podSelector: { matchLabels: { app: 'shop' } },
  };
  const lb = { ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.7/32'] } };
  const prom = { namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In' as const, values: ['monitoring'] }] } };
  const md = modelDeployment({ networkPolicy: { enabled: true, ingressFrom: [web, lb], metricsFrom: [prom] } });
  const np = renderNetworkPolicy(md, 9090);
  assert.equal(np?.apiVersion, 'networking.k8s.io/v1');
  assert.equal(np?.kind, 'NetworkPolicy');
  assert.equal(np?.metadata?.name, 'iris');
  assert.equal(np?.metadata?.ownerReferences?.[0]?.uid, 'uid-1');
  assert.equal(np?.metadata?.ownerReferences?.[0]?.controller, true);
  assert.deepEqual(
    np?.spec.podSelector.matchLabels,
    renderDeployment(md, renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS)).spec?.selector?.matchLabels,
  );
  assert.deepEqual(np?.spec.policyTypes, ['Ingress'], 'egress stays open (the fetch init container downloads the model)');
  assert.deepEqual(np?.spec.ingress, [
    { from: [web, lb], ports: [{ protocol: 'TCP', port: 8080 }] },
    { from: [prom], ports: [{ protocol: 'TCP', port: 9090 }] },
  ]);

  // No metricsFrom: no metrics rule at all (an empty `from` would admit everyone).
  const closed = renderNetworkPolicy(modelDeployment({ networkPolicy: { enabled: true, ingressFrom: [{ podSelector: {} }] } }), 9090);
  assert.deepEqual(closed?.spec.ingress, [{ from: [{ podSelector: {} }], ports: [{ protocol: 'TCP', port: 8080 }] }]);
  assert.ok(closed?.spec.ingress.every((r) => r.from.length > 0));
  // Metrics on the inference port: metricsFrom has no port of its own.
  const shared = renderNetworkPolicy(md, 0);
  assert.deepEqual(
    shared?.spec.ingress.map((r) => r.ports),
    [[{ protocol: 'TCP', port: 8080 }]],
  );
});

test("network policy during an A/B experiment: the instance's own pods may reach the inference port (pinned requests are forwarded between tracks)", () => {
  const web = { podSelector: { matchLabels: { app: 'shop' } } };
  const experiment = { model: { version: '2', uri: 'http://models.example/iris-2.onnx' }, weight: 20 };
  const np = renderNetworkPolicy(modelDeployment({ networkPolicy: { enabled: true, ingressFrom: [web] }, experiment }), 9090);
  const self = renderDeployment(modelDeployment(), renderPodTemplate(modelDeployment(), modelDeployment().spec.model, RUNTIME_DEFAULTS))
    .spec?.selector?.matchLabels;
  assert.deepEqual(np?.spec.ingress[0], { from: [web, { podSelector: { matchLabels: self } }], ports: [{ protocol: 'TCP', port: 8080 }] });
  // without an experiment the policy admits only ingressFrom
  const plain = renderNetworkPolicy(modelDeployment({ networkPolicy: { enabled: true, ingressFrom: [web] } }), 9090);
  assert.deepEqual(plain?.spec.ingress[0]?.from, [web]);
});
