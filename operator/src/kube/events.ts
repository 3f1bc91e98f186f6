import { randomBytes } from 'node:crypto';
import type { CoreV1Event } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.generated.ts';
import { MODELDEPLOYMENT_GROUP, MODELDEPLOYMENT_KIND, MODELDEPLOYMENT_VERSION } from '../api/types.generated.ts';
import type { KubeClients } from './clients.ts';
import type { Logger } from '../log.ts';

export type EventType = 'Normal' | 'Warning';

/**
 * Events are sent in the background, as client-go's recorder does, so a reconcile does not wait
 * for them: on creation they were two of the six requests a reconcile made one after another.
 * One ModelDeployment's Events go through one lane, in order; the lanes send concurrently.
 */
const LANES = 4;
/** Beyond this many Events waiting, new ones are dropped (and logged) rather than held without bound. */
export const MAX_PENDING_EVENTS = 2_000;

interface Lane {
  queue: CoreV1Event[];
  running: Promise<void> | undefined;
}

function laneOf(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) >>> 0;
  return h % LANES;
}

/** Records core/v1 Events on a ModelDeployment, so `kubectl describe` shows what happened. */
export class EventRecorder {
  private readonly clients: KubeClients;
  private readonly log: Logger;
  private readonly instance: string;
  private readonly lanes: Lane[] = Array.from({ length: LANES }, () => ({ queue: [], running: undefined }));
  private pending = 0;

  constructor(clients: KubeClients, log: Logger, instance: string) {
    this.clients = clients;
    this.log = log;
    this.instance = instance;
  }

  /** Queues the Event (stamped now) and returns; it is sent after the Events queued before it for the same ModelDeployment. */
  async record(md: ModelDeployment, type: EventType, reason: string, message: string): Promise<void> {
    if (this.pending >= MAX_PENDING_EVENTS) {
      this.log.warn('event dropped: too many waiting to be sent', { reason, waiting: this.pending });
      return;
    }
    const namespace = md.metadata?.namespace as string;
    const now = new Date();
    const lane = this.lanes[laneOf(`${namespace}/${md.metadata?.name}`)]!;
    lane.queue.push({
      metadata: { name: `${md.metadata?.name}.${randomBytes(8).toString('hex')}`, namespace },
      involvedObject: {
        apiVersion: `${MODELDEPLOYMENT_GROUP}/${MODELDEPLOYMENT_VERSION}`,
        kind: MODELDEPLOYMENT_KIND,
        name: md.metadata?.name,
        namespace,
        uid: md.metadata?.uid,
        resourceVersion: md.metadata?.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: 'modelship-operator' },
      reportingComponent: 'modelship.dev/operator',
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
    this.pending++;
    if (!lane.running) this.start(lane);
  }

  /** Resolves once every Event queued so far has been sent (or failed); for shutdown and tests. */
  async drain(): Promise<void> {
    for (let busy = this.lanes.filter((l) => l.running); busy.length > 0; busy = this.lanes.filter((l) => l.running)) {
      await Promise.all(busy.map((l) => l.running));
    }
  }

  get waiting(): number {
    return this.pending;
  }

  private start(lane: Lane): void {
    // Cleared asynchronously, after the assignment, whatever `send` did; an Event queued after
    // `send` emptied the queue but before this ran starts the lane again.
    lane.running = this.send(lane).then(() => {
      lane.running = undefined;
      if (lane.queue.length > 0) this.start(lane);
    });
  }

  private async send(lane: Lane): Promise<void> {
    for (let body = lane.queue.shift(); body; body = lane.queue.shift()) {
      this.clients.countWrite('create', 'events');
      try {
        await this.clients.core.createNamespacedEvent({ namespace: body.metadata.namespace as string, body });
      } catch (err) {
        this.log.warn('could not record event', { reason: body.reason, error: (err as Error).message });
      } finally {
        this.pending--;
      }
    }
  }
}
