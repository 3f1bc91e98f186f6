/**
 * spec.runtime.auth.mode kubernetes, the operator's side: the runtime's ServiceAccount and its
 * ClusterRoleBinding to system:auth-delegator (render/runtime-rbac.ts). The binding is
 * cluster-scoped, so no owner reference can have the garbage collector remove it with the
 * ModelDeployment: a finalizer does instead. It is added before the binding is created (so a
 * binding never outlives its ModelDeployment) and removed after the binding is deleted, when the
 * ModelDeployment is deleted or leaves kubernetes mode; other modes never carry it. The
 * ServiceAccount is namespaced and owned (garbage-collected), and deleted here when the mode ends.
 * Neither kind is watched: in kubernetes mode each reconcile reads both (two GETs) and writes
 * only what is missing or differs.
 */
import { RbacAuthorizationV1Api, type KubernetesObject, type V1ClusterRoleBinding, type V1ServiceAccount } from '@kubernetes/client-node';
import {
  MODELDEPLOYMENT_GROUP,
  MODELDEPLOYMENT_KIND,
  MODELDEPLOYMENT_PLURAL,
  MODELDEPLOYMENT_VERSION,
  type ModelDeployment,
} from '../api/types.generated.ts';
import { FIELD_MANAGER } from '../api/labels.ts';
import { isNotFound, readIfExists } from '../errors.ts';
import { serverSideApply, type KubeClients } from '../kube/clients.ts';
import { firstDifference } from '../kube/diff.ts';
import type { Logger } from '../log.ts';
import {
  authDelegatorBindingName,
  kubernetesAuth,
  renderAuthDelegatorBinding,
  renderRuntimeServiceAccount,
  runtimeServiceAccountName,
} from '../render/runtime-rbac.ts';

export const RUNTIME_ACCESS_FINALIZER = 'modelship.dev/runtime-access';
/** A manager of its own: applying the finalizer never touches the fields the user applies. */
export const FINALIZER_MANAGER = 'modelship-operator-finalizer';

const rbacClients = new WeakMap<KubeClients, RbacAuthorizationV1Api>();
function rbacOf(clients: KubeClients): RbacAuthorizationV1Api {
  let api = rbacClients.get(clients);
  if (!api) {
    api = clients.kc.makeApiClient(RbacAuthorizationV1Api);
    rbacClients.set(clients, api);
  }
  return api;
}

const hasFinalizer = (md: ModelDeployment): boolean => md.metadata?.finalizers?.includes(RUNTIME_ACCESS_FINALIZER) ?? false;

/** What a reconcile of `md` must do about runtime access; pure. */
export function runtimeAccessAction(md: ModelDeployment): 'ensure' | 'release' | 'none' {
  const deleting = Boolean(md.metadata?.deletionTimestamp);
  if (!deleting && kubernetesAuth(md)) return 'ensure';
  return hasFinalizer(md) ? 'release' : 'none';
}

/** Objects we render must be contained in what exists (fields others add are fine). */
const differs = (desired: KubernetesObject, actual: KubernetesObject): boolean => {
  const { apiVersion: _a, kind: _k, ...comparable } = desired;
  return firstDifference(comparable, actual) !== undefined;
};

async function setFinalizer(clients: KubeClients, md: ModelDeployment, present: boolean): Promise<void> {
  clients.countWrite('apply', MODELDEPLOYMENT_PLURAL);
  const metadata = { name: md.metadata?.name, namespace: md.metadata?.namespace };
  await clients.custom.patchNamespacedCustomObject(
    {
      group: MODELDEPLOYMENT_GROUP,
      version: MODELDEPLOYMENT_VERSION,
      plural: MODELDEPLOYMENT_PLURAL,
      namespace: md.metadata?.namespace as string,
      name: md.metadata?.name as string,
      // applying without the entry releases it: the API server removes an entry no manager owns
      body: {
        apiVersion: `${MODELDEPLOYMENT_GROUP}/${MODELDEPLOYMENT_VERSION}`,
        kind: MODELDEPLOYMENT_KIND,
        metadata: present ? { ...metadata, finalizers: [RUNTIME_ACCESS_FINALIZER] } : metadata,
      },
      fieldManager: FINALIZER_MANAGER,
      force: true,
    },
    serverSideApply(),
  );
}

async function ensure(clients: KubeClients, md: ModelDeployment, log: Logger): Promise<void> {
  const namespace = md.metadata?.namespace as string;
  const name = md.metadata?.name as string;
  if (!hasFinalizer(md)) {
    await setFinalizer(clients, md, true);
    log.info('runtime access: finalizer added (kubernetes auth mode)', { finalizer: RUNTIME_ACCESS_FINALIZER });
  }
  const sa = renderRuntimeServiceAccount(md);
  if (sa) {
    const actual = await readIfExists(() => clients.core.readNamespacedServiceAccount({ name: sa.metadata?.name as string, namespace }));
    if (!actual || differs(sa, actual)) {
      clients.countWrite('apply', 'serviceaccounts');
      await clients.core.patchNamespacedServiceAccount(
        { name: sa.metadata?.name as string, namespace, body: sa, fieldManager: FIELD_MANAGER, force: true },
        serverSideApply(),
      );
      log.info('runtime access: ServiceAccount applied', { serviceAccount: sa.metadata?.name });
    }
  } else {
    // the user named their own ServiceAccount: ours, if an earlier spec had it, has no use
    await deleteOwnServiceAccount(clients, namespace, name, log);
  }
  const crb = renderAuthDelegatorBinding(md) as V1ClusterRoleBinding;
  const rbac = rbacOf(clients);
  const actual = await readIfExists(() => rbac.readClusterRoleBinding({ name: crb.metadata?.name as string }));
  if (!actual || differs(crb, actual)) {
    clients.countWrite('apply', 'clusterrolebindings');
    await rbac.patchClusterRoleBinding(
      { name: crb.metadata?.name as string, body: crb, fieldManager: FIELD_MANAGER, force: true },
      serverSideApply(),
    );
    log.info('runtime access: ClusterRoleBinding applied', {
      clusterRoleBinding: crb.metadata?.name,
      serviceAccount: crb.subjects?.[0]?.name,
    });
  }
}

async function deleteOwnServiceAccount(clients: KubeClients, namespace: string, mdName: string, log: Logger): Promise<void> {
  const name = runtimeServiceAccountName(mdName);
  const actual: V1ServiceAccount | undefined = await readIfExists(() => clients.core.readNamespacedServiceAccount({ name, namespace }));
  const ours = actual?.metadata?.ownerReferences?.some((r) => r.controller && r.kind === MODELDEPLOYMENT_KIND && r.name === mdName);
  if (!actual || !ours) return;
  clients.countWrite('delete', 'serviceaccounts');
  try {
    await clients.core.deleteNamespacedServiceAccount({
      name,
      namespace,
      body: { preconditions: { uid: actual.metadata?.uid as string } },
    });
    log.info('runtime access: ServiceAccount deleted', { serviceAccount: name });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

async function release(clients: KubeClients, md: ModelDeployment, log: Logger): Promise<void> {
  const namespace = md.metadata?.namespace as string;
  const name = md.metadata?.name as string;
  const bindingName = authDelegatorBindingName(namespace, name);
  clients.countWrite('delete', 'clusterrolebindings');
  try {
    await rbacOf(clients).deleteClusterRoleBinding({ name: bindingName });
    log.info('runtime access: ClusterRoleBinding deleted', { clusterRoleBinding: bindingName });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  // on deletion the garbage collector removes the owned ServiceAccount
  if (!md.metadata?.deletionTimestamp) await deleteOwnServiceAccount(clients, namespace, name, log);
  await setFinalizer(clients, md, false);
  log.info('runtime access: finalizer removed', { finalizer: RUNTIME_ACCESS_FINALIZER });
}

/**
 * Brings the runtime's access in line with `md` (see the module comment). Throws the API error
 * when a call fails: the reconciler reports it and retries.
 */
export async function syncRuntimeAccess(clients: KubeClients, md: ModelDeployment, log: Logger): Promise<void> {
  const action = runtimeAccessAction(md);
  if (action === 'ensure') await ensure(clients, md, log);
  else if (action === 'release') await release(clients, md, log);
}
