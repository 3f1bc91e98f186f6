import type { KubeConfig, KubernetesListObject, KubernetesObject, V1Pod } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.generated.ts';
import { MODELDEPLOYMENT_GROUP, MODELDEPLOYMENT_KIND, MODELDEPLOYMENT_PLURAL, MODELDEPLOYMENT_VERSION } from '../api/types.generated.ts';
import { LABEL_INSTANCE, MANAGED_BY_SELECTOR } from '../api/labels.ts';
import { RUNTIME_HTTP_PORT, type OperatorConfig } from '../config.ts';
import { PodProxyScraper } from '../analysis/scrape.ts';
import { describeApiError } from '../errors.ts';
import type { KubeClients } from '../kube/clients.ts';
import { EventRecorder } from '../kube/events.ts';
import { leanModelDeployment, leanPod } from '../kube/lean.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { CHILD_KINDS, collectionPath, informedKinds } from './child-kinds.ts';
import { ResilientInformer } from './informer.ts';
import { LabelIndex } from './label-index.ts';
import { OptionalApiInformer } from './optional-informer.ts';
import { controllerOf } from './ownership.ts';
import { registerModelDeploymentGauges } from '../modeldeployment-metrics.ts';
import { WorkQueueMetrics } from './queue-metrics.ts';
import { ReconcileMetrics } from './reconcile-metrics.ts';
import { Reconciler } from './reconciler.ts';
import { WorkQueue } from './workqueue.ts';

/** The controller's name in the controller-runtime-style metrics (workqueue_*{name}, controller_runtime_*{controller}). */
export const CONTROLLER_NAME = 'modeldeployment';

/** How long stop() waits for Events still being sent. */
const EVENT_DRAIN_MS = 2_000;

/** Maps a child's event to the key of the ModelDeployment that controls it. */
function ownerKey(obj: KubernetesObject): string | undefined {
  const owner = controllerOf(obj);
  if (owner?.kind === MODELDEPLOYMENT_KIND) return `${obj.metadata?.namespace}/${owner.name}`;
  // Pods are controlled by ReplicaSets; their instance label names the ModelDeployment.
  const instance = obj.metadata?.labels?.[LABEL_INSTANCE];
  return instance ? `${obj.metadata?.namespace}/${instance}` : undefined;
}

/**
 * Informers feed keys into the work queue; workers run one reconcile per key at a time.
 * Event payloads are only hints: reconcile reads the caches afresh.
 */
export class Controller {
  private readonly cfg: OperatorConfig;
  private readonly log: Logger;
  private readonly metrics: OperatorMetrics;
  private readonly queue = new WorkQueue();
  private readonly reconcileMetrics: ReconcileMetrics;
  private readonly reconciler: Reconciler;
  private readonly events: EventRecorder;
  readonly informers: {
    modelDeployments: ResilientInformer<ModelDeployment>;
    /** One per kind of CHILD_KINDS (the stable and canary Deployments share one), by kind. */
    children: ReadonlyMap<string, ResilientInformer<KubernetesObject>>;
    /** Not owned: watched for rollout failure signals. */
    pods: ResilientInformer<V1Pod>;
  };
  private workers: Promise<void>[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(kc: KubeConfig, clients: KubeClients, cfg: OperatorConfig, log: Logger, metrics: OperatorMetrics) {
    this.cfg = cfg;
    this.log = log;
    this.metrics = metrics;
    this.queue.observe(new WorkQueueMetrics(metrics.registry, CONTROLLER_NAME, () => this.queue.length));
    this.reconcileMetrics = new ReconcileMetrics(metrics.registry, CONTROLLER_NAME, cfg.concurrency);
    const ns = cfg.watchNamespace;
    const onRestart = (name: string) => metrics.informerRestarts.inc({ informer: name });
    const labelSelector = MANAGED_BY_SELECTOR;
    /** An informer on one kind, namespaced when the operator watches a single namespace. */
    const informer = <T extends KubernetesObject>(
      name: string,
      group: string,
      version: string,
      list: (namespace: string | undefined) => Promise<KubernetesListObject<T>>,
      selector: string | undefined,
      lean: (obj: T) => T,
      optional = false,
    ) => {
      const spec = {
        name,
        path: collectionPath(group, version, name, ns),
        list: () => list(ns),
        lean,
        ...(selector ? { labelSelector: selector } : {}),
      };
      return optional
        ? new OptionalApiInformer<T>(kc, spec, log, onRestart, () => this.resync())
        : new ResilientInformer<T>(kc, spec, log, onRestart);
    };
    const md = { group: MODELDEPLOYMENT_GROUP, version: MODELDEPLOYMENT_VERSION, plural: MODELDEPLOYMENT_PLURAL };
    this.informers = {
      modelDeployments: informer<ModelDeployment>(
        MODELDEPLOYMENT_PLURAL,
        MODELDEPLOYMENT_GROUP,
        MODELDEPLOYMENT_VERSION,
        (namespace) =>
          namespace ? clients.custom.listNamespacedCustomObject({ ...md, namespace }) : clients.custom.listClusterCustomObject(md),
        undefined,
        leanModelDeployment,
      ),
      children: new Map(
        informedKinds(CHILD_KINDS).map((kind) => {
          const api = kind.api(clients);
          const list = (namespace: string | undefined) => api.list(namespace, labelSelector);
          const inf = informer<KubernetesObject>(kind.plural, kind.group, kind.version, list, labelSelector, kind.lean, kind.optional);
          return [kind.kind, inf];
        }),
      ),
      pods: informer<V1Pod>(
        'pods',
        '',
        'v1',
        (namespace) =>
          namespace
            ? clients.core.listNamespacedPod({ namespace, labelSelector })
            : clients.core.listPodForAllNamespaces({ labelSelector }),
        // Only the runtime's pods (our pod template carries the managed-by label), and only the
        // fields the failure signals read.
        labelSelector,
        leanPod,
      ),
    };

    const podsByInstance = new LabelIndex<V1Pod>(LABEL_INSTANCE);
    this.informers.pods.onChange(podsByInstance.onChange);
    this.informers.modelDeployments.onChange((md) => this.enqueue(`${md.metadata?.namespace}/${md.metadata?.name}`));
    for (const inf of this.allChildInformers()) {
      inf.onChange((obj) => {
        const key = ownerKey(obj);
        if (key) this.enqueue(key);
      });
    }

    registerModelDeploymentGauges(metrics.registry, () => this.informers.modelDeployments.list());

    this.events = new EventRecorder(clients, log, cfg.leaderElection.identity);
    this.reconciler = new Reconciler({
      clients,
      modelDeployments: this.informers.modelDeployments,
      children: this.informers.children,
      pods: { ofInstance: (namespace, name) => podsByInstance.of(namespace, name) },
      events: this.events,
      runtimeDefaults: cfg.runtime,
      metrics,
      log,
      // The runtime serves its metrics on the metrics port, or on the inference port when that is 0.
      scraper: new PodProxyScraper(kc, { port: cfg.runtime.metricsPort || RUNTIME_HTTP_PORT }),
    });
  }

  /** Every informer but the ModelDeployments': the children's and the Pods'. */
  private allChildInformers(): ResilientInformer<KubernetesObject>[] {
    return [...this.informers.children.values(), this.informers.pods as ResilientInformer<KubernetesObject>];
  }

  private allInformers(): ResilientInformer<KubernetesObject>[] {
    return [this.informers.modelDeployments as ResilientInformer<KubernetesObject>, ...this.allChildInformers()];
  }

  private enqueue(key: string): void {
    this.queue.add(key);
    this.metrics.queueDepth.set(this.queue.length);
  }

  /** True once every informer has listed at least once. */
  get synced(): boolean {
    return this.allInformers().every((i) => i.hasSynced);
  }

  get healthy(): boolean {
    return this.allInformers().every((i) => i.healthy);
  }

  async start(): Promise<void> {
    this.running = true;
    // Children first, so the first reconcile of each ModelDeployment already sees them.
    await Promise.all(this.allChildInformers().map((i) => i.start()));
    await this.informers.modelDeployments.start();
    this.workers = Array.from({ length: this.cfg.concurrency }, () => this.work());
    this.resyncTimer = setInterval(() => this.resync(), this.cfg.resyncPeriodMs);
    this.resyncTimer.unref();
    this.log.info('controller started', { concurrency: this.cfg.concurrency, namespace: this.cfg.watchNamespace ?? '(all)' });
  }

  /** Stops handing out work, waits for in-flight reconciles, stops the informers. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.queue.shutdown();
    await Promise.all(this.workers);
    // Events are sent in the background: give the last ones a moment, not the whole shutdown deadline.
    await Promise.race([this.events.drain(), new Promise((r) => setTimeout(r, EVENT_DRAIN_MS).unref())]);
    await Promise.all(this.allInformers().map((i) => i.stop()));
    this.log.info('controller stopped');
  }

  private resync(): void {
    for (const md of this.informers.modelDeployments.list()) this.enqueue(`${md.metadata?.namespace}/${md.metadata?.name}`);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.metrics.queueDepth.set(this.queue.length);
      const end = this.metrics.reconcileDuration.startTimer();
      const finish = this.reconcileMetrics.begin();
      try {
        const result = await this.reconciler.reconcile(key);
        this.queue.forget(key);
        if (result.requeueAfterMs) {
          this.queue.addAfter(key, result.requeueAfterMs);
          this.metrics.reconciles.inc({ result: 'requeue' });
          finish('requeue_after');
        } else {
          this.metrics.reconciles.inc({ result: 'success' });
          finish('success');
        }
      } catch (err) {
        const info = describeApiError(err);
        const delay = this.queue.addRateLimited(key);
        this.metrics.reconciles.inc({ result: 'error' });
        finish('error');
        this.log.warn('reconcile failed; will retry', { modelDeployment: key, status: info.status, error: info.message, retryInMs: delay });
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }
}
