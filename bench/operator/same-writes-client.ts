/**
 * The second yardstick: a client that makes the writes the operator makes for a new
 * ModelDeployment, in the operator's order and through the operator's own code, and nothing else
 * (no watches, no caches, no reconcile): the user's create of the ModelDeployment (16 in flight,
 * as the bench makes it), then per model on one of `concurrency` workers its pod-less children
 * concurrently and its Deployment last (create-only applies, owned by the ModelDeployment), its
 * status (server-side apply of a status shaped like the operator's first), and one Event, sent on
 * the operator's background lanes (kube/events.ts).
 * The operator's time ÷ this client's splits the gap to the minimal client in two: what the
 * operator's job writes (the ModelDeployment, its status, its Event) and what the operator itself
 * costs on top (its watches, caches and reconciles).
 */
import type { ModelDeployment, ModelDeploymentStatus } from '../../operator/src/api/types.generated.ts';
import { MODELDEPLOYMENT_GROUP, MODELDEPLOYMENT_PLURAL, MODELDEPLOYMENT_VERSION } from '../../operator/src/api/types.generated.ts';
import type { RuntimeDefaults } from '../../operator/src/config.ts';
import { applyChild } from '../../operator/src/controller/child-kinds.ts';
import { stagesOf } from '../../operator/src/reconcile/act.ts';
import { KubeClients, loadKubeConfig } from '../../operator/src/kube/clients.ts';
import { EventRecorder } from '../../operator/src/kube/events.ts';
import { silentLogger } from '../../operator/src/log.ts';
import { OperatorMetrics } from '../../operator/src/metrics.ts';
import { renderChildren, type RenderedChild } from './direct-client.ts';

/** How many ModelDeployment creates the bench keeps in flight (run.ts's IN_FLIGHT). */
const CREATES_IN_FLIGHT = 16;

export async function writeAsTheOperatorDoes(opts: {
  kubeconfig: string;
  modelDeployments: readonly ModelDeployment[];
  runtimeDefaults: RuntimeDefaults;
  concurrency: number;
  /** A status the operator wrote for a new ModelDeployment; applied to each with its name-bound fields renamed. */
  statusLike: { name: string; status: ModelDeploymentStatus };
  /** The ModelDeployments exist already (as stored): only the operator's own writes are made and timed, not the user's creates. */
  existing?: boolean;
}): Promise<{ seconds: number }> {
  const clients = new KubeClients(loadKubeConfig(opts.kubeconfig), new OperatorMetrics());
  const events = new EventRecorder(clients, silentLogger(), 'bench-same-writes');
  const created: ModelDeployment[] = [];
  const waiting: Array<() => void> = [];
  const t0 = performance.now();

  let nextCreate = 0;
  if (opts.existing) {
    created.push(...opts.modelDeployments);
    nextCreate = opts.modelDeployments.length;
  }
  const creating = Promise.all(
    Array.from({ length: CREATES_IN_FLIGHT }, async () => {
      while (nextCreate < opts.modelDeployments.length) {
        const md = opts.modelDeployments[nextCreate++]!;
        const stored = (await clients.custom.createNamespacedCustomObject({
          group: MODELDEPLOYMENT_GROUP,
          version: MODELDEPLOYMENT_VERSION,
          plural: MODELDEPLOYMENT_PLURAL,
          namespace: md.metadata?.namespace as string,
          body: md,
        })) as ModelDeployment;
        created.push(stored);
        for (const wake of waiting.splice(0)) wake();
      }
    }),
  );

  const writeOne = async (md: ModelDeployment) => {
    const children = renderChildren(md, opts.runtimeDefaults);
    const apply = ({ kind, obj }: RenderedChild) => applyChild(clients, kind, obj, { onlyIfAbsent: true });
    const { concurrent, ordered } = stagesOf(children);
    await Promise.all(concurrent.map(apply));
    for (const child of ordered) await apply(child);
    await clients.applyStatus(md, renamedStatus(opts.statusLike, md.metadata?.name as string));
    await events.record(
      md,
      'Normal',
      'RolloutStarted',
      `rolling out version ${md.spec.model.version}; created ${children.map((c) => c.kind.kind).join(', ')}`,
    );
  };

  let nextWrite = 0;
  await Promise.all([
    creating,
    ...Array.from({ length: opts.concurrency }, async () => {
      while (nextWrite < opts.modelDeployments.length) {
        if (nextWrite >= created.length) {
          await new Promise<void>((resolve) => waiting.push(resolve));
          continue;
        }
        await writeOne(created[nextWrite++]!);
      }
    }),
  ]);
  await events.drain();
  return { seconds: (performance.now() - t0) / 1000 };
}

/** The status with every occurrence of the model's name (selector, URL, messages) replaced by another's. */
function renamedStatus(like: { name: string; status: ModelDeploymentStatus }, name: string): ModelDeploymentStatus {
  return JSON.parse(JSON.stringify(like.status).split(like.name).join(name)) as ModelDeploymentStatus;
}
