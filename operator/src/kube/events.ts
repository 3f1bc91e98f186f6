import { randomBytes } from 'node:crypto';
import type { ModelDeployment } from '../api/types.generated.ts';
import { MODELDEPLOYMENT_GROUP, MODELDEPLOYMENT_KIND, MODELDEPLOYMENT_VERSION } from '../api/types.generated.ts';
import type { KubeClients } from './clients.ts';
import type { Logger } from '../log.ts';

export type EventType = 'Normal' | 'Warning';

/** Records core/v1 Events on a ModelDeployment, so `kubectl describe` shows what happened. */
export class EventRecorder {
  private readonly clients: KubeClients;
  private readonly log: Logger;
  private readonly instance: string;

  constructor(clients: KubeClients, log: Logger, instance: string) {
    this.clients = clients;
    this.log = log;
    this.instance = instance;
  }

  async record(md: ModelDeployment, type: EventType, reason: string, message: string): Promise<void> {
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
