// ModelDeployments as the API server returns them, for the kubectl plugin's unit tests.
import type { CanaryStatus, HistoryEntry, ModelDeployment } from '../../kubectl-plugin/src/types.ts';

export const NOW = new Date('2026-11-30T12:00:00Z');
export const SHA1 = 'a'.repeat(64);
export const SHA2 = 'b'.repeat(64);
export const uri = (v: string) => `https://models.example.com/iris/${v}/model.onnx`;

export function entry(version: string, outcome: HistoryEntry['outcome'], over: Partial<HistoryEntry> = {}): HistoryEntry {
  return {
    version,
    uri: uri(version),
    sha256: version === '1' ? SHA1 : SHA2,
    templateHash: `h${version}`,
    startedAt: '2026-11-30T11:50:00Z',
    ...(outcome === 'Progressing' ? {} : { finishedAt: '2026-11-30T11:55:00Z' }),
    outcome,
    ...over,
  };
}

/** iris: version 2 desired and rolled back automatically, version 1 serving. */
export function rolledBack(): ModelDeployment {
  return {
    apiVersion: 'modelship.dev/v1alpha1',
    kind: 'ModelDeployment',
    metadata: { name: 'iris', namespace: 'ml', generation: 2, resourceVersion: '4711' },
    spec: { model: { version: '2', uri: uri('2'), sha256: SHA2 }, replicas: 2 },
    status: {
      observedGeneration: 2,
      currentVersion: '1',
      failedVersion: '2',
      replicas: 2,
      readyReplicas: 2,
      updatedReplicas: 0,
      url: 'http://iris.ml.svc.cluster.local/v2/models/iris',
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'RolledBack',
          message: 'version 2 failed:\nchecksum mismatch',
          lastTransitionTime: '2026-11-30T11:55:00Z',
        },
        {
          type: 'Degraded',
          status: 'True',
          reason: 'RolledBack',
          message: 'version 2 failed: checksum mismatch',
          lastTransitionTime: '2026-11-30T11:55:00Z',
        },
      ],
      history: [entry('2', 'RolledBack', { reason: 'FetchFailed' }), entry('1', 'Succeeded')],
    },
  } as ModelDeployment;
}

/** iris with strategy Canary: version 2 on the canary track at step 1 of 2. */
export function canary(phase: CanaryStatus['phase'], over: { paused?: boolean } = {}): ModelDeployment {
  const md = rolledBack();
  md.spec.rollout = {
    strategy: 'Canary',
    canary: {
      steps: [
        { weight: 50, pause: '10m' },
        { weight: 75, pause: '10m' },
      ],
    },
    ...(over.paused ? { paused: true } : {}),
  };
  md.status = {
    observedGeneration: 2,
    currentVersion: '1',
    updatingVersion: '2',
    replicas: 3,
    readyReplicas: 3,
    conditions: [
      { type: 'Ready', status: 'False', reason: 'CanaryProgressing', message: 'canary', lastTransitionTime: '2026-11-30T11:55:00Z' },
    ],
    canary: {
      version: '2',
      stableVersion: '1',
      templateHash: 'h2',
      phase,
      step: 0,
      stepStartedAt: '2026-11-30T11:58:00Z',
      weight: 50,
      effectiveWeight: 33,
      stableReplicas: 2,
      canaryReplicas: 1,
      lastAnalysis: {
        time: '2026-11-30T11:59:30Z',
        verdict: 'Pass',
        canary: { requests: 120, errorRate: 0, clientErrorRate: 0, p99Ms: 4.1 },
        stable: { requests: 240, errorRate: 0, clientErrorRate: 0, p99Ms: 3.9 },
        message: 'error rate 0% <= 1% over 120 requests',
      },
      message: 'holding at step 1 of 2 (50%)',
    },
    history: [entry('2', 'Progressing'), entry('1', 'Succeeded')],
  };
  return md;
}
