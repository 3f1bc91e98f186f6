import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { isNotFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import { ResilientInformer, type InformerSpec } from './informer.ts';

/** While the API is missing, look for it this often (someone may install the CRDs). */
export const API_PROBE_INTERVAL_MS = 30_000;

/**
 * An informer on a kind the cluster may not serve (ChildKind.optional, e.g. Gateway API
 * HTTPRoutes). While the API is missing it counts as synced, healthy and empty, so the operator
 * starts, stays ready and manages everything else; it looks again every API_PROBE_INTERVAL_MS and,
 * once the API is there, starts watching and calls `onAvailable` (the controller re-queues every
 * ModelDeployment, so those Degraded for the missing API apply their child).
 */
export class OptionalApiInformer<T extends KubernetesObject> extends ResilientInformer<T> {
  private readonly listOnce: InformerSpec<T>['list'];
  private readonly onAvailable: () => void;
  private readonly optionalLog: Logger;
  private absent = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(kc: KubeConfig, spec: InformerSpec<T>, log: Logger, onRestart: (name: string) => void, onAvailable: () => void) {
    super(kc, spec, log, onRestart);
    this.listOnce = spec.list;
    this.onAvailable = onAvailable;
    this.optionalLog = log.child({ informer: spec.name });
  }

  override async start(): Promise<void> {
    this.stopped = false;
    if (await this.served()) {
      this.absent = false;
      // A failed first list is handled like any later one: restarted with backoff, or, on 404, absent.
      await super.start().catch((err: unknown) => this.handleError(err));
      return;
    }
    this.becomeAbsent();
  }

  /**
   * A 404 from the running informer means the API is not (or no longer) served: an earlier probe
   * can be answered by a refusal (403 while RBAC is being changed) that counts as served, and CRDs
   * can be deleted. Back to absent and probing, instead of restarting a watch on a missing API
   * forever (the operator would stay unready).
   */
  protected override handleError(err: unknown): void {
    if (this.stopped || this.absent || !isNotFound(err)) {
      super.handleError(err);
      return;
    }
    void super.stop().catch(() => undefined);
    this.becomeAbsent();
  }

  private becomeAbsent(): void {
    if (!this.absent) this.optionalLog.info('API not served by the cluster; watching for it', { probeEveryMs: API_PROBE_INTERVAL_MS });
    this.absent = true;
    if (this.probeTimer) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      if (this.stopped) return;
      this.start()
        .then(() => {
          if (!this.absent) {
            this.optionalLog.info('API now served; watching it');
            this.onAvailable();
          }
        })
        .catch((err: unknown) => this.optionalLog.warn('cannot start informer', { error: String(err) }));
    }, API_PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  override async stop(): Promise<void> {
    this.stopped = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (!this.absent) await super.stop();
  }

  override get hasSynced(): boolean {
    return this.absent || super.hasSynced;
  }

  override get healthy(): boolean {
    return this.absent || super.healthy;
  }

  /** Whether the collection answers; other errors than 404 count as served (the informer retries them). */
  private async served(): Promise<boolean> {
    try {
      await this.listOnce();
      return true;
    } catch (err) {
      return !isNotFound(err);
    }
  }
}
