import type { V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { LeaderElectionConfig } from '../config.ts';
import { describeApiError, isNotFound } from '../errors.ts';
import type { KubeClients } from '../kube/clients.ts';
import type { Logger } from '../log.ts';

export interface LeaderCallbacks {
  /** Called once when this replica becomes leader. Not awaited: the Lease keeps being renewed meanwhile. */
  onStartedLeading: () => Promise<void> | void;
  /**
   * Called once when leadership is lost (another holder, or no renewal within the renew
   * deadline). Not awaited: it typically shuts the process down, which stops this elector.
   */
  onStoppedLeading: (reason: string) => Promise<void> | void;
}

type Attempt = { outcome: 'held' } | { outcome: 'held-by-other'; holder: string } | { outcome: 'failed' };

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

/** The attempt's result, or 'timeout' after `ms` (the attempt is abandoned, not cancelled). */
function withDeadline<T>(attempt: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), Math.max(ms, 0));
  });
  return Promise.race([attempt, expired]).finally(() => clearTimeout(timer));
}

/**
 * client-go's Lease algorithm: acquire when the Lease is free or its holder has not renewed
 * within leaseDuration (measured on our own clock, from when we last saw it change); renew every
 * retryPeriod; give up leadership if renewing fails for renewDeadline. Optimistic concurrency
 * (resourceVersion on replace) makes the takeover race-free.
 * Unlike client-go, a leader that reads another holder in the Lease gives up at once rather
 * than at the renew deadline: someone else may already be acting, and every write from here
 * on would race theirs. A renewal that hangs (unreachable API server) counts as failed when
 * the renew deadline passes, so the deadline holds whatever the network does.
 * The loop never awaits a callback: the lost-leadership callback shuts the process down, and
 * shutdown stops (and waits for) this loop.
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
    this.loop = this.runLoop(callbacks).catch((err: unknown) => {
      // Defensive: tryAcquireOrRenew catches API errors; anything else is a bug, and a replica
      // that cannot tell whether it leads must not keep running.
      this.leading = false;
      const reason = `leader election failed: ${(err as Error)?.message ?? String(err)}`;
      this.log.error(reason);
      this.notify(() => callbacks.onStoppedLeading(reason));
    });
  }

  private async runLoop(cb: LeaderCallbacks): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      if ((await this.tryAcquireOrRenew()).outcome === 'held') break;
      await sleep(this.cfg.retryPeriodMs);
    }
    this.leading = true;
    // Stopped while acquiring: lead no further, but let stop() release what was just taken.
    if (this.stopped) return;
    this.log.info('became leader');
    this.notify(() => cb.onStartedLeading());
    const reason = await this.renewUntilLost();
    if (reason === undefined) return;
    this.leading = false;
    this.log.error('lost leadership', { reason });
    this.notify(() => cb.onStoppedLeading(reason));
  }

  /** Renews every retry period; resolves with the reason leadership was lost, or undefined when stopped. */
  private async renewUntilLost(): Promise<string | undefined> {
    let lastRenew = Date.now();
    for (;;) {
      await sleep(this.cfg.retryPeriodMs);
      if (this.stopped) return undefined;
      const attempt = await withDeadline(this.tryAcquireOrRenew(), lastRenew + this.cfg.renewDeadlineMs - Date.now());
      if (this.stopped) return undefined;
      if (attempt !== 'timeout' && attempt.outcome === 'held') {
        lastRenew = Date.now();
        continue;
      }
      if (attempt !== 'timeout' && attempt.outcome === 'held-by-other') return `the Lease is now held by ${attempt.holder}`;
      if (Date.now() - lastRenew >= this.cfg.renewDeadlineMs) {
        return `could not renew the Lease within the renew deadline (${this.cfg.renewDeadlineMs} ms)`;
      }
    }
  }

  /** Runs a callback without awaiting it; a failure is logged, never thrown into the loop. */
  private notify(fn: () => Promise<void> | void): void {
    Promise.resolve()
      .then(fn)
      .catch((err: unknown) => this.log.error('leader election callback failed', { error: (err as Error)?.message ?? String(err) }));
  }

  private async tryAcquireOrRenew(): Promise<Attempt> {
    const { namespace, leaseName: name, identity } = this.cfg;
    const now = new Date();
    const durationSeconds = Math.ceil(this.cfg.leaseDurationMs / 1000);
    let lease: V1Lease;
    try {
      lease = await this.clients.coordination.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) {
        this.log.warn('cannot read the Lease', { error: describeApiError(err).message });
        return { outcome: 'failed' };
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
        return { outcome: 'held' };
      } catch (createErr) {
        this.log.debug('lost the race to create the Lease', { error: describeApiError(createErr).message });
        return { outcome: 'failed' };
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
    if (heldByOther && (this.leading || Date.now() < this.observed.at + leaseMs)) return { outcome: 'held-by-other', holder };

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
      return { outcome: 'held' };
    } catch (err) {
      this.log.debug('Lease update failed', { error: describeApiError(err).message });
      return { outcome: 'failed' };
    }
  }

  /** Stops the loop; if leading, releases the Lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    // The loop ends within a retry period, unless an API call hangs; do not wait longer than a renewal may take.
    if (this.loop) await withDeadline(this.loop, this.cfg.renewDeadlineMs);
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
