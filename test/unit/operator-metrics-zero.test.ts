// The operator's rollout counters exist at 0 from the start: a series that first appears at 1 is
// invisible to increase()/rate(), so the first rollout outcome after an operator start would be
// missing from the dashboard's rollout panel (seen against a real Prometheus in
// test/e2e/observability.test.ts: outcome="failed" had no increase after a rollback).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OperatorMetrics } from '../../operator/src/metrics.ts';

test('modelship_rollouts_total: started, succeeded and failed at 0 before any rollout; rollbacks at 0', async () => {
  const text = await new OperatorMetrics().registry.metrics();
  for (const outcome of ['started', 'succeeded', 'failed'])
    assert.match(text, new RegExp(`^modelship_rollouts_total\\{outcome="${outcome}"\\} 0$`, 'm'), outcome);
  assert.match(text, /^modelship_rollbacks_total 0$/m);
});
