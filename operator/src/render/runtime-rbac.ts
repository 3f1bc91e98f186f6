/**
 * spec.runtime.auth.mode kubernetes: what the runtime pods need to review their callers (the
 * runtime side: runtime/src/kube-auth/). Their ServiceAccount, `<name>-runtime` unless
 * spec.pod.serviceAccountName names the user's own, gets its token mounted and is bound to the
 * built-in ClusterRole system:auth-delegator (create tokenreviews and subjectaccessreviews) by a
 * ClusterRoleBinding. In every other mode nothing here renders, and the pod keeps
 * automountServiceAccountToken: false. Pure.
 */
import type { V1ClusterRoleBinding, V1EnvVar, V1PodTemplateSpec, V1ServiceAccount } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.generated.ts';
import { AUTH_MODE, CONTAINER, DEFAULT_AUTH_AUDIENCE, ENV } from '../../../contract/runtime-contract.ts';
import { commonLabels } from '../api/labels.ts';
import { childMetadata } from './children.ts';

export const RUNTIME_SA_SUFFIX = '-runtime';
/** The built-in ClusterRole that may create tokenreviews and subjectaccessreviews, nothing else. */
export const AUTH_DELEGATOR_ROLE = 'system:auth-delegator';
/** On the ClusterRoleBinding (cluster-scoped: no owner reference can point at the ModelDeployment). */
export const LABEL_OWNER_NAMESPACE = 'modelship.dev/owner-namespace';
export const LABEL_OWNER_NAME = 'modelship.dev/owner-name';

export interface KubernetesAuth {
  audience: string;
  /** the pods' ServiceAccount */
  serviceAccount: string;
  /** false when spec.pod.serviceAccountName names the user's own (then not rendered, and not deleted) */
  ownServiceAccount: boolean;
}

/** The kubernetes-mode settings of `md`, or undefined in any other mode. */
export function kubernetesAuth(md: ModelDeployment): KubernetesAuth | undefined {
  const auth = md.spec.runtime?.auth;
  if (auth?.mode !== AUTH_MODE.kubernetes) return undefined;
  const user = md.spec.pod?.serviceAccountName;
  return {
    audience: auth.audience ?? DEFAULT_AUTH_AUDIENCE,
    serviceAccount: user ?? runtimeServiceAccountName(md.metadata?.name as string),
    ownServiceAccount: user === undefined,
  };
}

export const runtimeServiceAccountName = (name: string): string => `${name}${RUNTIME_SA_SUFFIX}`;

/** `modelship-runtime:<namespace>:<name>`: unique per ModelDeployment (names cannot hold ':'). */
export const authDelegatorBindingName = (namespace: string, name: string): string => `modelship-runtime:${namespace}:${name}`;

/** The pod template with kubernetes mode on: its ServiceAccount, its token mounted, the runtime told what to ask. */
export function withRuntimeAuth(template: V1PodTemplateSpec, md: ModelDeployment): V1PodTemplateSpec {
  const k = kubernetesAuth(md);
  if (!k || !template.spec) return template;
  const env: V1EnvVar[] = [
    { name: ENV.authMode, value: AUTH_MODE.kubernetes },
    { name: ENV.authAudience, value: k.audience },
    { name: ENV.authNamespace, value: md.metadata?.namespace as string },
    { name: ENV.authResourceName, value: md.metadata?.name as string },
  ];
  return {
    ...template,
    spec: {
      ...template.spec,
      serviceAccountName: k.serviceAccount,
      // The API server copies serviceAccountName into the deprecated serviceAccount and, when the
      // former is later dropped, back again: owning both lets leaving the mode remove both.
      serviceAccount: k.serviceAccount,
      // the kubelet's projected token (audience: the API server), rotated; the runtime re-reads it
      automountServiceAccountToken: true,
      containers: template.spec.containers.map((c) => (c.name === CONTAINER.serve ? { ...c, env: [...(c.env ?? []), ...env] } : c)),
    },
  };
}

/** `<name>-runtime`, owned by the ModelDeployment; undefined when not wanted (another mode, or the user's own). */
export function renderRuntimeServiceAccount(md: ModelDeployment): V1ServiceAccount | undefined {
  const k = kubernetesAuth(md);
  if (!k?.ownServiceAccount) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: childMetadata(md, k.serviceAccount),
    // its token is mounted through the pod's automountServiceAccountToken only
    automountServiceAccountToken: false,
  };
}

export function renderAuthDelegatorBinding(md: ModelDeployment): V1ClusterRoleBinding | undefined {
  const k = kubernetesAuth(md);
  if (!k) return undefined;
  const namespace = md.metadata?.namespace as string;
  const name = md.metadata?.name as string;
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: {
      name: authDelegatorBindingName(namespace, name),
      labels: { ...commonLabels(name), [LABEL_OWNER_NAMESPACE]: namespace, [LABEL_OWNER_NAME]: name },
    },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: AUTH_DELEGATOR_ROLE },
    subjects: [{ kind: 'ServiceAccount', name: k.serviceAccount, namespace }],
  };
}
