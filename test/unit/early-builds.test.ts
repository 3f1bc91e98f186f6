// test/early-builds.ts: which one-time builds `npm test` starts for the planned tests, and in which wave.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildsFor } from '../early-builds.ts';

const none = { unit: [], integration: [], e2e: [] };

test('nothing planned (static checks only): nothing is built', () => {
  assert.deepEqual(buildsFor(none), { first: [], second: [] });
});

test('unit tests alone: only what they use, all in the first wave; no Kubernetes', () => {
  const planned = {
    ...none,
    unit: ['test/runtime/fetch-s3.test.ts', 'test/runtime/fetch-oci.test.ts', 'test/runtime/conversion-guide.test.ts'],
  };
  assert.deepEqual(buildsFor(planned), { first: ['registry', 'oras', 'seaweedfs', 'torch venv', 'helm'], second: [] });
});

test('the integration phase: the control plane and Prometheus first; nothing of the node', () => {
  const planned = { ...none, integration: ['test/integration/prometheus-rules.test.ts', 'test/integration/status.test.ts'] };
  assert.deepEqual(buildsFor(planned), { first: ['helm', 'kubernetes', 'prometheus'], second: [] });
});

test('the e2e phase: the node, CoreDNS, metrics-server and Traefik wait for the first wave', () => {
  const planned = { ...none, e2e: ['test/e2e/canary-gateway.test.ts', 'test/e2e/s3.test.ts'] };
  assert.deepEqual(buildsFor(planned), {
    first: ['seaweedfs', 'helm', 'kubernetes'],
    second: ['kubernetes node', 'coredns', 'metrics-server', 'traefik'],
  });
});
