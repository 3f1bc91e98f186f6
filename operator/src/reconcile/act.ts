import type { KubernetesObject } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.generated.ts';
import { applyChild, deleteChild, type ChildKind } from '../controller/child-kinds.ts';
import { describeApiError, isConflict, isNotFound } from '../errors.ts';
import type { KubeClients } from '../kube/clients.ts';
import type { Logger } from '../log.ts';
import type { BlockingProblem } from '../status/compute.ts';
import type { ChildStep } from './decide.ts';
import { conflictWith } from './observe.ts';

export interface ActOutcome {
  /** "<Kind> <name>" of each child this reconcile created (one Normal Event names them all). */
  created: string[];
  /** The children this reconcile created, as the API server answered (not in the caches yet). */
  createdObjects?: KubernetesObject[];
  /** What stopped the writes, for the status; undefined when every step went through. */
  problem: BlockingProblem | undefined;
  /** A child's name is held by an object this ModelDeployment does not control (found when creating it). */
  conflict?: BlockingProblem | undefined;
  /** Set when the error is worth retrying: rethrown after the status is written, so the work queue backs off. */
  retry: unknown;
  /** An optional child kind whose API the cluster lacks: Degraded, while the other children are applied. */
  unavailable?: BlockingProblem | undefined;
}

/** The status problem of an optional kind (ChildKind.optional) whose API the cluster does not serve. */
export function apiUnavailable(kind: ChildKind, name: string): BlockingProblem {
  return {
    reason: `${kind.kind}Unavailable`,
    message:
      `${kind.kind} ${name} not applied: the cluster serves no ${kind.group}/${kind.version} ${kind.plural} ` +
      `(install its CRDs); the other children are applied and traffic is split by replicas meanwhile`,
  };
}

/**
 * The error policy of a failed write. Retryable errors (5xx such as a failing admission webhook or
 * an exhausted Service IP range, 429, 409, network) are retried with backoff, but the status says
 * so meanwhile: a problem that lasts must not leave the ModelDeployment without a word. The
 * message is stable across retries, so the status is written once, not on every attempt.
 * 403 and 422 are reported and not retried until something changes.
 */
export function applyErrorPolicy(err: unknown): { problem: BlockingProblem; retryable: boolean; status: number | undefined } {
  const info = describeApiError(err);
  const invalid = info.status === 422 || (info.status === 500 && SCHEMA_REFUSAL.test(info.message));
  const retryable = info.retryable && !invalid;
  return {
    problem: {
      reason: info.status === 403 ? 'Forbidden' : invalid ? 'InvalidSpec' : 'ApplyFailed',
      message: retryable ? `${info.message} (retrying)` : info.message,
    },
    retryable,
    status: info.status,
  };
}

/**
 * How the API server answers (with 500) a server-side apply whose body does not fit the kind's
 * schema, e.g. an unknown field inside spec.pod.affinity, which the CRD passes through unchecked.
 * The same body fails the same way on every retry, so it is an invalid spec, not a server fault.
 */
const SCHEMA_REFUSAL = /^failed to create typed patch object/;

/**
 * A Deployment starts pods; every other child kind is inert on its own (Service, HPA,
 * NetworkPolicy, ...). The HPA controller first looks at a new HPA one sync period (15 s by
 * default) after it appears, so an HPA created just before its Deployment finds it there.
 */
const startsPods = (step: { kind: ChildKind }) => step.kind.kind === 'Deployment';

/**
 * The steps in two stages: every child that starts no pods, written concurrently (none depends on
 * another), then the Deployments in order. A name conflict or a failed write in the first stage
 * stops the reconcile before any Deployment is created or changed: pods never start for a
 * ModelDeployment that is blocked.
 */
export function stagesOf<S extends { kind: ChildKind }>(steps: readonly S[]): { concurrent: S[]; ordered: S[] } {
  return { concurrent: steps.filter((s) => !startsPods(s)), ordered: steps.filter(startsPods) };
}

/** Writes the steps (see stagesOf), stopping at the first stage with an error. */
export async function act(clients: KubeClients, log: Logger, md: ModelDeployment, steps: readonly ChildStep[]): Promise<ActOutcome> {
  const createdBy = new Map<ChildStep, KubernetesObject>();
  let unavailable: BlockingProblem | undefined;
  const write = async (step: ChildStep) => {
    if (step.op === 'delete') return deleteChild(clients, step.kind, step.actual);
    try {
      const stored = await ensure(clients, log, step.kind, md, step.desired, step.actual);
      if (stored) createdBy.set(step, stored);
    } catch (err) {
      // An apply answers 404 only when the API itself is missing (it creates absent objects).
      if (!step.kind.optional || !isNotFound(err)) throw err;
      unavailable = apiUnavailable(step.kind, step.desired.metadata?.name as string);
      log.info('child kind not served by the cluster', { kind: step.kind.kind, message: unavailable.message });
    }
  };
  // In the steps' (CHILD_KINDS) order whatever order the writes finished in, so the Created Event reads the same.
  const createdObjects = () => steps.flatMap((s) => createdBy.get(s) ?? []);
  const created = () => createdObjects().map((o) => `${o.kind} ${o.metadata?.name}`);
  try {
    const { concurrent, ordered } = stagesOf(steps);
    const results = await Promise.allSettled(concurrent.map(write));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    // A conflict blocks the ModelDeployment until the name is free; report it before any other failure.
    if (errors.length > 0) throw errors.find((e) => e instanceof NameTaken) ?? errors[0];
    for (const step of ordered) await write(step);
  } catch (err) {
    if (err instanceof NameTaken) {
      log.info('name conflict', { message: err.problem.message });
      return { created: created(), createdObjects: createdObjects(), problem: undefined, conflict: err.problem, retry: undefined };
    }
    const policy = applyErrorPolicy(err);
    log.warn('cannot apply children', { status: policy.status, error: describeApiError(err).message, retrying: policy.retryable });
    return { created: created(), createdObjects: createdObjects(), problem: policy.problem, retry: policy.retryable ? err : undefined };
  }
  return {
    created: created(),
    createdObjects: createdObjects(),
    problem: undefined,
    retry: undefined,
    ...(unavailable ? { unavailable } : {}),
  };
}

/** Applies the child when it differs; returns it as stored when this call created it. */
async function ensure(
  clients: KubeClients,
  log: Logger,
  kind: ChildKind,
  md: ModelDeployment,
  desired: KubernetesObject,
  actual: KubernetesObject | undefined,
): Promise<KubernetesObject | undefined> {
  const force = kind.beforeApply ? await kind.beforeApply(md, actual, clients) : false;
  const difference = !actual ? '(missing)' : force ? '(handed over)' : kind.difference(desired, actual);
  if (difference === undefined) return undefined;
  log.debug('applying', { kind: kind.kind, name: desired.metadata?.name, namespace: desired.metadata?.namespace, difference });
  if (actual) {
    await applyChild(clients, kind, desired);
    return undefined;
  }
  const stored = await create(clients, kind, md, desired);
  // The desired object's kind and name: an answer may lack them (a typed client's, or a test's).
  return stored ? { ...stored, kind: kind.kind, metadata: { ...stored.metadata, name: desired.metadata?.name } } : undefined;
}

/** Thrown by `create` when a foreign object holds the name; act reports it as a conflict. */
class NameTaken extends Error {
  readonly problem: BlockingProblem;
  constructor(problem: BlockingProblem) {
    super(problem.message);
    this.problem = problem;
  }
}

/**
 * Creates a child the cache does not have, never touching an object of the same name that this
 * ModelDeployment does not control; returns it as stored. Returns undefined when the object
 * turned out to be ours already (the cache lagged), so it was applied rather than created.
 */
async function create(
  clients: KubeClients,
  kind: ChildKind,
  md: ModelDeployment,
  desired: KubernetesObject,
): Promise<KubernetesObject | undefined> {
  try {
    return await applyChild(clients, kind, desired, { onlyIfAbsent: true });
  } catch (err) {
    if (!isConflict(err)) throw err;
    const name = desired.metadata?.name as string;
    // Gone again since: the 409 is retried with backoff.
    const existing = await kind
      .api(clients)
      .read(name, desired.metadata?.namespace as string)
      .catch((e: unknown) => {
        throw isNotFound(e) ? err : e;
      });
    const conflict = conflictWith(md, kind.kind, name, existing);
    if (conflict) throw new NameTaken(conflict);
    await applyChild(clients, kind, desired);
    return undefined;
  }
}
