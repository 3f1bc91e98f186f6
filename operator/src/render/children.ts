import type {
  KubernetesObject,
  V1Deployment,
  V1LabelSelector,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1OwnerReference,
  V1PodTemplateSpec,
  V1Service,
  V1ServicePort,
  V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import type { LabelSelector, ModelDeployment, NetworkPolicyPeer } from '../api/types.generated.ts';
import { RUNTIME_HTTP_PORT } from '../config.ts';
import { servesHttps, urlScheme } from './secret-mounts.ts';
import { MODELDEPLOYMENT_GROUP, MODELDEPLOYMENT_KIND, MODELDEPLOYMENT_VERSION } from '../api/types.generated.ts';
import { LABEL_TRACK, TRACK_CANARY, canarySelectorLabels, commonLabels, selectorLabels } from '../api/labels.ts';
import { hpaBehavior, hpaMetrics } from './hpa-metrics.ts';

export const DEFAULT_SERVICE_PORT = 80;

export function ownerReference(md: ModelDeployment): V1OwnerReference {
  return {
    apiVersion: `${MODELDEPLOYMENT_GROUP}/${MODELDEPLOYMENT_VERSION}`,
    kind: MODELDEPLOYMENT_KIND,
    name: md.metadata?.name as string,
    uid: md.metadata?.uid as string,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Metadata of an object the ModelDeployment owns: its name (the MD's unless given), namespace, labels, owner. */
export function childMetadata(md: ModelDeployment, name = md.metadata?.name as string) {
  return {
    name,
    namespace: md.metadata?.namespace as string,
    labels: commonLabels(md.metadata?.name as string),
    ownerReferences: [ownerReference(md)],
  };
}

/**
 * The Deployment for a given pod template. `replicas` is left out while an HPA owns the count,
 * so server-side apply never fights the autoscaler.
 */
export function renderDeployment(md: ModelDeployment, template: V1PodTemplateSpec): V1Deployment {
  const rollout = md.spec.rollout ?? {};
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMetadata(md),
    spec: {
      ...(md.spec.autoscaling ? {} : { replicas: md.spec.replicas ?? 1 }),
      selector: { matchLabels: selectorLabels(md.metadata?.name as string) },
      strategy: {
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: rollout.maxSurge ?? 1, maxUnavailable: rollout.maxUnavailable ?? 0 },
      },
      progressDeadlineSeconds: rollout.progressDeadlineSeconds ?? 300,
      revisionHistoryLimit: rollout.historyLimit ?? 10,
      template,
    },
  };
}

/** The canary Deployment's name: the ModelDeployment's, plus this. */
export const CANARY_SUFFIX = '-canary';

/**
 * The canary track of a Canary rollout: `<name>-canary`, the canary's pod template with
 * modelship.dev/track=canary added (after the template hash, so both tracks of one version share
 * it), behind the same Service as the stable pods. Its replicas are the state machine's, or, with
 * autoscaling, its own HPA's (renderCanaryHpa), so `replicas` is left out then.
 */
export function renderCanaryDeployment(md: ModelDeployment, template: V1PodTemplateSpec, replicas: number): V1Deployment {
  const name = md.metadata?.name as string;
  const stable = renderDeployment(md, template);
  const labels = { ...(template.metadata?.labels ?? {}), [LABEL_TRACK]: TRACK_CANARY };
  return {
    ...stable,
    metadata: { ...childMetadata(md), name: `${name}${CANARY_SUFFIX}`, labels: { ...commonLabels(name), [LABEL_TRACK]: TRACK_CANARY } },
    spec: {
      ...(stable.spec as NonNullable<V1Deployment['spec']>),
      ...(md.spec.autoscaling ? {} : { replicas }),
      selector: { matchLabels: canarySelectorLabels(name) },
      template: { ...template, metadata: { ...template.metadata, labels } },
    },
  };
}

/**
 * The Service's one port, forwarding to the runtime's `http` container port (its name stays
 * `http` with TLS on, so HTTPRoutes and NetworkPolicies that name it keep working); appProtocol
 * tells a mesh or gateway to speak TLS to it.
 */
export function servicePortSpec(md: ModelDeployment): V1ServicePort {
  return {
    name: 'http',
    port: md.spec.service?.port ?? DEFAULT_SERVICE_PORT,
    targetPort: 'http',
    protocol: 'TCP',
    ...(servesHttps(md) ? { appProtocol: 'https' } : {}),
  };
}

export function renderService(md: ModelDeployment): V1Service {
  const service = md.spec.service ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(md),
    spec: {
      type: service.type ?? 'ClusterIP',
      selector: selectorLabels(md.metadata?.name as string),
      ports: [servicePortSpec(md)],
    },
  };
}

/**
 * Undefined when the ModelDeployment does not ask for autoscaling. `minReplicas` overrides
 * spec.autoscaling.minReplicas while the stable track takes over a canary's share.
 */
export function renderHpa(md: ModelDeployment, minReplicas?: number): V2HorizontalPodAutoscaler | undefined {
  const a = md.spec.autoscaling;
  if (!a) return undefined;
  const min = Math.max(a.minReplicas ?? 1, Math.min(minReplicas ?? 0, a.maxReplicas));
  return hpaFor(md, md.metadata?.name as string, { minReplicas: min, maxReplicas: a.maxReplicas });
}

/** The canary Deployment's own HPA, on the same CPU target as the stable one, within `bounds` (rollout/canary-capacity.ts). */
export function renderCanaryHpa(
  md: ModelDeployment,
  bounds: { minReplicas: number; maxReplicas: number },
): V2HorizontalPodAutoscaler | undefined {
  if (!md.spec.autoscaling) return undefined;
  const name = `${md.metadata?.name as string}${CANARY_SUFFIX}`;
  const hpa = hpaFor(md, name, bounds);
  return { ...hpa, metadata: { ...hpa.metadata, name, labels: { ...hpa.metadata?.labels, [LABEL_TRACK]: TRACK_CANARY } } };
}

function hpaFor(md: ModelDeployment, target: string, bounds: { minReplicas: number; maxReplicas: number }): V2HorizontalPodAutoscaler {
  const a = md.spec.autoscaling as NonNullable<ModelDeployment['spec']['autoscaling']>;
  const behavior = hpaBehavior(a);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: childMetadata(md),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
      minReplicas: bounds.minReplicas,
      maxReplicas: bounds.maxReplicas,
      metrics: hpaMetrics(a),
      ...(behavior ? { behavior } : {}),
    },
  };
}

/**
 * A NetworkPolicy as sent and received as JSON. client-node's V1NetworkPolicyIngressRule calls
 * `from` `_from` (and only its typed list calls translate), so the operator handles this kind as
 * plain JSON end to end: apply sends it, the informer lists it raw.
 */
export interface NetworkPolicyManifest extends KubernetesObject {
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    policyTypes: string[];
    ingress: Array<{ from: V1NetworkPolicyPeer[]; ports: V1NetworkPolicyPort[] }>;
  };
}

/**
 * Undefined unless spec.networkPolicy.enabled. Ingress only: to the inference port from
 * ingressFrom, to the metrics port (when separate) from metricsFrom; everything else is refused
 * because the policy selects the pods. Egress stays open (the fetch init container downloads
 * the model from wherever spec.model.uri says).
 */
export function renderNetworkPolicy(md: ModelDeployment, metricsPort: number): NetworkPolicyManifest | undefined {
  const np = md.spec.networkPolicy;
  if (!np?.enabled) return undefined;
  const rule = (peers: readonly NetworkPolicyPeer[], port: number) => ({
    from: peers.map(peerOf),
    ports: [{ protocol: 'TCP', port }],
  });
  const name = md.metadata?.name as string;
  // During an A/B experiment a pod forwards pinned requests to the other track's pods
  // (MODELSHIP_VERSION_ROUTES), so the instance's own pods must reach each other's inference port.
  const ownPods: NetworkPolicyPeer[] = md.spec.experiment ? [{ podSelector: { matchLabels: selectorLabels(name) } }] : [];
  const ingress = [rule([...(np.ingressFrom ?? []), ...ownPods], RUNTIME_HTTP_PORT)];
  // An empty `from` would admit everyone: no metricsFrom means no metrics rule at all.
  if (metricsPort && np.metricsFrom?.length) ingress.push(rule(np.metricsFrom, metricsPort));
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMetadata(md),
    spec: {
      podSelector: { matchLabels: selectorLabels(name) },
      policyTypes: ['Ingress'],
      ingress,
    },
  };
}

/**
 * The CRD's peer has the NetworkPolicy peer's shape. Empty lists and maps are left out, as the
 * API server stores them, so an unchanged policy compares equal and is not re-applied.
 */
function peerOf(p: NetworkPolicyPeer): V1NetworkPolicyPeer {
  return {
    ...(p.namespaceSelector ? { namespaceSelector: selectorOf(p.namespaceSelector) } : {}),
    ...(p.podSelector ? { podSelector: selectorOf(p.podSelector) } : {}),
    ...(p.ipBlock ? { ipBlock: { cidr: p.ipBlock.cidr, ...(p.ipBlock.except?.length ? { except: p.ipBlock.except } : {}) } } : {}),
  };
}

function selectorOf(s: LabelSelector): V1LabelSelector {
  return {
    ...(s.matchLabels && Object.keys(s.matchLabels).length ? { matchLabels: s.matchLabels } : {}),
    ...(s.matchExpressions?.length
      ? {
          matchExpressions: s.matchExpressions.map((e) => ({
            key: e.key,
            operator: e.operator,
            ...(e.values?.length ? { values: e.values } : {}),
          })),
        }
      : {}),
  };
}

export function serviceUrl(md: ModelDeployment, modelName: string): string {
  const port = md.spec.service?.port ?? DEFAULT_SERVICE_PORT;
  const scheme = urlScheme(md);
  const defaultPort = scheme === 'https' ? 443 : 80;
  const host = `${md.metadata?.name}.${md.metadata?.namespace}.svc.cluster.local${port === defaultPort ? '' : `:${port}`}`;
  return `${scheme}://${host}/v2/models/${modelName}`;
}
