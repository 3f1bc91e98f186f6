import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectFailure, MODEL_LOAD_FAILED_EXIT_CODE, nextSignalDueMs } from '../../operator/src/rollout/signals.ts';
import { deploymentWith, pod, waitingPod } from './operator-fixtures.ts';

const NOW = new Date('2026-11-23T12:00:00Z');

test('fetch init container exiting non-zero is a FetchFailed signal carrying its message', () => {
  const p = pod({
    initContainerStatuses: [
      {
        name: 'fetch',
        image: 'rt',
        imageID: '',
        ready: false,
        restartCount: 1,
        state: { waiting: { reason: 'CrashLoopBackOff' } },
        lastState: {
          terminated: { exitCode: 1, message: 'fetch: sha256 mismatch for model.onnx: expected ab12, got cd34\n', finishedAt: NOW },
        },
      },
    ],
  });
  const s = detectFailure(undefined, [p], NOW);
  assert.equal(s?.reason, 'FetchFailed');
  assert.equal(s?.message, 'model fetch failed: fetch: sha256 mismatch for model.onnx: expected ab12, got cd34');
});

test('serve crash-looping beyond the threshold is a CrashLoop signal; below it is not', () => {
  const status = (restartCount: number) =>
    pod({
      containerStatuses: [
        {
          name: 'serve',
          image: 'rt',
          imageID: '',
          ready: false,
          restartCount,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: { terminated: { exitCode: 1, message: 'serve: model.onnx is not a valid ONNX model' } },
        },
      ],
    });
  assert.equal(detectFailure(undefined, [status(2)], NOW), undefined);
  const s = detectFailure(undefined, [status(3)], NOW);
  assert.equal(s?.reason, 'CrashLoop');
  assert.match(s?.message ?? '', /restarted 3 times: serve: model.onnx is not a valid ONNX model/);
});

test('serve exiting with the model-load exit code is a ModelLoadFailed signal at once, carrying its termination message', () => {
  const serve = (exitCode: number, where: 'state' | 'lastState') => {
    const terminated = {
      exitCode,
      message: 'cannot serve model: cannot load model /models/model.onnx: Protobuf parsing failed\n',
      finishedAt: NOW,
    };
    return pod({
      containerStatuses: [
        {
          name: 'serve',
          image: 'rt',
          imageID: '',
          ready: false,
          restartCount: where === 'state' ? 0 : 1,
          ...(where === 'state'
            ? { state: { terminated } }
            : { state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated } }),
        },
      ],
    });
  };
  for (const where of ['state', 'lastState'] as const) {
    const s = detectFailure(undefined, [serve(MODEL_LOAD_FAILED_EXIT_CODE, where)], NOW);
    assert.equal(s?.reason, 'ModelLoadFailed', where);
    assert.equal(s?.message, 'model load failed: cannot serve model: cannot load model /models/model.onnx: Protobuf parsing failed');
    assert.equal(s?.since, NOW.toISOString());
  }
  // any other exit (a crash, an OOM kill) may be transient: only a crash loop counts
  assert.equal(detectFailure(undefined, [serve(1, 'lastState')], NOW), undefined);
  assert.equal(detectFailure(undefined, [serve(137, 'state')], NOW), undefined);
});

const pulling = (ageMs: number, reason: string) => waitingPod(reason, ageMs, NOW);

test('image pull failure counts only after the threshold; an invalid image name at once', () => {
  assert.equal(detectFailure(undefined, [pulling(10_000, 'ImagePullBackOff')], NOW), undefined);
  assert.equal(detectFailure(undefined, [pulling(61_000, 'ImagePullBackOff')], NOW)?.reason, 'ImagePullFailed');
  assert.equal(detectFailure(undefined, [pulling(1_000, 'InvalidImageName')], NOW)?.reason, 'ImagePullFailed');
});

test('nextSignalDueMs: when the first failing image pull reaches its limit; nothing due when no pod waits on a pull', () => {
  assert.equal(nextSignalDueMs([pulling(10_000, 'ImagePullBackOff')], NOW), 50_000);
  assert.equal(nextSignalDueMs([pulling(10_000, 'ErrImagePull'), pulling(45_000, 'ImagePullBackOff')], NOW), 15_000);
  assert.equal(nextSignalDueMs([pulling(90_000, 'ImagePullBackOff')], NOW), 0, 'already due');
  assert.equal(nextSignalDueMs([pulling(10_000, 'ImagePullBackOff')], NOW, { crashLoopRestarts: 3, imagePullFailureMs: 20_000 }), 10_000);
  const fetchPulling = pod(
    {
      initContainerStatuses: [
        { name: 'fetch', image: 'rt:bad', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull' } } },
      ],
    },
    30_000,
    NOW,
  );
  assert.equal(nextSignalDueMs([fetchPulling], NOW), 30_000, 'the fetch init container pulls the same image');
  assert.equal(nextSignalDueMs([pulling(10_000, 'PodInitializing'), pulling(10_000, 'InvalidImageName')], NOW), undefined);
  assert.equal(nextSignalDueMs([], NOW), undefined);
});

test('ProgressDeadlineExceeded on an up-to-date Deployment is a signal; on a stale observation it is not', () => {
  const dep = deploymentWith('h', { deadlineExceeded: true });
  assert.equal(detectFailure(dep, [], NOW)?.reason, 'ProgressDeadlineExceeded');
  dep.status!.observedGeneration = 1;
  assert.equal(detectFailure(dep, [], NOW), undefined);
});

test('healthy or merely starting pods give no signal', () => {
  const p = pod({
    initContainerStatuses: [
      { name: 'fetch', image: 'rt', imageID: '', ready: true, restartCount: 0, state: { terminated: { exitCode: 0 } } },
    ],
    containerStatuses: [{ name: 'serve', image: 'rt', imageID: '', ready: false, restartCount: 0, state: { running: {} } }],
  });
  assert.equal(detectFailure(deploymentWith('h'), [p], NOW), undefined);
});
