// Shared pieces of the canary e2e tests (canary.test.ts, canary-control.test.ts): iris as a Canary
// ModelDeployment on the real node, the load that counts every answer by the model_version the runtime
// reports, and the waits on the ModelDeployment's state ("settled on a version", "aborted", "the
// canary's pods gone").
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import { repoRoot } from '@modelship/devcluster/binaries';
import { waitFor } from '@modelship/devcluster/wait';
import { condition, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { startLoad, type Load } from './load.ts';

export const RATE = 50;
export const sha = (model: string) => readFileSync(join(repoRoot, `examples/models/${model}/model.onnx.sha256`), 'utf8').split(/\s+/)[0]!;
export const GOOD_ROW = [6.3, 3.3, 6.0, 2.5]; // label 2 in every iris variant
export const FLAKY_ROW = [7.7, 3.0, 6.1, 2.3]; // iris-flaky fails it (sepal length > 7.0); iris answers label 2
export const FLAKY_500 = 'flaky-500';
const body = (row: number[]) => JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: row }] });

/**
 * Open-loop load through `url`: `rate` requests/s, each on a new connection (so kube-proxy spreads
 * them over both tracks' pods); every `flakyEvery`-th request (if set) carries FLAKY_ROW. A right
 * answer is HTTP 200 with label 2, counted by model_version; iris-flaky's 500 for a FLAKY_ROW is
 * counted apart (`expected[FLAKY_500]`, with its times); anything else is a failure.
 */
export function startCanaryLoad(url: string, rate: number, maxSeconds: number, flakyEvery = 0): Load {
  const flaky = (n: number) => flakyEvery > 0 && n % flakyEvery === 0;
  return startLoad({
    url,
    rate,
    maxSeconds,
    freshConnections: true,
    body: (n) => body(flaky(n) ? FLAKY_ROW : GOOD_ROW),
    check: (status, text, n) => {
      if (status === 200) {
        const r = JSON.parse(text) as { outputs: Array<{ name: string; data: number[] }> };
        const label = r.outputs.find((o) => o.name === 'label')?.data[0];
        return Number(label) === 2 ? undefined : `wrong label ${label}`;
      }
      if (flaky(n) && status === 500 && text.includes('inference failed')) return { expected: FLAKY_500 };
      return `HTTP ${status} ${text.slice(0, 200)}`;
    },
    version: (text) => (JSON.parse(text) as { model_version?: string }).model_version ?? '?',
  });
}

/**
 * The waits and reads on the ModelDeployment `iris` with `stableReplicas` stable pods; the clients
 * and namespace are read when used (a test file sets them in its `before` hook).
 */
export function canaryIris(clients: () => Clients, namespace: () => string, stableReplicas: number, modelServerUrl: () => string) {
  const md = () => getMd(clients(), namespace(), 'iris');
  const deployment = (name: string) =>
    clients()
      .apps.readNamespacedDeployment({ name, namespace: namespace() })
      .catch(() => undefined);
  const describeMd = (m: ModelDeployment) =>
    JSON.stringify({
      canary: m.status?.canary,
      current: m.status?.currentVersion,
      degraded: condition(m, 'Degraded'),
      ready: condition(m, 'Ready')?.status,
    });
  const pods = async () =>
    (await clients().core.listNamespacedPod({ namespace: namespace(), labelSelector: 'app.kubernetes.io/instance=iris' })).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    );

  return {
    md,
    deployment,
    describeMd,
    pods,

    /** Stable serving `version` on all its replicas, no canary running. */
    settledOn: (version: string) =>
      waitFor(
        async () => {
          const m = await md();
          const canary = await deployment('iris-canary');
          const stable = await deployment('iris');
          const ok =
            m.status?.currentVersion === version &&
            stable?.status?.readyReplicas === stableReplicas &&
            stable.status.updatedReplicas === stableReplicas &&
            (stable.status.replicas ?? 0) === stableReplicas &&
            (canary === undefined || (canary.status?.replicas ?? 0) === 0);
          if (!ok) throw new Error(describeMd(m));
          return m;
        },
        { timeoutMs: 300_000, intervalMs: 1_000, description: `iris settled on version ${version}` },
      ),

    /** Starts a canary to `version` of `model` with these analysis settings and any other spec.rollout fields. */
    startCanary: (version: string, model: string, analysis: Record<string, unknown> = {}, rollout: Record<string, unknown> = {}) =>
      patchMd(clients(), namespace(), 'iris', {
        spec: {
          model: { version, uri: `${modelServerUrl()}/${model}/model.onnx`, sha256: sha(model) },
          rollout: { ...rollout, canary: { ...((rollout.canary as object | undefined) ?? {}), analysis } },
        },
      }),

    abortedWith: (version: string, timeoutMs: number) =>
      waitFor(
        async () => {
          const m = await md();
          if (m.status?.canary?.version !== version) return undefined;
          return m.status.canary.phase === 'Aborted' ? m : undefined;
        },
        { timeoutMs, intervalMs: 500, description: `canary ${version} aborted` },
      ),

    /** The canary at `step` in `phase`, all its pods and the stable ones ready, and status.canary counting them. */
    atStep: (version: string, step: number, phase: string) =>
      waitFor(
        async () => {
          const m = await md();
          const cs = m.status?.canary;
          const canaryDep = await deployment('iris-canary');
          const stableDep = await deployment('iris');
          if (cs?.version !== version || cs.step !== step || cs.phase !== phase) throw new Error(describeMd(m));
          const allReady = (d: typeof canaryDep) => d?.spec?.replicas !== undefined && d.status?.readyReplicas === d.spec.replicas;
          if (!allReady(canaryDep) || !allReady(stableDep) || cs.canaryReplicas !== canaryDep?.spec?.replicas) {
            throw new Error(`not all pods ready: ${describeMd(m)}`);
          }
          return m;
        },
        { timeoutMs: 240_000, intervalMs: 500, description: `canary ${version} at step ${step}, ${phase}` },
      ),

    /** The abort is in effect: no canary pod left, stable at full capacity; returns when (ms since epoch). */
    stableAlone: () =>
      waitFor(
        async () => {
          const canaryPods = (await pods()).filter((p) => p.metadata?.labels?.['modelship.dev/track'] === 'canary');
          const stable = await deployment('iris');
          return canaryPods.length === 0 && stable?.status?.readyReplicas === stableReplicas ? Date.now() : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 500, description: 'canary pods gone, stable at full capacity' },
      ),

    warningEvents: async () =>
      (
        await clients().core.listNamespacedEvent({ namespace: namespace(), fieldSelector: 'involvedObject.name=iris,type=Warning' })
      ).items.map((e) => `${e.reason}: ${e.message}`),
  };
}
