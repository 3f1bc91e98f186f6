import type {
  V1Affinity,
  V1Container,
  V1EnvVar,
  V1LabelSelector,
  V1PodTemplateSpec,
  V1Toleration,
  V1TopologySpreadConstraint,
} from '@kubernetes/client-node';
import type { EnvVar, LabelSelector, ModelDeployment, PodSettings, TopologySpreadConstraint } from '../api/types.generated.ts';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, selectorLabels } from '../api/labels.ts';

/**
 * Pod label keys a ModelDeployment's spec.pod.labels must not set: the operator's Deployments,
 * Services, PodDisruptionBudget and informers select the runtime pods by them. The CRD refuses them
 * (its CEL rule on spec.pod.labels lists the same keys; test/unit/operator-pod-settings.test.ts
 * checks the two agree).
 */
export const RESERVED_LABEL_KEYS: readonly string[] = [LABEL_NAME, LABEL_INSTANCE, LABEL_MANAGED_BY];
/** Every label and annotation key under this prefix is the operator's (track, model version, template hash). */
export const RESERVED_KEY_PREFIX = 'modelship.dev/';

/**
 * Spread across nodes when the user gave no topologySpreadConstraints. ScheduleAnyway: a soft
 * preference, so a one-node cluster (or a full pool) still runs every pod. It is rendered whatever
 * the replica count: a constraint that depended on replicas would make `kubectl scale` from 1 to 2
 * a rollout (a template change), and with one pod it changes nothing. pod-template-hash in
 * matchLabelKeys spreads each rollout revision by itself, so old pods that are about to go do not
 * skew where the new ones land.
 */
export const DEFAULT_SPREAD_TOPOLOGY_KEY = 'kubernetes.io/hostname';

export function defaultTopologySpread(instance: string): V1TopologySpreadConstraint[] {
  return [
    {
      maxSkew: 1,
      topologyKey: DEFAULT_SPREAD_TOPOLOGY_KEY,
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: selectorLabels(instance) },
      matchLabelKeys: ['pod-template-hash'],
    },
  ];
}

/**
 * The runtime pod template with spec.pod applied: placement, identity, pull secrets, extra env on
 * both containers, extra labels and annotations. Pure; the caller hashes the result, so every change
 * here is a rollout like a new version.
 */
export function withPodSettings(template: V1PodTemplateSpec, md: ModelDeployment): V1PodTemplateSpec {
  const pod: PodSettings = md.spec.pod ?? {};
  const instance = md.metadata?.name as string;
  const spec = template.spec;
  if (!spec) return template;
  const extraEnv = (pod.env ?? []).map(envVarOf);
  const withEnv = (c: V1Container): V1Container => (extraEnv.length ? { ...c, env: [...(c.env ?? []), ...extraEnv] } : c);

  const { automountServiceAccountToken, ...rest } = spec;
  const podSpec = {
    ...rest,
    // A named ServiceAccount decides itself whether its token is mounted (workload identity and
    // Vault-style agents need it); the namespace's default one's token is of no use to the runtime.
    // The API server copies serviceAccountName into the deprecated serviceAccount, and back when only
    // the former is dropped: owning both lets removing the knob remove it.
    ...(pod.serviceAccountName
      ? { serviceAccountName: pod.serviceAccountName, serviceAccount: pod.serviceAccountName }
      : { automountServiceAccountToken }),
    ...(nonEmpty(pod.nodeSelector) ? { nodeSelector: { ...pod.nodeSelector } } : {}),
    ...(pod.tolerations?.length ? { tolerations: pod.tolerations.map((t) => ({ ...t }) as V1Toleration) } : {}),
    ...(pod.affinity && nonEmpty(pod.affinity) ? { affinity: structuredClone(pod.affinity) as V1Affinity } : {}),
    ...topologySpread(pod.topologySpreadConstraints, instance),
    ...(pod.priorityClassName ? { priorityClassName: pod.priorityClassName } : {}),
    ...(pod.imagePullSecrets?.length ? { imagePullSecrets: pod.imagePullSecrets.map((s) => ({ name: s.name })) } : {}),
    initContainers: spec.initContainers?.map(withEnv),
    containers: spec.containers.map(withEnv),
  };
  if (!podSpec.initContainers) delete podSpec.initContainers;

  return {
    ...template,
    metadata: {
      ...template.metadata,
      // The operator's labels last: the CRD refuses the conflict, this only makes sure of it.
      labels: { ...pod.labels, ...template.metadata?.labels },
      // The user's last: they may replace the operator's prometheus.io/* scrape settings (the CRD
      // refuses modelship.dev/ keys, and the template hash is added after this).
      annotations: { ...template.metadata?.annotations, ...pod.annotations },
    },
    spec: podSpec,
  };
}

function topologySpread(
  user: TopologySpreadConstraint[] | undefined,
  instance: string,
): { topologySpreadConstraints?: V1TopologySpreadConstraint[] } {
  if (user === undefined) return { topologySpreadConstraints: defaultTopologySpread(instance) };
  if (user.length === 0) return {};
  return {
    topologySpreadConstraints: user.map((c) => ({
      ...c,
      // A constraint without a selector counts no pods at all; this ModelDeployment's pods are what a user means.
      labelSelector: c.labelSelector ? selectorOf(c.labelSelector) : { matchLabels: selectorLabels(instance) },
    })),
  };
}

function selectorOf(s: LabelSelector): V1LabelSelector {
  return {
    ...(s.matchLabels ? { matchLabels: { ...s.matchLabels } } : {}),
    ...(s.matchExpressions ? { matchExpressions: s.matchExpressions.map((e) => ({ ...e })) } : {}),
  };
}

function envVarOf(e: EnvVar): V1EnvVar {
  if (e.valueFrom?.secretKeyRef) return { name: e.name, valueFrom: { secretKeyRef: { ...e.valueFrom.secretKeyRef } } };
  if (e.valueFrom?.configMapKeyRef) return { name: e.name, valueFrom: { configMapKeyRef: { ...e.valueFrom.configMapKeyRef } } };
  return { name: e.name, value: e.value ?? '' };
}

const nonEmpty = (o: object | undefined): boolean => o !== undefined && Object.keys(o).length > 0;
