import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { ModelDeployment, ModelSpec } from '../../operator/src/api/types.generated.ts';
import type { RolloutInput } from '../../operator/src/rollout/decide.ts';
import type { RuntimeDefaults } from '../../operator/src/config.ts';

export const RUNTIME_DEFAULTS: RuntimeDefaults = {
  image: 'modelship/runtime:test',
  imagePullPolicy: 'IfNotPresent',
  maxBatchSize: 1,
  maxBatchDelayMicroseconds: 0,
  drainDelaySeconds: 5,
  shutdownTimeoutSeconds: 25,
  memoryRequest: '256Mi',
  memoryLimit: '1Gi',
  metricsPort: 9090,
};

export function modelDeployment(overrides: Partial<ModelDeployment['spec']> = {}): ModelDeployment {
  return {
    apiVersion: 'modelship.dev/v1alpha1',
    kind: 'ModelDeployment',
    metadata: { name: 'iris', namespace: 'ml', uid: 'uid-1', generation: 1 },
    spec: {
      model: { version: '1', uri: 'https://models.example.com/iris/1/model.onnx', format: 'onnx' },
      replicas: 2,
      ...overrides,
    },
  };
}

/** A Deployment as the real controller reports it: `complete` = all replicas updated and available. */
export function deploymentWith(
  hash: string,
  opts: { replicas?: number; complete?: boolean; deadlineExceeded?: boolean } = {},
): V1Deployment {
  const replicas = opts.replicas ?? 2;
  const complete = opts.complete ?? false;
  return {
    metadata: { name: 'iris', namespace: 'ml', generation: 3 },
    spec: {
      replicas,
      selector: { matchLabels: {} },
      template: { metadata: { annotations: { 'modelship.dev/template-hash': hash } } },
    },
    status: {
      observedGeneration: 3,
      replicas: complete ? replicas : replicas + 1,
      updatedReplicas: complete ? replicas : 1,
      availableReplicas: complete ? replicas : replicas,
      readyReplicas: replicas,
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
        opts.deadlineExceeded
          ? {
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: 'ReplicaSet "iris-abc" has timed out progressing.',
            }
          : { type: 'Progressing', status: 'True', reason: complete ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated' },
      ],
    },
  };
}

export function pod(init: V1Pod['status'], createdMsAgo = 1000, now = new Date('2026-11-23T12:00:00Z')): V1Pod {
  return {
    metadata: { name: 'iris-x', namespace: 'ml', creationTimestamp: new Date(now.getTime() - createdMsAgo) },
    status: init,
  };
}

/** A pod `createdMsAgo` old whose serve container waits with `reason` (an image pull, for instance). */
export function waitingPod(reason: string, createdMsAgo: number, now: Date): V1Pod {
  return pod(
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
    createdMsAgo,
    now,
  );
}

/** A rollout decision's input with nothing deployed yet: `desiredModel` at hash h2, no history; `over` replaces fields. */
export function rolloutInput(desiredModel: ModelSpec, now: Date, over: Partial<RolloutInput> = {}): RolloutInput {
  return {
    desiredModel,
    desiredHash: 'h2',
    autoRollback: true,
    historyLimit: 10,
    history: [],
    currentVersion: undefined,
    deployment: undefined,
    deployedHash: undefined,
    failure: undefined,
    now,
    ...over,
  };
}
