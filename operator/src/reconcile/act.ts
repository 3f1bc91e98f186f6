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
  return {
    problem: {
      reason: info.status === 403 ? 'Forbidden' : info.status === 422 ? 'InvalidSpec' : 'ApplyFailed',
      message: info.retryable ? `${info.message} (retrying)` : info.message,
    },
    retryable: info.retryable,
    status: info.status,
  };
}

/** Runs the steps in order, stopping at the first error (later kinds may depend on earlier ones). */
export async function act(clients: KubeClients, log: Logger, md: ModelDeployment, steps: readonly ChildStep[]): Promise<ActOutcome> {
  const createdObjects: KubernetesObject[] = [];
  const created = () => createdObjects.map((o) => `${o.kind} ${o.metadata?.name}`);
  let unavailable: BlockingProblem | undefined;
  try {
    for (const step of steps) {
      if (step.op === 'apply') {
        try {
          await ensure(clients, log, step.kind, md, step.desired, step.actual, createdObjects);
        } catch (err) {
          // An apply answers 404 only when the API itself is missing (it creates absent objects).
          if (!step.kind.optional || !isNotFound(err)) throw err;
          unavailable = apiUnavailable(step.kind, step.desired.metadata?.name as string);
          log.info('child kind not served by the cluster', { kind: step.kind.kind, message: unavailable.message });
        }
      } else await deleteChild(clients, step.kind, step.actual);
    }
  } catch (err) {
    if (err instanceof NameTaken) {
      log.info('name conflict', { message: err.problem.message });
      return { created: created(), createdObjects, problem: undefined, conflict: err.problem, retry: undefined };
    }
    const policy = applyErrorPolicy(err);
    log.warn('cannot apply children', { status: policy.status, error: describeApiError(err).message, retrying: policy.retryable });
    return { created: created(), createdObjects, problem: policy.problem, retry: policy.retryable ? err : undefined };
  }
  return { created: created(), createdObjects, problem: undefined, retry: undefined, ...(unavailable ? { unavailable } : {}) };
}

async function ensure(
  clients: KubeClients,
  log: Logger,
  kind: ChildKind,
  md: ModelDeployment,
  desired: KubernetesObject,
  actual: KubernetesObject | undefined,
  createdObjects: KubernetesObject[],
): Promise<void> {
  const force = kind.beforeApply ? await kind.beforeApply(md, actual, clients) : false;
  const difference = !actual ? '(missing)' : force ? '(handed over)' : kind.difference(desired, actual);
  if (difference === undefined) return;
  log.debug('applying', { kind: kind.kind, name: desired.metadata?.name, namespace: desired.metadata?.namespace, difference });
  if (actual) {
    await applyChild(clients, kind, desired);
    return;
  }
  const stored = await create(clients, kind, md, desired);
  // The desired object's kind and name: an answer may lack them (a typed client's, or a test's).
  if (stored) createdObjects.push({ ...stored, kind: kind.kind, metadata: { ...stored.metadata, name: desired.metadata?.name } });
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
