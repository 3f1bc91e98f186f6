// Typed API clients from KUBECONFIG and ModelDeployment helpers, for the tests and bench/ against a dev cluster.
import {
  AppsV1Api,
  AutoscalingV2Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  NetworkingV1Api,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import { waitFor } from '@modelship/devcluster/wait';

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  const file = process.env.KUBECONFIG;
  if (!file) throw new Error('KUBECONFIG is not set: run integration tests through `npm test`');
  kc.loadFromFile(file);
  return kc;
}

export function clients() {
  const kc = kubeConfig();
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    autoscaling: kc.makeApiClient(AutoscalingV2Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    coordination: kc.makeApiClient(CoordinationV1Api),
    rbac: kc.makeApiClient(RbacAuthorizationV1Api),
    networking: kc.makeApiClient(NetworkingV1Api),
  };
}

export type Clients = ReturnType<typeof clients>;

export async function createNamespace(c: Clients, prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await c.core.createNamespace({ body: { metadata: { name } } });
  return name;
}

const MD = { group: 'modelship.dev', version: 'v1alpha1', plural: 'modeldeployments' };

export async function createMd(c: Clients, namespace: string, name: string, spec: Record<string, unknown>): Promise<ModelDeployment> {
  return c.custom.createNamespacedCustomObject({
    ...MD,
    namespace,
    body: { apiVersion: 'modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name, namespace }, spec },
  }) as Promise<ModelDeployment>;
}

export async function getMd(c: Clients, namespace: string, name: string): Promise<ModelDeployment> {
  return c.custom.getNamespacedCustomObject({ ...MD, namespace, name }) as Promise<ModelDeployment>;
}

export async function patchMd(c: Clients, namespace: string, name: string, patch: unknown): Promise<ModelDeployment> {
  const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
  return c.custom.patchNamespacedCustomObject(
    { ...MD, namespace, name, body: patch },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  ) as Promise<ModelDeployment>;
}

export async function deleteMd(c: Clients, namespace: string, name: string): Promise<void> {
  await c.custom.deleteNamespacedCustomObject({ ...MD, namespace, name });
}

export function condition(md: ModelDeployment | undefined, type: string) {
  return md?.status?.conditions?.find((c) => c.type === type);
}

export async function exists(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return false;
    throw err;
  }
}

/** Polls a ModelDeployment until `pred` holds, and returns it. */
export async function waitForMd(
  c: Clients,
  ns: string,
  name: string,
  description: string,
  pred: (m: ModelDeployment) => boolean,
  timeoutMs = 60_000,
): Promise<ModelDeployment> {
  return waitFor(
    async () => {
      const m = await getMd(c, ns, name);
      return pred(m) ? m : undefined;
    },
    { description, timeoutMs },
  );
}
