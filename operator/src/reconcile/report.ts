import type { ModelDeployment, ModelDeploymentStatus } from '../api/types.generated.ts';
import { formatSelector, selectorLabels } from '../api/labels.ts';
import type { KubeClients } from '../kube/clients.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { serviceUrl } from '../render/children.ts';
import { sameJson } from '../render/hash.ts';
import type { CanaryEvent } from '../rollout/canary.ts';
import type { RolloutEvent } from '../rollout/decide.ts';
import type { ExperimentEvent } from '../rollout/experiment.ts';
import { computeConditions, type BlockingProblem } from '../status/compute.ts';
import { TLS_PROBLEM_REASON } from './tls-secret.ts';
import { mergeConditions } from '../status/conditions.ts';
import type { Plan } from './decide.ts';
import type { Facts } from './observe.ts';

export interface ReportDeps {
  clients: KubeClients;
  events: Pick<EventRecorder, 'record'>;
  metrics: OperatorMetrics;
  log: Logger;
}

/** Degraded reasons of the reconcile itself (not of a rollout) that get a Warning Event when they start. */
const APPLY_PROBLEM_REASONS = ['ResourceConflict', 'Forbidden', 'InvalidSpec', 'ApplyFailed', TLS_PROBLEM_REASON];

/** Pure: the status this reconcile leads to. `problem` is the conflict or the failed write, if any. */
export function buildStatus(
  f: Facts,
  plan: Plan,
  problem: BlockingProblem | undefined,
  notice?: BlockingProblem | undefined,
): ModelDeploymentStatus {
  const { status, md, deployment } = f;
  const decision = plan.rollout;
  const history = decision?.history ?? status.history ?? [];
  const generation = md.metadata?.generation ?? 0;
  // Without a decision (a name conflict blocks the writes) the experiment's last status stays.
  const experiment = plan.experiment ? plan.experiment.status : status.experiment;
  return {
    observedGeneration: generation,
    conditions: mergeConditions(
      status.conditions,
      computeConditions({
        head: history[0],
        currentVersion: decision?.currentVersion ?? status.currentVersion,
        deployment,
        blocking: problem,
        canary: plan.canary?.status,
        notice,
      }),
      generation,
      f.now,
    ),
    ...optional('currentVersion', decision ? decision.currentVersion : status.currentVersion),
    ...optional('updatingVersion', decision ? decision.updatingVersion : status.updatingVersion),
    ...optional('failedVersion', decision ? decision.failedVersion : status.failedVersion),
    replicas: deployment?.status?.replicas ?? 0,
    readyReplicas: deployment?.status?.readyReplicas ?? 0,
    updatedReplicas: deployment?.status?.updatedReplicas ?? 0,
    availableReplicas: deployment?.status?.availableReplicas ?? 0,
    selector: formatSelector(selectorLabels(f.name)),
    url: serviceUrl(md, f.desiredModel.name as string),
    history,
    ...(plan.canary ? { canary: plan.canary.status } : {}),
    ...(experiment ? { experiment } : {}),
  };
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

export function sameStatus(a: ModelDeploymentStatus, b: ModelDeploymentStatus): boolean {
  return sameJson(a, b);
}

/** Writes the status when it changed, then the Events and metrics of what happened. */
export async function report(
  deps: ReportDeps,
  md: ModelDeployment,
  before: ModelDeploymentStatus,
  after: ModelDeploymentStatus,
  created: readonly string[],
  events: readonly RolloutEvent[],
  canaryEvents: readonly CanaryEvent[] = [],
  experimentEvents: readonly ExperimentEvent[] = [],
): Promise<void> {
  if (!sameStatus(before, after)) {
    await deps.clients.applyStatus(md, after);
    deps.log.debug('status updated', { ready: after.conditions?.[0]?.status });
  }
  // A reconcile that starts a rollout and creates children (a new ModelDeployment) says both in one
  // Event: Events are writes, and creation is when the API server is busiest.
  const startsRollout = events.some((e) => e.type === 'RolloutStarted');
  if (created.length > 0 && !startsRollout) await deps.events.record(md, 'Normal', 'Created', `created ${createdList(created)}`);
  await recordTransitions(deps, md, before, after, events, startsRollout ? created : []);
  for (const e of canaryEvents) await recordCanaryEvent(deps, md, e);
  for (const e of experimentEvents) await recordExperimentEvent(deps, md, e);
}

async function recordExperimentEvent(deps: ReportDeps, md: ModelDeployment, e: ExperimentEvent): Promise<void> {
  switch (e.type) {
    case 'ExperimentStarted':
      return deps.events.record(
        md,
        'Normal',
        e.type,
        `experiment of version ${e.version} started at weight ${e.weight}% beside version ${e.stableVersion}`,
      );
    case 'ExperimentFailing':
      return deps.events.record(md, 'Warning', e.type, e.message);
    case 'ExperimentEnded':
      return deps.events.record(
        md,
        'Normal',
        e.promoted ? 'ExperimentPromoted' : e.type,
        e.promoted ? `experiment version ${e.version} promoted to spec.model` : `experiment of version ${e.version} ended`,
      );
  }
}

/**
 * One Event for every child a reconcile created ("Deployment, Service and HorizontalPodAutoscaler
 * iris"), not one each: Events are writes, and creation is when the API server is busiest.
 */
export function createdList(created: readonly string[]): string {
  const parsed = created.map((c) => {
    const i = c.indexOf(' ');
    return { kind: c.slice(0, i), name: c.slice(i + 1) };
  });
  const byName = new Map<string, string[]>();
  for (const { kind, name } of parsed) byName.set(name, [...(byName.get(name) ?? []), kind]);
  return [...byName].map(([name, kinds]) => `${andList(kinds)} ${name}`).join(', ');
}

/** "rolling out version 1", and the children created for it: "; created Deployment, Service and HorizontalPodAutoscaler iris". */
export function rolloutStartedMessage(version: string, created: readonly string[]): string {
  return `rolling out version ${version}${created.length > 0 ? `; created ${createdList(created)}` : ''}`;
}

function andList(items: readonly string[]): string {
  return items.length < 2 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

async function recordCanaryEvent(deps: ReportDeps, md: ModelDeployment, e: CanaryEvent): Promise<void> {
  const m = deps.metrics;
  switch (e.type) {
    case 'CanaryStarted':
      m.rollouts.inc({ outcome: 'started' });
      return deps.events.record(
        md,
        'Normal',
        e.type,
        `canary of version ${e.version} started at ${e.weight}% beside version ${e.stableVersion}`,
      );
    case 'CanaryStepAdvanced':
      return deps.events.record(md, 'Normal', e.type, `canary of version ${e.version} advanced to step ${e.step + 1} (${e.weight}%)`);
    case 'CanaryPaused':
      return deps.events.record(md, 'Normal', e.type, `canary of version ${e.version} paused by spec.rollout.paused`);
    case 'CanaryResumed':
      return deps.events.record(md, 'Normal', e.type, `canary of version ${e.version} resumed`);
    case 'CanaryPromoting':
      return deps.events.record(
        md,
        'Normal',
        e.type,
        `promoting version ${e.version}${e.manual ? ' (spec.rollout.promoteVersion)' : ': every step passed'}`,
      );
    case 'CanarySucceeded':
      m.rollouts.inc({ outcome: 'succeeded' });
      return deps.events.record(md, 'Normal', e.type, `version ${e.version} promoted and serving on all replicas`);
    case 'CanaryAborted':
      m.rollouts.inc({ outcome: 'failed' });
      return deps.events.record(md, 'Warning', e.reason, e.message);
  }
}

async function recordTransitions(
  deps: ReportDeps,
  md: ModelDeployment,
  before: ModelDeploymentStatus,
  after: ModelDeploymentStatus,
  events: readonly RolloutEvent[],
  /** Children this reconcile created, named in the RolloutStarted Event. */
  created: readonly string[],
): Promise<void> {
  const m = deps.metrics;
  for (const e of events) {
    switch (e.type) {
      case 'RolloutStarted':
        m.rollouts.inc({ outcome: 'started' });
        await deps.events.record(md, 'Normal', 'RolloutStarted', rolloutStartedMessage(e.version, created));
        break;
      case 'RolloutSucceeded':
        m.rollouts.inc({ outcome: 'succeeded' });
        await deps.events.record(md, 'Normal', 'RolloutSucceeded', `version ${e.version} is serving on all replicas`);
        break;
      case 'RolloutFailed':
        m.rollouts.inc({ outcome: 'failed' });
        await deps.events.record(md, 'Warning', e.reason, e.message);
        break;
      case 'RolledBack':
        m.rollouts.inc({ outcome: 'failed' });
        m.rollbacks.inc();
        await deps.events.record(md, 'Warning', 'RolledBack', e.message);
        break;
    }
  }
  const degradedBefore = before.conditions?.find((c) => c.type === 'Degraded');
  const degradedAfter = after.conditions?.find((c) => c.type === 'Degraded');
  if (degradedAfter?.status === 'True' && APPLY_PROBLEM_REASONS.includes(degradedAfter.reason)) {
    if (degradedBefore?.status !== 'True' || degradedBefore.reason !== degradedAfter.reason) {
      await deps.events.record(md, 'Warning', degradedAfter.reason, degradedAfter.message);
    }
  }
}
