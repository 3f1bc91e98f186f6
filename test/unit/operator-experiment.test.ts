// The A/B experiment: the pure decision (rollout/experiment.ts, every case), its rendering
// (render/experiment.ts) and the whole Reconciler on in-memory caches: children appear and go with
// spec.experiment, the version routes reach both tracks' pods, status.experiment carries the figures.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Deployment, V1Pod, V1Service } from '@kubernetes/client-node';
import type { ExperimentStatus, ModelDeployment } from '../../operator/src/api/types.generated.ts';
import type { MetricsScraper, PodRef, PodSample, ScrapeResult, TrackWindow } from '../../operator/src/analysis/types.ts';
import { Reconciler } from '../../operator/src/controller/reconciler.ts';
import { parseVersionRoutes } from '../../contract/runtime-contract.ts';
import {
  renderExperimentDeployment,
  renderVariantService,
  stableVariantSelector,
  versionRoutes,
  withVersionRoutes,
} from '../../operator/src/render/experiment.ts';
import { renderPodTemplate } from '../../operator/src/render/pod-template.ts';
import { buildStatus } from '../../operator/src/reconcile/report.ts';
import { decideExperiment, type ExperimentInput } from '../../operator/src/rollout/experiment.ts';
import type { TrackFacts } from '../../operator/src/rollout/canary.ts';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';
import { fakeWorld, settle, type FakeWorld } from './operator-reconcile-fakes.ts';

const NOW = new Date('2026-11-30T12:00:00Z');
const track = (replicas: number, ready = replicas): TrackFacts => ({ replicas, readyReplicas: ready, rolledOut: true, templateHash: 'h' });
const win = (requests: number, serverErrors: number, p99Ms: number | undefined): TrackWindow => ({
  requests,
  serverErrors,
  clientErrors: 0,
  p99Ms,
});

function input(over: Partial<ExperimentInput> = {}): ExperimentInput {
  return {
    settings: { version: '2', weight: 20, intervalMs: 30_000 },
    stableVersion: '1',
    stableReplicas: 4,
    stableTrack: track(4),
    experimentTrack: track(1),
    failure: undefined,
    status: undefined,
    window: undefined,
    mainVersion: '1',
    now: NOW,
    ...over,
  };
}

const running = (over: Partial<ExperimentStatus> = {}): ExperimentStatus => ({
  version: '2',
  weight: 20,
  effectiveWeight: 20,
  startedAt: '2026-11-30T11:00:00.000Z',
  variants: [
    { version: '1', track: 'stable', replicas: 4, readyReplicas: 4, requests: 400, errorRate: 0, p99LatencyMs: 5 },
    { version: '2', track: 'experiment', replicas: 1, readyReplicas: 1, requests: 100, errorRate: 1, p99LatencyMs: 7 },
  ],
  ...over,
});

describe('decideExperiment', () => {
  test('no experiment and none on record: nothing to run, no status, no events, no requeue', () => {
    assert.deepEqual(decideExperiment(input({ settings: undefined })), {
      experimentReplicas: undefined,
      status: undefined,
      events: [],
      requeueAfterMs: undefined,
    });
  });

  test('experiment removed: children go (replicas undefined), status cleared, Ended (not promoted)', () => {
    const d = decideExperiment(input({ settings: undefined, status: running() }));
    assert.equal(d.experimentReplicas, undefined);
    assert.equal(d.status, undefined);
    assert.deepEqual(d.events, [{ type: 'ExperimentEnded', version: '2', promoted: false }]);
  });

  test('experiment promoted (spec.model became its version, experiment removed): Ended with promoted', () => {
    const d = decideExperiment(input({ settings: undefined, status: running(), mainVersion: '2' }));
    assert.deepEqual(d.events, [{ type: 'ExperimentEnded', version: '2', promoted: true }]);
  });

  test('new experiment: Started event, startedAt now, replicas by the canary formula, requeue every interval', () => {
    const d = decideExperiment(input({ experimentTrack: undefined }));
    assert.deepEqual(d.events, [{ type: 'ExperimentStarted', version: '2', stableVersion: '1', weight: 20 }]);
    assert.equal(d.experimentReplicas, 1, 'max(1, round(4*20/80))');
    assert.equal(d.status?.startedAt, NOW.toISOString());
    assert.equal(d.status?.effectiveWeight, 0, 'no experiment pod ready yet');
    assert.equal(d.status?.summary, '2@0%');
    assert.equal(d.status?.message, "waiting for the experiment's pods: 0 of 1 ready");
    assert.equal(d.requeueAfterMs, 30_000);
    assert.equal(d.status?.lastAnalysisAt, undefined);
  });

  test('replica split: the canary formula for several N and weights, none beside an empty stable track', () => {
    const replicas = (stableReplicas: number, weight: number) =>
      decideExperiment(input({ stableReplicas, settings: { version: '2', weight, intervalMs: 30_000 } })).experimentReplicas;
    assert.equal(replicas(4, 20), 1);
    assert.equal(replicas(8, 20), 2);
    assert.equal(replicas(3, 50), 3);
    assert.equal(replicas(2, 1), 1, 'at least one');
    assert.equal(replicas(1, 99), 99);
    const none = decideExperiment(input({ stableReplicas: 0, stableTrack: track(0), experimentTrack: undefined }));
    assert.equal(none.experimentReplicas, 0);
    assert.equal(none.status?.message, 'no experiment pods: the stable track has no replicas');
  });

  test('running and ready: effective weight from the ready pods, summary, message; startedAt kept; no events', () => {
    const d = decideExperiment(input({ status: running(), stableTrack: track(4, 3) }));
    assert.deepEqual(d.events, []);
    assert.equal(d.status?.effectiveWeight, 25, '1 of 3 + 1 ready pods');
    assert.equal(d.status?.summary, '2@25%');
    assert.equal(d.status?.startedAt, '2026-11-30T11:00:00.000Z');
    assert.equal(d.status?.message, 'version 2 serves 25% of the traffic (1 of 4 pods) beside version 1');
  });

  test('a weight change of the same version is no new experiment (startedAt and figures kept)', () => {
    const d = decideExperiment(input({ status: running(), settings: { version: '2', weight: 50, intervalMs: 30_000 } }));
    assert.deepEqual(d.events, []);
    assert.equal(d.experimentReplicas, 4);
    assert.equal(d.status?.weight, 50);
    assert.equal(d.status?.startedAt, '2026-11-30T11:00:00.000Z');
    assert.equal(d.status?.variants?.[1]?.requests, 100);
  });

  test('a window: per-variant requests, error rate (percent, 2 decimals) and p99 (0.1 ms); lastAnalysisAt', () => {
    const window = { at: NOW, stable: win(1200, 0, 4.26), experiment: win(300, 7, 12.04) };
    const d = decideExperiment(input({ status: running(), window }));
    assert.deepEqual(d.status?.variants, [
      { version: '1', track: 'stable', replicas: 4, readyReplicas: 4, requests: 1200, errorRate: 0, p99LatencyMs: 4.3 },
      { version: '2', track: 'experiment', replicas: 1, readyReplicas: 1, requests: 300, errorRate: 2.33, p99LatencyMs: 12 },
    ]);
    assert.equal(d.status?.lastAnalysisAt, NOW.toISOString());
    const idle = decideExperiment(
      input({ status: running(), window: { at: NOW, stable: win(0, 0, undefined), experiment: win(0, 0, undefined) } }),
    );
    assert.equal(idle.status?.variants?.[0]?.p99LatencyMs, undefined, 'no p99 without requests');
    assert.equal(idle.status?.variants?.[0]?.requests, 0);
  });

  test('no window this time: the last figures stay; a new experiment version starts without figures', () => {
    const kept = decideExperiment(input({ status: running({ lastAnalysisAt: '2026-11-30T11:59:40.000Z' }) }));
    assert.equal(kept.status?.variants?.[1]?.p99LatencyMs, 7);
    assert.equal(kept.status?.lastAnalysisAt, '2026-11-30T11:59:40.000Z');
    const other = decideExperiment(
      input({ status: running({ lastAnalysisAt: 'x' }), settings: { version: '3', weight: 20, intervalMs: 30_000 } }),
    );
    assert.equal(other.events[0]?.type, 'ExperimentStarted');
    assert.equal(other.status?.variants?.[1]?.requests, undefined);
    assert.equal(other.status?.variants?.[0]?.requests, undefined);
    assert.equal(other.status?.lastAnalysisAt, undefined);
  });

  test('the stable version changed under a running experiment: its figures are not carried over', () => {
    const d = decideExperiment(input({ status: running(), stableVersion: '1b' }));
    assert.equal(d.status?.variants?.[0]?.version, '1b');
    assert.equal(d.status?.variants?.[0]?.requests, undefined);
    assert.equal(d.status?.variants?.[1]?.requests, 100, 'the experiment variant keeps its figures');
  });

  test('hard failure on the experiment pods: message and one Warning event, not repeated while it lasts', () => {
    const failure = { reason: 'FetchFailed' as const, message: 'fetch: HTTP 404', since: undefined };
    const first = decideExperiment(input({ status: running(), failure }));
    assert.equal(first.status?.message, 'experiment version 2 is failing: fetch: HTTP 404');
    assert.deepEqual(first.events, [{ type: 'ExperimentFailing', version: '2', message: first.status?.message }]);
    assert.equal(first.experimentReplicas, 1, 'the experiment keeps its pods: the user decides');
    const again = decideExperiment(input({ status: first.status, failure }));
    assert.deepEqual(again.events, []);
  });
});

describe('experiment rendering', () => {
  const md = modelDeployment({ experiment: { model: { version: '2', uri: 'https://m.example.com/2.onnx' }, weight: 20 } });
  const template = renderPodTemplate(md, { ...md.spec.model, name: 'iris' }, RUNTIME_DEFAULTS);
  const envOf = (t: typeof template, name: string) => t.spec?.containers.find((c) => c.name === 'serve')?.env?.find((e) => e.name === name);

  test('version routes: each version to its own Service, on the Service port; the runtime parses them', () => {
    assert.equal(versionRoutes(md, '1', '2'), '1=http://iris-stable.ml.svc:80,2=http://iris-experiment.ml.svc:80');
    assert.deepEqual(parseVersionRoutes(versionRoutes(md, '1', '2')), {
      ok: true,
      routes: [
        { version: '1', baseUrl: 'http://iris-stable.ml.svc:80' },
        { version: '2', baseUrl: 'http://iris-experiment.ml.svc:80' },
      ],
    });
    const port = modelDeployment({ service: { port: 8000 } });
    assert.equal(versionRoutes(port, '1', '2'), '1=http://iris-stable.ml.svc:8000,2=http://iris-experiment.ml.svc:8000');
  });

  test('withVersionRoutes: the serve container gets the env (once), the template hash stays, the fetch container is untouched', () => {
    const routed = withVersionRoutes(template, '1=a,2=b');
    assert.equal(envOf(routed, 'MODELSHIP_VERSION_ROUTES')?.value, '1=a,2=b');
    const twice = withVersionRoutes(routed, '1=c,2=d');
    assert.equal(twice.spec?.containers[0]?.env?.filter((e) => e.name === 'MODELSHIP_VERSION_ROUTES').length, 1);
    assert.equal(envOf(twice, 'MODELSHIP_VERSION_ROUTES')?.value, '1=c,2=d');
    assert.equal(
      routed.metadata?.annotations?.['modelship.dev/template-hash'],
      template.metadata?.annotations?.['modelship.dev/template-hash'],
    );
    assert.equal(
      routed.spec?.initContainers?.[0]?.env?.some((e) => e.name === 'MODELSHIP_VERSION_ROUTES'),
      false,
    );
    assert.equal(envOf(template, 'MODELSHIP_VERSION_ROUTES'), undefined, 'the input is not changed');
  });

  test('experiment Deployment: own name, track label on pods and selector, the given replicas, owned by the ModelDeployment', () => {
    const d = renderExperimentDeployment(md, template, 3);
    assert.equal(d.metadata?.name, 'iris-experiment');
    assert.equal(d.spec?.replicas, 3);
    assert.deepEqual(d.spec?.selector.matchLabels, {
      'app.kubernetes.io/name': 'modelship-runtime',
      'app.kubernetes.io/instance': 'iris',
      'modelship.dev/track': 'experiment',
    });
    assert.equal(d.spec?.template.metadata?.labels?.['modelship.dev/track'], 'experiment');
    assert.equal(d.metadata?.labels?.['modelship.dev/track'], 'experiment');
    assert.equal(d.metadata?.ownerReferences?.[0]?.uid, 'uid-1');
  });

  test('variant Services: ClusterIP, same port, stable selects its version, experiment its track', () => {
    const stable = renderVariantService(
      modelDeployment({ service: { type: 'LoadBalancer', port: 8000 } }),
      '-stable',
      stableVariantSelector('iris', '1'),
    );
    assert.equal(stable.metadata?.name, 'iris-stable');
    assert.equal(stable.spec?.type, 'ClusterIP');
    assert.equal(stable.spec?.ports?.[0]?.port, 8000);
    assert.deepEqual(stable.spec?.selector, {
      'app.kubernetes.io/name': 'modelship-runtime',
      'app.kubernetes.io/instance': 'iris',
      'modelship.dev/model-version': '1',
    });
  });
});

/** Counters per pod uid. */
class TableScraper implements MetricsScraper {
  readonly table = new Map<string, PodSample>();
  async scrape(_ns: string, pods: readonly PodRef[]): Promise<ScrapeResult> {
    const out: Record<string, PodSample> = {};
    for (const p of pods) {
      const s = this.table.get(p.uid);
      if (s) out[p.uid] = s;
    }
    return { snapshot: { takenAtMs: 0, pods: out }, failures: [] };
  }
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

/** Ready runtime pods for what the Deployments in the cache ask for. */
function podsFor(w: FakeWorld): void {
  w.pods.objects.length = 0;
  for (const d of w.children.get('Deployment')?.objects as V1Deployment[]) {
    const labels = d.spec?.template.metadata?.labels ?? {};
    const hash = d.spec?.template.metadata?.annotations?.['modelship.dev/template-hash'] as string;
    for (let i = 0; i < (d.spec?.replicas ?? 1); i++) {
      const name = `${d.metadata?.name}-${hash.slice(0, 6)}-${i}`;
      w.pods.put({
        metadata: { name, namespace: 'ml', uid: name, labels, annotations: { 'modelship.dev/template-hash': hash } },
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      } as V1Pod);
    }
  }
}

const child = <T>(w: FakeWorld, kind: string, name: string) => w.children.get(kind)?.get(name, 'ml') as T | undefined;
const routesOf = (d: V1Deployment | undefined) =>
  d?.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'MODELSHIP_VERSION_ROUTES')?.value;
const EXPERIMENT = { model: { version: '2', uri: 'https://models.example.com/iris/2/model.onnx' }, weight: 20 };

describe('A/B experiment through the Reconciler (fake caches)', () => {
  async function atVersion1(spec: Partial<ModelDeployment['spec']> = {}) {
    const w = fakeWorld();
    const scraper = new TableScraper();
    let now = NOW.getTime();
    const r = new Reconciler({ ...w.deps(), scraper, now: () => new Date(now) });
    w.mds.put(modelDeployment({ replicas: 4, ...spec }));
    const step = async () => {
      const result = await r.reconcile('ml/iris');
      settle(w);
      podsFor(w);
      return result;
    };
    await step();
    await step();
    assert.equal(w.mds.objects[0]?.status?.currentVersion, '1');
    const setSpec = (s: Partial<ModelDeployment['spec']>) => {
      const md = w.mds.objects[0] as ModelDeployment;
      w.mds.put({ ...md, metadata: { ...md.metadata, generation: (md.metadata?.generation ?? 1) + 1 }, spec: { ...md.spec, ...s } });
    };
    return { w, scraper, step, setSpec, at: (ms: number) => (now = NOW.getTime() + ms), status: () => w.mds.objects[0]?.status };
  }

  test('experiment added: its Deployment and both Services appear, both tracks get the routes, no new rollout', async () => {
    const { w, step, setSpec, status } = await atVersion1();
    const historyBefore = status()?.history?.length;
    setSpec({ experiment: EXPERIMENT });
    const res = await step();
    const exp = child<V1Deployment>(w, 'Deployment', 'iris-experiment');
    assert.equal(exp?.spec?.replicas, 1, 'max(1, round(4*20/80))');
    assert.equal(exp?.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'MODELSHIP_MODEL_VERSION')?.value, '2');
    const routes = '1=http://iris-stable.ml.svc:80,2=http://iris-experiment.ml.svc:80';
    assert.equal(routesOf(exp), routes);
    assert.equal(routesOf(child<V1Deployment>(w, 'Deployment', 'iris')), routes);
    assert.deepEqual(child<V1Service>(w, 'Service', 'iris-stable')?.spec?.selector?.['modelship.dev/model-version'], '1');
    assert.equal(child<V1Service>(w, 'Service', 'iris-experiment')?.spec?.selector?.['modelship.dev/track'], 'experiment');
    assert.equal(status()?.history?.length, historyBefore, 'starting an experiment is no rollout of the main model');
    assert.equal(status()?.currentVersion, '1');
    assert.equal(status()?.experiment?.version, '2');
    assert.equal(res.requeueAfterMs, 30_000, 'looks again at the next measurement');
    await step();
    assert.equal(status()?.experiment?.effectiveWeight, 20);
    assert.equal(status()?.experiment?.summary, '2@20%');
  });

  test('per-variant figures: the second scrape an interval later gives each variant its own requests and error rate', async () => {
    const { w, scraper, step, setSpec, at, status } = await atVersion1();
    setSpec({ experiment: EXPERIMENT });
    await step();
    await step(); // baseline scrape of the ready pods
    for (const p of w.pods.objects) {
      const isExp = p.metadata?.labels?.['modelship.dev/track'] === 'experiment';
      scraper.serve(p.metadata?.uid as string, isExp ? 95 : 100, isExp ? 5 : 0);
    }
    at(30_000);
    await step();
    const [stable, experiment] = status()?.experiment?.variants ?? [];
    assert.deepEqual(
      { ...stable },
      { version: '1', track: 'stable', replicas: 4, readyReplicas: 4, requests: 400, errorRate: 0, p99LatencyMs: 9.9 },
    );
    assert.deepEqual(
      { ...experiment },
      { version: '2', track: 'experiment', replicas: 1, readyReplicas: 1, requests: 100, errorRate: 5, p99LatencyMs: 9.9 },
    );
    assert.equal(status()?.experiment?.lastAnalysisAt, new Date(NOW.getTime() + 30_000).toISOString());
  });

  test('experiment removed: its Deployment and Services are deleted, the routes leave the stable pods, status cleared', async () => {
    const { w, step, setSpec, status } = await atVersion1();
    setSpec({ experiment: EXPERIMENT });
    await step();
    setSpec({ experiment: undefined });
    await step();
    assert.equal(child(w, 'Deployment', 'iris-experiment'), undefined);
    assert.equal(child(w, 'Service', 'iris-stable'), undefined);
    assert.equal(child(w, 'Service', 'iris-experiment'), undefined);
    assert.ok(child(w, 'Service', 'iris'), 'the main Service stays');
    assert.equal(routesOf(child<V1Deployment>(w, 'Deployment', 'iris')), undefined);
    assert.equal(status()?.experiment, undefined);
  });

  test('promotion in one change: the main Deployment rolls to the experiment version, the experiment children go, Promoted event', async () => {
    const { w, step, setSpec, status } = await atVersion1();
    setSpec({ experiment: EXPERIMENT });
    await step();
    const events: string[] = [];
    const record = w.events.record.bind(w.events);
    w.events.record = async (md, type, reason, message) => {
      events.push(reason);
      return record(md, type, reason, message);
    };
    setSpec({ model: { ...EXPERIMENT.model, format: 'onnx' }, experiment: undefined });
    await step();
    assert.ok(events.includes('ExperimentPromoted'), events.join());
    assert.equal(child(w, 'Deployment', 'iris-experiment'), undefined);
    await step();
    assert.equal(status()?.currentVersion, '2');
  });

  test('with strategy Canary, a new main version while an experiment runs rolls out without a canary', async () => {
    const canary = { strategy: 'Canary' as const, canary: { steps: [{ weight: 10, pause: '30s' }] } };
    const { w, step, setSpec, status } = await atVersion1({ rollout: canary });
    setSpec({ experiment: { ...EXPERIMENT, model: { ...EXPERIMENT.model, version: '3' } } });
    await step();
    setSpec({ model: { version: '2', uri: 'https://models.example.com/iris/2/model.onnx', format: 'onnx' } });
    await step();
    assert.equal(child(w, 'Deployment', 'iris-canary'), undefined);
    await step();
    assert.equal(child(w, 'Deployment', 'iris-canary'), undefined);
    assert.equal(status()?.canary, undefined);
    assert.equal(status()?.currentVersion, '2');
  });

  test('buildStatus keeps the last status.experiment while nothing was decided (a name conflict blocks the writes)', () => {
    const md = { ...modelDeployment(), status: { experiment: running() } };
    const s = buildStatus(
      {
        md,
        status: md.status,
        name: 'iris',
        now: NOW,
        desiredModel: { ...md.spec.model, name: 'iris' },
      } as never,
      { rollout: undefined, steps: [] },
      { reason: 'ResourceConflict', message: 'x' },
    );
    assert.deepEqual(s.experiment, running());
  });
});
