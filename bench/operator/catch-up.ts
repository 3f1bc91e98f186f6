/**
 * The operator's own time to create every child, with no user's create inside it: N
 * ModelDeployments are created in a namespace no operator watches, then an operator process is
 * started on that namespace, and the time from its start until every one has its children and a
 * status for its generation is set against the minimal client's time for the same children. The
 * minimal client applies half just before and half just after, so load that drifts on a shared
 * machine weighs on both sides alike. It is what an operator does when it is installed, or comes
 * back, on a namespace with N ModelDeployments; the paired rounds (run.ts) instead time the user's
 * creates and the operator's work together.
 */
import {
  MODELDEPLOYMENT_GROUP,
  MODELDEPLOYMENT_PLURAL,
  MODELDEPLOYMENT_VERSION,
  type ModelDeployment,
  type ModelDeploymentStatus,
} from '../../operator/src/api/types.generated.ts';
import type { RuntimeDefaults } from '../../operator/src/config.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import type { OperatorProcess } from '@modelship/devcluster/operator-process';
import { cpuBetween, cpuSecondsOf, cpuSum, type CpuSample } from './cpu.ts';
import { applyChildrenDirectly } from './direct-client.ts';
import { writeAsTheOperatorDoes } from './same-writes-client.ts';
import { watchReconciled } from './reconciled-watch.ts';

export interface CatchUp {
  /** From the operator's spawn until every ModelDeployment has its children and status */
  operatorSeconds: number;
  /** Of which: from spawn until its ops endpoint listened (Node start and imports) */
  startSeconds: number;
  /** The minimal client's two halves, summed */
  directSeconds: number;
  directHalves: [number, number];
  /** The same-writes client (its children, status and Event for ModelDeployments that exist), two halves summed, when asked for */
  sameWritesSeconds?: number;
  /** CPU seconds per process (cpuOf's, and the operator's) during the operator's part and during the minimal client's two halves */
  cpu?: { operator: CpuSample; direct: CpuSample };
}

export async function timeCatchUp(opts: {
  kc: KubeConfig;
  kubeconfig: string;
  /** Where the ModelDeployments are created, then the operator started (empty, watched by nobody yet) */
  namespace: string;
  /** Where the minimal client applies the same children */
  directNamespace: string;
  count: number;
  modelDeployment: (i: number, namespace: string) => ModelDeployment;
  /** Creates them all, each in its own namespace (the bench's client, as many in flight as it keeps); answers them as stored */
  createAll: (mds: readonly ModelDeployment[]) => Promise<ModelDeployment[]>;
  startOperator: (namespace: string) => Promise<OperatorProcess>;
  runtimeDefaults: RuntimeDefaults;
  concurrency: number;
  /** Called with the operator once every child and status is in place, before it is stopped (outside the timed part) */
  whenReached?: (op: OperatorProcess) => Promise<void>;
  /** CPU seconds so far of the processes to account (control plane, bench) */
  cpuOf?: () => CpuSample;
  /**
   * Also time the same-writes client (same-writes-client.ts: the operator's writes for ModelDeployments
   * that exist, without its watches and reconciles) on as many ModelDeployments created unwatched in
   * this namespace. It runs after the operator (it copies the status the operator wrote for its
   * first) and before the minimal client's second half.
   */
  sameWrites?: { namespace: string; statusLike: (operatorNamespace: string) => Promise<{ name: string; status: ModelDeploymentStatus }> };
}): Promise<CatchUp> {
  const mds = Array.from({ length: opts.count }, (_, i) => opts.modelDeployment(i, opts.namespace));
  await opts.createAll(mds);
  const sameWritesNs = opts.sameWrites?.namespace;
  const sameWritesMds = sameWritesNs
    ? await opts.createAll(Array.from({ length: opts.count }, (_, i) => opts.modelDeployment(i, sameWritesNs)))
    : [];
  const direct = (from: number, to: number) =>
    applyChildrenDirectly({
      kubeconfig: opts.kubeconfig,
      modelDeployments: Array.from({ length: to - from }, (_, k) => opts.modelDeployment(from + k, opts.directNamespace)),
      runtimeDefaults: opts.runtimeDefaults,
      concurrency: opts.concurrency,
    });
  const half = Math.floor(opts.count / 2);
  const cpu0 = opts.cpuOf?.();
  const before = await direct(0, half);
  const cpu1 = opts.cpuOf?.();

  const reconciled = await watchReconciled(
    opts.kc,
    `/apis/${MODELDEPLOYMENT_GROUP}/${MODELDEPLOYMENT_VERSION}/namespaces/${opts.namespace}/${MODELDEPLOYMENT_PLURAL}`,
  );
  const t0 = performance.now();
  let op: OperatorProcess | undefined;
  const timed = async () => {
    op = await opts.startOperator(opts.namespace);
    const startSeconds = (performance.now() - t0) / 1000;
    await reconciled.reached(opts.count, 1_800_000);
    const operatorSeconds = (performance.now() - t0) / 1000;
    const cpu2 = opts.cpuOf?.();
    const operatorCpu = cpu2 && { ...cpu2, operator: cpuSecondsOf(op.pid) };
    await opts.whenReached?.(op);
    return { startSeconds, operatorSeconds, operatorCpu };
  };
  const { startSeconds, operatorSeconds, operatorCpu } = await timed().finally(async () => {
    reconciled.stop();
    await op?.stop();
  });

  let sameWritesSeconds: number | undefined;
  if (opts.sameWrites) {
    const written = await writeAsTheOperatorDoes({
      kubeconfig: opts.kubeconfig,
      modelDeployments: sameWritesMds,
      runtimeDefaults: opts.runtimeDefaults,
      concurrency: opts.concurrency,
      statusLike: await opts.sameWrites.statusLike(opts.namespace),
      existing: true,
    });
    sameWritesSeconds = written.seconds;
  }
  const cpu3 = opts.cpuOf?.();
  const after = await direct(half, opts.count);
  const cpu4 = opts.cpuOf?.();
  const cpu =
    cpu0 && cpu1 && cpu3 && cpu4 && operatorCpu
      ? {
          operator: cpuBetween({ ...cpu1, operator: 0 }, operatorCpu),
          direct: cpuSum(cpuBetween(cpu0, cpu1), cpuBetween(cpu3, cpu4)),
        }
      : undefined;
  return {
    operatorSeconds,
    startSeconds,
    directSeconds: before.seconds + after.seconds,
    directHalves: [before.seconds, after.seconds],
    ...(sameWritesSeconds !== undefined ? { sameWritesSeconds } : {}),
    ...(cpu ? { cpu } : {}),
  };
}
