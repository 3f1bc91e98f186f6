import { randomBytes } from 'node:crypto';
import type { ModelDeployment } from '../api/types.generated.ts';
import { MODELDEPLOYMENT_GROUP, MODELDEPLOYMENT_KIND, MODELDEPLOYMENT_VERSION } from '../api/types.generated.ts';
import type { KubeClients } from './clients.ts';
import type { Logger } from '../log.ts';

export type EventType = 'Normal' | 'Warning';

/**
 * Records core/v1 Events on a ModelDeployment, so `kubectl describe` shows what happened. Like
 * client-go's recorder it does not hold the reconcile up: `record` sends the Event and returns;
 * `flush` waits for the ones in flight (at shutdown).
 */
export class EventRecorder {
  private readonly clients: KubeClients;
  private readonly log: Logger;
  private readonly instance: string;
  private readonly pending = new Set<Promise<void>>();

  constructor(clients: KubeClients, log: Logger, instance: string) {
    this.clients = clients;
    this.log = log;
    this.instance = instance;
  }

  record(md: ModelDeployment, type: EventType, reason: string, message: string): Promise<void> {
    const sent = this.send(md, type, reason, message).finally(() => this.pending.delete(sent));
    this.pending.add(sent);
    return Promise.resolve();
  }

  /** Waits for every Event in flight. */
  async flush(): Promise<void> {
    await Promise.all(this.pending);
  }

  private async send(md: ModelDeployment, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = md.metadata?.namespace as string;
    const now = new Date();
    this.clients.countWrite('create', 'events');
    try {
      await this.clients.core.createNamespacedEvent({
        namespace,
        body: {
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
        },
      });
    } catch (err) {
      this.log.warn('could not record event', { reason, error: (err as Error).message });
    }
  }
}
