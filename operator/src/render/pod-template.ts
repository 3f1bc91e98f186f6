import type { V1Container, V1EnvVar, V1PodTemplateSpec, V1ResourceRequirements, V1SecurityContext } from '@kubernetes/client-node';
import type { ModelDeployment, ModelSpec, ResourceRequirements } from '../api/types.generated.ts';
import type { RuntimeDefaults } from '../config.ts';
import { COMMAND, CONTAINER, ENV, HTTP_PATH, INFERENCE_PORT, MODEL_DIR, MODEL_PATH } from '../../../contract/runtime-contract.ts';
import { ANNOTATION_TEMPLATE_HASH, LABEL_MODEL_VERSION, commonLabels } from '../api/labels.ts';
import { parseQuantity } from '../kube/diff.ts';
import { contentHash } from './hash.ts';
import { modelCredentials } from './model-credentials.ts';
import { modelSource } from './model-source.ts';
import { secretMounts, servesHttps } from './secret-mounts.ts';
import { withPodSettings } from './pod-settings.ts';
import { withRuntimeAuth } from './runtime-rbac.ts';

/**
 * Time the kubelet leaves, after the runtime's drain delay and shutdown timeout, for the process
 * to exit (closing the worker threads, flushing logs) before it sends SIGKILL.
 */
export const TERMINATION_GRACE_MARGIN_SECONDS = 5;

/** Passes the `restricted` Pod Security Standard. */
const CONTAINER_SECURITY: V1SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export function servedModelName(md: ModelDeployment): string {
  return md.spec.model.name ?? (md.metadata?.name as string);
}

/**
 * Renders the runtime pod for one model version. `model` is passed separately from `md` because
 * a rollback renders an older version with the rest of the current spec.
 */
export function renderPodTemplate(md: ModelDeployment, model: ModelSpec, defaults: RuntimeDefaults): V1PodTemplateSpec {
  const name = md.metadata?.name as string;
  const runtime = md.spec.runtime ?? {};
  const image = runtime.image ?? defaults.image;
  const imagePullPolicy = runtime.imagePullPolicy ?? defaults.imagePullPolicy;
  const source = modelSource(model.uri);
  const credentials = modelCredentials(model);

  const fetchEnv: V1EnvVar[] = [{ name: ENV.modelUri, value: source.fetchUri }, { name: ENV.modelPath, value: MODEL_PATH }, ...source.env];
  if (model.sha256) fetchEnv.push({ name: ENV.modelSha256, value: model.sha256 });
  fetchEnv.push(...credentials.fetchEnv);

  const serveEnv: V1EnvVar[] = [
    { name: ENV.modelPath, value: MODEL_PATH },
    { name: ENV.modelName, value: model.name ?? servedModelName(md) },
    { name: ENV.modelVersion, value: model.version },
    { name: ENV.port, value: String(INFERENCE_PORT) },
    { name: ENV.maxBatchSize, value: String(runtime.batching?.maxBatchSize ?? defaults.maxBatchSize) },
    {
      name: ENV.maxBatchDelayUs,
      value: String(runtime.batching?.maxDelayMicroseconds ?? defaults.maxBatchDelayMicroseconds),
    },
    { name: ENV.drainDelaySeconds, value: String(defaults.drainDelaySeconds) },
    { name: ENV.shutdownTimeoutSeconds, value: String(defaults.shutdownTimeoutSeconds) },
  ];
  if (defaults.metricsPort) serveEnv.push({ name: ENV.metricsPort, value: String(defaults.metricsPort) });
  // only when set: a spec without it renders the same pod as before the field existed (no rollout)
  if (runtime.accessLog !== undefined) serveEnv.push({ name: ENV.accessLog, value: runtime.accessLog });
  // the API key and TLS Secrets as files, which the runtime re-reads when they change
  const secrets = secretMounts(md);
  serveEnv.push(...secrets.env);
  const scheme = servesHttps(md) ? { scheme: 'HTTPS' } : {};

  const fetch: V1Container = {
    name: CONTAINER.fetch,
    image,
    imagePullPolicy,
    args: [COMMAND.fetch],
    env: fetchEnv,
    volumeMounts: [
      { name: 'model', mountPath: MODEL_DIR },
      { name: 'tmp', mountPath: '/tmp' },
      ...source.mounts,
      ...credentials.fetchMounts,
    ],
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    securityContext: CONTAINER_SECURITY,
  };

  const serve: V1Container = {
    name: CONTAINER.serve,
    image,
    imagePullPolicy,
    args: [COMMAND.serve],
    env: serveEnv,
    ports: [
      { name: 'http', containerPort: INFERENCE_PORT, protocol: 'TCP' },
      ...(defaults.metricsPort ? [{ name: 'metrics', containerPort: defaults.metricsPort, protocol: 'TCP' }] : []),
    ],
    volumeMounts: [{ name: 'model', mountPath: MODEL_DIR, readOnly: true }, { name: 'tmp', mountPath: '/tmp' }, ...secrets.mounts],
    readinessProbe: {
      httpGet: { path: HTTP_PATH.ready, port: 'http', ...scheme },
      periodSeconds: 2,
      failureThreshold: 2,
      timeoutSeconds: 2,
    },
    livenessProbe: {
      httpGet: { path: HTTP_PATH.live, port: 'http', ...scheme },
      periodSeconds: 10,
      failureThreshold: 3,
      timeoutSeconds: 3,
    },
    startupProbe: {
      httpGet: { path: HTTP_PATH.live, port: 'http', ...scheme },
      periodSeconds: 2,
      failureThreshold: 60,
      timeoutSeconds: 2,
    },
    securityContext: CONTAINER_SECURITY,
    ...serveResources(md.spec.resources, defaults),
  };

  const base: V1PodTemplateSpec = {
    metadata: {
      labels: { ...commonLabels(name), [LABEL_MODEL_VERSION]: model.version },
      annotations: defaults.metricsPort
        ? { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(defaults.metricsPort), 'prometheus.io/path': HTTP_PATH.metrics }
        : {},
    },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      // The runtime keeps serving for the drain delay, then waits up to the shutdown timeout for
      // in-flight requests; a shorter grace would SIGKILL it in the middle of either.
      terminationGracePeriodSeconds: defaults.drainDelaySeconds + defaults.shutdownTimeoutSeconds + TERMINATION_GRACE_MARGIN_SECONDS,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 10001,
        runAsGroup: 10001,
        fsGroup: 10001,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      initContainers: [fetch],
      containers: [serve],
      volumes: [
        { name: 'model', emptyDir: {} },
        { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
        ...source.volumes,
        ...secrets.volumes,
        ...credentials.volumes,
      ],
    },
  };
  const template = withRuntimeAuth(withPodSettings(base, md), md);
  (template.metadata!.annotations as Record<string, string>)[ANNOTATION_TEMPLATE_HASH] = contentHash(template);
  return template;
}

/**
 * The user's resources, with the operator's default memory request and limit where the user set
 * none: without a limit the runtime cannot size its in-flight budget from its cgroup, and one
 * pod can take a node's memory. A user's limit alone is left alone (Kubernetes then requests the
 * limit); a user's request alone gets the default limit, raised to the request if below it.
 */
function serveResources(user: ResourceRequirements | undefined, defaults: RuntimeDefaults): { resources?: V1ResourceRequirements } {
  const r = user ? quantitiesAsStrings(user) : {};
  const requests = { ...r.requests };
  const limits = { ...r.limits };
  if (requests.memory === undefined && limits.memory === undefined && defaults.memoryRequest) requests.memory = defaults.memoryRequest;
  if (limits.memory === undefined && defaults.memoryLimit) {
    const request = requests.memory;
    const below = request !== undefined && (parseQuantity(defaults.memoryLimit) ?? 0) < (parseQuantity(request) ?? 0);
    limits.memory = below ? request : defaults.memoryLimit;
  }
  const out: V1ResourceRequirements = {
    ...(Object.keys(requests).length ? { requests } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
  };
  return Object.keys(out).length ? { resources: out } : {};
}

/** The CRD accepts int-or-string quantities; the core API type wants strings. */
function quantitiesAsStrings(r: ResourceRequirements): V1ResourceRequirements {
  const conv = (m: Record<string, number | string> | undefined) =>
    m && Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
  return { ...(r.requests ? { requests: conv(r.requests) } : {}), ...(r.limits ? { limits: conv(r.limits) } : {}) };
}

export function templateHashOf(template: V1PodTemplateSpec | undefined): string | undefined {
  return template?.metadata?.annotations?.[ANNOTATION_TEMPLATE_HASH];
}
