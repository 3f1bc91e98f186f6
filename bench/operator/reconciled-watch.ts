/**
 * Tells when every ModelDeployment has a status for its generation, from a watch: one event per
 * change, instead of listing every ModelDeployment and child every 250 ms, which at 1,000 costs
 * the API server (and the bench process, on the same cores) more than the operator's own writes
 * and would slow the operator's phase but not the minimal client's.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';

interface Watched {
  metadata?: { name?: string; generation?: number };
  status?: { observedGeneration?: number };
}

export interface ReconciledWatch {
  /**
   * Resolves when `count` ModelDeployments have a status for their generation; the watch is started
   * again whenever the server ends it. With `timeoutMs`, rejects once that has passed.
   */
  reached(count: number, timeoutMs?: number): Promise<void>;
  stop(): void;
}

export async function watchReconciled(kc: KubeConfig, path: string): Promise<ReconciledWatch> {
  const reconciled = new Set<string>();
  let goal = Infinity;
  let settle: { resolve: () => void } | undefined;
  let stopped = false;
  let controller: AbortController | undefined;
  const check = () => {
    if (settle && reconciled.size >= goal) settle.resolve();
  };
  // The API server may end a watch at any time (its request timeout, a restart of its watch
  // cache): watch again. A new watch without a resourceVersion starts with every current object
  // as ADDED, so the set is brought up to date (the bench deletes no ModelDeployment).
  const start = async (): Promise<void> => {
    controller = await new Watch(kc).watch(
      path,
      {},
      (phase: string, obj: Watched) => {
        const name = obj.metadata?.name ?? '';
        const done =
          phase !== 'DELETED' && obj.status?.observedGeneration !== undefined && obj.status.observedGeneration === obj.metadata?.generation;
        if (done) reconciled.add(name);
        else reconciled.delete(name);
        check();
      },
      (err: unknown) => {
        if (stopped) return;
        process.stderr.write(
          `bench: the ModelDeployment watch ended (${err instanceof Error ? err.message : String(err ?? 'closed by the server')}); watching again\n`,
        );
        restart();
      },
    );
    if (stopped) controller.abort();
  };
  const restart = (): void => {
    setTimeout(() => void start().catch(restart), 250);
  };
  await start();
  return {
    reached(count, timeoutMs) {
      goal = count;
      return new Promise<void>((resolve, reject) => {
        const timer =
          timeoutMs === undefined
            ? undefined
            : setTimeout(
                () => reject(new Error(`${reconciled.size} of ${count} ModelDeployments reconciled after ${timeoutMs} ms`)),
                timeoutMs,
              );
        settle = {
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        check();
      });
    },
    stop: () => {
      stopped = true;
      controller?.abort();
    },
  };
}
