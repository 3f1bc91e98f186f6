// A container's log as the node keeps it, for tests and benchmarks on the single-node cluster.
import { readFileSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';

/**
 * What the current run of `container` logged, read where kubelet links it on the node
 * (/var/log/containers): synchronous and independent of the API server, which one fault test
 * restarts (`kubectl logs` works too, see kubectl-debug.test.ts).
 */
export function containerLog(pod: V1Pod, container: string): string {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const id = statuses.find((s) => s.name === container)?.containerID?.replace(/^containerd:\/\//, '');
  if (!id) throw new Error(`container ${container} of ${pod.metadata?.name} has no ID`);
  return readFileSync(`/var/log/containers/${pod.metadata?.name}_${pod.metadata?.namespace}_${container}-${id}.log`, 'utf8');
}
