/** Label and annotation keys the operator writes on the objects it owns. */
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_MODEL_VERSION = 'modelship.dev/model-version';

export const RUNTIME_APP_NAME = 'modelship-runtime';
export const MANAGED_BY = 'modelship';
export const MANAGED_BY_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

/** Hash of the rendered pod template; identifies a rollout revision across ReplicaSets. */
export const ANNOTATION_TEMPLATE_HASH = 'modelship.dev/template-hash';

/** The field manager for every server-side apply the operator makes. Stable across releases. */
export const FIELD_MANAGER = 'modelship-operator';

export function selectorLabels(instance: string): Record<string, string> {
  return { [LABEL_NAME]: RUNTIME_APP_NAME, [LABEL_INSTANCE]: instance };
}

/**
 * The canary Deployment's pods carry modelship.dev/track=canary; the stable pods carry no track
 * label, because adding one to the stable Deployment's template would restart the pods of every
 * existing ModelDeployment when the operator is upgraded. "Stable" is "not canary".
 */
export const LABEL_TRACK = 'modelship.dev/track';
export const TRACK_CANARY = 'canary';

/** The A/B experiment Deployment's pods (spec.experiment) carry modelship.dev/track=experiment. */
export const TRACK_EXPERIMENT = 'experiment';

/** The experiment Deployment's selector (immutable), also its Service's: the instance's pods on the experiment track. */
export function experimentSelectorLabels(instance: string): Record<string, string> {
  return { ...selectorLabels(instance), [LABEL_TRACK]: TRACK_EXPERIMENT };
}

/** The canary Deployment's selector (immutable): the instance's pods on the canary track. */
export function canarySelectorLabels(instance: string): Record<string, string> {
  return { ...selectorLabels(instance), [LABEL_TRACK]: TRACK_CANARY };
}

export function commonLabels(instance: string): Record<string, string> {
  return { ...selectorLabels(instance), [LABEL_MANAGED_BY]: MANAGED_BY };
}

export function formatSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Holds spec.replicas between the operator letting go of it and the HPA's first scale. */
export const REPLICAS_HANDOVER_MANAGER = 'modelship-operator-handover-to-hpa';
