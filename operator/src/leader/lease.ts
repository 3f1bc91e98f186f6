import type { V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { LeaderElectionConfig } from '../config.ts';
import { describeApiError, isNotFound } from '../errors.ts';
import type { KubeClients } from '../kube/clients.ts';
import type { Logger } from '../log.ts';

export interface LeaderCallbacks {
  onStartedLeading: () => Promise<void> | void;
  onStoppedLeading: () => Promise<void> | void;
}

/**
 * Lease times are MicroTime: the API server insists on six fractional digits, but client-node
 * serialises its Date with three. Strings pass through its serializer untouched.
 */
function microTime(t: Date | string | undefined): V1MicroTime | undefined {
  if (t === undefined) return undefined;
  const iso = new Date(t).toISOString();
  return `${iso.slice(0, -1)}000Z` as unknown as V1MicroTime;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * client-go's Lease algorithm: acquire when the Lease is free or its holder has not renewed
 * within leaseDuration (measured on our own clock, from when we last saw it change); renew every
 * retryPeriod; give up leadership if renewing fails for renewDeadline. Optimistic concurrency
 * (resourceVersion on replace) makes the takeover race-free.
 */
export class LeaderElector {
  private readonly cfg: LeaderElectionConfig;
  private readonly clients: KubeClients;
  private readonly log: Logger;
  private observed: { holder: string | undefined; renewTime: string | undefined; at: number } | undefined;
  private leading = false;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(cfg: LeaderElectionConfig, clients: KubeClients, log: Logger) {
    this.cfg = cfg;
    this.clients = clients;
    this.log = log.child({ lease: `${cfg.namespace}/${cfg.leaseName}`, identity: cfg.identity });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  run(callbacks: LeaderCallbacks): void {
    this.loop = this.runLoop(callbacks);
  }

  private async runLoop(cb: LeaderCallbacks): Promise<void> {
    while (!this.stopped && !this.leading) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        this.log.info('became leader');
        await cb.onStartedLeading();
      } else {
        await sleep(this.cfg.retryPeriodMs);
      }
    }
    let lastRenew = Date.now();
    while (!this.stopped && this.leading) {
      await sleep(this.cfg.retryPeriodMs);
      if (this.stopped) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew > this.cfg.renewDeadlineMs) {
        this.leading = false;
        this.log.error('lost leadership: could not renew the Lease within the renew deadline');
        await cb.onStoppedLeading();
      }
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, leaseName: name, identity } = this.cfg;
    const now = new Date();
    const durationSeconds = Math.ceil(this.cfg.leaseDurationMs / 1000);
    let lease: V1Lease;
    try {
      lease = await this.clients.coordination.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) {
        this.log.warn('cannot read the Lease', { error: describeApiError(err).message });
        return false;
      }
      try {
        this.clients.countWrite('create', 'leases');
        await this.clients.coordination.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: microTime(now),
              renewTime: microTime(now),
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch (createErr) {
        this.log.debug('lost the race to create the Lease', { error: describeApiError(createErr).message });
        return false;
      }
    }

    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity || undefined;
    const renewTime = spec.renewTime ? new Date(spec.renewTime).toISOString() : undefined;
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: Date.now() };
    }
    const heldByOther = holder !== undefined && holder !== identity;
    const leaseMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (heldByOther && Date.now() < this.observed.at + leaseMs) return false;

    const takingOver = holder !== identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: microTime(takingOver ? now : spec.acquireTime),
      renewTime: microTime(now),
      ...(takingOver ? { leaseTransitions: (spec.leaseTransitions ?? 0) + (holder ? 1 : 0) } : {}),
    };
    try {
      this.clients.countWrite('update', 'leases');
      await this.clients.coordination.replaceNamespacedLease({ name, namespace, body: lease });
      if (takingOver) this.log.info('acquired the Lease', { previousHolder: holder ?? '(none)' });
      return true;
    } catch (err) {
      this.log.debug('Lease update failed', { error: describeApiError(err).message });
      return false;
    }
  }

  /** Stops the loop; if leading, releases the Lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop?.catch(() => undefined);
    if (!this.leading) return;
    this.leading = false;
    const { namespace, leaseName: name, identity } = this.cfg;
    try {
      const lease = await this.clients.coordination.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      lease.spec = {
        ...lease.spec,
        holderIdentity: undefined,
        leaseDurationSeconds: 1,
        acquireTime: microTime(lease.spec.acquireTime),
        renewTime: microTime(new Date()),
      };
      this.clients.countWrite('update', 'leases');
      await this.clients.coordination.replaceNamespacedLease({ name, namespace, body: lease });
      this.log.info('released the Lease');
    } catch (err) {
      this.log.warn('could not release the Lease', { error: describeApiError(err).message });
    }
  }
}
