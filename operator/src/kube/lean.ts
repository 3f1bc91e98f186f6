/**
 * What the informer caches keep of each object. At 1,000 ModelDeployments the caches hold
 * thousands of objects, and most of each (managedFields, kubectl's last-applied annotation, a
 * Pod's spec) is never read. Each function keeps exactly what the operator reads; what it keeps
 * is listed next to the reader.
 */
import type { KubernetesObject, V1ContainerStatus, V1ObjectMeta, V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_TEMPLATE_HASH, FIELD_MANAGER } from '../api/labels.ts';

/** Written by `kubectl apply` (client-side): a full copy of the object, read by nobody here. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

type ManagedFieldsEntry = NonNullable<V1ObjectMeta['managedFields']>[number];

/**
 * The metadata the informer, the owner lookup, conflict detection, the diff and the status read:
 * identity (name, namespace, uid, resourceVersion for the informer's change detection),
 * generation (has the controller observed the spec), labels (instance → owner, and the diff
 * compares the ones we set), ownerReferences (controller), deletionTimestamp.
 */
function leanMetadata(meta: V1ObjectMeta | undefined): V1ObjectMeta {
  const m = meta ?? {};
  return {
    ...pick(m, ['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp']),
    ...(m.labels ? { labels: m.labels } : {}),
    ...(m.ownerReferences ? { ownerReferences: m.ownerReferences } : {}),
  };
}

function pick<T extends object, K extends keyof T>(obj: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (obj[k] !== undefined && obj[k] !== null) out[k] = obj[k];
  return out;
}

/**
 * Our own Apply entry, reduced to the fields we ask about (kube/diff.ts ownsField): the answer
 * to "does the operator own spec.replicas" stays the same, the rest of the field set goes.
 */
function ownedFieldsOnly(entries: readonly ManagedFieldsEntry[] | undefined, paths: readonly (readonly string[])[]): ManagedFieldsEntry[] {
  const out: ManagedFieldsEntry[] = [];
  for (const e of entries ?? []) {
    if (e.manager !== FIELD_MANAGER || e.operation !== 'Apply') continue;
    const kept: Record<string, unknown> = {};
    for (const path of paths) {
      let node: unknown = e.fieldsV1;
      for (const key of path) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[`f:${key}`] : undefined;
      if (node === undefined) continue;
      let target = kept;
      path.forEach((key, i) => {
        const k = `f:${key}`;
        if (i === path.length - 1) target[k] = {};
        else target = (target[k] ??= {}) as Record<string, unknown>;
      });
    }
    if (Object.keys(kept).length > 0) out.push({ manager: e.manager, operation: e.operation, fieldsV1: kept });
  }
  return out;
}

export interface LeanChildOptions {
  /** Keep `status` (the Deployment's drives the rollout and the conditions). */
  keepStatus: boolean;
  /** Fields whose ownership by our Apply the reconciler asks about, e.g. [['spec', 'replicas']]. */
  ownedFieldPaths: readonly (readonly string[])[];
}

/**
 * An owned child as the reconciler reads it: the lean metadata (no annotations: we set none on
 * children, so the diff never compares them), spec and data in full (the diff compares
 * everything we render below metadata), status only when asked.
 */
export function leanChild<T extends KubernetesObject>(obj: T, opts: LeanChildOptions): T {
  const { metadata, status: _status, ...rest } = obj as T & { status?: unknown };
  const managedFields = ownedFieldsOnly(metadata?.managedFields, opts.ownedFieldPaths);
  const out = {
    ...rest,
    metadata: { ...leanMetadata(metadata), ...(managedFields.length ? { managedFields } : {}) },
    ...(opts.keepStatus && _status !== undefined ? { status: _status } : {}),
  };
  return out as unknown as T;
}

/** The fields rollout/signals.ts reads of a container status. */
function leanContainerStatus(s: V1ContainerStatus): V1ContainerStatus {
  return {
    name: s.name,
    image: s.image,
    imageID: s.imageID,
    ready: s.ready,
    restartCount: s.restartCount,
    ...(s.state ? { state: s.state } : {}),
    ...(s.lastState ? { lastState: s.lastState } : {}),
  };
}

/**
 * A Pod as the failure signals read it (rollout/signals.ts): creationTimestamp, the instance label
 * and the template-hash annotation (which revision it runs), and the fetch/serve container
 * statuses; and as the canary analysis reads it (reconcile/analyze.ts): uid, name, the track label
 * and the Ready condition. No spec: nothing reads it.
 */
export function leanPod(pod: V1Pod): V1Pod {
  const hash = pod.metadata?.annotations?.[ANNOTATION_TEMPLATE_HASH];
  const status = pod.status;
  return {
    ...(pod.apiVersion ? { apiVersion: pod.apiVersion } : {}),
    ...(pod.kind ? { kind: pod.kind } : {}),
    metadata: { ...leanMetadata(pod.metadata), ...(hash !== undefined ? { annotations: { [ANNOTATION_TEMPLATE_HASH]: hash } } : {}) },
    ...(status
      ? {
          status: {
            ...(status.phase ? { phase: status.phase } : {}),
            // Ready: the canary analysis scrapes only ready pods.
            ...(status.conditions?.some((c) => c.type === 'Ready')
              ? { conditions: status.conditions.filter((c) => c.type === 'Ready').map((c) => ({ type: c.type, status: c.status })) }
              : {}),
            ...(status.initContainerStatuses ? { initContainerStatuses: status.initContainerStatuses.map(leanContainerStatus) } : {}),
            ...(status.containerStatuses ? { containerStatuses: status.containerStatuses.map(leanContainerStatus) } : {}),
          },
        }
      : {}),
  };
}

/**
 * A ModelDeployment minus what the operator never reads (managedFields, kubectl's copy of the
 * object); its spec, status and the rest of its metadata are all read.
 */
export function leanModelDeployment<T extends KubernetesObject>(md: T): T {
  const { managedFields: _mf, annotations, ...metadata } = md.metadata ?? {};
  const { [LAST_APPLIED_ANNOTATION]: _last, ...otherAnnotations } = annotations ?? {};
  return {
    ...md,
    metadata: { ...metadata, ...(Object.keys(otherAnnotations).length ? { annotations: otherAnnotations } : {}) },
  };
}
