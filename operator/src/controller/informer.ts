import { ListWatch, Watch, type KubeConfig, type KubernetesObject, type KubernetesListObject } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';

export interface InformerSpec<T extends KubernetesObject> {
  /** For logs and metrics, e.g. "deployments". */
  name: string;
  /** Collection path, e.g. /apis/apps/v1/deployments or /apis/apps/v1/namespaces/ns/deployments. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /** What the cache keeps of each listed or watched object (default: all of it). */
  lean?: (obj: T) => T;
}

/** A watch whose added, modified and deleted objects pass through `lean` before the cache sees them. */
class LeanWatch<T extends KubernetesObject> extends Watch {
  private readonly lean: (obj: T) => T;

  constructor(kc: KubeConfig, lean: (obj: T) => T) {
    super(kc);
    this.lean = lean;
  }

  override watch(...[path, query, callback, done]: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
    return super.watch(
      path,
      query,
      (phase, obj: T, watchObj) =>
        callback(phase, phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? this.lean(obj) : obj, watchObj),
      done,
    );
  }
}

export type ChangeHandler<T> = (obj: T, verb: 'add' | 'update' | 'delete') => void;

const MIN_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;

/**
 * client-node's informer stops for good on most errors, and `stop()` itself emits an error.
 * This wrapper restarts it with backoff (single flight), ignores the error `stop()` causes,
 * and tells whether the cache has been filled at least once.
 */
export class ResilientInformer<T extends KubernetesObject> {
  readonly name: string;
  private readonly informer: ListWatch<T>;
  private readonly log: Logger;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelayMs = MIN_RESTART_DELAY_MS;
  private synced = false;
  private lastError: string | undefined;
  private readonly onRestart: (name: string) => void;

  constructor(kc: KubeConfig, spec: InformerSpec<T>, log: Logger, onRestart: (name: string) => void = () => {}) {
    this.name = spec.name;
    this.log = log.child({ informer: spec.name });
    this.onRestart = onRestart;
    const lean = spec.lean;
    this.informer = new ListWatch<T>(
      spec.path,
      lean ? new LeanWatch(kc, lean) : new Watch(kc),
      async () => {
        const list = await spec.list();
        if (lean) list.items = list.items.map(lean);
        this.synced = true;
        this.lastError = undefined;
        this.restartDelayMs = MIN_RESTART_DELAY_MS;
        return list;
      },
      false,
      spec.labelSelector,
    );
    this.informer.on('error', (err: unknown) => this.handleError(err));
  }

  onChange(handler: ChangeHandler<T>): void {
    this.informer.on('add', (o) => handler(o, 'add'));
    this.informer.on('update', (o) => handler(o, 'update'));
    this.informer.on('delete', (o) => handler(o, 'delete'));
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.informer.stop();
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get healthy(): boolean {
    return this.synced && this.restartTimer === undefined;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  get(name: string, namespace: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace);
  }

  protected handleError(err: unknown): void {
    const e = err as { name?: string; message?: string };
    if (this.stopping || e?.name === 'AbortError') return;
    this.lastError = e?.message ?? String(err);
    if (this.restartTimer) return;
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, MAX_RESTART_DELAY_MS);
    this.log.warn('informer stopped; restarting', { error: this.lastError, delayMs: delay });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.onRestart(this.name);
      this.informer.start().catch((startErr: unknown) => this.handleError(startErr));
    }, delay);
  }
}
