/**
 * The yardstick for the operator's creation time: a minimal client that server-side applies the
 * same children (Deployment, Service, HPA per ModelDeployment, rendered by the operator's own
 * render functions) with the operator's concurrency, through the same client library and shared
 * connection, and nothing else: no caches, no status, no ModelDeployments to wait for. Owner
 * references are left out (no ModelDeployment owns these objects, and the garbage collector
 * would delete children of a missing owner).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import type { RuntimeDefaults } from '../../operator/src/config.ts';
import { CHILD_KINDS, applyChild, type ChildKind } from '../../operator/src/controller/child-kinds.ts';
import { stagesOf } from '../../operator/src/reconcile/act.ts';
import { KubeClients, loadKubeConfig } from '../../operator/src/kube/clients.ts';
import { OperatorMetrics } from '../../operator/src/metrics.ts';
import { renderPodTemplate, servedModelName } from '../../operator/src/render/pod-template.ts';

export interface RenderedChild {
  kind: ChildKind;
  obj: KubernetesObject;
}

/** A ModelDeployment's children as the operator renders them for a new ModelDeployment (its own render functions, CHILD_KINDS order). */
export function renderChildren(md: ModelDeployment, runtimeDefaults: RuntimeDefaults): RenderedChild[] {
  const template = renderPodTemplate(md, { ...md.spec.model, name: servedModelName(md) }, runtimeDefaults);
  return CHILD_KINDS.flatMap((kind) => {
    const obj = kind.render(md, { template, metricsPort: runtimeDefaults.metricsPort });
    return obj ? [{ kind, obj: obj as KubernetesObject }] : [];
  });
}

export async function applyChildrenDirectly(opts: {
  kubeconfig: string;
  modelDeployments: readonly ModelDeployment[];
  runtimeDefaults: RuntimeDefaults;
  concurrency: number;
  /**
   * Each model's children as the operator writes them (reconcile/act.ts): those that start no pods
   * concurrently, then the Deployment; otherwise one after another.
   */
  staged?: boolean;
}): Promise<{ seconds: number; objects: number }> {
  const clients = new KubeClients(loadKubeConfig(opts.kubeconfig), new OperatorMetrics());
  const work = opts.modelDeployments.map((md) =>
    renderChildren(md, opts.runtimeDefaults).map(({ kind, obj }) => {
      const { ownerReferences: _owner, ...metadata } = obj.metadata ?? {};
      return { kind, obj: { ...obj, metadata } as KubernetesObject };
    }),
  );
  const t0 = performance.now();
  let next = 0;
  const apply = ({ kind, obj }: RenderedChild) => applyChild(clients, kind, obj);
  const applyModel = async (children: RenderedChild[]) => {
    if (!opts.staged) {
      for (const child of children) await apply(child);
      return;
    }
    const { concurrent, ordered } = stagesOf(children);
    await Promise.all(concurrent.map(apply));
    for (const child of ordered) await apply(child);
  };
  // One worker per reconcile slot of the operator.
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (next < work.length) await applyModel(work[next++]!);
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, objects: work.flat().length };
}
