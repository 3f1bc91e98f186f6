// charts/modelship through the real helm (built from its Go module by devcluster/build/helm.sh on
// first use): lint, render with default and non-default values, bad values refused with the
// schema's message, least-privilege RBAC. No cluster needed (test/integration/chart-*.test.ts
// sends the rendered manifests to a real API server).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dump } from 'js-yaml';
import type { V1Deployment, V1EnvVar, V1PolicyRule } from '@kubernetes/client-node';
import { parseConfig, usage } from '../../operator/src/config.ts';
import { chartDir, findManifest, renderChart, resolveHelm, runHelm, setArgs, type Manifest } from '@modelship/devcluster/helm';

/** Values that differ from every default that matters (also what `helm lint` gets as non-default). */
const NON_DEFAULT = {
  replicas: 3,
  image: {
    repository: 'registry.example.com:5000/ml/modelship-operator',
    tag: '0.1.0-rc.1',
    digest: `sha256:${'a'.repeat(64)}`,
    pullPolicy: 'Always',
  },
  imagePullSecrets: [{ name: 'regcred' }],
  fullnameOverride: 'ms',
  serviceAccount: { create: true, name: 'ms-operator', annotations: { 'example.com/role': 'x' } },
  watchNamespace: 'ml',
  leaderElection: { enabled: true, id: 'ms-lease', leaseDuration: '20s', renewDeadline: '15s', retryPeriod: '3s' },
  runtime: {
    image: { repository: 'localhost:5000/modelship-runtime', tag: 'dev', pullPolicy: 'Never' },
    batching: { maxBatchSize: 32, maxDelayMicroseconds: 500 },
    drainDelaySeconds: 10,
    shutdownTimeoutSeconds: 50,
    defaultMemory: { request: '0', limit: '2Gi' },
    metricsPort: 0,
  },
  concurrency: 8,
  resyncPeriod: '5m',
  logLevel: 'debug',
  httpPort: 9090,
  metrics: {
    service: { enabled: true, port: 9090 },
    serviceMonitor: { enabled: true, interval: '15s', scrapeTimeout: '5s', labels: { release: 'prom' } },
  },
  podDisruptionBudget: { enabled: true, minAvailable: '50%' },
  resources: { requests: { cpu: '100m', memory: '200Mi' }, limits: { cpu: 1, memory: '400Mi' } },
  podAnnotations: { 'example.com/a': 'b' },
  podLabels: { team: 'ml' },
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }],
  priorityClassName: 'system-cluster-critical',
  heapLimitPercent: 60,
};

const kinds = (ms: readonly Manifest[]) => ms.map((m) => `${m.kind}/${m.metadata.name}`).sort();
const deploymentOf = (ms: readonly Manifest[]) => findManifest(ms, 'Deployment') as unknown as V1Deployment;
const containerOf = (ms: readonly Manifest[]) => deploymentOf(ms).spec!.template.spec!.containers[0]!;
const envOf = (ms: readonly Manifest[]): Record<string, V1EnvVar> =>
  Object.fromEntries((containerOf(ms).env ?? []).map((e) => [e.name, e]));
const rulesOf = (m: Manifest | undefined) => (m as unknown as { rules: V1PolicyRule[] } | undefined)?.rules ?? [];

/** The env the operator would see in its pod (downward-API values filled in). */
function podEnv(ms: readonly Manifest[], pod = { name: 'modelship-abc', namespace: 'modelship-system' }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of Object.values(envOf(ms))) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    env[e.name] = field === 'metadata.name' ? pod.name : field === 'metadata.namespace' ? pod.namespace : (e.value ?? '');
  }
  return env;
}

/** What operator/src uses, resource by resource (see the comment in templates/rbac.yaml). */
const EXPECTED_RULES: V1PolicyRule[] = [
  { apiGroups: ['modelship.dev'], resources: ['modeldeployments'], verbs: ['list', 'watch'] },
  { apiGroups: ['modelship.dev'], resources: ['modeldeployments/status'], verbs: ['patch'] },
  { apiGroups: ['modelship.dev'], resources: ['modeldeployments/finalizers'], verbs: ['update'] },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['pods/proxy'], verbs: ['get'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  { apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['get'] },
];

function assertNoWildcards(rules: readonly V1PolicyRule[], what: string) {
  assert.ok(rules.length > 0, `${what} has rules`);
  for (const r of rules) {
    for (const field of ['verbs', 'resources', 'apiGroups', 'resourceNames', 'nonResourceURLs'] as const) {
      for (const v of r[field] ?? [])
        assert.ok(!v.includes('*'), `${what}: wildcard ${JSON.stringify(v)} in ${field} of ${JSON.stringify(r)}`);
    }
    for (const v of r.verbs) assert.ok(!['escalate', 'bind', 'impersonate', 'deletecollection'].includes(v), `${what}: verb ${v}`);
    for (const res of r.resources ?? []) {
      assert.ok(!['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'].includes(res), `${what}: ${res}`);
      // spec.service.tls: Secrets and ConfigMaps are read by name only, never listed or watched
      if (['secrets', 'configmaps'].includes(res)) assert.deepEqual(r.verbs, ['get'], `${what}: ${res} beyond get`);
    }
  }
}

describe('helm chart charts/modelship', () => {
  let tmp: string;
  before(
    async () => {
      await resolveHelm(); // builds helm on the first run on a machine (a few minutes)
      tmp = await mkdtemp(join(tmpdir(), 'modelship-chart-'));
    },
    { timeout: 30 * 60_000 },
  );
  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('helm lint --strict passes with default values and with non-default values', async () => {
    const defaults = await runHelm(['lint', '--strict', chartDir]);
    assert.equal(defaults.code, 0, defaults.stdout + defaults.stderr);
    assert.match(defaults.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    const file = join(tmp, 'non-default.yaml');
    await writeFile(file, dump(NON_DEFAULT));
    const custom = await runHelm(['lint', '--strict', chartDir, '-f', file]);
    assert.equal(custom.code, 0, custom.stdout + custom.stderr);
    const ns = await runHelm(['lint', '--strict', chartDir, ...setArgs({ replicas: 2, 'metrics.serviceMonitor.enabled': true })]);
    assert.equal(ns.code, 0, ns.stdout + ns.stderr);
  });

  test('defaults: ServiceAccount, ClusterRole + binding, metrics Service, Deployment; one replica, no leader election, no PDB', async () => {
    const ms = await renderChart({ release: 'modelship', namespace: 'modelship-system' });
    assert.deepEqual(kinds(ms), [
      'APIService/v1beta2.custom.metrics.k8s.io',
      'ClusterRole/modelship',
      'ClusterRole/modelship-predictor',
      'ClusterRoleBinding/modelship',
      'Deployment/modelship',
      'RoleBinding/modelship-custom-metrics-auth-reader',
      'Secret/modelship-custom-metrics-tls',
      'Service/modelship-custom-metrics',
      'Service/modelship-metrics',
      'ServiceAccount/modelship',
    ]);
    for (const m of ms) {
      // cluster-scoped kinds, and the custom metrics server's RoleBinding to the reader of kube-system/extension-apiserver-authentication
      const elsewhere =
        m.kind.startsWith('Cluster') || m.kind === 'APIService' || m.metadata.name === 'modelship-custom-metrics-auth-reader';
      if (!elsewhere) assert.equal(m.metadata.namespace, 'modelship-system', `${m.kind} is namespaced to the release`);
      assert.equal(m.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm');
      assert.equal(m.metadata.labels?.['app.kubernetes.io/version'], '0.1.0');
    }
    const dep = deploymentOf(ms);
    assert.equal(dep.spec?.replicas, 1);
    const pod = dep.spec!.template.spec!;
    assert.equal(pod.serviceAccountName, 'modelship');
    assert.equal(pod.automountServiceAccountToken, true);
    const c = containerOf(ms);
    assert.equal(c.image, 'modelship/operator:0.1.0');
    assert.equal(c.imagePullPolicy, 'IfNotPresent');
    assert.deepEqual(c.ports, [
      { name: 'http', containerPort: 8081, protocol: 'TCP' },
      { name: 'custom-metrics', containerPort: 6443, protocol: 'TCP' },
    ]);
    assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(c.livenessProbe?.httpGet?.port, 'http');
    assert.deepEqual(c.resources, { requests: { cpu: '50m', memory: '192Mi' }, limits: { memory: '320Mi' } });

    const env = podEnv(ms);
    // the heap limit is a share of the container's memory limit, which Node reads from the cgroup
    assert.equal(env.NODE_OPTIONS, '--disable-warning=ExperimentalWarning --max-old-space-size-percentage=50 --max-semi-space-size=2');
    assert.equal(env.MALLOC_ARENA_MAX, '2');
    assert.equal(env.MODELSHIP_LEADER_ELECT, 'false');
    assert.equal(env.MODELSHIP_WATCH_NAMESPACE, undefined, 'all namespaces');
    assert.deepEqual(envOf(ms).POD_NAME?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
    assert.deepEqual(envOf(ms).POD_NAMESPACE?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');

    // the operator accepts exactly this configuration
    const cfg = parseConfig([], env);
    assert.notEqual(cfg, 'help');
    if (cfg === 'help') return;
    assert.equal(cfg.watchNamespace, undefined);
    assert.equal(cfg.httpPort, 8081);
    assert.equal(cfg.leaderElection.enabled, false);
    assert.equal(cfg.leaderElection.identity, 'modelship-abc', 'POD_NAME is the leader identity');
    assert.deepEqual(cfg.runtime, {
      image: 'modelship/runtime:0.1.0',
      imagePullPolicy: 'IfNotPresent',
      maxBatchSize: 32,
      maxBatchDelayMicroseconds: 0,
      drainDelaySeconds: 5,
      shutdownTimeoutSeconds: 25,
      memoryRequest: '256Mi',
      memoryLimit: '1Gi',
      metricsPort: 9090,
    });

    const svc = findManifest(ms, 'Service', 'modelship-metrics') as unknown as {
      spec: { selector: Record<string, string>; ports: Array<{ name: string; port: number; targetPort: string }> };
    };
    assert.deepEqual(svc.spec.selector, dep.spec?.selector.matchLabels);
    assert.deepEqual(svc.spec.ports, [{ name: 'metrics', port: 8081, targetPort: 'http', protocol: 'TCP' }]);
    assert.equal(svc.spec.selector['app.kubernetes.io/name'], 'modelship', 'never selects runtime pods (name=modelship-runtime)');
  });

  test('every environment variable the chart sets is one the operator reads', async () => {
    const known = new Set([...usage().matchAll(/\[env ([A-Z_]+)\]/g)].map((m) => m[1]));
    known.add('POD_NAMESPACE'); // default of the leader election namespace
    known.add('NODE_OPTIONS'); // read by Node itself (the heap limit), not by the operator
    known.add('MALLOC_ARENA_MAX'); // read by glibc's malloc
    for (const values of [{}, NON_DEFAULT]) {
      for (const name of Object.keys(envOf(await renderChart({ values }))))
        assert.ok(known.has(name), `${name} is not an operator setting`);
    }
  });

  test('restricted security context (Pod Security Standard "restricted")', async () => {
    const dep = deploymentOf(await renderChart());
    const pod = dep.spec!.template.spec!;
    assert.deepEqual(pod.securityContext, {
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const sc = pod.containers[0]!.securityContext!;
    assert.equal(sc.runAsNonRoot, true);
    assert.equal(sc.runAsUser, 10001);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.deepEqual(sc.capabilities, { drop: ['ALL'] });
    assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' });
    assert.ok(!pod.hostNetwork && !pod.hostPID && !pod.hostIPC);
    for (const v of pod.volumes ?? [])
      assert.ok(v.emptyDir || v.secret, `volume ${v.name} is an emptyDir or a Secret (restricted allows no hostPath)`);
  });

  test('replicas 2: leader election on (Lease Role limited to its name), PodDisruptionBudget', async () => {
    const ms = await renderChart({ release: 'modelship', namespace: 'ops', values: { replicas: 2 } });
    assert.deepEqual(kinds(ms), [
      'APIService/v1beta2.custom.metrics.k8s.io',
      'ClusterRole/modelship',
      'ClusterRole/modelship-predictor',
      'ClusterRoleBinding/modelship',
      'Deployment/modelship',
      'PodDisruptionBudget/modelship',
      'Role/modelship-leader-election',
      'RoleBinding/modelship-custom-metrics-auth-reader',
      'RoleBinding/modelship-leader-election',
      'Secret/modelship-custom-metrics-tls',
      'Service/modelship-custom-metrics',
      'Service/modelship-metrics',
      'ServiceAccount/modelship',
    ]);
    assert.equal(deploymentOf(ms).spec?.replicas, 2);
    const env = podEnv(ms, { name: 'modelship-xyz', namespace: 'ops' });
    assert.equal(env.MODELSHIP_LEADER_ELECT, 'true');
    const cfg = parseConfig([], env);
    if (cfg === 'help') throw new Error('help');
    assert.deepEqual(
      [cfg.leaderElection.enabled, cfg.leaderElection.namespace, cfg.leaderElection.leaseName, cfg.leaderElection.identity],
      [true, 'ops', 'modelship-operator', 'modelship-xyz'],
    );

    const role = findManifest(ms, 'Role', 'modelship-leader-election');
    assert.equal(role?.metadata.namespace, 'ops');
    assert.deepEqual(rulesOf(role), [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['modelship-operator'], verbs: ['get', 'update'] },
    ]);
    const binding = findManifest(ms, 'RoleBinding', 'modelship-leader-election') as unknown as { subjects: unknown[]; roleRef: unknown };
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'modelship', namespace: 'ops' }]);
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'modelship-leader-election' });

    const pdb = findManifest(ms, 'PodDisruptionBudget') as unknown as {
      spec: { minAvailable: number; selector: { matchLabels: unknown } };
    };
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, deploymentOf(ms).spec?.selector.matchLabels);

    // leaderElection.enabled with one replica also elects; replicas 2 with the PDB switched off has none
    assert.equal(podEnv(await renderChart({ values: { 'leaderElection.enabled': true } })).MODELSHIP_LEADER_ELECT, 'true');
    assert.equal(
      findManifest(await renderChart({ values: { replicas: 2, 'podDisruptionBudget.enabled': false } }), 'PodDisruptionBudget'),
      undefined,
    );
  });

  test('watchNamespace: a Role and RoleBinding in that namespace, no cluster-wide permission', async () => {
    const ms = await renderChart({ release: 'modelship', namespace: 'ops', values: { watchNamespace: 'ml' } });
    assert.deepEqual(kinds(ms), [
      'APIService/v1beta2.custom.metrics.k8s.io',
      'Deployment/modelship',
      'Role/modelship',
      'Role/modelship-predictor',
      'RoleBinding/modelship',
      'RoleBinding/modelship-custom-metrics-auth-reader',
      'Secret/modelship-custom-metrics-tls',
      'Service/modelship-custom-metrics',
      'Service/modelship-metrics',
      'ServiceAccount/modelship',
    ]);
    assert.equal(findManifest(ms, 'Role', 'modelship-predictor')?.metadata.namespace, 'ml');
    const role = findManifest(ms, 'Role', 'modelship');
    assert.equal(role?.metadata.namespace, 'ml');
    assert.deepEqual(rulesOf(role), EXPECTED_RULES);
    const binding = findManifest(ms, 'RoleBinding', 'modelship') as unknown as Manifest & { subjects: unknown[]; roleRef: unknown };
    assert.equal(binding.metadata.namespace, 'ml');
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'modelship', namespace: 'ops' }]);
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'modelship' });
    const cfg = parseConfig([], podEnv(ms));
    if (cfg === 'help') throw new Error('help');
    assert.equal(cfg.watchNamespace, 'ml');
  });

  test('the ClusterRole grants exactly what the operator uses: no wildcard verb, resource or apiGroup', async () => {
    const ms = await renderChart({ values: { replicas: 2 } });
    const cr = findManifest(ms, 'ClusterRole', 'modelship');
    assert.deepEqual(rulesOf(cr), EXPECTED_RULES);
    assertNoWildcards(rulesOf(cr), 'ClusterRole');
    assertNoWildcards(rulesOf(findManifest(ms, 'Role')), 'leader election Role');
    const crb = findManifest(ms, 'ClusterRoleBinding', 'modelship') as unknown as { subjects: unknown[]; roleRef: unknown };
    assert.deepEqual(crb.subjects, [{ kind: 'ServiceAccount', name: 'modelship', namespace: 'modelship-system' }]);
    assert.deepEqual(crb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'modelship' });
    // and rbac.create=false renders none of it
    const none = await renderChart({ values: { 'rbac.create': false, replicas: 2 } });
    assert.deepEqual(
      none.filter((m) => m.apiVersion.startsWith('rbac.')),
      [],
    );
  });

  test('the predictor ClusterRole for kubernetes-mode callers: create and get on modeldeployments/predict, nothing else, bound by nobody', async () => {
    const ms = await renderChart({ release: 'modelship' });
    assert.deepEqual(rulesOf(findManifest(ms, 'ClusterRole', 'modelship-predictor')), [
      { apiGroups: ['modelship.dev'], resources: ['modeldeployments/predict'], verbs: ['create', 'get'] },
    ]);
    const bindings = ms.filter((m) => m.kind.endsWith('Binding')) as unknown as Array<{ roleRef: { name: string } }>;
    assert.ok(bindings.every((b) => b.roleRef.name !== 'modelship-predictor'));
  });

  test('rbac.runtimeAuth (opt-in): the operator may bind system:auth-delegator and no other role, manage ClusterRoleBindings and ServiceAccounts, patch ModelDeployments (finalizer)', async () => {
    assert.equal(
      findManifest(await renderChart({ release: 'modelship' }), 'ClusterRole', 'modelship-runtime-auth'),
      undefined,
      'off by default',
    );
    const ms = await renderChart({ release: 'modelship', values: { 'rbac.runtimeAuth': true } });
    assert.deepEqual(rulesOf(findManifest(ms, 'ClusterRole', 'modelship-runtime-auth')), [
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get', 'create', 'patch', 'delete'] },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterrolebindings'], verbs: ['get', 'create', 'patch', 'delete'] },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], resourceNames: ['system:auth-delegator'], verbs: ['bind'] },
      { apiGroups: ['modelship.dev'], resources: ['modeldeployments'], verbs: ['patch'] },
    ]);
    const crb = findManifest(ms, 'ClusterRoleBinding', 'modelship-runtime-auth') as unknown as { subjects: unknown[]; roleRef: unknown };
    assert.deepEqual(crb.subjects, [{ kind: 'ServiceAccount', name: 'modelship', namespace: 'modelship-system' }]);
    assert.deepEqual(crb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'modelship-runtime-auth' });
    assert.deepEqual(rulesOf(findManifest(ms, 'ClusterRole', 'modelship')), EXPECTED_RULES, 'the main ClusterRole is unchanged');
    const off = await renderChart({ release: 'modelship', values: { 'rbac.runtimeAuth': true, 'rbac.create': false } });
    assert.equal(findManifest(off, 'ClusterRole', 'modelship-runtime-auth'), undefined);
  });

  test('serviceMonitor on: a ServiceMonitor scraping the metrics Service port', async () => {
    const ms = await renderChart({
      values: { 'metrics.serviceMonitor.enabled': true, 'metrics.serviceMonitor.labels': { release: 'prom' } },
    });
    const sm = findManifest(ms, 'ServiceMonitor') as unknown as Manifest & {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: Array<Record<string, unknown>>; namespaceSelector: unknown };
    };
    assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(sm.metadata.labels?.release, 'prom');
    const svc = findManifest(ms, 'Service', 'modelship-metrics') as unknown as Manifest & { spec: { ports: Array<{ name: string }> } };
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
      assert.equal(svc.metadata.labels?.[k], v, `the Service carries ${k}=${v}`);
    assert.deepEqual(sm.spec.endpoints, [
      {
        port: svc.spec.ports[0]!.name,
        path: '/metrics',
        interval: '30s',
        scrapeTimeout: '10s',
        honorLabels: true,
        relabelings: [{ targetLabel: 'job', replacement: 'modelship-operator' }],
      },
    ]);
    assert.deepEqual(sm.spec.namespaceSelector, { matchNames: ['modelship-system'] });
    assert.equal(findManifest(await renderChart(), 'ServiceMonitor'), undefined, 'off by default');
  });

  test('non-default values reach the Deployment and the operator configuration', async () => {
    const ms = await renderChart({ release: 'r', namespace: 'ops', values: NON_DEFAULT });
    assert.deepEqual(kinds(ms), [
      'APIService/v1beta2.custom.metrics.k8s.io',
      'Deployment/ms',
      'PodDisruptionBudget/ms',
      'Role/ms',
      'Role/ms-leader-election',
      'Role/ms-predictor',
      'RoleBinding/ms',
      'RoleBinding/ms-custom-metrics-auth-reader',
      'RoleBinding/ms-leader-election',
      'Secret/ms-custom-metrics-tls',
      'Service/ms-custom-metrics',
      'Service/ms-metrics',
      'ServiceAccount/ms-operator',
      'ServiceMonitor/ms',
    ]);
    const dep = deploymentOf(ms);
    const pod = dep.spec!.template.spec!;
    const c = containerOf(ms);
    assert.equal(dep.spec?.replicas, 3);
    assert.equal(c.image, `registry.example.com:5000/ml/modelship-operator:0.1.0-rc.1@sha256:${'a'.repeat(64)}`);
    assert.equal(c.imagePullPolicy, 'Always');
    assert.equal(c.ports?.[0]?.containerPort, 9090);
    assert.deepEqual(pod.imagePullSecrets, [{ name: 'regcred' }]);
    assert.equal(pod.serviceAccountName, 'ms-operator');
    assert.equal(pod.priorityClassName, 'system-cluster-critical');
    assert.match(String(podEnv(ms).NODE_OPTIONS), / --max-old-space-size-percentage=60 /);
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.deepEqual(pod.tolerations, NON_DEFAULT.tolerations);
    assert.equal(dep.spec?.template.metadata?.labels?.team, 'ml');
    assert.equal(dep.spec?.template.metadata?.annotations?.['example.com/a'], 'b');
    assert.deepEqual(c.resources, NON_DEFAULT.resources);
    const cfg = parseConfig([], podEnv(ms, { name: 'ms-1', namespace: 'ops' }));
    if (cfg === 'help') throw new Error('help');
    assert.equal(cfg.watchNamespace, 'ml');
    assert.equal(cfg.concurrency, 8);
    assert.equal(cfg.resyncPeriodMs, 300_000);
    assert.equal(cfg.logLevel, 'debug');
    assert.equal(cfg.httpPort, 9090);
    assert.deepEqual(cfg.runtime, {
      image: 'localhost:5000/modelship-runtime:dev',
      imagePullPolicy: 'Never',
      maxBatchSize: 32,
      maxBatchDelayMicroseconds: 500,
      drainDelaySeconds: 10,
      shutdownTimeoutSeconds: 50,
      memoryRequest: undefined,
      memoryLimit: '2Gi',
      metricsPort: 0,
    });
    assert.deepEqual(
      [
        cfg.leaderElection.enabled,
        cfg.leaderElection.namespace,
        cfg.leaderElection.leaseName,
        cfg.leaderElection.leaseDurationMs,
        cfg.leaderElection.renewDeadlineMs,
        cfg.leaderElection.retryPeriodMs,
      ],
      [true, 'ops', 'ms-lease', 20_000, 15_000, 3_000],
    );
    assert.deepEqual(rulesOf(findManifest(ms, 'Role', 'ms-leader-election'))[1]?.resourceNames, ['ms-lease']);
    const pdb = findManifest(ms, 'PodDisruptionBudget') as unknown as { spec: { minAvailable: unknown } };
    assert.equal(pdb.spec.minAvailable, '50%');
  });

  test('--include-crds renders the ModelDeployment CRD from crds/', async () => {
    const ms = await renderChart({ extraArgs: ['--include-crds'] });
    const crd = findManifest(ms, 'CustomResourceDefinition');
    assert.equal(crd?.metadata.name, 'modeldeployments.modelship.dev');
  });

  describe('bad values fail helm template with the schema message', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['negative replicas', { replicas: -1 }, /at '\/replicas': minimum: got -1, want 1/],
      ['zero replicas', { replicas: 0 }, /at '\/replicas': minimum: got 0, want 1/],
      ['fractional replicas', { replicas: 1.5 }, /at '\/replicas': got number, want integer/],
      ['replicas as a string', { replicas: 'two' }, /at '\/replicas': got string, want integer/],
      ['an unknown top-level key', { replica: 2 }, /at '': additional properties 'replica' not allowed/],
      ['an unknown nested key', { 'image.name': 'x' }, /at '\/image': additional properties 'name' not allowed/],
      [
        'a malformed image repository',
        { 'image.repository': 'Modelship/Operator' },
        /at '\/image\/repository': 'Modelship\/Operator' does not match pattern/,
      ],
      [
        'a tag inside the repository',
        { 'image.repository': 'modelship/operator:0.1.0' },
        /at '\/image\/repository': 'modelship\/operator:0.1.0' does not match pattern/,
      ],
      [
        'a malformed runtime image',
        { 'runtime.image.repository': 'http://registry/runtime' },
        /at '\/runtime\/image\/repository': 'http:\/\/registry\/runtime' does not match pattern/,
      ],
      ['a malformed tag', { 'image.tag': 'v1:latest' }, /at '\/image\/tag': 'v1:latest' does not match pattern/],
      ['a malformed digest', { 'image.digest': 'sha256:abc' }, /at '\/image\/digest': 'sha256:abc' does not match pattern/],
      [
        'a bad pull policy',
        { 'image.pullPolicy': 'Sometimes' },
        /at '\/image\/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'/,
      ],
      ['a bad watch namespace', { watchNamespace: 'ML_Team' }, /at '\/watchNamespace': 'ML_Team' does not match pattern/],
      ['a bad duration', { 'leaderElection.leaseDuration': '15' }, /at '\/leaderElection\/leaseDuration': '15' does not match pattern/],
      ['batch size out of range', { 'runtime.batching.maxBatchSize': 0 }, /at '\/runtime\/batching\/maxBatchSize': minimum: got 0, want 1/],
      [
        'a runtime memory limit that is not a quantity',
        { 'runtime.defaultMemory.limit': 'lots' },
        /at '\/runtime\/defaultMemory\/limit': 'lots' does not match pattern/,
      ],
      ['the runtime metrics port on the inference port', { 'runtime.metricsPort': 8080 }, /at '\/runtime\/metricsPort'/],
      [
        'a runtime shutdown timeout of 0',
        { 'runtime.shutdownTimeoutSeconds': 0 },
        /at '\/runtime\/shutdownTimeoutSeconds': minimum: got 0, want 1/,
      ],
      ['a heap limit above 90% of the memory limit', { heapLimitPercent: 95 }, /at '\/heapLimitPercent': maximum: got 95, want 90/],
      ['a bad log level', { logLevel: 'verbose' }, /at '\/logLevel': value must be one of 'error', 'warn', 'info', 'debug'/],
      [
        'a bad resource quantity',
        { 'resources.limits.memory': '256 MB' },
        /at '\/resources\/limits\/memory': '256 MB' does not match pattern/,
      ],
    ];
    for (const [what, values, message] of cases) {
      test(what, async () => {
        const r = await runHelm(['template', 'modelship', chartDir, ...setArgs(values)]);
        assert.notEqual(r.code, 0, `helm template accepted ${JSON.stringify(values)}`);
        assert.match(r.stderr, /values don't meet the specifications of the schema\(s\) in the following chart\(s\):\nmodelship:/);
        assert.match(r.stderr, message);
      });
    }

    test("lease timings out of order fail with the chart's message", async () => {
      const r = await runHelm(['template', 'modelship', chartDir, ...setArgs({ replicas: 2, 'leaderElection.renewDeadline': '20s' })]);
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        /leaderElection: leaseDuration \(15s\) must be longer than renewDeadline \(20s\), which must be longer than retryPeriod \(2s\)/,
      );
    });

    test("a ServiceMonitor without the metrics Service fails with the chart's message", async () => {
      const r = await runHelm([
        'template',
        'modelship',
        chartDir,
        ...setArgs({ 'metrics.service.enabled': false, 'metrics.serviceMonitor.enabled': true }),
      ]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /metrics.serviceMonitor.enabled needs metrics.service.enabled/);
    });

    test('a bad values file fails helm lint too', async () => {
      const file = join(tmp, 'bad.yaml');
      await writeFile(file, dump({ replicas: -3, image: { repository: 'modelship/operator', tag: 'bad tag' } }));
      const r = await runHelm(['lint', '--strict', chartDir, '-f', file]);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /at '\/replicas': minimum: got -3, want 1/);
      assert.match(r.stdout + r.stderr, /at '\/image\/tag': 'bad tag' does not match pattern/);
    });
  });
});
