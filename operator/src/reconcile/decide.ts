import type { KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATION_TEMPLATE_HASH } from '../api/labels.ts';
import type { RuntimeDefaults } from '../config.ts';
import type { ChildKind, RenderContext } from '../controller/child-kinds.ts';
import { isControlledBy } from '../controller/ownership.ts';
import { renderPodTemplate } from '../render/pod-template.ts';
import { decideRollout, type RolloutDecision } from '../rollout/decide.ts';
import { detectFailure, type SignalThresholds } from '../rollout/signals.ts';
import type { Facts } from './observe.ts';

/** One write the reconcile wants: make a child match `desired`, or delete a child we control. */
export type ChildStep =
  | { op: 'apply'; kind: ChildKind; desired: KubernetesObject; actual: KubernetesObject | undefined }
  | { op: 'delete'; kind: ChildKind; actual: KubernetesObject };

export interface Plan {
  /** Undefined while a name conflict blocks the ModelDeployment: nothing is written but the status. */
  rollout: RolloutDecision | undefined;
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
  const ctx: RenderContext = { template, metricsPort: opts.runtimeDefaults.metricsPort };
  return { rollout, steps: childSteps(f, opts.kinds, ctx) };
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
