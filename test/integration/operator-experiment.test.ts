// A/B experiments by the operator on a real API server (no kubelet: the test marks pods ready, as
// operator-canary.test.ts does). Pods that do not run cannot be scraped, so the per-variant
// request figures are the e2e test's (test/e2e/ab.test.ts); this test covers what the API server
// sees: the experiment's Deployment and Services appear with spec.experiment and go when it is
// removed, both tracks' pods get the version routes, status.experiment and its Events, promotion.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import { waitFor } from '@modelship/devcluster/wait';
import { clients, createMd, createNamespace, getMd, patchMd, type Clients } from '@modelship/devcluster/kube-clients';
import { startOperator, type OperatorProcess } from '@modelship/devcluster/operator-process';
import { markReady, podsOf } from './pods.ts';

const model = (v: string) => ({ version: v, uri: `https://models.example.com/iris/${v}/model.onnx` });
const TRACK = 'modelship.dev/track';

async function read<T>(f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch {
    return undefined;
  }
}

const env = (d: V1Deployment | undefined, name: string) => d?.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === name)?.value;

describe('A/B experiment on a real API server', () => {
  let c: Clients;
  let ns: string;
  let op: OperatorProcess;
  const deployment = (name: string) => read(() => c.apps.readNamespacedDeployment({ name, namespace: ns }));
  const service = (name: string) => read<V1Service>(() => c.core.readNamespacedService({ name, namespace: ns }));
  /** Marks every not-yet-ready pod of the instance ready until `done` holds (the pods of every track). */
  const readyUntil = <T>(done: () => Promise<T | undefined>, what: string) =>
    waitFor(
      async () => {
        const pods = (await podsOf(c, ns, 'iris')).filter(
          (p) => !p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
        );
        await markReady(c, pods);
        return done();
      },
      { description: what, intervalMs: 500, timeoutMs: 90_000 },
    );

  before(async () => {
    c = clients();
    ns = await createNamespace(c, 'experiment');
    op = await startOperator({ namespace: ns });
  });
  after(async () => {
    await op?.stop();
    await c?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  test('spec.experiment: <name>-experiment Deployment and the two variant Services appear, both tracks get the routes, status.experiment', async () => {
    await createMd(c, ns, 'iris', { model: model('1'), replicas: 4 });
    await readyUntil(async () => ((await getMd(c, ns, 'iris')).status?.currentVersion === '1' ? true : undefined), 'version 1');
    assert.equal(await deployment('iris-experiment'), undefined, 'no experiment children without spec.experiment');
    assert.equal(await service('iris-stable'), undefined);

    await patchMd(c, ns, 'iris', { spec: { experiment: { model: model('2'), weight: 20 } } });
    const exp = await waitFor(async () => deployment('iris-experiment'), { description: 'the experiment Deployment' });
    assert.equal(exp.spec?.replicas, 1, 'max(1, round(4*20/80))');
    assert.equal(env(exp, 'MODELSHIP_MODEL_VERSION'), '2');
    assert.equal(exp.spec?.selector.matchLabels?.[TRACK], 'experiment');
    assert.equal(exp.metadata?.ownerReferences?.[0]?.kind, 'ModelDeployment');
    const routes = `1=http://iris-stable.${ns}.svc:80,2=http://iris-experiment.${ns}.svc:80`;
    assert.equal(env(exp, 'MODELSHIP_VERSION_ROUTES'), routes);
    const stable = await waitFor(
      async () => ((d) => (env(d, 'MODELSHIP_VERSION_ROUTES') === routes ? d : undefined))(await deployment('iris')),
      {
        description: 'the routes in the stable Deployment',
      },
    );
    assert.equal(env(stable, 'MODELSHIP_MODEL_VERSION'), '1');

    const stableSvc = await waitFor(async () => service('iris-stable'), { description: 'Service iris-stable' });
    const expSvc = await waitFor(async () => service('iris-experiment'), { description: 'Service iris-experiment' });
    assert.deepEqual(stableSvc.spec?.selector, {
      'app.kubernetes.io/name': 'modelship-runtime',
      'app.kubernetes.io/instance': 'iris',
      'modelship.dev/model-version': '1',
    });
    assert.deepEqual(expSvc.spec?.selector, {
      'app.kubernetes.io/name': 'modelship-runtime',
      'app.kubernetes.io/instance': 'iris',
      [TRACK]: 'experiment',
    });
    assert.equal(stableSvc.spec?.ports?.[0]?.port, 80);
    const main = await service('iris');
    assert.equal(main?.spec?.selector?.[TRACK], undefined, 'the one Service selects the pods of both variants');

    const md = await readyUntil(async () => {
      const m = await getMd(c, ns, 'iris');
      const e = m.status?.experiment;
      return e?.effectiveWeight === 20 && e.variants?.[0]?.readyReplicas === 4 ? m : undefined;
    }, 'status.experiment with every pod ready');
    const e = md.status?.experiment;
    assert.equal(e?.version, '2');
    assert.equal(e?.weight, 20);
    assert.equal(e?.summary, '2@20%');
    assert.ok(e?.startedAt);
    assert.equal(e?.message, 'version 2 serves 20% of the traffic (1 of 5 pods) beside version 1');
    assert.deepEqual(
      e?.variants?.map((v) => [v.version, v.track, v.replicas, v.readyReplicas]),
      [
        ['1', 'stable', 4, 4],
        ['2', 'experiment', 1, 1],
      ],
    );
    assert.equal(md.status?.currentVersion, '1');
    assert.equal(md.status?.history?.length, 1, 'starting an experiment is no rollout of the main model');
    const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=iris' });
    assert.ok(
      events.items.some(
        (ev) => ev.reason === 'ExperimentStarted' && /version 2 started at weight 20% beside version 1/.test(ev.message ?? ''),
      ),
    );

    // A weight change scales the experiment track only.
    await patchMd(c, ns, 'iris', { spec: { experiment: { weight: 50 } } });
    await waitFor(async () => ((await deployment('iris-experiment'))?.spec?.replicas === 4 ? true : undefined), {
      description: 'the experiment at 4 replicas (weight 50)',
    });
  });

  test('spec.experiment removed: its Deployment and both Services are deleted, the routes leave the stable pods', async () => {
    await patchMd(c, ns, 'iris', { spec: { experiment: null } });
    await waitFor(async () => ((await deployment('iris-experiment')) === undefined ? true : undefined), {
      description: 'experiment Deployment deleted',
    });
    await waitFor(async () => ((await service('iris-stable')) === undefined ? true : undefined), { description: 'iris-stable deleted' });
    await waitFor(async () => ((await service('iris-experiment')) === undefined ? true : undefined), {
      description: 'iris-experiment deleted',
    });
    assert.ok(await service('iris'), 'the main Service stays');
    await waitFor(async () => (env(await deployment('iris'), 'MODELSHIP_VERSION_ROUTES') === undefined ? true : undefined), {
      description: 'no routes in the stable Deployment',
    });
    const md = await waitFor(async () => ((m) => (m.status?.experiment === undefined ? m : undefined))(await getMd(c, ns, 'iris')), {
      description: 'status.experiment cleared',
    });
    assert.equal(md.status?.currentVersion, '1');
    const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=iris' });
    assert.ok(events.items.some((ev) => ev.reason === 'ExperimentEnded'));
  });

  test('promotion in one patch: the main Deployment rolls to the experiment version, the experiment children go', async () => {
    await patchMd(c, ns, 'iris', { spec: { experiment: { model: model('2'), weight: 20 } } });
    await waitFor(async () => deployment('iris-experiment'), { description: 'the experiment Deployment again' });
    await patchMd(c, ns, 'iris', { spec: { model: model('2'), experiment: null } });
    await waitFor(async () => ((await deployment('iris-experiment')) === undefined ? true : undefined), {
      description: 'experiment Deployment deleted',
    });
    const md = await readyUntil(
      async () => ((m) => (m.status?.currentVersion === '2' ? m : undefined))(await getMd(c, ns, 'iris')),
      'version 2 current',
    );
    assert.equal(env(await deployment('iris'), 'MODELSHIP_MODEL_VERSION'), '2');
    assert.equal(md.status?.experiment, undefined);
    assert.equal(await service('iris-stable'), undefined);
    const events = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=iris' });
    assert.ok(events.items.some((ev) => ev.reason === 'ExperimentPromoted' && /experiment version 2 promoted/.test(ev.message ?? '')));
  });
});
