// In-memory stand-ins for the reconciler's inputs and outputs, for unit tests of the reconcile
// steps: caches are plain maps implementing the Cache interface; the clients record every call
// (client-node's typed API methods by name) and answer reads with 404 unless told otherwise.
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import type { ModelDeployment, ModelDeploymentStatus } from '../../operator/src/api/types.generated.ts';
import type { KubeClients } from '../../operator/src/kube/clients.ts';
import { silentLogger } from '../../operator/src/log.ts';
import { OperatorMetrics } from '../../operator/src/metrics.ts';
import type { Cache, PodsByInstance } from '../../operator/src/reconcile/observe.ts';
import { LABEL_INSTANCE } from '../../operator/src/api/labels.ts';
import type { ReconcilerDeps } from '../../operator/src/controller/reconciler.ts';
import { CHILD_KINDS } from '../../operator/src/controller/child-kinds.ts';
import { RUNTIME_DEFAULTS } from './operator-fixtures.ts';

export class FakeCache<T extends KubernetesObject> implements Cache<T> {
  readonly objects: T[] = [];
  constructor(objects: T[] = []) {
    this.objects.push(...objects);
  }
  get(name: string, namespace: string): T | undefined {
    return this.objects.find((o) => o.metadata?.name === name && o.metadata?.namespace === namespace);
  }
  list(namespace?: string): readonly T[] {
    return this.objects.filter((o) => namespace === undefined || o.metadata?.namespace === namespace);
  }
  put(obj: T): void {
    const i = this.objects.findIndex((o) => o.metadata?.name === obj.metadata?.name && o.metadata?.namespace === obj.metadata?.namespace);
    if (i >= 0) this.objects[i] = obj;
    else this.objects.push(obj);
  }
}

/** The Pod cache as the reconciler reads it: one ModelDeployment's pods by its instance label. */
export class FakePods extends FakeCache<V1Pod> implements PodsByInstance {
  ofInstance(namespace: string, modelDeploymentName: string): readonly V1Pod[] {
    return this.list(namespace).filter((p) => p.metadata?.labels?.[LABEL_INSTANCE] === modelDeploymentName);
  }
}

export interface Call {
  api: string;
  method: string;
  arg: Record<string, unknown>;
}

/** An API error as client-node throws it (ApiException: numeric code, JSON body). */
export function apiError(code: number, message: string): Error {
  return Object.assign(new Error(`HTTP ${code}`), { code, body: JSON.stringify({ message }) });
}

export class FakeClients {
  readonly calls: Call[] = [];
  readonly writes: string[] = [];
  /** Answers for a method, by name; throw to simulate an API error. */
  readonly answers = new Map<string, (arg: Record<string, unknown>) => unknown>();

  private api(name: string): unknown {
    return new Proxy(
      {},
      {
        get: (_t, method: string) => async (arg: Record<string, unknown>) => {
          this.calls.push({ api: name, method, arg });
          const answer = this.answers.get(method);
          if (answer) return answer(arg);
          if (method.startsWith('read')) throw apiError(404, 'not found');
          // A server-side apply answers with the object as stored.
          if (method.startsWith('patch')) {
            const body = structuredClone(arg.body) as KubernetesObject;
            return { ...body, metadata: { ...body.metadata, uid: `uid-${body.kind}-${body.metadata?.name}` } };
          }
          return {};
        },
      },
    );
  }

  readonly core = this.api('core');
  readonly apps = this.api('apps');
  readonly autoscaling = this.api('autoscaling');
  readonly networking = this.api('networking');
  readonly policy = this.api('policy');
  readonly custom = this.api('custom');

  countWrite(verb: string, resource: string): void {
    this.writes.push(`${verb} ${resource}`);
  }
  async handOverReplicas(name: string, namespace: string, replicas: number): Promise<void> {
    this.countWrite('apply', 'deployments');
    this.calls.push({ api: 'apps', method: 'handOverReplicas', arg: { name, namespace, replicas } });
  }
  readonly statuses: ModelDeploymentStatus[] = [];
  async applyStatus(_md: ModelDeployment, status: ModelDeploymentStatus): Promise<void> {
    this.countWrite('apply', 'modeldeployments/status');
    this.statuses.push(structuredClone(status));
  }

  /** The objects sent by server-side apply, in order. */
  applied(): KubernetesObject[] {
    return this.calls.filter((c) => c.method.startsWith('patch')).map((c) => c.arg.body as KubernetesObject);
  }
  deleted(): string[] {
    return this.calls.filter((c) => c.method.startsWith('delete')).map((c) => `${c.method}:${c.arg.name}`);
  }
  asKubeClients(): KubeClients {
    return this as unknown as KubeClients;
  }
}

export interface RecordedEvent {
  type: string;
  reason: string;
  message: string;
}

export class FakeEvents {
  readonly events: RecordedEvent[] = [];
  async record(_md: ModelDeployment, type: string, reason: string, message: string): Promise<void> {
    this.events.push({ type, reason, message });
  }
}

export interface FakeWorld {
  clients: FakeClients;
  events: FakeEvents;
  mds: FakeCache<ModelDeployment>;
  children: Map<string, FakeCache<KubernetesObject>>;
  pods: FakePods;
  metrics: OperatorMetrics;
  deps(now?: Date): ReconcilerDeps;
}

export function fakeWorld(): FakeWorld {
  const clients = new FakeClients();
  const events = new FakeEvents();
  const mds = new FakeCache<ModelDeployment>();
  const children = new Map(CHILD_KINDS.map((k) => [k.kind, new FakeCache<KubernetesObject>()]));
  const pods = new FakePods();
  const metrics = new OperatorMetrics();
  return {
    clients,
    events,
    mds,
    children,
    pods,
    metrics,
    deps: (now = new Date('2026-11-30T12:00:00Z')) => ({
      clients: clients.asKubeClients(),
      modelDeployments: mds,
      children,
      pods,
      events,
      runtimeDefaults: RUNTIME_DEFAULTS,
      metrics,
      log: silentLogger(),
      now: () => now,
    }),
  };
}

/**
 * What the API server and the controllers would make of the applied objects, well enough for the
 * reconciler: each applied child lands in its cache with a uid; a Deployment's status says whether
 * it is rolled out.
 */
export function settle(world: FakeWorld, opts: { deploymentComplete: boolean } = { deploymentComplete: true }): void {
  for (const call of world.clients.calls.filter((c) => c.method.startsWith('delete'))) {
    const kind = call.method.replace(/^deleteNamespaced/, '');
    const cache = world.children.get(kind);
    if (!cache) continue;
    const i = cache.objects.findIndex((o) => o.metadata?.name === call.arg.name);
    if (i >= 0) cache.objects.splice(i, 1);
  }
  for (const obj of world.clients.applied()) {
    if (obj.kind === 'ModelDeployment') continue;
    const cache = world.children.get(obj.kind as string);
    if (!cache) continue;
    const copy = structuredClone(obj) as KubernetesObject & { spec?: { replicas?: number }; status?: unknown };
    const before = cache.get(obj.metadata?.name as string, obj.metadata?.namespace as string);
    const generation = (before?.metadata?.generation ?? 0) + 1;
    copy.metadata = { ...copy.metadata, uid: `uid-${obj.kind}-${obj.metadata?.name}`, generation };
    if (obj.kind === 'Deployment') {
      const n = copy.spec?.replicas ?? 1;
      copy.status = opts.deploymentComplete
        ? {
            observedGeneration: generation,
            replicas: n,
            updatedReplicas: n,
            readyReplicas: n,
            availableReplicas: n,
            conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }],
          }
        : { observedGeneration: generation, replicas: n, updatedReplicas: 0, readyReplicas: 0, availableReplicas: 0 };
    }
    cache.put(copy);
  }
  const status = world.clients.statuses.at(-1);
  for (const md of [...world.mds.objects]) if (status) world.mds.put({ ...md, status });
  world.clients.calls.length = 0;
  world.clients.writes.length = 0;
  world.events.events.length = 0;
}
