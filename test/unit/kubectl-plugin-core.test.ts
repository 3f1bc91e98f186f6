// The kubectl plugin's pure core: undo's entry choice, patch and diff; the canary and experiment
// control patches; when `status --watch` ends; the status and history text; predict's requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planControl } from '../../kubectl-plugin/src/controls.ts';
import { CliError, ConflictError, NothingToDoError, retryOnConflict } from '../../kubectl-plugin/src/errors.ts';
import {
  errorLine,
  formatResponse,
  checkRequestBody,
  requestFromBody,
  v1FromInstances,
  v2FromInstances,
} from '../../kubectl-plugin/src/predict.ts';
import { age, renderHistory, renderStatus, table } from '../../kubectl-plugin/src/render.ts';
import type { ModelDeployment } from '../../kubectl-plugin/src/types.ts';
import { planUndo } from '../../kubectl-plugin/src/undo.ts';
import { watchVerdict } from '../../kubectl-plugin/src/watch.ts';
import { serviceProxyPath } from '../../kubectl-plugin/src/kube.ts';
import { NOW, SHA1, SHA2, canary, entry, rolledBack, uri } from './kubectl-plugin-fixtures.ts';

/** `text` has this exact line. */
const assertLine = (text: string, line: string, message?: string) =>
  assert.ok(text.split('\n').includes(line), `${message ?? 'missing line'}: ${JSON.stringify(line)} in\n${text}`);

const rejects = (fn: () => unknown, type: typeof CliError, message: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof type && message.test((err as Error).message));

// ---- undo ---------------------------------------------------------------------------------------

test('undo after an automatic rollback: version 1 back into spec.model, guarded by resourceVersion, with the diff', () => {
  const plan = planUndo(rolledBack(), '1');
  assert.deepEqual(plan.patch, {
    metadata: { resourceVersion: '4711' },
    spec: { model: { version: '1', uri: uri('1'), sha256: SHA1 } },
  });
  assert.deepEqual(plan.diff, [
    '  spec.model:',
    '-   version: "2"',
    '+   version: "1"',
    `-   uri: ${uri('2')}`,
    `+   uri: ${uri('1')}`,
    `-   sha256: ${SHA2}`,
    `+   sha256: ${SHA1}`,
  ]);
});

test('undo without --to-version picks the newest successful model other than the desired one', () => {
  const md = rolledBack();
  md.spec.model = { version: '3', uri: uri('3') };
  md.status!.history = [entry('3', 'Succeeded', { sha256: undefined }), entry('2', 'Succeeded'), entry('1', 'Succeeded')];
  const plan = planUndo(md, undefined);
  assert.equal(plan.to.version, '2');
  // the desired model had no sha256: the diff adds one, the patch sets it
  assert.deepEqual((plan.patch.spec as { model: unknown }).model, { version: '2', uri: uri('2'), sha256: SHA2 });
  assert.ok(plan.diff.includes(`+   sha256: ${SHA2}`));
});

test('undo to an entry without sha256 removes the sha256 from the spec (merge patch null)', () => {
  const md = rolledBack();
  md.status!.history = [entry('2', 'RolledBack'), entry('1', 'Succeeded', { sha256: undefined })];
  const plan = planUndo(md, '1');
  assert.deepEqual((plan.patch.spec as { model: unknown }).model, { version: '1', uri: uri('1'), sha256: null });
  assert.ok(plan.diff.includes(`-   sha256: ${SHA2}`));
  assert.ok(!plan.diff.some((l) => l.startsWith('+   sha256')));
});

test('undo refuses: a version not in the history, one that never succeeded, nothing earlier, already desired', () => {
  rejects(() => planUndo(rolledBack(), '7'), CliError, /^version "7" is not in the history of iris; versions there: 2, 1$/);
  rejects(() => planUndo(rolledBack(), '2'), CliError, /version 2 of iris never rolled out successfully \(outcomes: RolledBack\)/);
  const first = rolledBack();
  first.spec.model = { version: '1', uri: uri('1'), sha256: SHA1 };
  first.status!.history = [entry('1', 'Succeeded')];
  rejects(() => planUndo(first, undefined), NothingToDoError, /iris has no earlier successful version to go back to/);
  rejects(() => planUndo(first, '1'), NothingToDoError, /already is version 1/);
  const empty = rolledBack();
  empty.status = {};
  rejects(() => planUndo(empty, '1'), CliError, /status.history is empty/);
});

// ---- promote / abort / pause / resume -------------------------------------------------------------

test('promote and abort of a running canary name its version; a pause left behind is removed', () => {
  assert.deepEqual(planControl(canary('Progressing'), 'promote').patch, {
    metadata: { resourceVersion: '4711' },
    spec: { rollout: { promoteVersion: '2' } },
  });
  assert.deepEqual(planControl(canary('Paused', { paused: true }), 'promote').patch.spec, {
    rollout: { promoteVersion: '2', paused: null },
  });
  assert.deepEqual(planControl(canary('Promoting'), 'abort').patch.spec, { rollout: { abortVersion: '2' } });
  assert.match(planControl(canary('Progressing'), 'abort').message, /all traffic back to version 1/);
});

test('pause and resume toggle spec.rollout.paused', () => {
  assert.deepEqual(planControl(canary('Progressing'), 'pause').patch.spec, { rollout: { paused: true } });
  assert.deepEqual(planControl(canary('Paused', { paused: true }), 'resume').patch.spec, { rollout: { paused: null } });
});

test('controls with nothing in progress refuse with the reason', () => {
  rejects(
    () => planControl(rolledBack(), 'promote'),
    NothingToDoError,
    /^nothing to promote on iris: its rollout strategy is RollingUpdate, not Canary, and no experiment is set$/,
  );
  rejects(() => planControl(canary('Succeeded'), 'promote'), NothingToDoError, /the canary of version 2 is Succeeded/);
  rejects(() => planControl(canary('Promoting'), 'promote'), NothingToDoError, /the canary of version 2 is Promoting/);
  rejects(() => planControl(canary('Aborted'), 'abort'), NothingToDoError, /is Aborted/);
  rejects(() => planControl(canary('Promoting'), 'pause'), NothingToDoError, /is Promoting/);
  rejects(() => planControl(canary('Paused', { paused: true }), 'pause'), NothingToDoError, /already paused/);
  rejects(() => planControl(canary('Progressing'), 'resume'), NothingToDoError, /not paused/);
  // status.canary of an older version: the desired one has no canary (yet)
  const stale = canary('Progressing');
  stale.spec.model = { version: '3', uri: uri('3') };
  rejects(() => planControl(stale, 'promote'), NothingToDoError, /no canary of version 3 is in progress/);
});

function withExperiment(md: ModelDeployment, model: { version: string; uri: string; sha256?: string }): ModelDeployment {
  (md.spec as unknown as { experiment: unknown }).experiment = { model, weight: 20 };
  return md;
}

test('promote with spec.experiment: spec.model := the experiment model and spec.experiment removed, in one patch', () => {
  const md = withExperiment(rolledBack(), { version: '3', uri: uri('3') });
  const plan = planControl(md, 'promote');
  assert.deepEqual(plan.patch, {
    metadata: { resourceVersion: '4711' },
    spec: { model: { version: '3', uri: uri('3'), sha256: null }, experiment: null },
  });
  assert.ok(plan.diff?.includes('+   version: "3"'));
  assert.ok(plan.diff?.includes('-   spec.experiment'));
  const withSha = planControl(withExperiment(rolledBack(), { version: '3', uri: uri('3'), sha256: SHA1 }), 'promote');
  assert.deepEqual((withSha.patch.spec as { model: unknown }).model, { version: '3', uri: uri('3'), sha256: SHA1 });
  // the experiment wins over a canary status of the main model
  assert.deepEqual(
    Object.keys(planControl(withExperiment(canary('Progressing'), { version: '3', uri: uri('3') }), 'promote').patch.spec as object),
    ['model', 'experiment'],
  );
});

test('abort with spec.experiment removes the experiment only', () => {
  const plan = planControl(withExperiment(rolledBack(), { version: '3', uri: uri('3') }), 'abort');
  assert.deepEqual(plan.patch.spec, { experiment: null });
  assert.match(plan.message, /experiment of version 3 ended/);
});

// ---- status --watch ---------------------------------------------------------------------------------

test('watch: waits until the operator observed the spec, ends 0 when the desired version serves, 1 when it failed', () => {
  const md = rolledBack();
  assert.deepEqual(watchVerdict(md), {
    done: true,
    ok: false,
    message: 'rollout of version 2 failed: RolledBack: version 2 failed: checksum mismatch',
  });

  md.metadata.generation = 3;
  assert.equal(watchVerdict(md).done, false, 'status of an older generation says nothing about this one');

  const good = rolledBack();
  good.spec.model = { version: '1', uri: uri('1'), sha256: SHA1 };
  good.status = {
    observedGeneration: 2,
    currentVersion: '1',
    conditions: [
      { type: 'Ready', status: 'True', reason: 'Ready', message: 'version 1 is serving', lastTransitionTime: '' },
      { type: 'Degraded', status: 'False', reason: 'AsExpected', message: '', lastTransitionTime: '' },
    ],
  };
  assert.deepEqual(watchVerdict(good), { done: true, ok: true, message: 'version 1 is serving: version 1 is serving' });

  good.status.updatingVersion = '1';
  assert.equal(watchVerdict(good).done, false);

  const running = canary('Paused', { paused: true });
  assert.deepEqual(watchVerdict(running), { done: false, waitingFor: 'the canary of version 2 (Paused, step 1)' });

  const aborted = canary('Aborted');
  aborted.status!.conditions = [
    { type: 'Degraded', status: 'True', reason: 'CanaryAborted', message: 'failed its analysis', lastTransitionTime: '' },
  ];
  assert.deepEqual(watchVerdict(aborted), {
    done: true,
    ok: false,
    message: 'rollout of version 2 failed: CanaryAborted: failed its analysis',
  });

  const noStatus = rolledBack();
  delete noStatus.status;
  assert.equal(watchVerdict(noStatus).done, false);
});

// ---- text output ------------------------------------------------------------------------------------

test('status text: versions, one line per condition, history, URL', () => {
  const text = renderStatus(rolledBack(), NOW);
  assertLine(text, 'Name:       iris');
  assertLine(text, 'Desired:    2  https://models.example.com/iris/2/model.onnx');
  assertLine(text, 'Current:    1');
  assertLine(text, 'Failed:     2');
  assertLine(text, 'Replicas:   2 (2 desired, 2 ready, 0 updated)');
  assertLine(text, 'URL:        http://iris.ml.svc.cluster.local/v2/models/iris');
  assertLine(text, '  Ready     False  RolledBack  5m  version 2 failed: checksum mismatch', 'a multi-line message on one line');
  assertLine(text, '  2        RolledBack  10m      5m        bbbbbbbbbbbb  FetchFailed');
  assert.doesNotMatch(text, /Canary:|Experiment:/);
});

test('status text with a canary: phase, step, weights and both tracks', () => {
  const text = renderStatus(canary('Progressing'), NOW);
  assertLine(text, 'Canary:     version 2 Progressing, step 1 of 2, weight 50% (effective 33%), step started 2m ago');
  assertLine(text, '  stable  1        2      240       0%   0%   3.9ms');
  assertLine(text, '  canary  2        1      120       0%   0%   4.1ms');
  assertLine(text, '  Analysis: Pass 30s ago: error rate 0% <= 1% over 120 requests');
});

test('status text of a finished canary: its phase and message, no stale track figures', () => {
  const md = canary('Succeeded');
  md.status!.canary!.message = 'version 2 promoted: serving on all replicas';
  const text = renderStatus(md, NOW);
  assertLine(text, 'Canary:     version 2 Succeeded');
  assertLine(text, '  Message:  version 2 promoted: serving on all replicas');
  assert.doesNotMatch(text, /TRACK|Analysis:/);
});

test('status text prints status.experiment when present', () => {
  const md = withExperiment(rolledBack(), { version: '3', uri: uri('3') });
  (md.status as unknown as { experiment: unknown }).experiment = {
    version: '3',
    weight: 20,
    effectiveWeight: 33,
    startedAt: '2026-11-30T11:00:00Z',
    variants: [
      { version: '1', track: 'stable', replicas: 2, readyReplicas: 2, requests: 400, errorRate: 0, p99LatencyMs: 3.2 },
      { version: '3', track: 'experiment', replicas: 1, readyReplicas: 1, requests: 190, errorRate: 0.5, p99LatencyMs: 3.6 },
    ],
    message: 'serving 33% of the traffic',
  };
  const text = renderStatus(md, NOW);
  assert.match(text, /^Experiment: version 3 at 20% \(effective 33%\), started 60m ago$/m);
  assertLine(text, '  3        experiment  1         1      190       0.5%  3.6ms');
  assertLine(text, '  Message:  serving 33% of the traffic');
  // spec.experiment set, status not yet written: still shown
  assert.match(
    renderStatus(withExperiment(rolledBack(), { version: '3', uri: uri('3') }), NOW),
    /^Experiment: version 3 at 20% \(effective -\)$/m,
  );
});

test('history text lists what undo can restore', () => {
  const text = renderHistory(rolledBack(), NOW);
  assertLine(text, 'VERSION  OUTCOME     STARTED  FINISHED  SHA256        REASON');
  assert.match(text, /^undo can restore: version 1 \(kubectl modelship undo iris --to-version V\)$/m);
  const none = rolledBack();
  none.status = {};
  assert.equal(renderHistory(none, NOW), 'iris has no rollouts in status.history yet\n');
});

test('ages and tables as kubectl prints them', () => {
  assert.equal(age('2026-11-30T11:59:15Z', NOW), '45s');
  assert.equal(age('2026-11-30T11:00:00Z', NOW), '60m');
  assert.equal(age('2026-11-29T00:00:00Z', NOW), '36h');
  assert.equal(age('2026-11-01T00:00:00Z', NOW), '29d');
  assert.equal(age(undefined, NOW), '-');
  assert.deepEqual(
    table([
      ['A', 'BB'],
      ['CCC', 'D'],
    ]),
    ['A    BB', 'CCC  D'],
  );
});

// ---- predict ------------------------------------------------------------------------------------------

test('predict: --instances become a V2 tensor of the model input, or a V1 instances body', () => {
  const meta = { inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }] };
  const v2 = v2FromInstances(
    [
      [6.3, 3.3, 6.0, 2.5],
      [5.1, 3.5, 1.4, 0.2],
    ],
    'iris',
    meta,
  );
  assert.equal(v2.path, '/v2/models/iris/infer');
  assert.deepEqual(JSON.parse(v2.body), {
    inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4], data: [6.3, 3.3, 6.0, 2.5, 5.1, 3.5, 1.4, 0.2] }],
  });
  assert.deepEqual(v1FromInstances([[1, 2]], 'iris'), { path: '/v1/models/iris:predict', body: '{"instances":[[1,2]]}' });
  rejects(() => v2FromInstances([[1, 2], [3]], 'iris', meta), CliError, /instances\[1\] has another shape than instances\[0\]/);
  rejects(
    () =>
      v2FromInstances([[1]], 'm', {
        inputs: [
          { name: 'a', datatype: 'FP32' },
          { name: 'b', datatype: 'FP32' },
        ],
      }),
    CliError,
    /model m has 2 \(a, b\); send a full request with -f/,
  );
});

test('predict: a request file must be a JSON object', () => {
  assert.equal(checkRequestBody('{"inputs":[]}', 'r.json', false), '{"inputs":[]}');
  assert.deepEqual(requestFromBody('{"inputs":[]}', 'iris', false), { path: '/v2/models/iris/infer', body: '{"inputs":[]}' });
  assert.equal(requestFromBody('{"instances":[[1]]}', 'iris', true).path, '/v1/models/iris:predict');
  rejects(() => checkRequestBody('inputs: []', 'r.json', false), CliError, /^r.json is not JSON: /);
  rejects(() => checkRequestBody('[1]', 'r.json', true), CliError, /must hold a JSON object \(a V1 \{"instances": \[...\]\} request\)/);
});

test('predict: answers printed as pretty JSON, failures as one line', () => {
  assert.equal(formatResponse('{"a":1}', 'application/json; charset=utf-8'), '{\n  "a": 1\n}\n');
  assert.equal(formatResponse('plain', 'text/plain'), 'plain\n');
  assert.equal(errorLine(400, '{"error":"input \\"x\\" not found"}'), 'HTTP 400: input "x" not found');
  assert.equal(
    errorLine(503, '{"kind":"Status","message":"no endpoints available for service \\"iris\\""}'),
    'HTTP 503: no endpoints available for service "iris"',
  );
  assert.equal(errorLine(502, '<html>\n bad gateway </html>'), 'HTTP 502: <html> bad gateway </html>');
});

test("predict's service-proxy path: http by default, the https: prefix for a model serving TLS, names escaped", () => {
  assert.equal(serviceProxyPath('ml', 'iris', 'http', 'http'), '/api/v1/namespaces/ml/services/iris:http/proxy');
  assert.equal(serviceProxyPath('ml', 'iris', 'http', 'https'), '/api/v1/namespaces/ml/services/https:iris:http/proxy');
  assert.equal(serviceProxyPath('a b', 'x/y', 'http', 'http'), '/api/v1/namespaces/a%20b/services/x%2Fy:http/proxy');
});

test('a control meeting a concurrent write (409) is re-read and re-planned, up to 5 attempts; other errors are not retried', async () => {
  let calls = 0;
  const twice = await retryOnConflict(async () => {
    calls++;
    if (calls < 3) throw new ConflictError('cm changed while this command ran');
    return 'patched';
  });
  assert.deepEqual([twice, calls], ['patched', 3]);
  calls = 0;
  await assert.rejects(
    retryOnConflict(async () => {
      calls++;
      throw new ConflictError('always');
    }),
    /always/,
  );
  assert.equal(calls, 5);
  calls = 0;
  await assert.rejects(
    retryOnConflict(async () => {
      calls++;
      throw new NothingToDoError('nothing to pause');
    }),
    /nothing to pause/,
  );
  assert.equal(calls, 1);
});
