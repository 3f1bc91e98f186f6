import type { V1Deployment, V1PodTemplateSpec, V1Service } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.generated.ts';
import { CONTAINER, ENV, formatVersionRoutes } from '../../../contract/runtime-contract.ts';
import {
  LABEL_MODEL_VERSION,
  LABEL_TRACK,
  TRACK_EXPERIMENT,
  commonLabels,
  experimentSelectorLabels,
  selectorLabels,
} from '../api/labels.ts';
import { DEFAULT_SERVICE_PORT, renderDeployment, renderService } from './children.ts';
import { urlScheme } from './secret-mounts.ts';

/** The experiment Deployment's and its Service's name: the ModelDeployment's, plus this. */
export const EXPERIMENT_SUFFIX = '-experiment';
/** The Service of the main (stable) version's pods only, while an experiment runs. */
export const STABLE_SUFFIX = '-stable';

const VERSION_ROUTES_ENV = ENV.versionRoutes;

/** The model version a rendered pod template serves (its modelship.dev/model-version label). */
export function versionOf(template: V1PodTemplateSpec): string | undefined {
  return template.metadata?.labels?.[LABEL_MODEL_VERSION];
}

/**
 * MODELSHIP_VERSION_ROUTES for an experiment: each version to the Service of its own pods, so a
 * pod asked for the other version (modelship-version header) forwards the request there.
 */
export function versionRoutes(md: ModelDeployment, stableVersion: string, experimentVersion: string): string {
  const name = md.metadata?.name as string;
  const namespace = md.metadata?.namespace as string;
  const port = md.spec.service?.port ?? DEFAULT_SERVICE_PORT;
  const url = (suffix: string) => `${urlScheme(md)}://${name}${suffix}.${namespace}.svc:${port}`;
  return formatVersionRoutes([
    { version: stableVersion, baseUrl: url(STABLE_SUFFIX) },
    { version: experimentVersion, baseUrl: url(EXPERIMENT_SUFFIX) },
  ]);
}

/**
 * The template with MODELSHIP_VERSION_ROUTES in the serve container. The template-hash annotation
 * is left as it was on purpose: the hash names a model revision (rollout history, canary, rollback),
 * and starting or ending an experiment is a change of routing, not a new rollout of the main model.
 * The Deployment still rolls its pods, so every pod gets the routes.
 */
export function withVersionRoutes(template: V1PodTemplateSpec, routes: string): V1PodTemplateSpec {
  const spec = template.spec;
  if (!spec) return template;
  return {
    ...template,
    spec: {
      ...spec,
      containers: spec.containers.map((c) =>
        c.name === CONTAINER.serve
          ? { ...c, env: [...(c.env ?? []).filter((e) => e.name !== VERSION_ROUTES_ENV), { name: VERSION_ROUTES_ENV, value: routes }] }
          : c,
      ),
    },
  };
}

/** The serve container's MODELSHIP_VERSION_ROUTES in a Deployment's template, if any. */
function routesIn(d: V1Deployment): string | undefined {
  return d.spec?.template.spec?.containers.find((c) => c.name === CONTAINER.serve)?.env?.find((e) => e.name === VERSION_ROUTES_ENV)?.value;
}

/**
 * Where the version routes of two Deployments differ, for the stable Deployment's compare: the
 * "contains what we set" compare cannot see an env entry we stopped setting (an ended experiment),
 * and the template hash leaves the routes out on purpose.
 */
export function routesDifference(desired: V1Deployment, actual: V1Deployment): string | undefined {
  return routesIn(desired) === routesIn(actual) ? undefined : `.spec.template.spec.containers[serve].env[${VERSION_ROUTES_ENV}]`;
}

/**
 * The experiment track: `<name>-experiment`, the experiment model's pod template with
 * modelship.dev/track=experiment added (after the template hash), behind the one Service like the
 * stable pods, so the replica proportion splits the traffic. Its replicas are the decision's.
 */
export function renderExperimentDeployment(md: ModelDeployment, template: V1PodTemplateSpec, replicas: number): V1Deployment {
  const name = md.metadata?.name as string;
  const stable = renderDeployment(md, template);
  const labels = { ...(template.metadata?.labels ?? {}), [LABEL_TRACK]: TRACK_EXPERIMENT };
  return {
    ...stable,
    metadata: {
      ...(stable.metadata as NonNullable<V1Deployment['metadata']>),
      name: `${name}${EXPERIMENT_SUFFIX}`,
      labels: { ...commonLabels(name), [LABEL_TRACK]: TRACK_EXPERIMENT },
    },
    spec: {
      ...(stable.spec as NonNullable<V1Deployment['spec']>),
      replicas,
      selector: { matchLabels: experimentSelectorLabels(name) },
      template: { ...template, metadata: { ...template.metadata, labels } },
    },
  };
}

/**
 * A Service in front of one variant's pods, the target of its version route: `<name>-stable`
 * selects the pods of the stable template's version that are on no track (the stable pods carry no
 * track label, see labels.ts), `<name>-experiment` the experiment track's pods. Always ClusterIP:
 * only pods forward to it.
 */
export function renderVariantService(md: ModelDeployment, suffix: string, selector: Record<string, string>): V1Service {
  const main = renderService(md);
  const name = md.metadata?.name as string;
  return {
    ...main,
    metadata: { ...(main.metadata as NonNullable<V1Service['metadata']>), name: `${name}${suffix}` },
    spec: { ...(main.spec as NonNullable<V1Service['spec']>), type: 'ClusterIP', selector },
  };
}

/** The stable variant's selector: the instance's pods of `version` (the experiment's pods have another). */
export function stableVariantSelector(instance: string, version: string): Record<string, string> {
  return { ...selectorLabels(instance), [LABEL_MODEL_VERSION]: version };
}
