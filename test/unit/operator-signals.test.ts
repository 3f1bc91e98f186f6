import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectFailure } from '../../operator/src/rollout/signals.ts';
import { deploymentWith, pod } from './operator-fixtures.ts';

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

test('image pull failure counts only after the threshold; an invalid image name at once', () => {
  const pulling = (ageMs: number, reason: string) =>
    pod(
      {
        containerStatuses: [
          {
            name: 'serve',
            image: 'rt:bad',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { waiting: { reason, message: 'not found' } },
          },
        ],
      },
      ageMs,
      NOW,
    );
  assert.equal(detectFailure(undefined, [pulling(10_000, 'ImagePullBackOff')], NOW), undefined);
  assert.equal(detectFailure(undefined, [pulling(61_000, 'ImagePullBackOff')], NOW)?.reason, 'ImagePullFailed');
  assert.equal(detectFailure(undefined, [pulling(1_000, 'InvalidImageName')], NOW)?.reason, 'ImagePullFailed');
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
