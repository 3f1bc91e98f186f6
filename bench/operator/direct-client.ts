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
import { CHILD_KINDS, applyChild } from '../../operator/src/controller/child-kinds.ts';
import { KubeClients, loadKubeConfig } from '../../operator/src/kube/clients.ts';
import { OperatorMetrics } from '../../operator/src/metrics.ts';
import { renderPodTemplate, servedModelName } from '../../operator/src/render/pod-template.ts';

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
  const work = opts.modelDeployments.map((md) => {
    const template = renderPodTemplate(md, { ...md.spec.model, name: servedModelName(md) }, opts.runtimeDefaults);
    return CHILD_KINDS.flatMap((kind) => {
      const obj = kind.render(md, { template, metricsPort: opts.runtimeDefaults.metricsPort });
      if (!obj) return [];
      const { ownerReferences: _owner, ...metadata } = obj.metadata ?? {};
      return [{ kind, obj: { ...obj, metadata } as KubernetesObject }];
    });
  });
  const t0 = performance.now();
  let next = 0;
  type Child = (typeof work)[number][number];
  const apply = ({ kind, obj }: Child) => applyChild(clients, kind, obj);
  const startsPods = (c: Child) => c.kind.kind === 'Deployment';
  const applyModel = async (children: Child[]) => {
    if (!opts.staged) {
      for (const child of children) await apply(child);
      return;
    }
    await Promise.all(children.filter((c) => !startsPods(c)).map(apply));
    for (const child of children.filter(startsPods)) await apply(child);
  };
  // One worker per reconcile slot of the operator.
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (next < work.length) await applyModel(work[next++]!);
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, objects: work.flat().length };
}
