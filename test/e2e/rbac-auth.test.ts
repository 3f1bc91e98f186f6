// End to end on the real single-node cluster: a ModelDeployment with spec.runtime.auth.mode
// kubernetes. The operator gives its pods the <name>-runtime ServiceAccount bound to
// system:auth-delegator; the model goes Ready. Client pods call it through its Service with a
// projected ServiceAccount token for the audience modelship.dev: the one whose ServiceAccount is
// bound to the chart's predictor ClusterRole gets 200 and the right outputs, the one without gets
// 403, a token for another audience 401, no token 401 (also from outside the cluster).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@modelship/devcluster/wait';
import { renderChart, resolveHelm } from '@modelship/devcluster/helm';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { clients, type Clients } from '@modelship/devcluster/kube-clients';
import { getE2eCluster, type E2eCluster } from '@modelship/devcluster/e2e-cluster';
import { post } from '@modelship/devcluster/http-post';
import {
  assertIrisOutputs,
  createAndWaitReady,
  exampleIris,
  expected,
  restrictedNamespace,
  startE2eOperator,
} from '@modelship/devcluster/iris';

/** One JSON line per token file (or none): the answer to a V2 infer POST with it. */
const CLIENT_SCRIPT = `(async () => {
  const fs = require('node:fs');
  const [url, body, ...files] = process.argv.slice(1);
  for (const file of files) {
    const headers = { 'content-type': 'application/json' };
    if (file !== 'none') headers.authorization = 'Bearer ' + fs.readFileSync(file, 'utf8').trim();
    try {
      const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(20000) });
      console.log(JSON.stringify({ file, status: res.status, body: await res.text() }));
    } catch (err) {
      console.log(JSON.stringify({ file, error: String((err.cause && err.cause.code) || err) }));
    }
  }
})();`;

interface Answer {
  file: string;
  status?: number;
  body?: string;
  error?: string;
}

describe(
  'e2e: kubernetes auth mode — callers authorized by their ServiceAccount (TokenReview + SubjectAccessReview)',
  { timeout: 600_000 },
  () => {
    let cluster: E2eCluster;
    let c: Clients;
    let ns = '';
    let op: OperatorProcess;
    let roleName = '';
    const answers = new Map<string, Map<string, Answer>>();

    const runClient = async (name: string, serviceAccount: string, url: string): Promise<Map<string, Answer>> => {
      const token = (path: string, audience: string) => ({ serviceAccountToken: { path, audience, expirationSeconds: 600 } });
      await c.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name },
          spec: {
            restartPolicy: 'Never',
            serviceAccountName: serviceAccount,
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
            volumes: [
              { name: 'tokens', projected: { sources: [token('modelship', 'modelship.dev'), token('other', 'some-other-service')] } },
            ],
            containers: [
              {
                name: 'client',
                image: cluster.runtimeImage,
                imagePullPolicy: 'Never',
                command: [
                  'node',
                  '-e',
                  CLIENT_SCRIPT,
                  url,
                  JSON.stringify({ inputs: expected.inputs }),
                  '/tokens/modelship',
                  '/tokens/other',
                  'none',
                ],
                volumeMounts: [{ name: 'tokens', mountPath: '/tokens', readOnly: true }],
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              },
            ],
          },
        },
      });
      const phase = await waitFor(
        async () => {
          const p = (await c.core.readNamespacedPod({ name, namespace: ns })).status?.phase;
          return p === 'Succeeded' || p === 'Failed' ? p : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1_000, description: `client pod ${name} to finish` },
      );
      const log = await c.core.readNamespacedPodLog({ name, namespace: ns, container: 'client' });
      assert.equal(phase, 'Succeeded', log);
      const byFile = new Map<string, Answer>();
      for (const line of log.split('\n').filter((l) => l.startsWith('{'))) {
        const a = JSON.parse(line) as Answer;
        byFile.set(a.file, a);
      }
      return byFile;
    };

    before(async () => {
      cluster = await getE2eCluster();
      c = clients();
      await resolveHelm();
      ns = await restrictedNamespace(c, 'e2e-rbac');
      // the callers' permission, as the chart ships it
      const role = (await renderChart({ release: `e2e-${ns.slice(-6)}` })).find(
        (m) => m.kind === 'ClusterRole' && m.metadata.name.endsWith('-predictor'),
      );
      assert.ok(role);
      roleName = role.metadata.name;
      await c.rbac.createClusterRole({ body: role as never });
      for (const sa of ['caller', 'stranger'])
        await c.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
      await c.rbac.createNamespacedRoleBinding({
        namespace: ns,
        body: {
          metadata: { name: 'caller-predicts' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
          subjects: [{ kind: 'ServiceAccount', name: 'caller', namespace: ns }],
        },
      });

      op = await startE2eOperator(cluster, ns);
      const md = exampleIris(cluster.modelServerUrl);
      md.spec.runtime = { auth: { mode: 'kubernetes' } };
      await createAndWaitReady(c, ns, md);
      const svc = await c.core.readNamespacedService({ name: 'iris', namespace: ns });
      const url = `http://${svc.spec?.clusterIP}/v2/models/iris/infer`;
      // kube-proxy programs the Service a moment after it exists; from outside, no token: 401
      await waitFor(
        async () => (await post(url, { inputs: expected.inputs }, undefined, 2_000).catch(() => ({ status: 0 }))).status === 401,
        {
          timeoutMs: 60_000,
          intervalMs: 500,
          description: 'a 401 through the Service from the host',
        },
      );
      const inCluster = `http://iris.${ns}.svc.cluster.local/v2/models/iris/infer`;
      answers.set('caller', await runClient('caller-client', 'caller', inCluster));
      answers.set('stranger', await runClient('stranger-client', 'stranger', inCluster));
    });

    after(async () => {
      await op?.stop();
      if (c) {
        await c.core.deleteNamespace({ name: ns }).catch(() => {});
        if (roleName) await c.rbac.deleteClusterRole({ name: roleName }).catch(() => {});
      }
      await cluster?.stop();
    });

    const answer = (who: string, file: string): Answer => {
      const a = answers.get(who)?.get(file);
      assert.ok(a, `no answer for ${who} ${file}: ${JSON.stringify([...(answers.get(who)?.values() ?? [])])}`);
      return a;
    };

    it('the runtime pods run as <name>-runtime with a mounted token; the operator bound it to system:auth-delegator', async () => {
      const dep = await c.apps.readNamespacedDeployment({ name: 'iris', namespace: ns });
      assert.equal(dep.spec?.template.spec?.serviceAccountName, 'iris-runtime');
      assert.equal(dep.spec?.template.spec?.automountServiceAccountToken, true);
      const pods = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=iris' })).items;
      assert.ok(pods.length > 0, 'no iris pod');
      for (const pod of pods) {
        assert.equal(pod.spec?.serviceAccountName, 'iris-runtime', pod.metadata?.name);
        const serve = pod.spec?.containers.find((x) => x.name === 'serve');
        assert.ok(
          serve?.volumeMounts?.some((m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount'),
          `${pod.metadata?.name}: no ServiceAccount token mounted in serve`,
        );
      }
      const crb = await c.rbac.readClusterRoleBinding({ name: `modelship-runtime:${ns}:iris` });
      assert.equal(crb.roleRef.name, 'system:auth-delegator');
      assert.deepEqual(
        crb.subjects?.map((x) => ({ kind: x.kind, name: x.name, namespace: x.namespace })),
        [{ kind: 'ServiceAccount', name: 'iris-runtime', namespace: ns }],
      );
    });

    it('a caller whose ServiceAccount has the predictor ClusterRole → 200 and the expected outputs', () => {
      const a = answer('caller', '/tokens/modelship');
      assert.equal(a.status, 200, JSON.stringify(a));
      assertIrisOutputs(a.body!);
    });

    it('a caller without the role → 403 naming the subject and the permission', () => {
      const a = answer('stranger', '/tokens/modelship');
      assert.equal(a.status, 403, JSON.stringify(a));
      assert.match(
        JSON.parse(a.body!).error,
        new RegExp(`"system:serviceaccount:${ns}:stranger" may not create modeldeployments/predict "iris"`),
      );
    });

    it('a token for another audience → 401, no token → 401', () => {
      for (const who of ['caller', 'stranger']) {
        const other = answer(who, '/tokens/other');
        assert.equal(other.status, 401, JSON.stringify(other));
        assert.match(JSON.parse(other.body!).error, /not valid for the audience "modelship.dev"/);
        const none = answer(who, 'none');
        assert.equal(none.status, 401, JSON.stringify(none));
      }
    });
  },
);
