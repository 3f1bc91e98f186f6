import type { V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_TEMPLATE_HASH, LABEL_TRACK, TRACK_EXPERIMENT } from '../api/labels.ts';
import type { RenderContext } from '../controller/child-kinds.ts';
import { decideExperiment, type ExperimentDecision } from '../rollout/experiment.ts';
import { detectFailure, type SignalThresholds } from '../rollout/signals.ts';
import { versionOf, versionRoutes, withVersionRoutes } from '../render/experiment.ts';
import type { Facts } from './observe.ts';
import { trackFacts } from './track-facts.ts';

/** The pods of the experiment track running the experiment's template. */
export function experimentPods(pods: readonly V1Pod[], hash: string): V1Pod[] {
  return pods.filter(
    (p) => p.metadata?.labels?.[LABEL_TRACK] === TRACK_EXPERIMENT && p.metadata?.annotations?.[ANNOTATION_TEMPLATE_HASH] === hash,
  );
}

/**
 * The experiment part of a plan: decideExperiment on the facts, and the render context with the
 * experiment track and the version routes in both tracks' templates (only while it runs). Pure.
 */
export function planExperiment(
  f: Facts,
  ctx: RenderContext,
  thresholds: SignalThresholds,
): { decision: ExperimentDecision; ctx: RenderContext } {
  const e = f.experiment;
  const stableVersion = versionOf(ctx.template) ?? f.desiredModel.version;
  const md = f.md;
  const specReplicas = md.spec.autoscaling ? (md.spec.autoscaling.minReplicas ?? 1) : (md.spec.replicas ?? 1);
  const decision = decideExperiment({
    settings: e?.settings,
    stableVersion,
    stableReplicas: f.deployment?.spec?.replicas ?? specReplicas,
    stableTrack: trackFacts(f.deployment),
    experimentTrack: trackFacts(f.experimentDeployment),
    failure: e ? detectFailure(f.experimentDeployment, experimentPods(f.pods, e.hash), f.now, thresholds) : undefined,
    status: f.status.experiment,
    window: f.experimentWindow,
    mainVersion: md.spec.model.version,
    now: f.now,
  });
  if (!e || decision.experimentReplicas === undefined) return { decision, ctx };
  const routes = versionRoutes(md, stableVersion, e.settings.version);
  return {
    decision,
    ctx: {
      ...ctx,
      template: withVersionRoutes(ctx.template, routes),
      experiment: { template: withVersionRoutes(e.template, routes), replicas: decision.experimentReplicas },
    },
  };
}
