// A Canary rollout through the whole Reconciler (observe → analyze → decide → act → report) on
// in-memory caches, recording clients and a scraper that serves counters from a table: the
// canary Deployment, the analysis every interval, promotion and abort, without an API server.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';
import type { MetricsScraper, PodRef, PodSample, ScrapeResult } from '../../operator/src/analysis/types.ts';
import { Reconciler } from '../../operator/src/controller/reconciler.ts';
import { modelDeployment } from './operator-fixtures.ts';
import { fakeWorld, settle, type FakeWorld } from './operator-reconcile-fakes.ts';

const KEY = 'ml/iris';
const T0 = new Date('2026-11-30T12:00:00Z').getTime();
const model = (v: string) => ({ version: v, uri: `https://models.example.com/iris/${v}/model.onnx`, format: 'onnx' as const });

/** Counters per pod uid; each scrape reads the current values. */
class TableScraper implements MetricsScraper {
  readonly table = new Map<string, PodSample>();
  /** Pod uids whose read fails (as through a NetworkPolicy that does not admit the API server). */
  readonly unreadable = new Set<string>();
  scrapes = 0;
  async scrape(_ns: string, pods: readonly PodRef[]): Promise<ScrapeResult> {
    this.scrapes++;
    const out: Record<string, PodSample> = {};
    const failures: string[] = [];
    for (const p of pods) {
      if (this.unreadable.has(p.uid)) {
        failures.push(`pod ${p.name}: HTTP 503 from the pod proxy`);
        continue;
      }
      const s = this.table.get(p.uid);
      if (s) out[p.uid] = s;
    }
    return { snapshot: { takenAtMs: 0, pods: out }, failures };
  }
  /** Adds traffic to a pod: `ok` answers within 10 ms, `errors` 5xx. */
  serve(uid: string, ok: number, errors = 0): void {
    const s = this.table.get(uid) ?? { requests: 0, serverErrors: 0, clientErrors: 0, buckets: [] };
    const fast = (s.buckets[0]?.[1] ?? 0) + ok;
    this.table.set(uid, {
      requests: s.requests + ok + errors,
      serverErrors: s.serverErrors + errors,
      clientErrors: 0,
      buckets: [
        [0.01, fast],
        [Infinity, fast],
      ],
    });
  }
}

function canaryMd(over: Partial<ModelDeployment['spec']> = {}): ModelDeployment {
  return modelDeployment({
    replicas: 4,
    rollout: {
      strategy: 'Canary',
      canary: {
        steps: [
          { weight: 10, pause: '30s' },
          { weight: 50, pause: '30s' },
        ],
        analysis: { interval: '30s', minRequests: 50 },
      },
    },
    ...over,
  });
}

/** Ready runtime pods for what the Deployments in the cache ask for (as the kubelet would make them). */
function podsFor(w: FakeWorld): void {
  w.pods.objects.length = 0;
  for (const d of w.children.get('Deployment')?.objects as V1Deployment[]) {
    const labels = d.spec?.template.metadata?.labels ?? {};
    const hash = d.spec?.template.metadata?.annotations?.['modelship.dev/template-hash'];
    if (!hash) continue;
    for (let i = 0; i < (d.spec?.replicas ?? 1); i++) {
      const name = `${d.metadata?.name}-${hash.slice(0, 6)}-${i}`;
      w.pods.put({
        metadata: { name, namespace: 'ml', uid: name, labels, annotations: { 'modelship.dev/template-hash': hash } },
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      } as V1Pod);
    }
  }
}

function deployment(w: FakeWorld, name: string): V1Deployment | undefined {
  return w.children.get('Deployment')?.get(name, 'ml') as V1Deployment | undefined;
}

const version = (d: V1Deployment | undefined) =>
  d?.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'MODELSHIP_MODEL_VERSION')?.value;

/** A world where version 1 is rolled out and Succeeded, then the spec asks for version 2. */
async function atVersion1ThenAsk2(spec: Partial<ModelDeployment['spec']> = {}) {
  const w = fakeWorld();
  const scraper = new TableScraper();
  let now = T0;
  const deps = { ...w.deps(), scraper, now: () => new Date(now) };
  const r = new Reconciler(deps);
  w.mds.put(canaryMd(spec));
  await r.reconcile(KEY);
  settle(w);
  await r.reconcile(KEY);
  settle(w);
  assert.equal(w.mds.objects[0]?.status?.currentVersion, '1', 'the first deployment is an ordinary rollout');
  assert.equal(deployment(w, 'iris-canary'), undefined);
  const md = w.mds.objects[0] as ModelDeployment;
  w.mds.put({ ...md, metadata: { ...md.metadata, generation: 2 }, spec: { ...md.spec, model: model('2') } });
  const at = (ms: number) => {
    now = T0 + ms;
  };
  const step = async () => {
    const result = await r.reconcile(KEY);
    settle(w);
    podsFor(w);
    return result;
  };
  return { w, scraper, r, at, step, status: () => w.mds.objects[0]?.status };
}

/** Traffic on every ready pod: the canary's pods answer `canaryErrors` of each 100 with a 5xx. */
function traffic(w: FakeWorld, scraper: TableScraper, canaryErrors = 0): void {
  for (const p of w.pods.objects) {
    const uid = p.metadata?.uid as string;
    if (p.metadata?.labels?.['modelship.dev/track'] === 'canary') scraper.serve(uid, 100 - canaryErrors, canaryErrors);
    else scraper.serve(uid, 100);
  }
}

describe('Canary rollout through the Reconciler (fake caches)', () => {
  test('healthy canary: iris-canary at 1 then 4 replicas beside 4 stable, analysis passes, promoted, canary removed', async () => {
    const { w, scraper, at, step, status } = await atVersion1ThenAsk2();
    const started = await step();
    assert.equal(version(deployment(w, 'iris')), '1', 'the stable Deployment keeps version 1');
    assert.equal(deployment(w, 'iris-canary')?.spec?.replicas, 1, 'max(1, round(4*10/90))');
    assert.equal(version(deployment(w, 'iris-canary')), '2');
    assert.deepEqual(deployment(w, 'iris-canary')?.spec?.selector?.matchLabels, {
      'app.kubernetes.io/name': 'modelship-runtime',
      'app.kubernetes.io/instance': 'iris',
      'modelship.dev/track': 'canary',
    });
    assert.equal(deployment(w, 'iris-canary')?.spec?.template.metadata?.labels?.['modelship.dev/track'], 'canary');
    assert.deepEqual([status()?.canary?.phase, status()?.canary?.step, status()?.canary?.weight], ['Progressing', 0, 10]);
    assert.equal(status()?.updatingVersion, '2');
    assert.equal(status()?.conditions?.find((c) => c.type === 'Ready')?.reason, 'CanaryProgressing');
    assert.deepEqual(started, { requeueAfterMs: 30_000 });

    at(1_000);
    await step(); // baseline scrape
    assert.equal(scraper.scrapes, 2, 'both tracks scraped once');
    assert.equal(status()?.canary?.effectiveWeight, 20, '1 canary pod of 5');
    traffic(w, scraper);
    at(20_000);
    await step();
    assert.equal(scraper.scrapes, 2, 'no scrape before the interval is up');
    at(32_000);
    await step();
    assert.equal(status()?.canary?.lastAnalysis?.verdict, 'Pass');
    assert.equal(status()?.canary?.lastAnalysis?.canary?.requests, 100);
    assert.equal(status()?.canary?.lastAnalysis?.stable?.requests, 400);
    assert.equal(status()?.canary?.step, 1, 'pause (30 s) over, canary ready, analysis passed');
    assert.equal(deployment(w, 'iris-canary')?.spec?.replicas, 4);
    assert.equal(version(deployment(w, 'iris')), '1');

    traffic(w, scraper);
    at(63_000);
    await step();
    assert.equal(status()?.canary?.phase, 'Promoting');
    assert.equal(version(deployment(w, 'iris')), '2', 'the stable Deployment rolls to the canary version');
    assert.equal(deployment(w, 'iris-canary')?.spec?.replicas, 4, 'the canary serves meanwhile');
    at(70_000);
    await step();
    assert.equal(status()?.canary?.phase, 'Succeeded');
    assert.equal(deployment(w, 'iris-canary'), undefined, 'canary Deployment deleted');
    assert.equal(status()?.currentVersion, '2');
    assert.deepEqual(
      status()?.history?.map((h) => [h.version, h.outcome]),
      [
        ['2', 'Succeeded'],
        ['1', 'Succeeded'],
      ],
    );
    assert.equal(status()?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    at(200_000);
    const calm = await step();
    assert.deepEqual(calm, {}, 'finished: no requeue');
    assert.deepEqual(w.clients.writes, [], 'and no writes');
  });

  test('failing canary: aborted with the figures, canary deleted, Degraded CanaryAborted, Warning, not retried', async () => {
    const { w, scraper, at, step, status } = await atVersion1ThenAsk2();
    await step();
    at(1_000);
    await step();
    traffic(w, scraper, 8);
    at(32_000);
    await step();
    const s = status();
    assert.equal(s?.canary?.phase, 'Aborted');
    assert.equal(
      s?.canary?.message,
      'canary of version 2 failed its analysis at step 1 of 2 (10%): error rate 8.0% > 1% over 100 requests',
    );
    assert.equal(deployment(w, 'iris-canary'), undefined);
    assert.equal(version(deployment(w, 'iris')), '1');
    const degraded = s?.conditions?.find((c) => c.type === 'Degraded');
    assert.deepEqual([degraded?.status, degraded?.reason], ['True', 'CanaryAborted']);
    assert.equal(s?.failedVersion, '2');
    assert.equal(s?.history?.[0]?.outcome, 'Aborted');
    at(100_000);
    await step();
    assert.equal(deployment(w, 'iris-canary'), undefined, 'not retried');
    assert.deepEqual(w.clients.writes, []);
  });

  test('pods whose metrics cannot be read are left out, and lastAnalysis says so', async () => {
    const { w, scraper, at, step, status } = await atVersion1ThenAsk2();
    await step();
    at(1_000);
    await step();
    for (const p of w.pods.objects)
      if (p.metadata?.labels?.['modelship.dev/track'] === 'canary') scraper.unreadable.add(p.metadata.uid as string);
    traffic(w, scraper);
    at(32_000);
    await step();
    const a = status()?.canary?.lastAnalysis;
    assert.equal(a?.verdict, 'Inconclusive');
    assert.equal(a?.canary?.requests, 0);
    assert.match(a?.message ?? '', /; could not read the metrics of 1 pod\(s\): pod iris-canary-\w+-0: HTTP 503 from the pod proxy$/);
    assert.equal(status()?.canary?.step, 0);
  });

  test('manual abort and promote are version-scoped spec fields', async () => {
    const { w, step, status } = await atVersion1ThenAsk2({});
    await step();
    const md = w.mds.objects[0] as ModelDeployment;
    w.mds.put({ ...md, spec: { ...md.spec, rollout: { ...md.spec.rollout, abortVersion: '1' } } });
    await step();
    assert.equal(status()?.canary?.phase, 'Progressing', 'abortVersion names another version: ignored');
    w.mds.put({ ...md, spec: { ...md.spec, rollout: { ...md.spec.rollout, promoteVersion: '2' } } });
    await step();
    assert.equal(status()?.canary?.phase, 'Promoting');
    assert.equal(version(deployment(w, 'iris')), '2');
  });

  test('a spec change back to the stable version ends the canary: canary Deployment deleted, status.canary dropped', async () => {
    const { w, step, status } = await atVersion1ThenAsk2();
    await step();
    assert.ok(deployment(w, 'iris-canary'));
    const md = w.mds.objects[0] as ModelDeployment;
    w.mds.put({ ...md, spec: { ...md.spec, model: model('1') } });
    await step();
    assert.equal(deployment(w, 'iris-canary'), undefined);
    assert.equal(status()?.canary, undefined);
    assert.equal(status()?.currentVersion, '1');
    assert.deepEqual(
      status()
        ?.history?.slice(0, 2)
        .map((h) => [h.version, h.outcome]),
      [
        ['1', 'Succeeded'],
        ['2', 'Superseded'],
      ],
    );
  });

  test('a canary Deployment name taken by someone else is a conflict, not a takeover', async () => {
    const { w, step, status } = await atVersion1ThenAsk2();
    w.children.get('Deployment')?.put({ metadata: { name: 'iris-canary', namespace: 'ml' } } as KubernetesObject);
    await step();
    const degraded = status()?.conditions?.find((c) => c.type === 'Degraded');
    assert.deepEqual([degraded?.reason, degraded?.message.startsWith('Deployment iris-canary already exists')], ['ResourceConflict', true]);
  });
});
