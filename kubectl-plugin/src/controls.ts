// promote / abort / pause / resume: which spec patch each one is for the ModelDeployment as it is
// now (pure). The canary controls are the fields the operator reads (operator/src/rollout/canary.ts):
// spec.rollout.promoteVersion and abortVersion name the canary's version (so a value left in git
// never acts on a later version), spec.rollout.paused holds it at its step. With spec.experiment
// set (an A/B experiment; a canary does not start then), promote makes the experiment's model the
// main one and removes the experiment in one change; abort removes the experiment.
import type { ControlAction } from './args.ts';
import { NothingToDoError } from './errors.ts';
import { experimentSpec, type CanaryStatus, type ModelDeployment } from './types.ts';
import { modelDiff, modelPatch } from './undo.ts';

export interface ControlPlan {
  /** JSON merge patch, carrying metadata.resourceVersion (409 if the object changed meanwhile). */
  patch: Record<string, unknown>;
  /** What was done, for stdout. */
  message: string;
  /** Lines shown before the message (the experiment promotion's model change). */
  diff?: string[];
}

/** status.canary when it belongs to the desired version; undefined when none runs or ran for it. */
export function canaryOfDesired(md: ModelDeployment): CanaryStatus | undefined {
  const c = md.status?.canary;
  return c && c.version === md.spec.model.version ? c : undefined;
}

function withVersion(md: ModelDeployment, spec: Record<string, unknown>): Record<string, unknown> {
  const rv = md.metadata?.resourceVersion;
  return { ...(rv ? { metadata: { resourceVersion: rv } } : {}), spec };
}

function nothingRunning(md: ModelDeployment, action: ControlAction): NothingToDoError {
  const name = md.metadata?.name ?? '';
  const c = canaryOfDesired(md);
  const strategy = md.spec.rollout?.strategy ?? 'RollingUpdate';
  const why = c
    ? `the canary of version ${c.version} is ${c.phase}`
    : strategy !== 'Canary'
      ? `its rollout strategy is ${strategy}, not Canary, and no experiment is set`
      : `no canary of version ${md.spec.model.version} is in progress`;
  return new NothingToDoError(`nothing to ${action} on ${name}: ${why}`);
}

export function planControl(md: ModelDeployment, action: ControlAction): ControlPlan {
  const name = md.metadata?.name ?? '';
  const experiment = experimentSpec(md);
  if (experiment && (action === 'promote' || action === 'abort')) {
    if (action === 'abort') {
      return {
        patch: withVersion(md, { experiment: null }),
        message: `modeldeployment.modelship.dev/${name} experiment of version ${experiment.model.version} ended: spec.experiment removed, version ${md.spec.model.version} serves all traffic`,
      };
    }
    const to = {
      version: experiment.model.version,
      uri: experiment.model.uri,
      ...(experiment.model.sha256 ? { sha256: experiment.model.sha256 } : {}),
    };
    const patch = modelPatch(to, md.metadata?.resourceVersion);
    (patch.spec as Record<string, unknown>).experiment = null;
    const from = {
      version: md.spec.model.version,
      uri: md.spec.model.uri,
      ...(md.spec.model.sha256 ? { sha256: md.spec.model.sha256 } : {}),
    };
    return {
      patch,
      diff: [...modelDiff(from, to), '-   spec.experiment'],
      message: `modeldeployment.modelship.dev/${name} experiment promoted: spec.model is version ${to.version}, spec.experiment removed; the main Deployment rolls to it`,
    };
  }

  const c = canaryOfDesired(md);
  const version = md.spec.model.version;
  const paused = md.spec.rollout?.paused === true;
  switch (action) {
    case 'promote': {
      if (!c || (c.phase !== 'Progressing' && c.phase !== 'Paused')) throw nothingRunning(md, action);
      // a pause left behind would hold the next canary at its first step
      return {
        patch: withVersion(md, { rollout: { promoteVersion: version, ...(paused ? { paused: null } : {}) } }),
        message: `modeldeployment.modelship.dev/${name} canary of version ${version} promoted (spec.rollout.promoteVersion=${version}${paused ? ', spec.rollout.paused removed' : ''})`,
      };
    }
    case 'abort': {
      if (!c || (c.phase !== 'Progressing' && c.phase !== 'Paused' && c.phase !== 'Promoting')) throw nothingRunning(md, action);
      return {
        patch: withVersion(md, { rollout: { abortVersion: version, ...(paused ? { paused: null } : {}) } }),
        message: `modeldeployment.modelship.dev/${name} canary of version ${version} aborted (spec.rollout.abortVersion=${version}): all traffic back to version ${c.stableVersion ?? md.status?.currentVersion ?? '?'}`,
      };
    }
    case 'pause': {
      if (!c || (c.phase !== 'Progressing' && c.phase !== 'Paused')) throw nothingRunning(md, action);
      if (paused) throw new NothingToDoError(`${name} is already paused (spec.rollout.paused is true)`);
      return {
        patch: withVersion(md, { rollout: { paused: true } }),
        message: `modeldeployment.modelship.dev/${name} canary of version ${version} paused at step ${c.step + 1} (spec.rollout.paused=true)`,
      };
    }
    case 'resume': {
      if (!paused) throw new NothingToDoError(`${name} is not paused (spec.rollout.paused is not true): nothing to resume`);
      return {
        patch: withVersion(md, { rollout: { paused: null } }),
        message: `modeldeployment.modelship.dev/${name} resumed (spec.rollout.paused removed)`,
      };
    }
  }
}
