// Every manifest charts/modelship renders is accepted by the real kube-apiserver (server-side
// dry-run: schema, defaulting, admission, RBAC escalation checks), and the operator pod is
// admitted under Pod Security "restricted" enforcement.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dump } from 'js-yaml';
import type { V1Deployment } from '@kubernetes/client-node';
import { getTestControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { findManifest, renderChart, resolveHelm, type Manifest } from '@modelship/devcluster/helm';
import { clients, type Clients } from '@modelship/devcluster/kube-clients';

const RESTRICTED = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/warn-version': 'latest',
};

const toYaml = (docs: readonly unknown[]) => docs.map((d) => `---\n${dump(d, { noRefs: true })}`).join('');

describe('chart manifests against the real API server (server-side dry-run)', () => {
  let cp: ControlPlane;
  let c: Clients;
  const suffix = Math.random().toString(36).slice(2, 7);
  const releaseNs = `chart-sys-${suffix}`;
  const watchNs = `chart-ml-${suffix}`;

  before(
    async () => {
      await resolveHelm();
      cp = await getTestControlPlane();
      c = clients();
      for (const name of [releaseNs, watchNs]) await c.core.createNamespace({ body: { metadata: { name, labels: RESTRICTED } } });
    },
    { timeout: 30 * 60_000 },
  );
  after(async () => {
    for (const name of [releaseNs, watchNs]) await c?.core.deleteNamespace({ name }).catch(() => undefined);
    await cp?.stop();
  });

  async function dryRun(manifests: readonly Manifest[]) {
    const r = await cp.kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=modelship-chart-test', '-f', '-'], {
      input: toYaml(manifests),
    });
    assert.equal(r.code, 0, `server-side dry-run refused the chart:\n${r.stderr}${r.stdout}`);
    assert.doesNotMatch(r.stderr, /Warning/i, `the API server warned:\n${r.stderr}`);
    for (const m of manifests)
      assert.match(
        r.stdout,
        new RegExp(`${m.metadata.name} serverside-applied \\(server dry run\\)`),
        `${m.kind}/${m.metadata.name} applied`,
      );
    return r;
  }

  const valueSets: Array<[string, Record<string, unknown>]> = [
    ['defaults', {}],
    ['replicas 2 (leader election, PDB)', { replicas: 2 }],
    ['watchNamespace', { watchNamespace: watchNs, replicas: 2 }],
    [
      'non-default values',
      {
        replicas: 3,
        image: {
          repository: 'registry.example.com:5000/ml/modelship-operator',
          tag: '0.1.0',
          digest: `sha256:${'a'.repeat(64)}`,
          pullPolicy: 'Always',
        },
        fullnameOverride: 'ms-custom',
        serviceAccount: { name: 'ms-custom-sa' },
        leaderElection: { id: 'ms-custom-lease', leaseDuration: '20s', renewDeadline: '15s', retryPeriod: '3s' },
        runtime: {
          image: { repository: 'localhost:5000/modelship-runtime', tag: 'dev', pullPolicy: 'Never' },
          batching: { maxBatchSize: 32, maxDelayMicroseconds: 500 },
        },
        httpPort: 9090,
        metrics: { service: { port: 9090, annotations: { 'prometheus.io/scrape': 'true' } } },
        podDisruptionBudget: { minAvailable: '50%' },
        resources: { requests: { cpu: '100m', memory: '200Mi' }, limits: { cpu: 1, memory: '400Mi' } },
        podLabels: { team: 'ml' },
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }],
        priorityClassName: 'system-cluster-critical',
      },
    ],
  ];
  for (const [what, values] of valueSets) {
    test(`${what}: every rendered manifest is accepted, with no warning`, async () => {
      const manifests = await renderChart({ release: `dry-${suffix}`, namespace: releaseNs, values });
      assert.ok(manifests.length >= 5);
      await dryRun(manifests);
    });
  }

  test('the CRD from the chart (crds/) is accepted as it is', async () => {
    const manifests = await renderChart({ release: `dry-${suffix}`, namespace: releaseNs, extraArgs: ['--include-crds'] });
    await dryRun(manifests.filter((m) => m.kind === 'CustomResourceDefinition'));
  });

  test('the operator pod is admitted under Pod Security "restricted" enforcement (and an unhardened one is not)', async () => {
    const dep = findManifest(
      await renderChart({ release: `dry-${suffix}`, namespace: releaseNs, values: { replicas: 2 } }),
      'Deployment',
    ) as unknown as V1Deployment;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'operator-pod', namespace: releaseNs, labels: dep.spec!.template.metadata!.labels },
      spec: dep.spec!.template.spec,
    };
    const ok = await cp.kubectl(['create', '--dry-run=server', '-f', '-'], { input: toYaml([pod]) });
    assert.equal(ok.code, 0, `restricted namespace refused the operator pod:\n${ok.stderr}`);
    assert.doesNotMatch(ok.stderr, /Warning/i, ok.stderr);

    // control: the same pod without its security contexts is refused, so enforcement is really on
    const weak = structuredClone(pod) as typeof pod;
    delete weak.spec!.securityContext;
    for (const container of weak.spec!.containers) delete container.securityContext;
    const refused = await cp.kubectl(['create', '--dry-run=server', '-f', '-'], { input: toYaml([weak]) });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /violates PodSecurity "restricted:latest"/);
  });
});
