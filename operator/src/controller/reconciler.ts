import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { ModelDeployment, ModelDeploymentStatus, ModelSpec } from '../api/types.generated.ts';
import { ANNOTATION_TEMPLATE_HASH, LABEL_INSTANCE, formatSelector, selectorLabels } from '../api/labels.ts';
import type { RuntimeDefaults } from '../config.ts';
import { ResourceConflictError, describeApiError, isNotFound } from '../errors.ts';
import type { KubeClients } from '../kube/clients.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { serviceUrl } from '../render/children.ts';
import { canonicalJson } from '../render/hash.ts';
import { renderPodTemplate, servedModelName, templateHashOf } from '../render/pod-template.ts';
import { decideRollout, type RolloutEvent } from '../rollout/decide.ts';
import { detectFailure, type SignalThresholds, DEFAULT_THRESHOLDS } from '../rollout/signals.ts';
import { computeConditions, type BlockingProblem } from '../status/compute.ts';
import { mergeConditions } from '../status/conditions.ts';
import { CHILD_KINDS, applyChild, deleteChild, type ChildKind, type RenderContext } from './child-kinds.ts';
import { controllerOf, isControlledBy } from './ownership.ts';

/** Read-only views of the informer caches the reconciler needs. */
export interface Cache<T> {
  get(name: string, namespace: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export interface ReconcilerDeps {
  clients: KubeClients;
  modelDeployments: Cache<ModelDeployment>;
  /** The cache of each child kind, by kind (every entry of `childKinds`). */
  children: ReadonlyMap<string, Cache<KubernetesObject>>;
  pods: Cache<V1Pod>;
  /** CHILD_KINDS unless a test says otherwise. */
  childKinds?: readonly ChildKind[];
  events: EventRecorder;
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

function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

export class Reconciler {
  private readonly d: ReconcilerDeps;

  constructor(deps: ReconcilerDeps) {
    this.d = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = splitKey(key);
    const md = this.d.modelDeployments.get(name, namespace);
    if (!md || md.metadata?.deletionTimestamp) return {};
    const now = (this.d.now ?? (() => new Date()))();
    const log = this.d.log.child({ modelDeployment: key });

    const desiredModel: ModelSpec = { ...md.spec.model, name: servedModelName(md) };
    const desiredTemplate = renderPodTemplate(md, desiredModel, this.d.runtimeDefaults);
    const desiredHash = templateHashOf(desiredTemplate) as string;

    const kinds = this.d.childKinds ?? CHILD_KINDS;
    const existing = new Map(kinds.map((k) => [k, this.cache(k).get(name, namespace)]));
    const wanted = kinds.filter((k) => k.render(md, { template: desiredTemplate, metricsPort: this.d.runtimeDefaults.metricsPort }));
    const blocking = await this.findConflict(md, wanted, existing);

    const cachedDeployment = this.d.children.get('Deployment')?.get(name, namespace) as V1Deployment | undefined;
    const deployment = cachedDeployment && isControlledBy(cachedDeployment, md.metadata?.uid) ? cachedDeployment : undefined;
    const podsOfDesired = this.d.pods
      .list(namespace)
      .filter((p) => p.metadata?.labels?.[LABEL_INSTANCE] === name && p.metadata?.annotations?.[ANNOTATION_TEMPLATE_HASH] === desiredHash);
    const deployedHash = templateHashOf(deployment?.spec?.template);
    const status = md.status ?? {};

    const decision = blocking
      ? undefined
      : decideRollout({
          desiredModel,
          desiredHash,
          autoRollback: md.spec.rollout?.autoRollback ?? true,
          historyLimit: md.spec.rollout?.historyLimit ?? 10,
          history: status.history ?? [],
          currentVersion: status.currentVersion,
          deployment,
          deployedHash,
          failure:
            deployedHash === desiredHash
              ? detectFailure(deployment, podsOfDesired, now, this.d.thresholds ?? DEFAULT_THRESHOLDS)
              : undefined,
          now,
        });

    let applyProblem: BlockingProblem | undefined;
    let retryAfterStatus: unknown;
    const created: string[] = [];
    if (decision) {
      const template =
        decision.template.kind === 'desired' ? desiredTemplate : renderPodTemplate(md, decision.template.model, this.d.runtimeDefaults);
      const ctx: RenderContext = { template, metricsPort: this.d.runtimeDefaults.metricsPort };
      try {
        for (const kind of kinds) {
          const actual = existing.get(kind);
          const desired = kind.render(md, ctx);
          if (desired) await this.ensure(kind, md, desired, actual, created);
          else if (actual && isControlledBy(actual, md.metadata?.uid)) await deleteChild(this.d.clients, kind, actual);
        }
      } catch (err) {
        const info = describeApiError(err);
        // A retryable error (5xx such as a failing admission webhook or an exhausted Service IP
        // range, 429, 409) is retried with backoff, but the status says so meanwhile: a problem
        // that lasts must not leave the ModelDeployment without a word. The message is stable
        // across retries, so the status is written once, not on every attempt.
        if (info.retryable) retryAfterStatus = err;
        applyProblem = {
          reason: info.status === 403 ? 'Forbidden' : info.status === 422 ? 'InvalidSpec' : 'ApplyFailed',
          message: info.retryable ? `${info.message} (retrying)` : info.message,
        };
        log.warn('cannot apply children', { status: info.status, error: info.message, retrying: info.retryable });
      }
    }

    const problem = blocking ?? applyProblem;
    const history = decision?.history ?? status.history ?? [];
    const next: ModelDeploymentStatus = {
      observedGeneration: md.metadata?.generation ?? 0,
      conditions: mergeConditions(
        status.conditions,
        computeConditions({
          head: history[0],
          currentVersion: decision?.currentVersion ?? status.currentVersion,
          deployment,
          blocking: problem,
        }),
        md.metadata?.generation ?? 0,
        now,
      ),
      ...optional('currentVersion', decision ? decision.currentVersion : status.currentVersion),
      ...optional('updatingVersion', decision ? decision.updatingVersion : status.updatingVersion),
      ...optional('failedVersion', decision ? decision.failedVersion : status.failedVersion),
      replicas: deployment?.status?.replicas ?? 0,
      readyReplicas: deployment?.status?.readyReplicas ?? 0,
      updatedReplicas: deployment?.status?.updatedReplicas ?? 0,
      availableReplicas: deployment?.status?.availableReplicas ?? 0,
      selector: formatSelector(selectorLabels(name)),
      url: serviceUrl(md, desiredModel.name as string),
      history,
    };

    if (!sameStatus(status, next)) {
      await this.d.clients.applyStatus(md, next);
      log.debug('status updated', { ready: next.conditions?.[0]?.status });
    }

    for (const kind of created) await this.d.events.record(md, 'Normal', 'Created', `created ${kind} ${name}`);
    await this.recordTransitions(md, status, next, decision?.events ?? []);
    if (retryAfterStatus !== undefined) throw retryAfterStatus;

    if (blocking) return { requeueAfterMs: CONFLICT_RECHECK_MS };
    if (next.updatingVersion !== undefined) return { requeueAfterMs: PROGRESS_RECHECK_MS };
    return {};
  }

  private cache(kind: ChildKind): Cache<KubernetesObject> {
    const cache = this.d.children.get(kind.kind);
    if (!cache) throw new Error(`no cache for child kind ${kind.kind}`);
    return cache;
  }

  /** A child with our name that this ModelDeployment does not control. Reads the API only when the cache has nothing. */
  private async findConflict(
    md: ModelDeployment,
    wanted: readonly ChildKind[],
    cached: ReadonlyMap<ChildKind, KubernetesObject | undefined>,
  ): Promise<BlockingProblem | undefined> {
    const name = md.metadata?.name as string;
    const namespace = md.metadata?.namespace as string;
    for (const kind of wanted) {
      let obj = cached.get(kind);
      if (!obj) {
        try {
          obj = await kind.api(this.d.clients).read(name, namespace);
        } catch (err) {
          if (isNotFound(err)) continue;
          throw err;
        }
      }
      if (!isControlledBy(obj, md.metadata?.uid)) {
        const owner = controllerOf(obj);
        const conflict = new ResourceConflictError(kind.kind, name, owner ? `${owner.kind} ${owner.name}` : undefined);
        return { reason: 'ResourceConflict', message: conflict.message };
      }
    }
    return undefined;
  }

  private async ensure(
    kind: ChildKind,
    md: ModelDeployment,
    desired: KubernetesObject,
    actual: KubernetesObject | undefined,
    created: string[],
  ): Promise<void> {
    const force = kind.beforeApply ? await kind.beforeApply(md, actual, this.d.clients) : false;
    const difference = !actual ? '(missing)' : force ? '(handed over)' : kind.difference(desired, actual);
    if (difference === undefined) return;
    this.d.log.debug('applying', { kind: kind.kind, name: desired.metadata?.name, namespace: desired.metadata?.namespace, difference });
    await applyChild(this.d.clients, kind, desired);
    if (!actual) created.push(kind.kind);
  }

  private async recordTransitions(
    md: ModelDeployment,
    before: ModelDeploymentStatus,
    after: ModelDeploymentStatus,
    events: RolloutEvent[],
  ) {
    const m = this.d.metrics;
    for (const e of events) {
      switch (e.type) {
        case 'RolloutStarted':
          m.rollouts.inc({ outcome: 'started' });
          await this.d.events.record(md, 'Normal', 'RolloutStarted', `rolling out version ${e.version}`);
          break;
        case 'RolloutSucceeded':
          m.rollouts.inc({ outcome: 'succeeded' });
          await this.d.events.record(md, 'Normal', 'RolloutSucceeded', `version ${e.version} is serving on all replicas`);
          break;
        case 'RolloutFailed':
          m.rollouts.inc({ outcome: 'failed' });
          await this.d.events.record(md, 'Warning', e.reason, e.message);
          break;
        case 'RolledBack':
          m.rollouts.inc({ outcome: 'failed' });
          m.rollbacks.inc();
          await this.d.events.record(md, 'Warning', 'RolledBack', e.message);
          break;
      }
    }
    const degradedBefore = before.conditions?.find((c) => c.type === 'Degraded');
    const degradedAfter = after.conditions?.find((c) => c.type === 'Degraded');
    if (
      degradedAfter?.status === 'True' &&
      ['ResourceConflict', 'Forbidden', 'InvalidSpec', 'ApplyFailed'].includes(degradedAfter.reason)
    ) {
      if (degradedBefore?.status !== 'True' || degradedBefore.reason !== degradedAfter.reason) {
        await this.d.events.record(md, 'Warning', degradedAfter.reason, degradedAfter.message);
      }
    }
  }
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

function sameStatus(a: ModelDeploymentStatus, b: ModelDeploymentStatus): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
