import type {
  KubernetesListObject,
  KubernetesObject,
  V1Deployment,
  V1PodDisruptionBudget,
  V1PodTemplateSpec,
  V1Service,
  V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.generated.ts';
import { FIELD_MANAGER } from '../api/labels.ts';
import { serverSideApply, type KubeClients } from '../kube/clients.ts';
import { firstDifference, ownsField } from '../kube/diff.ts';
import { leanChild } from '../kube/lean.ts';
import {
  CANARY_SUFFIX,
  renderCanaryDeployment,
  renderCanaryHpa,
  renderDeployment,
  renderHpa,
  renderNetworkPolicy,
  renderService,
  type NetworkPolicyManifest,
} from '../render/children.ts';
import { sameJson } from '../render/hash.ts';
import { EXPERIMENT_SUFFIX, renderExperimentDeployment, renderVariantService, routesDifference } from '../render/experiment.ts';
import { experimentSelectorLabels } from '../api/labels.ts';
import { renderCanaryTrackService, renderHttpRoute, type HTTPRouteManifest } from '../render/http-route.ts';
import { renderStableTrackService, trackServiceName } from '../render/track-service.ts';
import { renderPodDisruptionBudget } from '../render/pod-disruption-budget.ts';

/** What a child's render function gets besides the ModelDeployment. */
export interface RenderContext {
  /** The pod template the rollout decided on (the desired one, or an earlier version's on rollback). */
  template: V1PodTemplateSpec;
  /** The runtime's separate metrics port, 0 when metrics share the inference port. */
  metricsPort: number;
  /**
   * The canary track of a Canary rollout, while it should run (rollout/canary.ts decides); with
   * autoscaling, its own HPA's bounds (the canary Deployment's replicas are then the HPA's).
   */
  canary?:
    | {
        template: V1PodTemplateSpec;
        replicas: number;
        autoscaling?: { minReplicas: number; maxReplicas: number } | undefined;
        /** The current step's weight (the HTTPRoute's exact split); absent where no step applies. */
        weight?: number | undefined;
        /** The stable Deployment is rolling to the canary's version. */
        promoting?: boolean | undefined;
        /** At least one canary pod is ready (the HTTPRoute splits only then). */
        ready?: boolean | undefined;
      }
    | undefined;
  /** The stable HPA's minReplicas while the stable track takes over the canary's share (rollout/canary-capacity.ts). */
  stableMinReplicas?: number | undefined;
  /**
   * The experiment track while spec.experiment is set (rollout/experiment.ts decides its replicas);
   * `template` and the stable one already carry the version routes.
   */
  experiment?: { template: V1PodTemplateSpec; replicas: number } | undefined;
}

/** The calls the operator makes on one kind, through client-node's typed clients. */
export interface ChildApi<T extends KubernetesObject> {
  list(namespace: string | undefined, labelSelector: string): Promise<KubernetesListObject<T>>;
  read(name: string, namespace: string): Promise<T>;
  /** Server-side apply (the caller passes the field manager and `force`). */
  patch(req: { name: string; namespace: string; body: T; fieldManager: string; force: boolean }): Promise<unknown>;
  /** Only for kinds that are `removable`. */
  delete?(req: { name: string; namespace: string; body: { preconditions: { uid: string } } }): Promise<unknown>;
}

/**
 * One kind of object a ModelDeployment owns. The clients, informers and reconciler iterate
 * CHILD_KINDS, so a new child kind is one entry here plus its render function, and one rule in
 * the chart's RBAC (test/unit/operator-child-kinds.test.ts checks the two agree).
 */
export interface ChildKind<T extends KubernetesObject = KubernetesObject> {
  kind: string;
  /**
   * The child's name for a ModelDeployment name; the same name when absent. Kinds that share a
   * `kind` (the stable and canary Deployments) share one informer and are told apart by name.
   */
  nameOf?(modelDeploymentName: string): string;
  /** API group, '' for the core group. */
  group: string;
  version: string;
  plural: string;
  /** Whether `render` can return undefined, so the operator deletes objects of this kind (RBAC: delete). */
  removable: boolean;
  /**
   * The kind's API may be missing from the cluster (another project's CRD, e.g. the Gateway API):
   * its informer waits for the API to appear instead of failing, and a 404 when applying it makes
   * the ModelDeployment Degraded without stopping its other children.
   */
  optional?: boolean;
  /** The object this ModelDeployment wants, or undefined: it must not exist (deleted if we control it). */
  render(md: ModelDeployment, ctx: RenderContext): T | undefined;
  /** The first field where `actual` does not satisfy `desired`, for logs; undefined means no write is needed. */
  difference(desired: T, actual: T): string | undefined;
  /** What the informer cache keeps of each object: every field `difference`, the reconciler and the status read, no more. */
  lean(obj: T): T;
  api(clients: KubeClients): ChildApi<T>;
  /**
   * Runs before the apply when present; returning true means "apply even if nothing differs".
   * The Deployment uses it to hand spec.replicas over to the HPA.
   */
  beforeApply?(md: ModelDeployment, actual: T | undefined, clients: KubeClients): Promise<boolean>;
}

/**
 * Every field we set must be present with the same value; fields the API server or other
 * controllers add are ignored (kube/diff.ts).
 */
function containsDesired(desired: KubernetesObject, actual: KubernetesObject): string | undefined {
  // Listed objects carry no apiVersion/kind (only watched ones do), so compare below them.
  const { apiVersion: _v, kind: _k, ...comparable } = desired;
  return firstDifference(comparable, actual);
}

/** The collection, namespaced or across all namespaces, as client-node spells the two calls. */
const inNamespaceOrAll = <R>(namespace: string | undefined, namespaced: (ns: string) => R, all: () => R): R =>
  namespace ? namespaced(namespace) : all();

/** The field the operator hands over to the HPA; lean keeps the answer to "do we own it". */
const REPLICAS = ['spec', 'replicas'] as const;

/**
 * While our apply still owns spec.replicas, an apply that leaves it out (autoscaling on) would
 * reset it to the default; a separate manager takes the current value over first.
 */
async function handReplicasToHpa(md: ModelDeployment, actual: V1Deployment | undefined, clients: KubeClients): Promise<boolean> {
  if (!md.spec.autoscaling || !actual || !ownsField(actual.metadata?.managedFields, FIELD_MANAGER, REPLICAS)) return false;
  await clients.handOverReplicas(actual.metadata?.name as string, actual.metadata?.namespace as string, actual.spec?.replicas ?? 1);
  return true;
}

const deploymentApi = (c: KubeClients): ChildApi<V1Deployment> => ({
  list: (namespace, labelSelector) =>
    inNamespaceOrAll(
      namespace,
      (ns) => c.apps.listNamespacedDeployment({ namespace: ns, labelSelector }),
      () => c.apps.listDeploymentForAllNamespaces({ labelSelector }),
    ),
  read: (name, namespace) => c.apps.readNamespacedDeployment({ name, namespace }),
  patch: (req) => c.apps.patchNamespacedDeployment(req, serverSideApply()),
  delete: (req) => c.apps.deleteNamespacedDeployment(req),
});

const deployments: ChildKind<V1Deployment> = {
  kind: 'Deployment',
  group: 'apps',
  version: 'v1',
  plural: 'deployments',
  removable: false,
  render: (md, ctx) => renderDeployment(md, ctx.template),
  difference: (desired, actual) => containsDesired(desired, actual) ?? routesDifference(desired, actual),
  // status: rollout progress and failure signals; our Apply entry: whether we own spec.replicas.
  lean: (d) => leanChild(d, { keepStatus: true, ownedFieldPaths: [REPLICAS] }),
  api: (c) => deploymentApi(c),
  beforeApply: handReplicasToHpa,
};

/** The canary track of a Canary rollout (`<name>-canary`); deleted when no canary runs. */
const canaryDeployments: ChildKind<V1Deployment> = {
  kind: 'Deployment',
  nameOf: (name) => `${name}${CANARY_SUFFIX}`,
  group: 'apps',
  version: 'v1',
  plural: 'deployments',
  removable: true,
  render: (md, ctx) =>
    ctx.canary && ctx.canary.replicas > 0 ? renderCanaryDeployment(md, ctx.canary.template, ctx.canary.replicas) : undefined,
  difference: containsDesired,
  // The same informer as the stable Deployments', so the same lean.
  lean: (d) => leanChild(d, { keepStatus: true, ownedFieldPaths: [REPLICAS] }),
  api: (c) => deploymentApi(c),
  beforeApply: handReplicasToHpa,
};

/** The A/B experiment's track (`<name>-experiment`); present only while spec.experiment is set. */
const experimentDeployments: ChildKind<V1Deployment> = {
  kind: 'Deployment',
  nameOf: (name) => `${name}${EXPERIMENT_SUFFIX}`,
  group: 'apps',
  version: 'v1',
  plural: 'deployments',
  removable: true,
  render: (md, ctx) => (ctx.experiment ? renderExperimentDeployment(md, ctx.experiment.template, ctx.experiment.replicas) : undefined),
  difference: containsDesired,
  // The same informer as the stable Deployments', so the same lean.
  lean: (d) => leanChild(d, { keepStatus: true, ownedFieldPaths: [REPLICAS] }),
  api: (c) => deploymentApi(c),
};

const serviceApi = (c: KubeClients): ChildApi<V1Service> => ({
  list: (namespace, labelSelector) =>
    inNamespaceOrAll(
      namespace,
      (ns) => c.core.listNamespacedService({ namespace: ns, labelSelector }),
      () => c.core.listServiceForAllNamespaces({ labelSelector }),
    ),
  read: (name, namespace) => c.core.readNamespacedService({ name, namespace }),
  patch: (req) => c.core.patchNamespacedService(req, serverSideApply()),
  delete: (req) => c.core.deleteNamespacedService(req),
});

const services: ChildKind<V1Service> = {
  kind: 'Service',
  group: '',
  version: 'v1',
  plural: 'services',
  removable: false,
  render: (md) => renderService(md),
  difference: containsDesired,
  lean: (s) => leanChild(s, { keepStatus: false, ownedFieldPaths: [] }),
  api: (c) => serviceApi(c),
};

/** `<name>-experiment`: the experiment track's pods only, the target of its version route. */
const experimentServices: ChildKind<V1Service> = {
  kind: 'Service',
  nameOf: (name) => `${name}${EXPERIMENT_SUFFIX}`,
  group: '',
  version: 'v1',
  plural: 'services',
  removable: true,
  render: (md, ctx) =>
    ctx.experiment ? renderVariantService(md, EXPERIMENT_SUFFIX, experimentSelectorLabels(md.metadata?.name as string)) : undefined,
  difference: containsDesired,
  lean: (s) => leanChild(s, { keepStatus: false, ownedFieldPaths: [] }),
  api: (c) => serviceApi(c),
};

/**
 * `<name>-stable`: the stable version's pods, while spec.rollout.httpRoute is set (the route's
 * backend and pin target) or an experiment runs (the target of the stable version's route).
 */
const stableTrackServices: ChildKind<V1Service> = {
  kind: 'Service',
  nameOf: (name) => trackServiceName(name, 'stable'),
  group: '',
  version: 'v1',
  plural: 'services',
  removable: true,
  render: (md, ctx) => renderStableTrackService(md, ctx),
  difference: containsDesired,
  lean: (s) => leanChild(s, { keepStatus: false, ownedFieldPaths: [] }),
  api: (c) => serviceApi(c),
};

/** `<name>-canary`: the canary version's pods, while spec.rollout.httpRoute is set and a canary runs. */
const canaryTrackServices: ChildKind<V1Service> = {
  ...stableTrackServices,
  nameOf: (name) => trackServiceName(name, 'canary'),
  render: (md, ctx) => renderCanaryTrackService(md, ctx),
};

const HTTP_ROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' } as const;

/** The Gateway API HTTPRoute of spec.rollout.httpRoute: exact canary weights and version pins. */
const httpRoutes: ChildKind<HTTPRouteManifest> = {
  kind: 'HTTPRoute',
  ...HTTP_ROUTE,
  removable: true,
  optional: true,
  render: (md, ctx) => renderHttpRoute(md, ctx),
  difference: containsDesired,
  lean: (r) => leanChild(r, { keepStatus: false, ownedFieldPaths: [] }),
  api: (c) => ({
    list: (namespace, labelSelector) =>
      inNamespaceOrAll(
        namespace,
        (ns) => c.custom.listNamespacedCustomObject({ ...HTTP_ROUTE, namespace: ns, labelSelector }),
        () => c.custom.listClusterCustomObject({ ...HTTP_ROUTE, labelSelector }),
      ) as Promise<KubernetesListObject<HTTPRouteManifest>>,
    read: (name, namespace) => c.custom.getNamespacedCustomObject({ ...HTTP_ROUTE, name, namespace }) as Promise<HTTPRouteManifest>,
    patch: (req) => c.custom.patchNamespacedCustomObject({ ...HTTP_ROUTE, ...req }, serverSideApply()),
    delete: (req) => c.custom.deleteNamespacedCustomObject({ ...HTTP_ROUTE, ...req }),
  }),
};

const horizontalPodAutoscalers: ChildKind<V2HorizontalPodAutoscaler> = {
  kind: 'HorizontalPodAutoscaler',
  group: 'autoscaling',
  version: 'v2',
  plural: 'horizontalpodautoscalers',
  removable: true,
  render: (md, ctx) => renderHpa(md, ctx.stableMinReplicas),
  difference: containsDesired,
  lean: (h) => leanChild(h, { keepStatus: false, ownedFieldPaths: [] }),
  api: (c) => hpaApi(c),
};

/** The canary track's own HPA (`<name>-canary`) while a canary runs with autoscaling; deleted with it. */
const canaryHorizontalPodAutoscalers: ChildKind<V2HorizontalPodAutoscaler> = {
  kind: 'HorizontalPodAutoscaler',
  nameOf: (name) => `${name}${CANARY_SUFFIX}`,
  group: 'autoscaling',
  version: 'v2',
  plural: 'horizontalpodautoscalers',
  removable: true,
  render: (md, ctx) => (ctx.canary?.autoscaling ? renderCanaryHpa(md, ctx.canary.autoscaling) : undefined),
  difference: containsDesired,
  lean: (h) => leanChild(h, { keepStatus: false, ownedFieldPaths: [] }),
  api: (c) => hpaApi(c),
};

const hpaApi = (c: KubeClients): ChildApi<V2HorizontalPodAutoscaler> => ({
  list: (namespace, labelSelector) =>
    inNamespaceOrAll(
      namespace,
      (ns) => c.autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace: ns, labelSelector }),
      () => c.autoscaling.listHorizontalPodAutoscalerForAllNamespaces({ labelSelector }),
    ),
  read: (name, namespace) => c.autoscaling.readNamespacedHorizontalPodAutoscaler({ name, namespace }),
  patch: (req) => c.autoscaling.patchNamespacedHorizontalPodAutoscaler(req, serverSideApply()),
  delete: (req) => c.autoscaling.deleteNamespacedHorizontalPodAutoscaler(req),
});

const NETWORK_POLICY = { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies' } as const;

const networkPolicies: ChildKind<NetworkPolicyManifest> = {
  kind: 'NetworkPolicy',
  ...NETWORK_POLICY,
  removable: true,
  render: (md, ctx) => renderNetworkPolicy(md, ctx.metricsPort),
  /**
   * A NetworkPolicy's rules are allow-lists: an entry that someone else added (or that we no longer
   * render) widens access, so its spec must equal ours, not merely contain it. Apply replaces the
   * lists (they are atomic), so a write makes them equal again.
   */
  difference: (desired, actual) => (sameJson(desired.spec, actual.spec) ? containsDesired(desired, actual) : '.spec'),
  lean: (n) => leanChild(n, { keepStatus: false, ownedFieldPaths: [] }),
  api: (c) => ({
    // Listed through the generic API (raw JSON): the typed list renames `from` to `_from`.
    list: (namespace, labelSelector) =>
      inNamespaceOrAll(
        namespace,
        (ns) => c.custom.listNamespacedCustomObject({ ...NETWORK_POLICY, namespace: ns, labelSelector }),
        () => c.custom.listClusterCustomObject({ ...NETWORK_POLICY, labelSelector }),
      ) as Promise<KubernetesListObject<NetworkPolicyManifest>>,
    read: (name, namespace) => c.networking.readNamespacedNetworkPolicy({ name, namespace }) as Promise<NetworkPolicyManifest>,
    patch: (req) => c.networking.patchNamespacedNetworkPolicy(req, serverSideApply()),
    delete: (req) => c.networking.deleteNamespacedNetworkPolicy(req),
  }),
};

/** The runtime pods' PodDisruptionBudget while the ModelDeployment may run more than one pod. */
const podDisruptionBudgets: ChildKind<V1PodDisruptionBudget> = {
  kind: 'PodDisruptionBudget',
  group: 'policy',
  version: 'v1',
  plural: 'poddisruptionbudgets',
  removable: true,
  render: (md) => renderPodDisruptionBudget(md),
  difference: containsDesired,
  lean: (p) => leanChild(p, { keepStatus: false, ownedFieldPaths: [] }),
  api: (c) => ({
    list: (namespace, labelSelector) =>
      inNamespaceOrAll(
        namespace,
        (ns) => c.policy.listNamespacedPodDisruptionBudget({ namespace: ns, labelSelector }),
        () => c.policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector }),
      ),
    read: (name, namespace) => c.policy.readNamespacedPodDisruptionBudget({ name, namespace }),
    patch: (req) => c.policy.patchNamespacedPodDisruptionBudget(req, serverSideApply()),
    delete: (req) => c.policy.deleteNamespacedPodDisruptionBudget(req),
  }),
};

/** Applied, and checked for conflicts, in this order. */
export const CHILD_KINDS: readonly ChildKind[] = [
  deployments,
  canaryDeployments,
  experimentDeployments,
  services,
  stableTrackServices,
  canaryTrackServices,
  experimentServices,
  horizontalPodAutoscalers,
  canaryHorizontalPodAutoscalers,
  networkPolicies,
  podDisruptionBudgets,
  // Written in the same concurrent stage as the Services (reconcile/act.ts), but it splits to
  // <name>-canary only once a canary pod is ready, reconciles after that Service was created.
  httpRoutes,
] as ChildKind[];

/** The name of `kind`'s object for the ModelDeployment named `name`. */
export function childName(kind: ChildKind, name: string): string {
  return kind.nameOf ? kind.nameOf(name) : name;
}

/** One entry per informer: kinds that share a `kind` share its cache. */
export function informedKinds(kinds: readonly ChildKind[]): ChildKind[] {
  return kinds.filter((k, i) => kinds.findIndex((o) => o.kind === k.kind) === i);
}

/** `/apis/<group>/<version>[/namespaces/<ns>]/<plural>` (`/api/v1/...` for the core group). */
export function collectionPath(group: string, version: string, plural: string, namespace: string | undefined): string {
  const base = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  return namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
}

/**
 * A resourceVersion no existing object carries (etcd's revision 1 is long used by the API
 * server's own objects when a child is first written). As a precondition in an apply it lets the
 * apply create the object but makes it fail with 409 Conflict when any object already holds the
 * name — so a child missing from the label-filtered cache is created in one request, and a
 * foreign object of the same name is never touched.
 */
const ONLY_IF_ABSENT = '1';

/**
 * Server-side apply with the operator's field manager; counted as a write. With `onlyIfAbsent`
 * it only creates: 409 Conflict when an object of that name exists (ours or not). Returns the
 * object as the API server stored it.
 */
export async function applyChild(
  clients: KubeClients,
  kind: ChildKind,
  obj: KubernetesObject,
  opts: { onlyIfAbsent?: boolean } = {},
): Promise<KubernetesObject> {
  clients.countWrite('apply', kind.plural);
  const req = {
    name: obj.metadata?.name as string,
    namespace: obj.metadata?.namespace as string,
    body: opts.onlyIfAbsent ? { ...obj, metadata: { ...obj.metadata, resourceVersion: ONLY_IF_ABSENT } } : obj,
    fieldManager: FIELD_MANAGER,
    force: true,
  };
  return (await kind.api(clients).patch(req)) as KubernetesObject;
}

/** Deletes exactly the object we looked at (uid precondition), never a successor with the same name. */
export async function deleteChild(clients: KubeClients, kind: ChildKind, obj: KubernetesObject): Promise<void> {
  const api = kind.api(clients);
  if (!kind.removable || !api.delete) throw new Error(`${kind.kind} is not a removable child kind`);
  clients.countWrite('delete', kind.plural);
  await api.delete({
    name: obj.metadata?.name as string,
    namespace: obj.metadata?.namespace as string,
    body: { preconditions: { uid: obj.metadata?.uid as string } },
  });
}
