import type { KubernetesObject, V1Deployment, V1PodTemplateSpec, V1Pod } from '@kubernetes/client-node';
import type { ModelDeployment, ModelDeploymentStatus, ModelSpec } from '../api/types.generated.ts';
import type { RuntimeDefaults } from '../config.ts';
import { ResourceConflictError, isNotFound } from '../errors.ts';
import type { KubeClients } from '../kube/clients.ts';
import { renderPodTemplate, servedModelName, templateHashOf } from '../render/pod-template.ts';
import type { BlockingProblem } from '../status/compute.ts';
import { childName, type ChildKind, type RenderContext } from '../controller/child-kinds.ts';
import { controllerOf, isControlledBy } from '../controller/ownership.ts';
import { AnalysisSpecError } from '../analysis/errors.ts';
import { CANARY_SUFFIX } from '../render/children.ts';
import type { AnalysisOutcome } from '../rollout/canary.ts';
import { parseCanary, type ParsedCanary } from './canary-settings.ts';
import { EXPERIMENT_SUFFIX } from '../render/experiment.ts';
import type { ExperimentWindow } from '../rollout/experiment.ts';
import { parseExperiment, type ParsedExperiment } from './experiment-settings.ts';
import { tlsProblem } from './tls-secret.ts';

/** Read-only views of the informer caches the reconciler needs. */
export interface Cache<T> {
  get(name: string, namespace: string): T | undefined;
  list(namespace?: string): readonly T[];
}

/** The runtime pods of one ModelDeployment (every revision and track), from the Pod cache. */
export interface PodsByInstance {
  ofInstance(namespace: string, modelDeploymentName: string): readonly V1Pod[];
}

export interface ObserveDeps {
  clients: KubeClients;
  modelDeployments: Cache<ModelDeployment>;
  /** The cache of each child kind, by kind (every entry of `childKinds`). */
  children: ReadonlyMap<string, Cache<KubernetesObject>>;
  pods: PodsByInstance;
  childKinds: readonly ChildKind[];
  runtimeDefaults: RuntimeDefaults;
  /** The status this operator wrote and the cache has not delivered yet (WrittenStatuses), if any. */
  writtenStatus?: (md: ModelDeployment) => ModelDeploymentStatus | undefined;
}

/**
 * Everything one reconcile knows about a ModelDeployment and its children: read from the caches
 * (and, for a name conflict the cache cannot show, from the API), then only passed around.
 */
export interface Facts {
  md: ModelDeployment;
  name: string;
  namespace: string;
  now: Date;
  /** The status as last written (empty before the first write). */
  status: ModelDeploymentStatus;
  desiredModel: ModelSpec;
  desiredTemplate: V1PodTemplateSpec;
  desiredHash: string;
  /** The cached object of each child kind with our name, whoever controls it. */
  existing: ReadonlyMap<ChildKind, KubernetesObject | undefined>;
  /** A child with our name that this ModelDeployment does not control. */
  blocking: BlockingProblem | undefined;
  /** The runtime Deployment (the stable track), when this ModelDeployment controls it. */
  deployment: V1Deployment | undefined;
  /** Hash of the pod template the Deployment runs. */
  deployedHash: string | undefined;
  /** The canary Deployment (`<name>-canary`), when this ModelDeployment controls it. */
  canaryDeployment: V1Deployment | undefined;
  /** The runtime pods of this ModelDeployment, every revision and track. */
  pods: readonly V1Pod[];
  /** spec.rollout's Canary settings, parsed; undefined unless the strategy is Canary. */
  canary: ParsedCanary | undefined;
  /** The canary analysis window judged in this reconcile, if one was due (reconcile/analyze.ts). */
  analysis?: AnalysisOutcome | undefined;
  /** spec.experiment, parsed with its pod template; undefined when not set. */
  experiment?: ParsedExperiment | undefined;
  /** The experiment Deployment (`<name>-experiment`), when this ModelDeployment controls it. */
  experimentDeployment?: V1Deployment | undefined;
  /** The per-variant window measured in this reconcile, if one was due (reconcile/analyze-experiment.ts). */
  experimentWindow?: ExperimentWindow | undefined;
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

export function cacheOf(deps: Pick<ObserveDeps, 'children'>, kind: ChildKind): Cache<KubernetesObject> {
  const cache = deps.children.get(kind.kind);
  if (!cache) throw new Error(`no cache for child kind ${kind.kind}`);
  return cache;
}

/** Undefined when the ModelDeployment is gone or being deleted: nothing to do. */
export async function observe(deps: ObserveDeps, key: string, now: Date): Promise<Facts | undefined> {
  const [namespace, name] = splitKey(key);
  const md = deps.modelDeployments.get(name, namespace);
  if (!md || md.metadata?.deletionTimestamp) return undefined;

  const desiredModel: ModelSpec = { ...md.spec.model, name: servedModelName(md) };
  const desiredTemplate = renderPodTemplate(md, desiredModel, deps.runtimeDefaults);
  const desiredHash = templateHashOf(desiredTemplate) as string;

  const existing = new Map(deps.childKinds.map((k) => [k, cacheOf(deps, k).get(childName(k, name), namespace)]));
  const cachedDeployment = deps.children.get('Deployment')?.get(name, namespace) as V1Deployment | undefined;
  const deployment = cachedDeployment && isControlledBy(cachedDeployment, md.metadata?.uid) ? cachedDeployment : undefined;
  const deployedHash = templateHashOf(deployment?.spec?.template);
  const cachedCanary = deps.children.get('Deployment')?.get(`${name}${CANARY_SUFFIX}`, namespace) as V1Deployment | undefined;
  const canaryDeployment = cachedCanary && isControlledBy(cachedCanary, md.metadata?.uid) ? cachedCanary : undefined;
  const cachedExperiment = deps.children.get('Deployment')?.get(`${name}${EXPERIMENT_SUFFIX}`, namespace) as V1Deployment | undefined;
  const experimentDeployment = cachedExperiment && isControlledBy(cachedExperiment, md.metadata?.uid) ? cachedExperiment : undefined;
  const status = deps.writtenStatus?.(md) ?? md.status ?? {};
  let canary: ParsedCanary | undefined;
  let experiment: ParsedExperiment | undefined;
  let invalid: BlockingProblem | undefined;
  try {
    canary = parseCanary(md);
    experiment = parseExperiment(md, deps.runtimeDefaults);
  } catch (err) {
    if (!(err instanceof AnalysisSpecError)) throw err;
    invalid = { reason: 'InvalidSpec', message: err.message };
  }

  // A canary Deployment may be wanted while the Deployment does not run the desired template (or
  // a canary of it is on record): check its name for a conflict too.
  const mayCanary = canary && deployedHash !== undefined && (deployedHash !== desiredHash || status.canary?.templateHash === desiredHash);
  const ctx: RenderContext = {
    template: desiredTemplate,
    metricsPort: deps.runtimeDefaults.metricsPort,
    canary: mayCanary ? { template: desiredTemplate, replicas: 1 } : undefined,
    experiment: experiment ? { template: experiment.template, replicas: 1 } : undefined,
  };
  const wanted = deps.childKinds.filter((k) => k.render(md, ctx));
  const blocking =
    invalid ?? (await tlsProblem(deps.clients, md, now)) ?? (await findConflict(deps, md, wanted, existing, conflictOnRecord(status)));

  const pods = deps.pods.ofInstance(namespace, name);
  return {
    md,
    name,
    namespace,
    now,
    status,
    desiredModel,
    desiredTemplate,
    desiredHash,
    existing,
    blocking,
    deployment,
    deployedHash,
    canaryDeployment,
    pods,
    canary,
    experiment,
    experimentDeployment,
  };
}

/** Whether the status last written reports a name conflict (cleared once a reconcile finds none). */
function conflictOnRecord(status: ModelDeploymentStatus): boolean {
  return status.conditions?.some((c) => c.type === 'Degraded' && c.status === 'True' && c.reason === 'ResourceConflict') ?? false;
}

/** The conflict `obj` (the object named `name` of kind `kind`) is, unless `md` controls it. */
export function conflictWith(md: ModelDeployment, kind: string, name: string, obj: KubernetesObject): BlockingProblem | undefined {
  if (isControlledBy(obj, md.metadata?.uid)) return undefined;
  const owner = controllerOf(obj);
  const conflict = new ResourceConflictError(kind, name, owner ? `${owner.kind} ${owner.name}` : undefined);
  return { reason: 'ResourceConflict', message: conflict.message };
}

/**
 * A child with our name that this ModelDeployment does not control. The label-filtered caches
 * cannot show a foreign object, but reading the API for every child missing from them costs a
 * request per child on every creation: act creates such children with an apply that fails
 * when the name is taken (applyChild's onlyIfAbsent) and reports the conflict then. Only while a
 * conflict is on record does this read the API, so the status clears once the name is free.
 */
async function findConflict(
  deps: ObserveDeps,
  md: ModelDeployment,
  wanted: readonly ChildKind[],
  cached: ReadonlyMap<ChildKind, KubernetesObject | undefined>,
  readMissing: boolean,
): Promise<BlockingProblem | undefined> {
  const mdName = md.metadata?.name as string;
  const namespace = md.metadata?.namespace as string;
  for (const kind of wanted) {
    const name = childName(kind, mdName);
    let obj = cached.get(kind);
    if (!obj) {
      if (!readMissing) continue;
      try {
        obj = await kind.api(deps.clients).read(name, namespace);
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
    }
    const conflict = conflictWith(md, kind.kind, name, obj);
    if (conflict) return conflict;
  }
  return undefined;
}
