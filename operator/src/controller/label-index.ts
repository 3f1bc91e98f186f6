import type { KubernetesObject } from '@kubernetes/client-node';
import type { ChangeHandler } from './informer.ts';

/**
 * An informer cache's objects grouped by (namespace, value of one label), kept up to date from the
 * informer's add/update/delete events. Every reconcile needs its own ModelDeployment's pods; a
 * filter over the namespace's pods costs O(pods) per reconcile, O(N²) per resync at N models.
 */
export class LabelIndex<T extends KubernetesObject> {
  private readonly label: string;
  /** namespace + label value → name → object */
  private readonly groups = new Map<string, Map<string, T>>();
  /** namespace + name → the group key the object is filed under, to move it when its label changes */
  private readonly filedUnder = new Map<string, string>();

  constructor(label: string) {
    this.label = label;
  }

  readonly onChange: ChangeHandler<T> = (obj, verb) => {
    const namespace = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? '';
    const id = groupKey(namespace, name);
    const previous = this.filedUnder.get(id);
    if (previous !== undefined) {
      const group = this.groups.get(previous);
      group?.delete(name);
      if (group?.size === 0) this.groups.delete(previous);
      this.filedUnder.delete(id);
    }
    const value = obj.metadata?.labels?.[this.label];
    if (verb === 'delete' || value === undefined) return;
    const key = groupKey(namespace, value);
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = new Map()));
    group.set(name, obj);
    this.filedUnder.set(id, key);
  };

  /** The objects in `namespace` whose label has `value`. */
  of(namespace: string, value: string): readonly T[] {
    const group = this.groups.get(groupKey(namespace, value));
    return group ? [...group.values()] : [];
  }
}

// Neither a namespace nor a label value can contain a NUL.
const groupKey = (namespace: string, value: string) => `${namespace}\0${value}`;
