import type { KubernetesObject } from '@kubernetes/client-node';

/** The controller owner reference of an object, as "Kind/name", if any. */
export function controllerOf(obj: KubernetesObject): { kind: string; name: string; uid: string } | undefined {
  const ref = obj.metadata?.ownerReferences?.find((r) => r.controller);
  return ref ? { kind: ref.kind, name: ref.name, uid: ref.uid } : undefined;
}

export function isControlledBy(obj: KubernetesObject, ownerUid: string | undefined): boolean {
  return ownerUid !== undefined && controllerOf(obj)?.uid === ownerUid;
}
