import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.generated.ts';
import type { RuntimeDefaults } from '../config.ts';
import type { KubeClients } from '../kube/clients.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { act, type ActOutcome } from '../reconcile/act.ts';
import { decide } from '../reconcile/decide.ts';
import { observe, type Cache } from '../reconcile/observe.ts';
import { buildStatus, report } from '../reconcile/report.ts';
import { DEFAULT_THRESHOLDS, type SignalThresholds } from '../rollout/signals.ts';
import { CHILD_KINDS, type ChildKind } from './child-kinds.ts';

export type { Cache } from '../reconcile/observe.ts';

export interface ReconcilerDeps {
  clients: KubeClients;
  modelDeployments: Cache<ModelDeployment>;
  /** The cache of each child kind, by kind (every entry of `childKinds`). */
  children: ReadonlyMap<string, Cache<KubernetesObject>>;
  pods: Cache<V1Pod>;
  /** CHILD_KINDS unless a test says otherwise. */
  childKinds?: readonly ChildKind[];
  events: Pick<EventRecorder, 'record'>;
  runtimeDefaults: RuntimeDefaults;
  metrics: OperatorMetrics;
  log: Logger;
  thresholds?: SignalThresholds;
  now?: () => Date;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** While a rollout runs, look again this often so time-based failure signals are noticed. */
const PROGRESS_RECHECK_MS = 10_000;
/** Objects we do not own are not watched; look again for the conflict to clear. */
const CONFLICT_RECHECK_MS = 30_000;

/**
 * One reconcile: observe (caches → facts), decide (pure), act (write the children), report
 * (status, Events, metrics). Each step is its own module under reconcile/.
 */
export class Reconciler {
  private readonly d: ReconcilerDeps;

  constructor(deps: ReconcilerDeps) {
    this.d = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const kinds = this.d.childKinds ?? CHILD_KINDS;
    const now = (this.d.now ?? (() => new Date()))();
    const facts = await observe({ ...this.d, childKinds: kinds }, key, now);
    if (!facts) return {};
    const log = this.d.log.child({ modelDeployment: key });

    const plan = decide(facts, { kinds, runtimeDefaults: this.d.runtimeDefaults, thresholds: this.d.thresholds ?? DEFAULT_THRESHOLDS });
    const outcome: ActOutcome = plan.rollout
      ? await act(this.d.clients, log, facts.md, plan.steps)
      : { created: [], problem: undefined, retry: undefined };
    const next = buildStatus(facts, plan, facts.blocking ?? outcome.problem);
    await report({ ...this.d, log }, facts.md, facts.status, next, outcome.created, plan.rollout?.events ?? []);
    if (outcome.retry !== undefined) throw outcome.retry;

    if (facts.blocking) return { requeueAfterMs: CONFLICT_RECHECK_MS };
    if (next.updatingVersion !== undefined) return { requeueAfterMs: PROGRESS_RECHECK_MS };
    return {};
  }
}
