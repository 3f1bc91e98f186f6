// spec.runtime.auth.mode kubernetes, the operator's pure side: the pod template (its own or the
// user's ServiceAccount, token mounted, the runtime told what to ask, and parsed by the runtime's
// own config parser), the ServiceAccount and ClusterRoleBinding rendered only in that mode, and the
// finalizer decision. Other modes keep automountServiceAccountToken: false and render nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1EnvVar } from '@kubernetes/client-node';
import { renderPodTemplate } from '../../operator/src/render/pod-template.ts';
import {
  authDelegatorBindingName,
  kubernetesAuth,
  renderAuthDelegatorBinding,
  renderRuntimeServiceAccount,
} from '../../operator/src/render/runtime-rbac.ts';
import { RUNTIME_ACCESS_FINALIZER, runtimeAccessAction } from '../../operator/src/reconcile/runtime-access.ts';
import { parseServe } from '../../runtime/src/config.ts';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';

const kube = (extra: Partial<ModelDeployment['spec']> = {}, audience?: string) =>
  modelDeployment({ runtime: { auth: { mode: 'kubernetes', ...(audience ? { audience } : {}) } }, ...extra });
const template = (md: ModelDeployment) => renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS);
const serveEnv = (md: ModelDeployment): Record<string, string> =>
  Object.fromEntries(
    (template(md).spec!.containers.find((c) => c.name === 'serve')!.env ?? [])
      .filter((e: V1EnvVar) => e.value !== undefined)
      .map((e: V1EnvVar) => [e.name, e.value as string]),
  );

test('default, apiKey and none modes: no ServiceAccount, no binding, no token mounted, no finalizer', () => {
  for (const md of [
    modelDeployment(),
    modelDeployment({ runtime: { auth: { mode: 'none' } } }),
    modelDeployment({ runtime: { auth: { mode: 'apiKey' }, apiKeySecretRef: { name: 's', key: 'k' } } }),
  ]) {
    assert.equal(kubernetesAuth(md), undefined);
    assert.equal(renderRuntimeServiceAccount(md), undefined);
    assert.equal(renderAuthDelegatorBinding(md), undefined);
    const spec = template(md).spec!;
    assert.equal(spec.automountServiceAccountToken, false);
    assert.equal(spec.serviceAccountName, undefined);
    assert.equal(serveEnv(md)['MODELSHIP_AUTH_MODE'], undefined);
    assert.equal(runtimeAccessAction(md), 'none');
  }
  // the same template as before the field existed: adding auth.mode none rolls nothing out
  assert.equal(
    template(modelDeployment()).metadata?.annotations?.['modelship.dev/template-hash'],
    template(modelDeployment({ runtime: { auth: { mode: 'none' } } })).metadata?.annotations?.['modelship.dev/template-hash'],
  );
});

test('kubernetes mode: <name>-runtime ServiceAccount owned by the ModelDeployment, bound to system:auth-delegator', () => {
  const md = kube();
  const spec = template(md).spec!;
  assert.equal(spec.serviceAccountName, 'iris-runtime');
  assert.equal(spec.serviceAccount, 'iris-runtime', 'the deprecated twin too, so leaving the mode removes both');
  assert.equal(spec.automountServiceAccountToken, true);
  const sa = renderRuntimeServiceAccount(md)!;
  assert.equal(sa.metadata?.name, 'iris-runtime');
  assert.equal(sa.metadata?.namespace, 'ml');
  assert.deepEqual(
    sa.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]),
    [['ModelDeployment', 'iris', 'uid-1', true]],
  );
  assert.equal(sa.automountServiceAccountToken, false, 'only the runtime pod mounts it');
  const crb = renderAuthDelegatorBinding(md)!;
  assert.equal(crb.metadata?.name, 'modelship-runtime:ml:iris');
  assert.equal(crb.metadata?.name, authDelegatorBindingName('ml', 'iris'));
  assert.equal(crb.metadata?.ownerReferences, undefined, 'cluster-scoped: no namespaced owner');
  assert.equal(crb.metadata?.labels?.['modelship.dev/owner-namespace'], 'ml');
  assert.equal(crb.metadata?.labels?.['modelship.dev/owner-name'], 'iris');
  assert.deepEqual(crb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' });
  assert.deepEqual(crb.subjects, [{ kind: 'ServiceAccount', name: 'iris-runtime', namespace: 'ml' }]);
});

test("kubernetes mode with spec.pod.serviceAccountName: the user's ServiceAccount is bound and mounted, none rendered", () => {
  const md = kube({ pod: { serviceAccountName: 'team-sa' } });
  assert.equal(renderRuntimeServiceAccount(md), undefined);
  assert.deepEqual(renderAuthDelegatorBinding(md)?.subjects, [{ kind: 'ServiceAccount', name: 'team-sa', namespace: 'ml' }]);
  const spec = template(md).spec!;
  assert.equal(spec.serviceAccountName, 'team-sa');
  assert.equal(spec.automountServiceAccountToken, true, 'the runtime needs the token whatever the ServiceAccount says');
});

test('kubernetes mode: the rendered pod configures the runtime, as the runtime parses it', () => {
  const md = kube({}, 'ml-models');
  const env = serveEnv(md);
  const cfg = parseServe([], { ...env, KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' });
  assert.deepEqual(
    { audience: cfg.kubeAuth?.audience, namespace: cfg.kubeAuth?.namespace, name: cfg.kubeAuth?.name, url: cfg.kubeAuth?.apiUrl },
    { audience: 'ml-models', namespace: 'ml', name: 'iris', url: 'https://10.96.0.1' },
  );
  assert.equal(cfg.apiKey, undefined);
  assert.equal(serveEnv(kube())['MODELSHIP_AUTH_AUDIENCE'], 'modelship.dev');
  assert.equal(
    template(md).spec!.initContainers?.[0]?.env?.some((e) => e.name.startsWith('MODELSHIP_AUTH')),
    false,
    'fetch needs none of it',
  );
});

test('the finalizer: ensured in kubernetes mode, released on deletion or when the mode ends, else untouched', () => {
  const withFinalizer = (md: ModelDeployment, deleting = false): ModelDeployment => ({
    ...md,
    metadata: {
      ...md.metadata,
      finalizers: ['other/finalizer', RUNTIME_ACCESS_FINALIZER],
      ...(deleting ? { deletionTimestamp: new Date() } : {}),
    },
  });
  assert.equal(runtimeAccessAction(kube()), 'ensure');
  assert.equal(runtimeAccessAction(withFinalizer(kube())), 'ensure');
  assert.equal(runtimeAccessAction(withFinalizer(kube(), true)), 'release');
  assert.equal(runtimeAccessAction(withFinalizer(modelDeployment())), 'release', 'mode switched off');
  assert.equal(
    runtimeAccessAction({ ...kube(), metadata: { ...kube().metadata, deletionTimestamp: new Date() } }),
    'none',
    'deleting without our finalizer',
  );
});
