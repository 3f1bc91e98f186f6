// Plays the kubelet's part on a control plane without nodes: writes pod status through the API.
import type { V1Pod } from '@kubernetes/client-node';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Clients } from '@modelship/devcluster/kube-clients';

export async function podsOf(c: Clients, namespace: string, instance: string, templateHash?: string): Promise<V1Pod[]> {
  const list = await c.core.listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/instance=${instance}` });
  return list.items.filter(
    (p) => !p.metadata?.deletionTimestamp && (!templateHash || p.metadata?.annotations?.['modelship.dev/template-hash'] === templateHash),
  );
}

async function patchStatus(c: Clients, pod: V1Pod, status: Record<string, unknown>): Promise<void> {
  await c.core.patchNamespacedPodStatus(
    { name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body: { status } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/** The `fetch` init container's status once it downloaded and verified the model. */
const FETCH_COMPLETED = {
  name: 'fetch',
  image: 'modelship/runtime:test',
  imageID: '',
  ready: true,
  restartCount: 0,
  state: { terminated: { exitCode: 0, reason: 'Completed' } },
};

/** Marks pods Running and Ready, as a kubelet would once the runtime's readiness probe passes. */
export async function markReady(c: Clients, pods: V1Pod[]): Promise<void> {
  const now = new Date().toISOString();
  for (const pod of pods) {
    await patchStatus(c, pod, {
      phase: 'Running',
      conditions: [
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
        { type: 'Ready', status: 'True', lastTransitionTime: now },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
      ],
      initContainerStatuses: [FETCH_COMPLETED],
      containerStatuses: [
        {
          name: 'serve',
          image: 'modelship/runtime:test',
          imageID: '',
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: now } },
        },
      ],
    });
  }
}

/** The `fetch` init container failed (download error, checksum mismatch), as the kubelet reports it. */
export async function markFetchFailed(c: Clients, pods: V1Pod[], message: string): Promise<void> {
  const now = new Date().toISOString();
  for (const pod of pods) {
    await patchStatus(c, pod, {
      phase: 'Pending',
      initContainerStatuses: [
        {
          name: 'fetch',
          image: 'modelship/runtime:test',
          imageID: '',
          ready: false,
          restartCount: 1,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off restarting failed container' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', message, finishedAt: now } },
        },
      ],
    });
  }
}

/** The `serve` container keeps crashing (e.g. the model file is not valid ONNX). */
export async function markCrashLooping(c: Clients, pods: V1Pod[], restarts: number, message: string): Promise<void> {
  const now = new Date().toISOString();
  for (const pod of pods) {
    await patchStatus(c, pod, {
      phase: 'Running',
      initContainerStatuses: [FETCH_COMPLETED],
      containerStatuses: [
        {
          name: 'serve',
          image: 'modelship/runtime:test',
          imageID: '',
          ready: false,
          restartCount: restarts,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', message, finishedAt: now } },
        },
      ],
    });
  }
}
