// The two tracks of a canary on a real API server without a kubelet: read a Deployment, the model
// version its template runs, and play the kubelet for one track's pods (marked ready) until a
// condition holds.
import type { V1Deployment } from '@kubernetes/client-node';
import { waitFor } from '@modelship/devcluster/wait';
import type { Clients } from '@modelship/devcluster/kube-clients';
import { markReady, podsOf } from './pods.ts';

const HASH = 'modelship.dev/template-hash';

export async function readDeployment(c: Clients, ns: string, name: string): Promise<V1Deployment | undefined> {
  try {
    return await c.apps.readNamespacedDeployment({ name, namespace: ns });
  } catch {
    return undefined;
  }
}

export const versionOf = (d: V1Deployment | undefined) =>
  d?.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'MODELSHIP_MODEL_VERSION')?.value;

/** Marks the pods of a Deployment's current template ready until `done` holds. */
export async function readyUntil<T>(
  c: Clients,
  ns: string,
  deployment: string,
  done: () => Promise<T | undefined>,
  what: string,
): Promise<T> {
  return waitFor(
    async () => {
      const d = await readDeployment(c, ns, deployment);
      const hash = d?.spec?.template.metadata?.annotations?.[HASH];
      if (hash) {
        const pods = (await podsOf(c, ns, 'iris', hash)).filter(
          (p) =>
            (p.metadata?.labels?.['modelship.dev/track'] === 'canary') === deployment.endsWith('-canary') &&
            !p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
        );
        await markReady(c, pods);
      }
      return done();
    },
    { description: what, intervalMs: 500, timeoutMs: 90_000 },
  );
}
