import type { KubernetesObject, V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node';
import type { HistoryEntry } from '../api/types.generated.ts';
import { ANNOTATION_TEMPLATE_HASH } from '../api/labels.ts';
import type { RuntimeDefaults } from '../config.ts';
import type { ChildKind, RenderContext } from '../controller/child-kinds.ts';
import { isControlledBy } from '../controller/ownership.ts';
import { renderPodTemplate, templateHashOf } from '../render/pod-template.ts';
import { decideCanary, type CanaryDecision, type CanarySettings, type TrackFacts } from '../rollout/canary.ts';
import { decideRollout, lastSucceeded, modelOf, type RolloutDecision } from '../rollout/decide.ts';
import { detectFailure, nextSignalDueMs, type SignalThresholds } from '../rollout/signals.ts';
import { canaryHpaBounds } from '../rollout/canary-capacity.ts';
import type { Facts } from './observe.ts';
import { trackFacts } from './track-facts.ts';
import type { ExperimentDecision } from '../rollout/experiment.ts';
import { planExperiment } from './decide-experiment.ts';

/** One write the reconcile wants: make a child match `desired`, or delete a child we control. */
export type ChildStep =
  | { op: 'apply'; kind: ChildKind; desired: KubernetesObject; actual: KubernetesObject | undefined }
  | { op: 'delete'; kind: ChildKind; actual: KubernetesObject };

export interface Plan {
  /** Undefined while a name conflict blocks the ModelDeployment: nothing is written but the status. */
  rollout: RolloutDecision | undefined;
  /** Set while the strategy is Canary and a canary runs or ran for this spec. */
  canary?: CanaryDecision | undefined;
  /** The A/B experiment's decision; undefined only while a name conflict blocks everything. */
  experiment?: ExperimentDecision | undefined;
  /** When a failure signal can next appear without an event (an image pull reaching its limit). */
  signalDueInMs?: number | undefined;
  /** In CHILD_KINDS order; a step whose object already matches is still listed (act compares). */
  steps: ChildStep[];
}

export interface DecideOptions {
  kinds: readonly ChildKind[];
  runtimeDefaults: RuntimeDefaults;
  thresholds: SignalThresholds;
}

/** Pure: from the facts, which template runs, how the rollout record changes, which children to write. */
export function decide(f: Facts, opts: DecideOptions): Plan {
  if (f.blocking) return { rollout: undefined, steps: [] };
  const { md, desiredHash } = f;
  const podsOfDesired = f.pods.filter((p) => p.metadata?.annotations?.[ANNOTATION_TEMPLATE_HASH] === desiredHash);
  // A canary only starts when no experiment is set (one running for this spec continues).
  const stableEntry = f.experiment && f.status.canary?.templateHash !== desiredHash ? undefined : canaryBase(f);
  if (f.canary && stableEntry) return decideWithCanary(f, opts, f.canary.settings, stableEntry, podsOfDesired);
  const rollout = decideRollout({
    desiredModel: f.desiredModel,
    desiredHash,
    autoRollback: md.spec.rollout?.autoRollback ?? true,
    historyLimit: md.spec.rollout?.historyLimit ?? 10,
    history: f.status.history ?? [],
    currentVersion: f.status.currentVersion,
    deployment: f.deployment,
    deployedHash: f.deployedHash,
    failure: f.deployedHash === desiredHash ? detectFailure(f.deployment, podsOfDesired, f.now, opts.thresholds) : undefined,
    now: f.now,
  });
  const template =
    rollout.template.kind === 'desired' ? f.desiredTemplate : renderPodTemplate(md, rollout.template.model, opts.runtimeDefaults);
  const exp = planExperiment(f, { template, metricsPort: opts.runtimeDefaults.metricsPort }, opts.thresholds);
  return {
    rollout,
    experiment: exp.decision,
    signalDueInMs: nextSignalDueMs(podsOfDesired, f.now, opts.thresholds),
    steps: childSteps(f, opts.kinds, exp.ctx),
  };
}

/** Each kind rendered with `ctx`: applied when rendered, deleted when not (and ours). */
export function childSteps(f: Facts, kinds: readonly ChildKind[], ctx: RenderContext): ChildStep[] {
  const steps: ChildStep[] = [];
  for (const kind of kinds) {
    const actual = f.existing.get(kind);
    const desired = kind.render(f.md, ctx);
    if (desired) steps.push({ op: 'apply', kind, desired, actual });
    else if (actual && isControlledBy(actual, f.md.metadata?.uid)) steps.push({ op: 'delete', kind, actual });
  }
  return steps;
}

/**
 * The version a canary runs beside: the last Succeeded rollout, when the Deployment runs it and
 * the spec asks for something else, or when a canary of the desired template is on record (it
 * continues, and after it ends its status stays until the spec changes). Undefined: no canary
 * (the first deployment, or the strategy is RollingUpdate) and the ordinary rollout applies.
 */
export function canaryBase(f: Facts): HistoryEntry | undefined {
  if (!f.canary || !f.deployment) return undefined;
  const history = f.status.history ?? [];
  if (f.status.canary?.templateHash === f.desiredHash) {
    return history.find((h) => h.outcome === 'Succeeded' && h.version === f.status.canary?.stableVersion) ?? lastSucceeded(history);
  }
  const stable = lastSucceeded(history);
  if (!stable || f.deployedHash !== stable.templateHash || f.deployedHash === f.desiredHash) return undefined;
  return stable;
}

/**
 * The stable version's pod template: rendered from its history entry with the current spec, or,
 * when that renders differently (the spec changed more than the model), the one the Deployment
 * runs, so the stable pods are not restarted by a canary.
 */
function stableTemplateOf(f: Facts, entry: HistoryEntry, opts: DecideOptions): V1PodTemplateSpec {
  const rendered = renderPodTemplate(f.md, modelOf(entry, f.desiredModel), opts.runtimeDefaults);
  if (templateHashOf(rendered) === entry.templateHash) return rendered;
  const running = f.deployment?.spec?.template;
  return running && templateHashOf(running) === entry.templateHash ? running : rendered;
}

function decideWithCanary(
  f: Facts,
  opts: DecideOptions,
  settings: CanarySettings,
  stableEntry: HistoryEntry,
  podsOfDesired: readonly V1Pod[],
): Plan {
  const promoting = f.status.canary?.templateHash === f.desiredHash && f.status.canary.phase === 'Promoting';
  const failure =
    detectFailure(f.canaryDeployment, podsOfDesired, f.now, opts.thresholds) ??
    (promoting ? detectFailure(f.deployment, [], f.now, opts.thresholds) : undefined);
  const decision = decideCanary({
    settings,
    desired: { model: f.desiredModel, hash: f.desiredHash },
    stable: { version: stableEntry.version, hash: stableEntry.templateHash },
    stableTrack: trackFacts(f.deployment) as TrackFacts,
    canaryTrack: trackFacts(f.canaryDeployment),
    status: f.status.canary,
    history: f.status.history ?? [],
    historyLimit: f.md.spec.rollout?.historyLimit ?? 10,
    failure,
    analysis: f.analysis,
    now: f.now,
    autoscaling: autoscalingBounds(f),
    capacityDeadlineMs: (f.md.spec.rollout?.progressDeadlineSeconds ?? 300) * 1000,
  });
  const autoscaling = autoscalingBounds(f);
  const stepWeight = settings.steps[decision.status.step]?.weight ?? 0;
  const template = decision.stableTemplate === 'desired' ? f.desiredTemplate : stableTemplateOf(f, stableEntry, opts);
  const ctx: RenderContext = {
    template,
    metricsPort: opts.runtimeDefaults.metricsPort,
    canary:
      decision.canaryReplicas > 0
        ? {
            template: f.desiredTemplate,
            replicas: decision.canaryReplicas,
            weight: decision.status.weight,
            promoting: decision.status.phase === 'Promoting',
            ready: (f.canaryDeployment?.status?.readyReplicas ?? 0) > 0,
            autoscaling: autoscaling ? canaryHpaBounds(autoscaling, decision.canaryReplicas, stepWeight) : undefined,
          }
        : undefined,
    stableMinReplicas: decision.stableMinReplicas,
  };
  const exp = planExperiment(f, ctx, opts.thresholds);
  const rollout: RolloutDecision = {
    template: { kind: 'desired' },
    history: decision.history,
    currentVersion: decision.currentVersion,
    updatingVersion: decision.updatingVersion,
    failedVersion: decision.failedVersion,
    events: [],
  };
  return { rollout, canary: decision, experiment: exp.decision, steps: childSteps(f, opts.kinds, exp.ctx) };
}

/** spec.autoscaling's bounds with the CRD's defaults; undefined without autoscaling. */
function autoscalingBounds(f: Facts): { minReplicas: number; maxReplicas: number } | undefined {
  const a = f.md.spec.autoscaling;
  return a ? { minReplicas: a.minReplicas ?? 1, maxReplicas: a.maxReplicas } : undefined;
}
