/**
 * When each pod of a namespace was created, initialized (its fetch init container done) and Ready,
 * as this process saw them on a watch: the local clock at each event, in milliseconds (the API's
 * own timestamps have one-second resolution). The watch is started again whenever the server ends it.
 */
import { Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

export interface PodTimes {
  name: string;
  /** app.kubernetes.io/instance: the ModelDeployment */
  instance: string;
  created: number;
  initialized?: number;
  ready?: number;
  deleted?: number;
  pod: V1Pod;
}

export interface PodTimeline {
  /** the pods of ModelDeployment `instance`, oldest first */
  of(instance: string): PodTimes[];
  stop(): void;
}

const conditionTrue = (pod: V1Pod, type: string): boolean =>
  pod.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;

export async function watchPods(kc: KubeConfig, namespace: string, log: (line: string) => void): Promise<PodTimeline> {
  const pods = new Map<string, PodTimes>();
  let stopped = false;
  let controller: AbortController | undefined;
  const onEvent = (phase: string, pod: V1Pod): void => {
    const now = Date.now();
    const name = pod.metadata?.name ?? '';
    let t = pods.get(name);
    if (!t) {
      t = { name, instance: pod.metadata?.labels?.['app.kubernetes.io/instance'] ?? '', created: now, pod };
      pods.set(name, t);
    }
    t.pod = pod;
    if (t.initialized === undefined && conditionTrue(pod, 'Initialized')) t.initialized = now;
    if (t.ready === undefined && conditionTrue(pod, 'Ready')) t.ready = now;
    if (phase === 'DELETED' || pod.metadata?.deletionTimestamp) t.deleted ??= now;
  };
  const start = async (): Promise<void> => {
    controller = await new Watch(kc).watch(`/api/v1/namespaces/${namespace}/pods`, {}, onEvent, (err: unknown) => {
      if (stopped) return;
      log(`the pod watch ended (${err instanceof Error ? err.message : String(err ?? 'closed by the server')}); watching again`);
      setTimeout(() => void start().catch((e: unknown) => log(`watch failed: ${String(e)}`)), 100);
    });
    if (stopped) controller.abort();
  };
  await start();
  return {
    of: (instance) => [...pods.values()].filter((p) => p.instance === instance).sort((a, b) => a.created - b.created),
    stop: () => {
      stopped = true;
      controller?.abort();
    },
  };
}
