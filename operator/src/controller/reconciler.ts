import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.generated.ts';
import type { RuntimeDefaults } from '../config.ts';
import type { KubeClients } from '../kube/clients.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { act, applyErrorPolicy, type ActOutcome } from '../reconcile/act.ts';
import { syncRuntimeAccess } from '../reconcile/runtime-access.ts';
import type { BlockingProblem } from '../status/compute.ts';
import { decide } from '../reconcile/decide.ts';
import { observe, type Cache, type Facts, type PodsByInstance } from '../reconcile/observe.ts';
import { CanaryAnalyzer } from '../reconcile/analyze.ts';
import { ExperimentAnalyzer } from '../reconcile/analyze-experiment.ts';
import type { MetricsScraper } from '../analysis/types.ts';
import type { AnalysisOutcome } from '../rollout/canary.ts';
import { buildStatus, report, sameStatus } from '../reconcile/report.ts';
import { WrittenStatuses } from '../reconcile/written-status.ts';
import { DEFAULT_THRESHOLDS, type SignalThresholds } from '../rollout/signals.ts';
import { CHILD_KINDS, type ChildKind } from './child-kinds.ts';

export type { Cache, PodsByInstance } from '../reconcile/observe.ts';

export interface ReconcilerDeps {
  clients: KubeClients;
  modelDeployments: Cache<ModelDeployment>;
  /** The cache of each child kind, by kind (every entry of `childKinds`). */
  children: ReadonlyMap<string, Cache<KubernetesObject>>;
  pods: PodsByInstance;
  /** CHILD_KINDS unless a test says otherwise. */
  childKinds?: readonly ChildKind[];
  events: Pick<EventRecorder, 'record'>;
  runtimeDefaults: RuntimeDefaults;
  metrics: OperatorMetrics;
  log: Logger;
  thresholds?: SignalThresholds;
  now?: () => Date;
  /** Reads the runtime pods' metrics for the canary analysis; without one, no window is ever judged. */
  scraper?: MetricsScraper;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/**
 * While a rollout runs, look again at least this often. The failure signals arrive as Pod and
 * Deployment events, and the one that comes with time alone (an image pull past its limit) is
 * requeued for when it is due (`Plan.signalDueInMs`), so this is only a safety net. It was 10 s:
 * at 1,000 pending rollouts that was 100 reconciles a second that found nothing new.
 */
const PROGRESS_RECHECK_MS = 60_000;
/** A signal due now is looked at after this, not in a busy loop on a clock that disagrees with the pod's. */
const MIN_SIGNAL_RECHECK_MS = 1_000;
/** Objects we do not own are not watched; look again for the conflict to clear. */
const CONFLICT_RECHECK_MS = 30_000;

/**
 * The runtime Deployment this reconcile created is not in the cache yet; its apply answer makes
 * the first status say what the next reconcile would see ("0 of N replicas ready", not "does not
 * exist yet"), so that reconcile, woken by the Deployment's arrival in the cache, writes nothing.
 */
function withCreatedDeployment(f: Facts, outcome: ActOutcome): Facts {
  if (f.deployment) return f;
  const created = outcome.createdObjects?.find((o) => o.kind === 'Deployment' && o.metadata?.name === f.name);
  return created ? { ...f, deployment: created as V1Deployment } : f;
}

/** The earlier of a requeue and another wish to look again (the experiment's next measurement). */
function soonest(result: ReconcileResult, otherMs: number | undefined): ReconcileResult {
  if (otherMs === undefined) return result;
  return { requeueAfterMs: result.requeueAfterMs === undefined ? otherMs : Math.min(result.requeueAfterMs, otherMs) };
}

/**
 * One reconcile: observe (caches → facts), decide (pure), act (write the children), report
 * (status, Events, metrics). Each step is its own module under reconcile/.
 */
export class Reconciler {
  private readonly d: ReconcilerDeps;
  private readonly analyzer: CanaryAnalyzer | undefined;
  private readonly experimentAnalyzer: ExperimentAnalyzer | undefined;
  private readonly written = new WrittenStatuses();

  constructor(deps: ReconcilerDeps) {
    this.d = deps;
    this.analyzer = deps.scraper ? new CanaryAnalyzer(deps.scraper, deps.log) : undefined;
    this.experimentAnalyzer = deps.scraper ? new ExperimentAnalyzer(deps.scraper, deps.log) : undefined;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const kinds = this.d.childKinds ?? CHILD_KINDS;
    const now = (this.d.now ?? (() => new Date()))();
    const accessProblem = await this.syncAccess(key);
    const observed = await observe({ ...this.d, childKinds: kinds, writtenStatus: (md) => this.written.current(md) }, key, now);
    if (!observed) {
      this.analyzer?.forget(key);
      this.experimentAnalyzer?.forget(key);
      this.written.forget(key);
      return {};
    }
    const facts = {
      ...observed,
      analysis: await this.analyze(key, observed),
      experimentWindow: await this.experimentAnalyzer?.measure(key, observed),
    };
    const log = this.d.log.child({ modelDeployment: key });

    const opts = { kinds, runtimeDefaults: this.d.runtimeDefaults, thresholds: this.d.thresholds ?? DEFAULT_THRESHOLDS };
    let plan = decide(facts, opts);
    const outcome: ActOutcome = plan.rollout
      ? await act(this.d.clients, log, facts.md, plan.steps)
      : { created: [], problem: undefined, retry: undefined };
    // A name conflict found while creating a child blocks the ModelDeployment as one found by observe does.
    const blocking = facts.blocking ?? outcome.conflict;
    if (outcome.conflict) plan = decide({ ...facts, blocking }, opts);
    const next = buildStatus(
      withCreatedDeployment(facts, outcome),
      plan,
      blocking ?? outcome.problem ?? accessProblem?.problem,
      outcome.unavailable,
    );
    await report(
      { ...this.d, log },
      facts.md,
      facts.status,
      next,
      outcome.created,
      plan.rollout?.events ?? [],
      plan.canary?.events ?? [],
      plan.experiment?.events ?? [],
    );
    if (!sameStatus(facts.status, next)) this.written.wrote(facts.md, next);
    if (outcome.retry !== undefined) throw outcome.retry;
    if (accessProblem?.retryable) throw accessProblem.error;

    if (blocking) return { requeueAfterMs: CONFLICT_RECHECK_MS };
    return soonest(this.requeue(plan, next), plan.experiment?.requeueAfterMs);
  }

  /**
   * kubernetes auth mode: the runtime's ServiceAccount, its ClusterRoleBinding and the finalizer
   * that removes the binding (reconcile/runtime-access.ts). A failure while the ModelDeployment
   * is being deleted is retried (the finalizer holds it); otherwise it becomes the status's problem.
   */
  private async syncAccess(key: string): Promise<{ problem: BlockingProblem; retryable: boolean; error: unknown } | undefined> {
    const i = key.indexOf('/');
    const md = this.d.modelDeployments.get(key.slice(i + 1), key.slice(0, i));
    if (!md) return undefined;
    try {
      await syncRuntimeAccess(this.d.clients, md, this.d.log.child({ modelDeployment: key }));
      return undefined;
    } catch (err) {
      if (md.metadata?.deletionTimestamp) throw err;
      const policy = applyErrorPolicy(err);
      return {
        problem: { ...policy.problem, message: `runtime access (auth mode kubernetes): ${policy.problem.message}` },
        retryable: policy.retryable,
        error: err,
      };
    }
  }

  private requeue(plan: ReturnType<typeof decide>, next: { updatingVersion?: string | undefined }): ReconcileResult {
    if (plan.canary) return plan.canary.requeueAfterMs === undefined ? {} : { requeueAfterMs: plan.canary.requeueAfterMs };
    if (next.updatingVersion !== undefined) {
      const due = plan.signalDueInMs === undefined ? PROGRESS_RECHECK_MS : Math.max(MIN_SIGNAL_RECHECK_MS, plan.signalDueInMs);
      return { requeueAfterMs: Math.min(PROGRESS_RECHECK_MS, due) };
    }
    return {};
  }

  /** A window of the running canary, when one is due; the scrape baseline is dropped when no canary runs. */
  private async analyze(key: string, f: Facts): Promise<AnalysisOutcome | undefined> {
    if (!this.analyzer) return undefined;
    const c = f.status.canary;
    const running = f.canary && c?.templateHash === f.desiredHash && (c.phase === 'Progressing' || c.phase === 'Paused');
    if (!running || !f.canary) {
      this.analyzer.forget(key);
      return undefined;
    }
    return this.analyzer.analyze(key, f, f.canary.analysis);
  }
}
