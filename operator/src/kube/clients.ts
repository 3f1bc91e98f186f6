import {
  AppsV1Api,
  AutoscalingV2Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type RequestContext,
} from '@kubernetes/client-node';
import type { ModelDeployment, ModelDeploymentStatus } from '../api/types.generated.ts';
import { MODELDEPLOYMENT_GROUP, MODELDEPLOYMENT_PLURAL, MODELDEPLOYMENT_VERSION, MODELDEPLOYMENT_KIND } from '../api/types.generated.ts';
import { FIELD_MANAGER, REPLICAS_HANDOVER_MANAGER } from '../api/labels.ts';
import type { OperatorMetrics } from '../metrics.ts';

/** Request options that make a typed client's PATCH a server-side apply. */
export const serverSideApply = () => setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  shareConnections(kc);
  return kc;
}

/**
 * client-node gives every request and watch a new undici Agent (in applySecurityAuthentication),
 * so no connection is ever reused: each call pays a TLS handshake and leaves a TLS context
 * behind. One Agent, the first one made (same cluster, same TLS options), serves every call
 * instead, keeping its connections alive between them. Headers (tokens) are still set per call.
 */
export function shareConnections(kc: KubeConfig): void {
  const perCall = kc.applySecurityAuthentication.bind(kc);
  let shared: ReturnType<RequestContext['getDispatcher']>;
  kc.applySecurityAuthentication = async (ctx: RequestContext) => {
    await perCall(ctx);
    const dispatcher = ctx.getDispatcher();
    if (!dispatcher) return;
    shared ??= dispatcher;
    // The fresh Agent has not connected yet, so dropping it costs nothing.
    if (dispatcher !== shared) ctx.setDispatcher(shared);
  };
}

/**
 * The typed API clients, and the writes that are not a child's apply or delete (those are in
 * controller/child-kinds.ts); every write is counted.
 */
export class KubeClients {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly autoscaling: AutoscalingV2Api;
  readonly custom: CustomObjectsApi;
  readonly coordination: CoordinationV1Api;
  readonly networking: NetworkingV1Api;
  readonly policy: PolicyV1Api;
  private readonly metrics: OperatorMetrics;

  constructor(kc: KubeConfig, metrics: OperatorMetrics) {
    this.kc = kc;
    this.metrics = metrics;
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.autoscaling = kc.makeApiClient(AutoscalingV2Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
    this.networking = kc.makeApiClient(NetworkingV1Api);
    this.policy = kc.makeApiClient(PolicyV1Api);
  }

  countWrite(verb: string, resource: string): void {
    this.metrics.apiWrites.inc({ verb, resource });
  }

  /**
   * Hands `spec.replicas` over before the HPA takes the count: a separate manager applies the
   * current value, so our next apply (which leaves replicas out) does not reset it to the default.
   */
  async handOverReplicas(name: string, namespace: string, replicas: number): Promise<void> {
    this.countWrite('apply', 'deployments');
    await this.apps.patchNamespacedDeployment(
      {
        name,
        namespace,
        body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace }, spec: { replicas } },
        fieldManager: REPLICAS_HANDOVER_MANAGER,
        force: true,
      },
      serverSideApply(),
    );
  }

  /** Server-side apply of the status subresource; only the fields given are owned. */
  async applyStatus(md: ModelDeployment, status: ModelDeploymentStatus): Promise<void> {
    this.countWrite('apply', 'modeldeployments/status');
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: MODELDEPLOYMENT_GROUP,
        version: MODELDEPLOYMENT_VERSION,
        plural: MODELDEPLOYMENT_PLURAL,
        namespace: md.metadata?.namespace as string,
        name: md.metadata?.name as string,
        body: {
          apiVersion: `${MODELDEPLOYMENT_GROUP}/${MODELDEPLOYMENT_VERSION}`,
          kind: MODELDEPLOYMENT_KIND,
          metadata: { name: md.metadata?.name, namespace: md.metadata?.namespace },
          status,
        },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      serverSideApply(),
    );
  }
}
