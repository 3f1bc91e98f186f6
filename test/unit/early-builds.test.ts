// test/early-builds.ts: which one-time builds `npm test` starts for the planned tests, in which wave,
// and the order the test files that wait for them run in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildsFor, inBatches } from '../early-builds.ts';

const none = { unit: [], integration: [], e2e: [] };

test('nothing planned (static checks only): nothing is built', () => {
  assert.deepEqual(buildsFor(none), { first: [], second: [], third: [] });
});

test('unit tests alone: only what they use, all in the first wave; no Kubernetes', () => {
  const planned = {
    ...none,
    unit: ['test/runtime/fetch-s3.test.ts', 'test/runtime/fetch-oci.test.ts', 'test/runtime/conversion-guide.test.ts'],
  };
  assert.deepEqual(buildsFor(planned), { first: ['registry', 'oras', 'seaweedfs', 'torch venv', 'helm'], second: [], third: [] });
});

test('the integration phase: the control plane and Prometheus first; nothing of the node', () => {
  const planned = { ...none, integration: ['test/integration/prometheus-rules.test.ts', 'test/integration/status.test.ts'] };
  assert.deepEqual(buildsFor(planned), { first: ['helm', 'kubernetes', 'prometheus'], second: [], third: [] });
});

test('the e2e phase: the node, CoreDNS and metrics-server after the first wave; Traefik last', () => {
  const planned = { ...none, e2e: ['test/e2e/canary-gateway.test.ts', 'test/e2e/s3.test.ts'] };
  assert.deepEqual(buildsFor(planned), {
    first: ['seaweedfs', 'helm', 'kubernetes'],
    second: ['kubernetes node', 'coredns', 'metrics-server'],
    third: ['traefik'],
  });
});

test('a runtime test named like an e2e one does not wait for Prometheus', () => {
  assert.deepEqual(buildsFor({ ...none, unit: ['test/runtime/observability.test.ts'] }).first, ['helm']);
  assert.deepEqual(buildsFor({ ...none, e2e: ['test/e2e/observability.test.ts'] }).first, ['helm', 'kubernetes', 'prometheus']);
});

test('inBatches: the files that wait for no build first, then by the wave of the build they wait for; order kept within a batch', () => {
  assert.deepEqual(
    inBatches([
      'test/runtime/conversion-guide.test.ts',
      'test/runtime/fetch-oci.test.ts',
      'test/runtime/fetch-s3.test.ts',
      'test/runtime/health.test.ts',
      'test/unit/chart-render.test.ts',
    ]),
    [
      ['test/runtime/health.test.ts', 'test/unit/chart-render.test.ts'],
      ['test/runtime/conversion-guide.test.ts', 'test/runtime/fetch-oci.test.ts', 'test/runtime/fetch-s3.test.ts'],
    ],
  );
  assert.deepEqual(inBatches(['test/e2e/canary-gateway.test.ts', 'test/e2e/canary.test.ts', 'test/e2e/oci.test.ts']), [
    ['test/e2e/canary.test.ts'],
    ['test/e2e/oci.test.ts'],
    ['test/e2e/canary-gateway.test.ts'],
  ]);
  assert.deepEqual(inBatches(['test/integration/status.test.ts']), [['test/integration/status.test.ts']]);
  assert.deepEqual(inBatches([]), []);
});
